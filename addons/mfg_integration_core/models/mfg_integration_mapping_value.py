from odoo import api, fields, models


class MfgIntegrationMappingValue(models.Model):
    """A pair of a value map: what comes in, what goes out."""

    _name = "mfg.integration.mapping.value"
    _description = "Integration Mapping Value Pair"
    _inherit = ["mfg.integration.mapping.part"]
    _order = "transform_id, sequence, id"

    transform_id = fields.Many2one(
        "mfg.integration.mapping.transform",
        required=True,
        ondelete="cascade",
        index=True,
    )
    sequence = fields.Integer(default=10)
    source_value = fields.Char(string="From", required=True)
    target_value = fields.Char(string="To")

    @api.constrains("source_value", "target_value")
    def _check_pair(self):
        self._mappings()._check_definition()

    def _mappings(self):
        return self.transform_id.line_id.mapping_id
