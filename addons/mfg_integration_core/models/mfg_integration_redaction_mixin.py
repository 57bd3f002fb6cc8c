from odoo import api, fields, models
from odoo.exceptions import ValidationError

from mfg_integration.redaction import parse_pointers


class MfgIntegrationRedactionMixin(models.AbstractModel):
    """A list of JSON pointers whose values are masked wherever a payload is shown
    and scrubbed from every error text, note and log line."""

    _name = "mfg.integration.redaction.mixin"
    _description = "Integration Redaction Rules"

    redact_pointers = fields.Text(
        string="Redacted Values",
        help="JSON pointers whose values are masked wherever a payload is displayed "
        "and removed from error texts, notes and logs, one per line (e.g. "
        "/operator/badge_id). A '*' segment matches every array item or object "
        "member.",
    )

    @api.constrains("redact_pointers")
    def _check_redact_pointers(self):
        for record in self:
            try:
                parse_pointers(record.redact_pointers or "")
            except ValueError as exc:
                raise ValidationError(str(exc)) from None

    def _redaction_pointers(self):
        """Return the parsed redaction pointers (an empty tuple for no record)."""
        if not self:
            return ()
        self.ensure_one()
        return parse_pointers(self.redact_pointers or "")
