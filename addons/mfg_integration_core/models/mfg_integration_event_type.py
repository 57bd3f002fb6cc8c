import re

from odoo import api, fields, models
from odoo.exceptions import UserError, ValidationError

from mfg_integration.cloudevents import new_event
from mfg_integration.schemas import schema_urn, validate

CODE_RE = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$")


class MfgIntegrationEventType(models.Model):
    """A canonical business event of the catalogue, such as ``inspection.failed``.

    The contract of an event is its current JSON Schema: the schema version with the
    highest number. Publishing a new version is how the contract evolves.
    """

    _name = "mfg.integration.event.type"
    _description = "Integration Event Type"
    _inherit = [
        "mail.thread",
        "mfg.integration.cached.mixin",
        "mfg.integration.redaction.mixin",
    ]
    _order = "code"
    _rec_name = "code"

    name = fields.Char(required=True, translate=True, tracking=True)
    code = fields.Char(
        required=True,
        tracking=True,
        help="Dotted, lower-case identifier used as the CloudEvents 'type', "
        "e.g. work_order.progress_reported.",
    )
    description = fields.Text(translate=True)
    direction = fields.Selection(
        [
            ("inbound", "Inbound (external system to Odoo)"),
            ("outbound", "Outbound (Odoo to external systems)"),
        ],
        required=True,
        default="inbound",
        tracking=True,
    )
    owner_id = fields.Many2one(
        "res.users",
        string="Owner",
        default=lambda self: self.env.user,
        tracking=True,
        help="Person accountable for this event contract.",
    )
    active = fields.Boolean(default=True)
    schema_ids = fields.One2many(
        "mfg.integration.event.schema", "event_type_id", string="Schema Versions"
    )
    current_schema_id = fields.Many2one(
        "mfg.integration.event.schema",
        compute="_compute_current_schema_id",
        string="Current Schema",
    )
    current_version = fields.Integer(compute="_compute_current_schema_id")
    deprecation_date = fields.Date(
        tracking=True,
        help="From this date senders are told the event type is deprecated.",
    )
    sunset_date = fields.Date(
        tracking=True,
        help="From this date the event type is no longer accepted.",
    )
    redact_pointers = fields.Text(
        help="JSON pointers into the event data whose values are masked wherever a "
        "payload is displayed and removed from error texts, notes and logs, one per "
        "line (e.g. /operator/badge_id). A '*' segment matches every array item or "
        "object member.",
    )
    lifecycle_state = fields.Selection(
        [("live", "Live"), ("deprecated", "Deprecated"), ("sunset", "Sunset")],
        compute="_compute_lifecycle_state",
        string="Lifecycle",
    )

    _code_uniq = models.Constraint(
        "unique(code)", "An event type with this code already exists."
    )

    @api.depends("schema_ids.version", "schema_ids.active")
    def _compute_current_schema_id(self):
        for event_type in self:
            versions = event_type.schema_ids.filtered("active").sorted("version")
            event_type.current_schema_id = versions[-1:]
            event_type.current_version = versions[-1:].version

    @api.depends("deprecation_date", "sunset_date")
    @api.depends_context("date")
    def _compute_lifecycle_state(self):
        today = fields.Date.context_today(self)
        for event_type in self:
            if event_type.sunset_date and event_type.sunset_date <= today:
                event_type.lifecycle_state = "sunset"
            elif event_type.deprecation_date and event_type.deprecation_date <= today:
                event_type.lifecycle_state = "deprecated"
            else:
                event_type.lifecycle_state = "live"

    @api.constrains("code")
    def _check_code(self):
        for event_type in self:
            if not CODE_RE.match(event_type.code or ""):
                raise ValidationError(
                    self.env._(
                        "The event type code '%(code)s' is invalid: use dotted, "
                        "lower-case words such as 'inspection.failed'.",
                        code=event_type.code,
                    )
                )

    @api.constrains("deprecation_date", "sunset_date")
    def _check_dates(self):
        for event_type in self:
            if (
                event_type.deprecation_date
                and event_type.sunset_date
                and event_type.sunset_date < event_type.deprecation_date
            ):
                raise ValidationError(
                    self.env._(
                        "The sunset date of '%(code)s' cannot be before its "
                        "deprecation date.",
                        code=event_type.code,
                    )
                )

    @api.model
    def emit(self, code, data, subject=None, record=None, endpoints=None):
        """Emit a canonical event from Odoo, inside the current transaction.

        The data is validated against the event type's current schema, wrapped in a
        CloudEvent, and one outbound message is written per matching subscription, in
        the caller's transaction (transactional outbox): a rollback leaves nothing, a
        commit guarantees delivery attempts.

        :param code: event type code, e.g. ``production_order.released``
        :param data: the event data (a dict matching the schema)
        :param subject: optional CloudEvents subject (e.g. the order reference)
        :param record: optional Odoo record the event is about (subscription filters)
        :param endpoints: optional ``mfg.integration.endpoint`` records: only their
            subscriptions get the event (a test sent to one system)
        :return: the ``mfg.integration.message`` records created
        :raise UserError: unknown event type, or data not matching the schema (the
            message lists each failing JSON pointer)
        """
        event_type = self.sudo().get_by_code(code)
        schema = event_type.current_schema_id
        if not event_type or not schema:
            raise UserError(
                self.env._(
                    "'%(code)s' is not an event type of the catalogue.", code=code
                )
            )
        violations = validate(schema.schema_json, data, base="/data")
        if violations:
            raise UserError(
                self.env._(
                    "The data of the '%(code)s' event does not match its schema: "
                    "%(problems)s",
                    code=code,
                    problems="; ".join(f"{v.pointer} {v.message}" for v in violations),
                )
            )
        subscriptions = event_type._subscriptions().filtered(
            lambda s: s._matches(record)
            and (endpoints is None or s.endpoint_id in endpoints)
        )
        event = new_event(
            code,
            data,
            source=self._event_source(),
            subject=subject,
            dataschema=schema_urn(code, schema.version),
        )
        return self.env["mfg.integration.message"]._create_outbound(
            event, event_type, schema.version, subscriptions, record=record
        )

    def _subscriptions(self):
        """The active subscriptions of this event type (to active endpoints)."""
        return (
            self.env["mfg.integration.subscription"]
            .sudo()
            .search(
                [("event_type_id", "in", self.ids), ("endpoint_id.active", "=", True)]
            )
        )

    @api.model
    def _has_subscribers(self, code):
        """Whether emitting ``code`` would reach anybody: emitters skip building a
        payload nobody subscribed to."""
        return bool(self.sudo().get_by_code(code)._subscriptions())

    @api.model
    def _event_source(self):
        """CloudEvents ``source`` of the events this database emits."""
        uuid = self.env["ir.config_parameter"].sudo().get_param("database.uuid")
        return f"urn:mfg-integration:odoo:{uuid}"

    @api.model
    def get_by_code(self, code):
        """Return the active event type with this code, or an empty recordset."""
        return self.search([("code", "=", code)], limit=1)
