from odoo import models


class MfgIntegrationHandler(models.AbstractModel):
    """The MES events Odoo handles; each one's logic lives with the business object
    it changes (``mrp.production``, ``mrp.workorder``, ``stock.move``)."""

    _inherit = "mfg.integration.handler"

    def _handle_work_order__progress_reported(self, message, data):
        return self.env["mrp.workorder"]._mfg_handle_progress(message, data)

    def _handle_material__consumed(self, message, data):
        return self.env["stock.move"]._mfg_handle_consumed(message, data)

    def _handle_production_order__completed(self, message, data):
        return self.env["mrp.production"]._mfg_handle_completed(message, data)

    def _handle_production_order__release_acknowledged(self, message, data):
        return self.env["mrp.production"]._mfg_handle_release_ack(message, data)
