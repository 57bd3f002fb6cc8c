from odoo import api, fields, models

REASON_CATEGORIES = [
    ("breakdown", "Breakdown"),
    ("changeover", "Changeover"),
    ("planned_maintenance", "Planned maintenance"),
    ("material_shortage", "Material shortage"),
    ("quality_hold", "Quality hold"),
    ("no_operator", "No operator"),
    ("other", "Other"),
]


class MfgIntegrationDowntimeReason(models.Model):
    """How a machine's downtime reason becomes an OEE loss in Odoo.

    A downtime is booked with the loss of the most specific matching row: the
    sending system's row for the category and reason code, then any system's, then
    the category's row without code. A downtime whose reason matches no row is booked
    with the default loss of the reason's category (the row without system and code)
    and flagged for review.
    """

    _name = "mfg.integration.downtime.reason"
    _description = "Integration Downtime Reason"
    _order = "reason_category, system_id, reason_code, id"

    system_id = fields.Many2one(
        "mfg.integration.system",
        string="System",
        ondelete="cascade",
        help="Only for this system's downtimes (empty: every system).",
    )
    reason_category = fields.Selection(REASON_CATEGORIES, required=True)
    reason_code = fields.Char(
        help="Plant-specific detailed reason code, e.g. HYD-LEAK (empty: any code)."
    )
    loss_id = fields.Many2one(
        "mrp.workcenter.productivity.loss",
        string="OEE Loss",
        required=True,
        ondelete="restrict",
        domain=[("loss_type", "=", "availability")],
    )
    corrective_request = fields.Boolean(
        string="Open Corrective Request",
        help="A downtime with this reason opens a corrective maintenance request on "
        "the equipment.",
    )
    active = fields.Boolean(default=True)

    _reason_uniq = models.UniqueIndex(
        "(COALESCE(system_id, 0), reason_category, COALESCE(reason_code, '')) "
        "WHERE active",
        "This reason is already mapped.",
    )

    @api.model
    def _match(self, system, category, code):
        """The row for a downtime reason, and whether the reason is known (a code
        that only its category's row matches is not)."""
        rows = self.search([("reason_category", "=", category)])
        systems = (system, self.env["mfg.integration.system"])

        def pick(owner, row_code):
            return rows.filtered(
                lambda r: r.system_id == owner and (r.reason_code or False) == row_code
            )[:1]

        if code:
            for owner in systems:
                row = pick(owner, code)
                if row:
                    return row, True
        for owner in systems:
            row = pick(owner, False)
            if row:
                return row, not code
        return self.browse(), False
