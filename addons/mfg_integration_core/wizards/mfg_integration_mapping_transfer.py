import base64
import json

from odoo import fields, models
from odoo.exceptions import UserError


class MfgIntegrationMappingTransfer(models.TransientModel):
    """Exports a mapping as JSON, or imports one from JSON text or a file."""

    _name = "mfg.integration.mapping.transfer"
    _description = "Export or Import an Integration Mapping"

    mapping_id = fields.Many2one("mfg.integration.mapping", readonly=True)
    definition = fields.Text(
        help="The mapping in the JSON format mfg-integration-mapping/1."
    )
    file = fields.Binary(string="JSON File")
    filename = fields.Char()

    def action_import(self):
        """Create or update the mapping described by the JSON (text or file)."""
        self.ensure_one()
        text = (
            base64.b64decode(self.file).decode("utf-8")
            if self.file
            else (self.definition or "")
        )
        if not text.strip():
            raise UserError(self.env._("Paste a mapping definition or choose a file."))
        try:
            definition = json.loads(text)
        except ValueError as exc:
            raise UserError(
                self.env._("The definition is not JSON: %(error)s", error=str(exc))
            ) from None
        mapping = self.env["mfg.integration.mapping"].import_definition(definition)
        return {
            "type": "ir.actions.act_window",
            "res_model": mapping._name,
            "res_id": mapping.id,
            "view_mode": "form",
        }

    def action_download(self):
        """Download the exported definition as a .json file."""
        self.ensure_one()
        name = (self.mapping_id.name or "mapping").replace("/", "-")
        self.write(
            {
                "file": base64.b64encode((self.definition or "").encode("utf-8")),
                "filename": f"{name}.json",
            }
        )
        return {
            "type": "ir.actions.act_url",
            "url": (
                f"/web/content?model={self._name}&id={self.id}&field=file"
                f"&filename_field=filename&download=true"
            ),
            "target": "self",
        }
