from odoo import api, fields, models


class MfgIntegrationMessageDiscard(models.TransientModel):
    """Discards the selected messages with a reason."""

    _name = "mfg.integration.message.discard"
    _description = "Discard Integration Messages"

    message_ids = fields.Many2many("mfg.integration.message", required=True)
    reason = fields.Text(required=True)

    @api.model
    def default_get(self, fields_list):
        values = super().default_get(fields_list)
        if self.env.context.get("active_model") == "mfg.integration.message":
            values["message_ids"] = [(6, 0, self.env.context.get("active_ids") or [])]
        return values

    def action_discard(self):
        self.ensure_one()
        self.message_ids.action_discard(self.reason)
        return {"type": "ir.actions.act_window_close"}
