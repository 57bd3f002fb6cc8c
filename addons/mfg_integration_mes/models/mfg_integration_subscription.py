from odoo import models


class MfgIntegrationSubscription(models.Model):
    _inherit = "mfg.integration.subscription"

    def _matches(self, record):
        """Orders are released to each system at the moment it chose (see
        ``mes_release_trigger``); updates go to those that have the order already."""
        if not super()._matches(record):
            return False
        trigger = self.env.context.get("mfg_integration_release_trigger")
        if not trigger or record is None or record._name != "mrp.production":
            return True
        if trigger == "gate":
            return True  # an order that passed its release gate goes to every MES
        chosen = self.system_id.mes_release_trigger
        if trigger == "update":
            return chosen == "confirm" or record.is_planned
        return chosen == trigger
