from odoo import models


class StockLot(models.Model):
    _inherit = "stock.lot"

    def _mfg_integration_holds(self):
        """Why each of these lots may not be used now: ``{lot: reason}``.

        None in core. Domain modules add theirs (quality: an open nonconformity
        holds the lot, or it waits in quarantine); process flows ask before they
        release work that consumes the lots.
        """
        return {}
