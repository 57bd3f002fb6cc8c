from odoo import fields, models

#: kinds of systems that run the maintenance flows
MAINTENANCE_KINDS = ("cmms", "iot", "mes")


class MfgIntegrationSystem(models.Model):
    _inherit = "mfg.integration.system"

    mfg_spare_negative_stock = fields.Boolean(
        string="Spare Parts Beyond Stock",
        help="Book spare parts the CMMS reports even when Odoo's stock says they are "
        "not there (the stock goes negative until it is corrected). Off: such a "
        "booking is refused with a clear message, to replay once the stock is right.",
    )

    def _technical_user_groups(self):
        groups = super()._technical_user_groups()
        if self.kind in MAINTENANCE_KINDS:
            groups |= self.env.ref(
                "mfg_integration_maintenance.group_mfg_integration_maintenance"
            )
        return groups
