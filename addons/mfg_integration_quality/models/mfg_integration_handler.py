from odoo import models


class MfgIntegrationHandler(models.AbstractModel):
    """The quality events Odoo handles; each one's logic lives with the record it
    changes (inspection, nonconformity)."""

    _inherit = "mfg.integration.handler"

    def _handle_inspection__result_recorded(self, message, data):
        return self.env["qc.inspection"]._mfg_handle_result(message, data)

    def _handle_inspection__failed(self, message, data):
        return self.env["qc.inspection"]._mfg_handle_failed(message, data)

    def _handle_batch__disposition_approved(self, message, data):
        return self.env["mgmtsystem.nonconformity"]._mfg_handle_disposition(
            message, data
        )
