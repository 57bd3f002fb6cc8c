from odoo import models


class StockPicking(models.Model):
    _inherit = "stock.picking"

    def _action_done(self):
        res = super()._action_done()
        self._mfg_quarantine_held_lots()
        return res

    def _mfg_quarantine_held_lots(self):
        """Receipts of lots a failed inspection put on hold before they were in
        stock go straight on to quarantine."""
        lines = self.filtered(
            lambda p: p.picking_type_code == "incoming" and p.state == "done"
        ).move_ids.move_line_ids.filtered(
            lambda ml: ml.lot_id.mfg_quarantine_pending
            and ml.lot_id.mfg_hold_nonconformity_id
            and ml.location_dest_id.usage == "internal"
        )
        for lot, lot_lines in lines.grouped("lot_id").items():
            quants = self.env["stock.quant"].search(
                [
                    ("lot_id", "=", lot.id),
                    ("location_id", "in", lot_lines.location_dest_id.ids),
                    ("quantity", ">", 0),
                ]
            )
            if quants:
                lot.mfg_hold_nonconformity_id._mfg_hold(quants)
