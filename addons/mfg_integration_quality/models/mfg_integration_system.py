from odoo import models


class MfgIntegrationSystem(models.Model):
    _inherit = "mfg.integration.system"

    def _technical_user_groups(self):
        groups = super()._technical_user_groups()
        if self.kind == "qms":
            groups |= self.env.ref(
                "mfg_integration_quality.group_mfg_integration_quality"
            )
        return groups
