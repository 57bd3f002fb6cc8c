from odoo import fields, models

from ..tools import form_action, notify

KINDS = [
    ("source", "Read the value from another field"),
    ("value_map", "Map a value to an allowed one"),
    ("unit", "Map a unit name to Odoo's"),
    ("xref", "Bind the reference to a record"),
]


class MfgIntegrationIncidentRepairLine(models.TransientModel):
    """One suggested fix: what it changes, why, and how many of the failing
    payloads it repairs."""

    _name = "mfg.integration.incident.repair.line"
    _description = "Suggested Fix of an Integration Incident"
    _order = "sequence, id"

    repair_id = fields.Many2one(
        "mfg.integration.incident.repair", required=True, ondelete="cascade"
    )
    sequence = fields.Integer()
    kind = fields.Selection(KINDS, required=True, readonly=True)
    title = fields.Char(string="Fix", readonly=True)
    reason = fields.Text(string="Why", readonly=True)
    score = fields.Float(string="Likelihood (%)", digits=(5, 1), readonly=True)
    repaired_count = fields.Integer(string="Repairs", readonly=True)
    tested_count = fields.Integer(string="Of", readonly=True)
    suggestion = fields.Json(readonly=True)

    def action_apply(self):
        """Apply the fix, then go back to the incident to replay its dead letters."""
        self.ensure_one()
        incident = self.repair_id.incident_id
        incident._apply_suggestion(self.suggestion)
        return notify(
            self.env._(
                "Applied: %(title)s. Replay the incident's dead letters to process "
                "them.",
                title=self.title,
            ),
            next_action=form_action(incident),
        )
