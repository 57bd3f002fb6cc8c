from odoo import models

#: kinds of systems that run the maintenance flows
MAINTENANCE_KINDS = ("cmms", "iot", "mes")


class MfgIntegrationSystem(models.Model):
    _inherit = "mfg.integration.system"

    def _technical_user_groups(self):
        groups = super()._technical_user_groups()
        if self.kind in MAINTENANCE_KINDS:
            groups |= self.env.ref(
                "mfg_integration_maintenance.group_mfg_integration_maintenance"
            )
        return groups
