from odoo import api, models

from mfg_integration import errors


class MfgIntegrationResolver(models.AbstractModel):
    _inherit = "mfg.integration.resolver"

    @api.model
    def _reference_kinds(self):
        kinds = super()._reference_kinds()
        kinds.update(
            {
                "equipment": {
                    "model": "maintenance.equipment",
                    "label": self.env._("equipment"),
                    "keys": ["mfg_code", "serial_no", "name"],
                },
                # only the reference Odoo issued in maintenance.work_order_created
                "maintenance_request": {
                    "model": "maintenance.request",
                    "label": self.env._("maintenance request"),
                    "keys": [],
                },
            }
        )
        return kinds

    @api.model
    def equipment(self, system, data, pointer):
        """The equipment an ``{"code", "serial_no", "name"}`` object names: its code
        (cross-reference, equipment code, serial number, name), then its serial
        number when the code finds nothing."""
        try:
            return self.resolve(system, "equipment", data["code"], f"{pointer}/code")
        except errors.ReferenceNotFound:
            if not data.get("serial_no"):
                raise
            return self.resolve(
                system, "equipment", data["serial_no"], f"{pointer}/serial_no"
            )
