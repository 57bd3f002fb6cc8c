import json

from odoo import api, fields, models
from odoo.exceptions import ValidationError

from mfg_integration.errors import SchemaInvalid
from mfg_integration.schemas import check_schema


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
