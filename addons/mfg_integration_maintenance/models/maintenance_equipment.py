from odoo import fields, models


class MaintenanceEquipment(models.Model):
    _name = "maintenance.equipment"
    _inherit = ["maintenance.equipment", "mfg.integration.linked.mixin"]

    mfg_code = fields.Char(
        string="Equipment Code",
        index="btree_not_null",
        copy=False,
        tracking=True,
        help="Code of the machine in the plant's systems (MES, IoT, CMMS), e.g. "
        "PRESS-07: their events name the equipment by it.",
    )
    mfg_workcenter_id = fields.Many2one(
        "mrp.workcenter",
        string="Work Center",
        check_company=True,
        tracking=True,
        help="The work center this machine belongs to: its downtime blocks the work "
        "center and counts as an availability loss in Odoo's OEE.",
    )
    mfg_downtime_ids = fields.One2many(
        "mfg.integration.downtime", "equipment_id", string="Downtimes"
    )

    def _mfg_integration_records(self):
        return [self, self.mfg_downtime_ids, self.maintenance_ids]

    def _mfg_reference_data(self):
        """The canonical equipment reference (its code, else ``EQ-<id>``)."""
        self.ensure_one()
        data = {"code": self.mfg_code or f"EQ-{self.id}", "name": self.name[:256]}
        if self.serial_no and self.serial_no.strip() == self.serial_no:
            data["serial_no"] = self.serial_no[:64]
        return data
