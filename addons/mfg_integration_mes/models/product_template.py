from odoo import fields, models


class ProductTemplate(models.Model):
    _inherit = "product.template"

    mfg_release_gate = fields.Boolean(
        string="Release Gate",
        help="Manufacturing orders of this product wait at the release gate after "
        "confirmation (the 'Production release gate' flow), whatever their "
        "operation type.",
    )
