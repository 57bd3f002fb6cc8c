from odoo import api, fields, models


class MfgIntegrationMessageEdit(models.TransientModel):
    """Edits the payload of a failed message, then replays it.

    The payload is shown with sensitive values masked; masked values left as they are
    keep their real value.
    """

    _name = "mfg.integration.message.edit"
    _description = "Edit and Replay an Integration Message"

    message_id = fields.Many2one("mfg.integration.message", required=True)
    payload = fields.Text(required=True)

    @api.model
    def default_get(self, fields_list):
        values = super().default_get(fields_list)
        if self.env.context.get("active_model") == "mfg.integration.message":
            message = self.env["mfg.integration.message"].browse(
                self.env.context.get("active_id")
            )
            values.update(message_id=message.id, payload=message.payload_display)
        return values

    def action_apply(self):
        self.ensure_one()
        self.message_id._edit_payload(self.payload)
        self.message_id.action_replay()
        return {"type": "ir.actions.act_window_close"}
