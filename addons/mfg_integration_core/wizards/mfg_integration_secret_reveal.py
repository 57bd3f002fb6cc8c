from odoo import api, fields, models


class MfgIntegrationSecretReveal(models.AbstractModel):
    """Shows a freshly generated secret once.

    Abstract on purpose: it has no table, so the clear value travels only in the action
    that opens the dialog and is never written to the database.
    """

    _name = "mfg.integration.secret.reveal"
    _description = "Integration Secret (shown once)"

    # the field 'id' is needed for the web client to open a form on an abstract model
    id = fields.Id()
    title = fields.Char(readonly=True)
    explanation = fields.Text(readonly=True)
    secret = fields.Char(readonly=True)

    @api.model
    def reveal_action(self, secret, title, explanation):
        """Return the action that shows ``secret`` once in a dialog."""
        return {
            "type": "ir.actions.act_window",
            "res_model": self._name,
            "name": title,
            "views": [(False, "form")],
            "target": "new",
            "context": {
                "default_title": title,
                "default_explanation": explanation,
                "default_secret": secret,
            },
        }
