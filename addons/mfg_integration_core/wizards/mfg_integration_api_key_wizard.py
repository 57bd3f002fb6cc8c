from odoo import fields, models


class MfgIntegrationApiKeyWizard(models.TransientModel):
    """Collects what a new API key needs, generates it and shows it once."""

    _name = "mfg.integration.api.key.wizard"
    _description = "Generate Integration API Key"

    system_id = fields.Many2one("mfg.integration.system", required=True)
    name = fields.Char(required=True, help="What or who uses this key.")
    event_type_ids = fields.Many2many(
        "mfg.integration.event.type",
        string="Allowed Event Types",
        help="Leave empty to allow every event type.",
    )
    expires_at = fields.Datetime(
        string="Expires On",
        default=lambda self: fields.Datetime.add(fields.Datetime.now(), days=365),
    )
    allowed_networks = fields.Text(
        help="Client networks in CIDR notation, separated by commas or new lines. "
        "Empty: any address."
    )

    metrics_scope = fields.Boolean(
        string="Metrics",
        help="The key may read the hub's metrics (for Prometheus) and the details "
        "of its health check.",
    )

    def action_generate(self):
        """Generate the key and open the dialog that shows it once."""
        self.ensure_one()
        key, clear = self.env["mfg.integration.api.key"].generate(
            self.system_id,
            self.name,
            event_types=self.event_type_ids,
            expires_at=self.expires_at,
            allowed_networks=self.allowed_networks or False,
            metrics_scope=self.metrics_scope,
        )
        return self.env["mfg.integration.secret.reveal"].reveal_action(
            clear,
            title=self.env._("API key for %(system)s", system=self.system_id.name),
            explanation=self.env._(
                "Copy this key into %(system)s now: it cannot be shown again. Send it "
                "as 'Authorization: Bearer <key>'. It is listed as %(hint)s.",
                system=self.system_id.name,
                hint=key.key_hint,
            ),
        )
