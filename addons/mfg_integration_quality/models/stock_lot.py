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

    def _mfg_integration_holds(self):
        holds = super()._mfg_integration_holds()
        open_ncs = self.env["mgmtsystem.nonconformity"].search(
            [("mfg_lot_ids", "in", self.ids), ("state", "not in", ("done", "cancel"))]
        )
        for lot in self:
            nonconformities = open_ncs.filtered(
                lambda nc, lot=lot: lot in nc.mfg_lot_ids
            )
            if nonconformities:
                holds[lot] = self.env._(
                    "open nonconformity %(refs)s",
                    refs=", ".join(nonconformities.mapped("ref")),
                )
            elif lot.mfg_quarantine_pending:
                holds[lot] = self.env._("on quality hold")
        return holds
