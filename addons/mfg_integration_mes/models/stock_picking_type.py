from odoo import fields, models


class StockPickingType(models.Model):
    _inherit = "stock.picking.type"

    mfg_release_gate = fields.Boolean(
        string="Release Gate",
        help="Manufacturing orders of this operation type wait at the release gate "
        "after confirmation (the 'Production release gate' flow): components "
        "reserved, no component lot on hold, released to the MES and acknowledged "
        "by it.",
    )
