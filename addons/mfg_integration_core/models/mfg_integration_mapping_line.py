from odoo import api, fields, models


class MfgIntegrationMappingLine(models.Model):
    """One line of a mapping: where the value comes from (a JMESPath expression over
    the input), what happens to it (transforms, in order), where it goes (a dotted
    target path)."""

    _name = "mfg.integration.mapping.line"
    _description = "Integration Mapping Line"
    _inherit = ["mfg.integration.mapping.part"]
    _order = "mapping_id, sequence, id"

    mapping_id = fields.Many2one(
        "mfg.integration.mapping", required=True, ondelete="cascade", index=True
    )
    sequence = fields.Integer(default=10)
    target = fields.Char(
        required=True,
        help="Dotted path in the output, e.g. quantity.value or items.0.code.",
    )
    source = fields.Char(
        help="JMESPath expression over the input, e.g. wo.number or "
        "items[*].code. Empty: the value starts empty (use a constant).",
    )
    transform_ids = fields.One2many(
        "mfg.integration.mapping.transform", "line_id", string="Transforms", copy=True
    )
    transform_summary = fields.Char(compute="_compute_transform_summary")

    @api.depends("transform_ids.kind")
    def _compute_transform_summary(self):
        for line in self:
            line.transform_summary = " → ".join(line.transform_ids.mapped("kind"))

    def _definition(self):
        self.ensure_one()
        line = {"target": self.target, "transforms": []}
        if self.source:
            line["source"] = self.source
        line["transforms"] = [t._definition() for t in self.transform_ids]
        return line

    @api.model
    def _values_from_definition(self, line, sequence):
        Transform = self.env["mfg.integration.mapping.transform"]
        return {
            "sequence": sequence,
            "target": line["target"],
            "source": line.get("source") or False,
            "transform_ids": [
                (0, 0, Transform._values_from_definition(transform, position))
                for position, transform in enumerate(line.get("transforms", []), 1)
            ],
        }

    @api.constrains("target", "source", "sequence")
    def _check_line(self):
        self._mappings()._check_definition()

    def _mappings(self):
        return self.mapping_id
