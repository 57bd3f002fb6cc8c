from odoo import api, fields, models


class StockWarehouse(models.Model):
    _inherit = "stock.warehouse"

    mfg_quarantine_location_id = fields.Many2one(
        "stock.location",
        string="Quarantine Location",
        check_company=True,
        copy=False,
        help="Where lots on quality hold are kept: outside the warehouse's stock, so "
        "sales and production cannot reserve them.",
    )

    @api.model_create_multi
    def create(self, vals_list):
        warehouses = super().create(vals_list)
        warehouses._mfg_ensure_quarantine()
        return warehouses

    def _mfg_ensure_quarantine(self):
        """Give each warehouse its quarantine location (an internal location beside
        its stock, not inside it)."""
        for warehouse in self.filtered(lambda w: not w.mfg_quarantine_location_id):
            warehouse.mfg_quarantine_location_id = self.env["stock.location"].create(
                {
                    "name": self.env._("Quarantine"),
                    "usage": "internal",
                    "location_id": warehouse.view_location_id.id,
                    "company_id": warehouse.company_id.id,
                }
            )
