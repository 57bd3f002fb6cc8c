from odoo import api, models


class MfgIntegrationCachedMixin(models.AbstractModel):
    """Configuration the hot paths cache (event contracts, inbound mappings): any
    change clears the caches, in every worker (Odoo signals cache invalidations
    through the database)."""

    _name = "mfg.integration.cached.mixin"
    _description = "Integration Configuration Cached by the Hot Paths"

    @api.model_create_multi
    def create(self, vals_list):
        records = super().create(vals_list)
        self.env.registry.clear_cache()
        return records

    def write(self, vals):
        res = super().write(vals)
        self.env.registry.clear_cache()
        return res

    def unlink(self):
        res = super().unlink()
        self.env.registry.clear_cache()
        return res
