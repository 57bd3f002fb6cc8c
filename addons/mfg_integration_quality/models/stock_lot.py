from odoo import fields, models


class StockLot(models.Model):
    _inherit = "stock.lot"

    mfg_quarantine_pending = fields.Boolean(
        string="On Quality Hold",
        copy=False,
        tracking=True,
        help="A failed inspection asked to hold this lot before any of it was in "
        "stock: the next receipts of the lot go to quarantine.",
    )
    mfg_hold_nonconformity_id = fields.Many2one(
        "mgmtsystem.nonconformity",
        string="Hold Nonconformity",
        copy=False,
        readonly=True,
    )
