from odoo import fields, models


class MfgIntegrationSystem(models.Model):
    _inherit = "mfg.integration.system"

    mes_release_trigger = fields.Selection(
        [("confirm", "On confirmation"), ("plan", "When planned")],
        string="Release Orders",
        default="confirm",
        required=True,
        help="When a manufacturing order is released to this system "
        "(production_order.released): when it is confirmed, or when its work orders "
        "are planned.",
    )

    def _technical_user_groups(self):
        groups = super()._technical_user_groups()
        if self.kind == "mes":
            groups |= self.env.ref("mfg_integration_mes.group_mfg_integration_mes")
        return groups
