from odoo import api, fields, models
from odoo.tools import html2plaintext

from odoo.addons.mfg_integration_core.tools import iso_utc, utc_naive

from mfg_integration import errors

CREATED = "maintenance.work_order_created"
#: Odoo's priority stars -> the canonical priority
PRIORITIES = {"0": "low", "1": "normal", "2": "high", "3": "very_high"}
OUTCOMES = [
    ("repaired", "Repaired"),
    ("temporary_fix", "Temporary fix"),
    ("serviced", "Serviced"),
    ("no_fault_found", "No fault found"),
    ("not_repairable", "Not repairable"),
]


class MaintenanceRequest(models.Model):
    _name = "maintenance.request"
    _inherit = ["maintenance.request", "mfg.integration.linked.mixin"]

    mfg_downtime_id = fields.Many2one(
        "mfg.integration.downtime", string="Machine Downtime", readonly=True, copy=False
    )
    mfg_production_id = fields.Many2one(
        "mrp.production", string="Manufacturing Order", readonly=True, copy=False
    )
    mfg_cmms_work_order = fields.Char(
        string="CMMS Work Order", readonly=True, copy=False
    )
    mfg_outcome = fields.Selection(
        OUTCOMES, string="Outcome", readonly=True, copy=False
    )
    mfg_labour_hours = fields.Float(string="Labour (h)", readonly=True, copy=False)
    mfg_technicians = fields.Char(string="Technicians", readonly=True, copy=False)
    mfg_failure_code = fields.Char(string="Failure Code", readonly=True, copy=False)
    mfg_cause_code = fields.Char(string="Cause Code", readonly=True, copy=False)
    mfg_remedy_code = fields.Char(string="Remedy Code", readonly=True, copy=False)
    mfg_block_id = fields.Many2one(
        "mrp.workcenter.productivity",
        string="Work Center Block",
        readonly=True,
        copy=False,
        help="Set while the CMMS says the equipment may not produce.",
    )
    mfg_spare_move_ids = fields.One2many(
        "stock.move", "mfg_maintenance_request_id", string="Spare Parts"
    )

    def _mfg_integration_reference(self):
        """The reference Odoo issues for this request in
        maintenance.work_order_created, unique in the database."""
        self.ensure_one()
        return f"MR-{self.id}"

    # ------------------------------------------------------------------
    # Outbound: maintenance.work_order_created
    # ------------------------------------------------------------------

    @api.model_create_multi
    def create(self, vals_list):
        requests = super().create(vals_list)
        if not self.env.context.get("mfg_integration_from_cmms"):
            requests._mfg_announce()
        return requests

    def _mfg_announce(self):
        """Emit maintenance.work_order_created for the requests whose subscriptions
        match (their filters choose teams or equipment categories), and bind each
        request's reference for the systems it was sent to."""
        EventType = self.env["mfg.integration.event.type"]
        if not EventType._has_subscribers(CREATED):
            return
        Xref = self.env["mfg.integration.xref"].sudo()
        for request in self.filtered("equipment_id"):
            reference = request._mfg_integration_reference()
            messages = EventType.emit(
                CREATED, request._mfg_created_data(), subject=reference, record=request
            )
            equipment = request.equipment_id._mfg_reference_data()["code"]
            for system in messages.sudo().system_id:
                Xref.bind(system, "maintenance_request", reference, request)
                if not request.equipment_id.mfg_code:
                    Xref.bind(system, "equipment", equipment, request.equipment_id)

    def _mfg_created_data(self):
        self.ensure_one()
        data = {
            "maintenance_request": self._mfg_integration_reference(),
            "title": (self.name or "")[:256],
            "equipment": self.equipment_id._mfg_reference_data(),
            "maintenance_type": self.maintenance_type or "corrective",
            "priority": PRIORITIES.get(self.priority or "1", "normal"),
            "requested_at": iso_utc(self.create_date or fields.Datetime.now()),
        }
        if self.schedule_date:
            data["scheduled_start"] = iso_utc(self.schedule_date)
        if self.duration:
            data["planned_duration_hours"] = self.duration
        if self.maintenance_team_id:
            data["maintenance_team"] = self.maintenance_team_id.name
        email = self.owner_user_id.email
        if email and "@" in email:
            data["requested_by"] = email
        if self.mfg_downtime_id:
            data["downtime_id"] = self.mfg_downtime_id.downtime_id
        text = html2plaintext(self.description or "").strip()
        if text:
            data["description"] = text[:4000]
        return data

    # ------------------------------------------------------------------
    # Inbound: maintenance.work_order_completed
    # ------------------------------------------------------------------

    @api.model
    def _mfg_handle_completed(self, message, data):
        system = message.system_id
        resolver = self.env["mfg.integration.resolver"]
        equipment = resolver.equipment(system, data["equipment"], "/data/equipment")
        request = self._mfg_find(system, data)
        if request and request.equipment_id != equipment:
            raise errors.BusinessRuleError(
                self.env._(
                    "/data/equipment: request %(ref)s is on %(equipment)s.",
                    ref=data["maintenance_request"],
                    equipment=request.equipment_id.display_name,
                ),
                errors=[{"pointer": "/data/equipment", "message": "other equipment"}],
            )
        if not request:  # a job planned in the CMMS alone
            request = self.with_context(mfg_integration_from_cmms=True).create(
                {
                    "name": self.env._(
                        "CMMS work order %(wo)s", wo=data["cmms_work_order"]
                    ),
                    "equipment_id": equipment.id,
                    "maintenance_type": "preventive"
                    if data["outcome"] == "serviced"
                    else "corrective",
                    "company_id": system.company_id.id,
                }
            )
        self.env["mfg.integration.xref"].sudo().bind(
            system, "cmms_work_order", data["cmms_work_order"], request
        )
        if request.stage_id.done:
            message._post_note(request, self.env._("already done, nothing changed"))
            return request
        values = {
            "mfg_cmms_work_order": data["cmms_work_order"],
            "mfg_outcome": data["outcome"],
            "mfg_labour_hours": data.get("labour_hours", 0.0),
            "mfg_technicians": ", ".join(data.get("technicians", [])),
            "mfg_failure_code": data.get("failure_code"),
            "mfg_cause_code": data.get("cause_code"),
            "mfg_remedy_code": data.get("remedy_code"),
            "schedule_end": utc_naive(data["completed_at"]),
        }
        if data.get("started_at"):
            values["schedule_date"] = utc_naive(data["started_at"])
        request.write(values)
        available = data.get("equipment_available", True)
        request._mfg_set_block(not available, data.get("notes"))
        summary = self.env._(
            "%(outcome)s by %(wo)s", outcome=data["outcome"], wo=data["cmms_work_order"]
        )
        if data["outcome"] == "not_repairable":
            request.activity_schedule(
                "mail.mail_activity_data_todo",
                summary=self.env._("Equipment not repairable: decide"),
                note=data.get("notes") or "",
                user_id=(
                    request.user_id or request.owner_user_id or system.responsible_id
                ).id,
            )
            summary += self.env._("; left open for a decision")
        else:
            stage = self.env["maintenance.stage"].search(
                [("done", "=", True)], order="sequence, id", limit=1
            )
            request.stage_id = stage
        if not available:
            summary += self.env._("; equipment not available, work center kept blocked")
        if data.get("notes"):
            summary += f": {data['notes']}"
        message._post_note(request, summary)
        return request

    @api.model
    def _mfg_find(self, system, data):
        """The request a CMMS event is about: the Odoo reference it quotes, else the
        CMMS work order already bound to a request (an empty recordset when none)."""
        resolver = self.env["mfg.integration.resolver"]
        if data.get("maintenance_request"):
            return resolver.resolve(
                system,
                "maintenance_request",
                data["maintenance_request"],
                "/data/maintenance_request",
            )
        bound = self.env["mfg.integration.xref"].lookup(
            system, "cmms_work_order", data["cmms_work_order"]
        )
        return bound or self.browse()

    def _mfg_set_block(self, blocked, why):
        """Keep the equipment's work center blocked while the CMMS says the
        equipment may not produce (an open availability loss), or lift that block."""
        self.ensure_one()
        workcenter = self.equipment_id.mfg_workcenter_id
        if blocked and workcenter and not self.mfg_block_id:
            Downtime = self.env["mfg.integration.downtime"]
            self.mfg_block_id = self.env["mrp.workcenter.productivity"].create(
                {
                    "workcenter_id": workcenter.id,
                    "loss_id": Downtime._mfg_default_loss().id,
                    "date_start": fields.Datetime.now(),
                    "description": self.env._(
                        "Not available after %(request)s: %(why)s",
                        request=self.name,
                        why=why or "-",
                    ),
                    "company_id": workcenter.company_id.id or self.company_id.id,
                }
            )
        elif not blocked and self.mfg_block_id and not self.mfg_block_id.date_end:
            self.mfg_block_id.date_end = fields.Datetime.now()
