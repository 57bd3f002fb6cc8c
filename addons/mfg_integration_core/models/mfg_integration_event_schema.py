import json

from odoo import api, fields, models
from odoo.exceptions import ValidationError

from mfg_integration.errors import SchemaInvalid
from mfg_integration.schemas import check_schema, schema_urn


class MfgIntegrationEventSchema(models.Model):
    """One version of the JSON Schema (Draft 2020-12) of an event type's ``data``."""

    _name = "mfg.integration.event.schema"
    _description = "Integration Event Schema Version"
    _inherit = ["mfg.integration.cached.mixin"]
    _order = "event_type_id, version desc"

    event_type_id = fields.Many2one(
        "mfg.integration.event.type", required=True, ondelete="cascade", index=True
    )
    event_code = fields.Char(related="event_type_id.code", string="Event Code")
    version = fields.Integer(required=True, default=1)
    active = fields.Boolean(default=True)
    schema_json = fields.Text(
        string="JSON Schema",
        required=True,
        help="JSON Schema Draft 2020-12 document describing the event's 'data'. Its "
        "'examples' must validate against it.",
    )
    note = fields.Char(help="What changed in this version.")
    example_count = fields.Integer(compute="_compute_example_count")
    dataschema = fields.Char(
        compute="_compute_dataschema",
        string="Data Schema URI",
        help="What a sender puts in the CloudEvents 'dataschema' attribute to send "
        "this version (without it, the current version is meant).",
    )
    deprecation_date = fields.Date(
        help="From this date every answer to an event of this version carries the "
        "Deprecation, Sunset and Link headers.",
    )
    sunset_date = fields.Date(
        string="Retirement Date",
        help="From this date events of this version are refused (422, naming the "
        "current version). Archiving the version retires it at once.",
    )
    documentation_url = fields.Char(
        string="Documentation",
        help="Where senders read about this version and how to move on (the Link "
        "of the deprecation headers). Default: the schema in the OpenAPI document.",
    )
    upcast_mapping_id = fields.Many2one(
        "mfg.integration.mapping",
        string="Upcast to Next Version",
        domain="[('direction', '=', 'upcast'), ('event_type_id', '=', event_type_id)]",
        help="Turns the data of this version into the data of the next version "
        "before handlers run (versions are upcast one after the other up to the "
        "current one). Without it, the data must be valid for the next version as "
        "it is.",
    )
    lifecycle_state = fields.Selection(
        [("live", "Live"), ("deprecated", "Deprecated"), ("retired", "Retired")],
        compute="_compute_lifecycle_state",
        string="Lifecycle",
    )

    _version_uniq = models.Constraint(
        "unique(event_type_id, version)",
        "This event type already has a schema with this version number.",
    )
    _version_positive = models.Constraint(
        "CHECK(version > 0)", "Schema versions are numbered from 1."
    )

    @api.depends("event_type_id.code", "version")
    def _compute_display_name(self):
        for schema in self:
            schema.display_name = f"{schema.event_type_id.code} v{schema.version}"

    @api.depends("event_type_id.code", "version")
    def _compute_dataschema(self):
        for schema in self:
            code = schema.event_type_id.code
            schema.dataschema = schema_urn(code, schema.version) if code else False

    @api.depends("active", "deprecation_date", "sunset_date")
    @api.depends_context("date")
    def _compute_lifecycle_state(self):
        today = fields.Date.context_today(self)
        for schema in self:
            if not schema.active or (
                schema.sunset_date and schema.sunset_date <= today
            ):
                schema.lifecycle_state = "retired"
            elif schema.deprecation_date and schema.deprecation_date <= today:
                schema.lifecycle_state = "deprecated"
            else:
                schema.lifecycle_state = "live"

    @api.constrains("deprecation_date", "sunset_date")
    def _check_dates(self):
        for schema in self:
            if (
                schema.deprecation_date
                and schema.sunset_date
                and schema.sunset_date < schema.deprecation_date
            ):
                raise ValidationError(
                    self.env._(
                        "The retirement date of %(name)s cannot be before its "
                        "deprecation date.",
                        name=schema.display_name,
                    )
                )

    @api.depends("schema_json")
    def _compute_example_count(self):
        for schema in self:
            try:
                examples = json.loads(schema.schema_json or "{}").get("examples")
            except (ValueError, AttributeError):
                examples = None
            schema.example_count = len(examples) if isinstance(examples, list) else 0

    @api.constrains("schema_json")
    def _check_schema_json(self):
        for schema in self:
            try:
                check_schema(schema.schema_json or "")
            except SchemaInvalid as exc:
                raise ValidationError(
                    self.env._(
                        "The JSON Schema of %(name)s is invalid: %(detail)s",
                        name=schema.display_name,
                        detail=exc.detail,
                    )
                ) from None

    def get_schema(self):
        """Return the schema document as a dict."""
        self.ensure_one()
        return json.loads(self.schema_json)
