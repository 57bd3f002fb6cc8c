from odoo import models


class MfgIntegrationHandler(models.AbstractModel):
    """The maintenance events Odoo handles; each one's logic lives with the record
    it changes (downtime, maintenance request, stock move)."""

    _inherit = "mfg.integration.handler"

    def _handle_machine__downtime_started(self, message, data):
        return self.env["mfg.integration.downtime"]._mfg_handle_started(message, data)

    def _handle_machine__downtime_ended(self, message, data):
        return self.env["mfg.integration.downtime"]._mfg_handle_ended(message, data)

    def _handle_maintenance__work_order_completed(self, message, data):
        return self.env["maintenance.request"]._mfg_handle_completed(message, data)

    def _handle_spare_part__consumed(self, message, data):
        return self.env["stock.move"]._mfg_handle_spare_part(message, data)
