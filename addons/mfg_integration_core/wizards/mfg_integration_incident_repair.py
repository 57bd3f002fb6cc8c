from odoo import fields, models


class MfgIntegrationIncidentRepair(models.TransientModel):
    """The repair suggestions of one incident, each tested on its failing
    payloads before anything is saved."""

    _name = "mfg.integration.incident.repair"
    _description = "Suggested Fixes of an Integration Incident"

    incident_id = fields.Many2one(
        "mfg.integration.incident", required=True, ondelete="cascade"
    )
    line_ids = fields.One2many(
        "mfg.integration.incident.repair.line", "repair_id", string="Suggestions"
    )
    tested_count = fields.Integer(
        string="Failing Payloads Tested",
        readonly=True,
        help="How many of the incident's latest dead letters each suggestion was "
        "tried on.",
    )

    def _fill(self):
        """Compute the suggestions and keep them as lines."""
        self.ensure_one()
        found = self.incident_id._suggestions()
        self.write(
            {
                "tested_count": found[0][2] if found else 0,
                "line_ids": [
                    fields.Command.create(
                        {
                            "sequence": position,
                            "kind": suggestion.kind,
                            "title": suggestion.title,
                            "reason": suggestion.reason,
                            "score": suggestion.score * 100,
                            "repaired_count": repaired,
                            "tested_count": tested,
                            "suggestion": suggestion.as_dict(),
                        }
                    )
                    for position, (suggestion, repaired, tested) in enumerate(found)
                ],
            }
        )
