from odoo import fields, models


class ResUsers(models.Model):
    _inherit = "res.users"

    mfg_integration_warehouse_ids = fields.Many2many(
        "stock.warehouse",
        "mfg_integration_user_warehouse_rel",
        "user_id",
        "warehouse_id",
        string="Integration Plants",
        help="Plants whose external systems and messages this integration user sees "
        "(systems bound to no plant are always visible). Empty: every plant. "
        "Integration administrators always see everything.",
    )

    def write(self, vals):
        res = super().write(vals)
        if "mfg_integration_warehouse_ids" in vals:
            # the record rules read this field: their cached domains are stale
            self.env.registry.clear_cache()
        return res
