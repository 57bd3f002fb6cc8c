from odoo import fields, models


class MgmtsystemNonconformitySeverity(models.Model):
    _inherit = "mgmtsystem.nonconformity.severity"

    mfg_code = fields.Selection(
        [("minor", "Minor"), ("major", "Major"), ("critical", "Critical")],
        string="Canonical Severity",
        index=True,
        help="The severity of the canonical quality events this one stands for.",
    )
    mfg_always_hold = fields.Boolean(
        string="Always Quarantine",
        help="A failed inspection of this severity puts its lot in quarantine even "
        "when the QMS did not ask for a hold.",
    )
    mfg_auto_scar = fields.Boolean(
        string="Request Supplier Action",
        help="A failed incoming inspection of this severity requests a corrective "
        "action from the supplier at once (supplier_corrective_action.opened).",
    )
