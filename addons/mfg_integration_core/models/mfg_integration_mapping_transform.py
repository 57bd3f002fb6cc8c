import json

from odoo import api, fields, models
from odoo.exceptions import ValidationError

KINDS = [
    ("constant", "Constant"),
    ("default", "Default when empty"),
    ("required", "Required"),
    ("value_map", "Value map"),
    ("xref", "Cross-reference lookup"),
    ("uom", "Unit conversion"),
    ("datetime", "Date/time"),
    ("round", "Round"),
    ("number", "To number"),
    ("string", "To text"),
    ("template", "Text template"),
    ("lowercase", "Lower case"),
    ("uppercase", "Upper case"),
    ("strip", "Strip spaces"),
]

#: the definition parameters of each kind, and the field holding each
PARAMETERS = {
    "constant": {"value": "value_json"},
    "default": {"value": "value_json"},
    "xref": {
        "model": "xref_model",
        "create": "xref_create",
        "external_model": "external_model",
    },
    "datetime": {
        "input_format": "input_format",
        "input_tz": "input_tz",
        "output_tz": "output_tz",
        "output_format": "output_format",
        "ambiguous": "ambiguous",
    },
    "round": {"digits": "digits", "mode": "rounding_mode"},
    "template": {"template": "template"},
    "uom": {"from": "uom_from", "to": "uom_to"},
}


def _json_value(text):
    """A JSON literal typed by a person: ``42``, ``true``, ``"42"``; text that is not
    JSON is taken as a string (``kg`` means ``"kg"``)."""
    if text in (False, None, ""):
        return None
    try:
        return json.loads(text)
    except ValueError:
        return text


class MfgIntegrationMappingTransform(models.Model):
    """One step of a mapping line: a transform of the closed set of the engine, with
    its parameters as fields (no code)."""

    _name = "mfg.integration.mapping.transform"
    _description = "Integration Mapping Transform"
    _inherit = ["mfg.integration.mapping.part"]
    _order = "line_id, sequence, id"

    line_id = fields.Many2one(
        "mfg.integration.mapping.line", required=True, ondelete="cascade", index=True
    )
    sequence = fields.Integer(default=10)
    kind = fields.Selection(KINDS, required=True, default="constant")
    value_json = fields.Char(
        string="Value",
        help='A JSON value (42, true, null, "42"); plain text such as kg is taken '
        "as text.",
    )
    map_ids = fields.One2many(
        "mfg.integration.mapping.value", "transform_id", string="Pairs", copy=True
    )
    map_default_json = fields.Char(
        string="Otherwise",
        help="Value for anything not in the table (JSON or text). Empty: see Strict.",
    )
    map_has_default = fields.Boolean(string="Use 'Otherwise'")
    strict = fields.Boolean(
        default=True,
        help="Fail on a value not in the table (when there is no default).",
    )
    xref_model = fields.Char(
        string="Odoo Model", help="Technical name, e.g. mrp.workorder."
    )
    external_model = fields.Char(
        help="What the identifier names in the external system (default: the Odoo "
        "model)."
    )
    xref_create = fields.Boolean(
        string="Bind When Missing",
        help="Without a cross-reference, bind the single record of the model whose "
        "name is the identifier.",
    )
    uom_from = fields.Char(
        string="From Unit", help="A unit of measure name of Odoo (g, kg, Minutes…)."
    )
    uom_to = fields.Char(string="To Unit")
    input_format = fields.Char(
        default="iso", help="iso, epoch, epoch_ms, or a strptime format."
    )
    input_tz = fields.Char(string="Input Time Zone", default="UTC")
    output_tz = fields.Char(string="Output Time Zone", default="UTC")
    output_format = fields.Char(
        default="iso", help="iso, epoch, epoch_ms, or a strftime format."
    )
    ambiguous = fields.Selection(
        [("raise", "Fail"), ("earlier", "Earlier"), ("later", "Later")],
        string="Repeated Local Time",
        default="raise",
    )
    digits = fields.Integer(default=0)
    rounding_mode = fields.Selection(
        [("half_up", "Half up"), ("half_even", "Half even")], default="half_up"
    )
    template = fields.Char(help="Named fields only, e.g. Line {line} shift {shift}.")

    def _definition(self):
        self.ensure_one()
        transform = {"type": self.kind}
        for name, field in PARAMETERS.get(self.kind, {}).items():
            value = self[field]
            if field == "value_json":
                value = _json_value(value)
            elif field in ("external_model",) and not value:
                value = None
            transform[name] = value
        if self.kind == "value_map":
            transform["map"] = [
                [_json_value(pair.source_value), _json_value(pair.target_value)]
                for pair in self.map_ids
            ]
            transform["strict"] = self.strict
            if self.map_has_default:
                transform["default"] = _json_value(self.map_default_json)
        return transform

    @api.model
    def _values_from_definition(self, transform, sequence):
        kind = transform.get("type")
        values = {"sequence": sequence, "kind": kind}
        for name, field in PARAMETERS.get(kind, {}).items():
            if name not in transform:
                continue
            value = transform[name]
            if field == "value_json":
                value = json.dumps(value, ensure_ascii=False)
            values[field] = value if value is not None else False
        if kind == "value_map":
            if "table" in transform:
                raise ValidationError(
                    self.env._("Shared value tables are not supported in the UI.")
                )
            values["strict"] = transform.get("strict", True)
            if "default" in transform:
                values.update(
                    map_has_default=True,
                    map_default_json=json.dumps(transform["default"]),
                )
            values["map_ids"] = [
                (
                    0,
                    0,
                    {
                        "sequence": position,
                        "source_value": json.dumps(source, ensure_ascii=False),
                        "target_value": json.dumps(target, ensure_ascii=False),
                    },
                )
                for position, (source, target) in enumerate(transform["map"], 1)
            ]
        return values

    @api.constrains(
        "kind",
        "value_json",
        "strict",
        "map_has_default",
        "map_default_json",
        "xref_model",
        "external_model",
        "uom_from",
        "uom_to",
        "input_format",
        "input_tz",
        "output_tz",
        "output_format",
        "ambiguous",
        "digits",
        "rounding_mode",
        "template",
        "sequence",
    )
    def _check_transform(self):
        self._mappings()._check_definition()

    def _mappings(self):
        return self.line_id.mapping_id
