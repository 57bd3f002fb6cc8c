from odoo import api, models


class MfgIntegrationMappingPart(models.AbstractModel):
    """Lines, transforms and value pairs of a mapping: any change to them is a new
    version of the mapping, and the mapping must still compile afterwards."""

    _name = "mfg.integration.mapping.part"
    _description = "Part of an Integration Mapping"

    def _mappings(self):
        """The mappings these parts belong to (whose version a change raises)."""
        raise NotImplementedError

    def _bump(self, mappings):
        if not self.env.context.get("mfg_mapping_no_bump"):
            mappings._bump_version()

    @api.model_create_multi
    def create(self, vals_list):
        parts = super().create(vals_list)
        parts._bump(parts._mappings())
        return parts

    def write(self, vals):
        res = super().write(vals)
        self._bump(self._mappings())
        return res

    def unlink(self):
        mappings = self._mappings()
        res = super().unlink()
        self._bump(mappings.exists())
        mappings.exists()._check_definition()
        return res
