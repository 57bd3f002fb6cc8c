from odoo import api, models


class MfgIntegrationResolver(models.AbstractModel):
    _inherit = "mfg.integration.resolver"

    @api.model
    def _reference_kinds(self):
        kinds = super()._reference_kinds()
        kinds["nonconformance"] = {
            "model": "mgmtsystem.nonconformity",
            "label": self.env._("nonconformity"),
            "keys": ["ref"],
        }
        return kinds
