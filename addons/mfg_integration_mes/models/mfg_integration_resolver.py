from odoo import api, models


class MfgIntegrationResolver(models.AbstractModel):
    _inherit = "mfg.integration.resolver"

    @api.model
    def _reference_kinds(self):
        kinds = super()._reference_kinds()
        kinds.update(
            {
                "production_order": {
                    "model": "mrp.production",
                    "label": self.env._("manufacturing order"),
                    "keys": ["name"],
                    "plant": lambda warehouse: [
                        ("picking_type_id.warehouse_id", "=", warehouse.id)
                    ],
                },
                # only the reference Odoo issued in production_order.released
                "work_order": {
                    "model": "mrp.workorder",
                    "label": self.env._("work order"),
                    "keys": [],
                    "plant": lambda warehouse: [
                        (
                            "production_id.picking_type_id.warehouse_id",
                            "=",
                            warehouse.id,
                        )
                    ],
                },
                "work_center": {
                    "model": "mrp.workcenter",
                    "label": self.env._("work center"),
                    "keys": ["code", "name"],
                },
            }
        )
        return kinds
