from datetime import timedelta

from odoo import api, fields, models

from odoo.addons.mfg_integration_core.tools import utc_naive

from mfg_integration import errors

from .mfg_integration_downtime_reason import REASON_CATEGORIES

#: reason categories of a breakdown: their corrective request is urgent
URGENT_CATEGORIES = ("breakdown",)


class MfgIntegrationDowntime(models.Model):
    """A machine downtime reported by a system (machine.downtime_started / _ended),
    booked as an availability loss on the equipment's work center through Odoo's own
    ``mrp.workcenter.productivity``, so that Odoo's OEE reports show it."""

    _name = "mfg.integration.downtime"
    _description = "Integration Machine Downtime"
    _order = "started_at desc, id desc"
    _rec_name = "downtime_id"
    _check_company_auto = True

    downtime_id = fields.Char(string="Downtime ID", required=True, readonly=True)
    system_id = fields.Many2one(
        "mfg.integration.system", required=True, readonly=True, ondelete="cascade"
    )
    company_id = fields.Many2one(related="system_id.company_id", store=True)
    equipment_id = fields.Many2one(
        "maintenance.equipment", required=True, readonly=True, check_company=True
    )
    workcenter_id = fields.Many2one("mrp.workcenter", readonly=True)
    production_id = fields.Many2one("mrp.production", readonly=True)
    state = fields.Selection(
        [
            ("open", "Machine stopped"),
            ("closed", "Closed"),
            ("ended_first", "End received before start"),
        ],
        required=True,
        readonly=True,
    )
    reason_category = fields.Selection(REASON_CATEGORIES, readonly=True)
    reason_code = fields.Char(readonly=True)
    loss_id = fields.Many2one(
        "mrp.workcenter.productivity.loss", string="OEE Loss", readonly=True
    )
    reason_unknown = fields.Boolean(
        string="Reason to Review",
        readonly=True,
        help="No downtime reason row matched: the default loss of its category was "
        "booked. Map the reason under Integration > Configuration > Downtime Reasons.",
    )
    started_at = fields.Datetime(readonly=True)
    ended_at = fields.Datetime(readonly=True)
    duration_minutes = fields.Float(
        compute="_compute_duration_minutes", store=True, digits=(16, 2)
    )
    productivity_id = fields.Many2one(
        "mrp.workcenter.productivity", string="Time Tracking Line", readonly=True
    )
    request_id = fields.Many2one(
        "maintenance.request", string="Maintenance Request", readonly=True
    )
    comment = fields.Text(readonly=True)

    _downtime_uniq = models.UniqueIndex("(system_id, downtime_id)")

    @api.depends("started_at", "ended_at")
    def _compute_duration_minutes(self):
        for downtime in self:
            if downtime.started_at and downtime.ended_at:
                delta = downtime.ended_at - downtime.started_at
                downtime.duration_minutes = delta.total_seconds() / 60
            else:
                downtime.duration_minutes = 0.0

    # ------------------------------------------------------------------
    # machine.downtime_started
    # ------------------------------------------------------------------

    @api.model
    def _mfg_handle_started(self, message, data):
        system = message.system_id
        resolver = self.env["mfg.integration.resolver"]
        equipment = resolver.equipment(system, data["equipment"], "/data/equipment")
        workcenter = self._mfg_workcenter(system, equipment, data)
        production = self.env["mrp.production"]
        if data.get("production_order"):
            production = resolver.resolve(
                system,
                "production_order",
                data["production_order"],
                "/data/production_order",
            )
        downtime = self.search(
            [("system_id", "=", system.id), ("downtime_id", "=", data["downtime_id"])]
        )
        if downtime.state in ("open", "closed"):
            message._post_note(
                equipment,
                self.env._(
                    "downtime %(id)s was already recorded", id=data["downtime_id"]
                ),
            )
            return downtime
        started = utc_naive(data["started_at"])
        reason, known = self.env["mfg.integration.downtime.reason"]._match(
            system, data["reason_category"], data.get("reason_code")
        )
        loss = reason.loss_id or self._mfg_default_loss()
        values = {
            "equipment_id": equipment.id,
            "workcenter_id": workcenter.id,
            "production_id": production.id,
            "reason_category": data["reason_category"],
            "reason_code": data.get("reason_code"),
            "loss_id": loss.id,
            "reason_unknown": not known,
            "started_at": started,
            "comment": data.get("comment"),
        }
        line = {
            "workcenter_id": workcenter.id,
            "loss_id": loss.id,
            "date_start": started,
            "description": self.env._(
                "Downtime %(id)s of %(equipment)s (%(reason)s)",
                id=data["downtime_id"],
                equipment=equipment.display_name,
                reason=data.get("reason_code") or data["reason_category"],
            ),
            "company_id": workcenter.company_id.id or system.company_id.id,
        }
        if downtime:  # its end arrived first: the downtime is complete now
            line["date_end"] = max(downtime.ended_at, started)
            values["state"] = "closed"
            downtime.write(values)
        else:
            values.update(
                downtime_id=data["downtime_id"], system_id=system.id, state="open"
            )
            downtime = self.create(values)
        downtime.productivity_id = self.env["mrp.workcenter.productivity"].create(line)
        if reason.corrective_request:
            downtime.request_id = downtime._mfg_open_request()
        summary = self.env._(
            "machine stopped (%(reason)s), work center %(wc)s blocked",
            reason=data.get("reason_code") or data["reason_category"],
            wc=workcenter.display_name,
        )
        if downtime.state == "closed":
            summary = self.env._(
                "downtime %(id)s recorded, %(minutes)s min (its end arrived first)",
                id=downtime.downtime_id,
                minutes=round(downtime.duration_minutes, 1),
            )
        if downtime.reason_unknown:
            summary += self.env._("; reason not mapped, to review")
        message._post_note(equipment, summary)
        return downtime

    @api.model
    def _mfg_workcenter(self, system, equipment, data):
        if data.get("work_center"):
            return self.env["mfg.integration.resolver"].resolve(
                system, "work_center", data["work_center"], "/data/work_center"
            )
        if not equipment.mfg_workcenter_id:
            raise errors.BusinessRuleError(
                self.env._(
                    "/data/work_center: equipment %(equipment)s belongs to no work "
                    "center; set its Work Center in Odoo, or send work_center.",
                    equipment=equipment.display_name,
                ),
                errors=[{"pointer": "/data/work_center", "message": "required"}],
            )
        return equipment.mfg_workcenter_id

    @api.model
    def _mfg_default_loss(self):
        """The loss of an unmapped reason: Odoo's own "Equipment Failure"."""
        loss = self.env.ref("mrp.block_reason1", raise_if_not_found=False)
        return loss or self.env["mrp.workcenter.productivity.loss"].search(
            [("loss_type", "=", "availability")], limit=1
        )

    def _mfg_open_request(self):
        """A corrective maintenance request for this downtime (which Odoo announces
        to the CMMS as any new request)."""
        self.ensure_one()
        urgent = self.reason_category in URGENT_CATEGORIES
        reason = self.reason_code or dict(REASON_CATEGORIES)[self.reason_category]
        values = {
            "name": self.env._(
                "%(reason)s on %(equipment)s",
                reason=reason,
                equipment=self.equipment_id.name,
            ),
            "equipment_id": self.equipment_id.id,
            "maintenance_type": "corrective",
            "priority": "3" if urgent else "2",
            "request_date": fields.Date.to_date(self.started_at),
            "mfg_downtime_id": self.id,
            "mfg_production_id": self.production_id.id,
            "company_id": self.company_id.id,
            "description": self.comment or False,
        }
        if self.equipment_id.maintenance_team_id:
            values["maintenance_team_id"] = self.equipment_id.maintenance_team_id.id
        return self.env["maintenance.request"].create(values)

    # ------------------------------------------------------------------
    # machine.downtime_ended
    # ------------------------------------------------------------------

    @api.model
    def _mfg_handle_ended(self, message, data):
        system = message.system_id
        resolver = self.env["mfg.integration.resolver"]
        equipment = resolver.equipment(system, data["equipment"], "/data/equipment")
        ended = utc_naive(data["ended_at"])
        started = utc_naive(data["started_at"]) if data.get("started_at") else None
        if started is None and data.get("duration_seconds") is not None:
            started = ended - timedelta(seconds=data["duration_seconds"])
        if started and ended < started:
            raise errors.BusinessRuleError(
                self.env._("/data/ended_at: the downtime ends before it started."),
                errors=[{"pointer": "/data/ended_at", "message": "before started_at"}],
            )
        downtime = self.search(
            [("system_id", "=", system.id), ("downtime_id", "=", data["downtime_id"])]
        )
        if downtime and downtime.equipment_id != equipment:
            raise errors.BusinessRuleError(
                self.env._(
                    "/data/equipment: downtime %(id)s is on %(equipment)s.",
                    id=data["downtime_id"],
                    equipment=downtime.equipment_id.display_name,
                ),
                errors=[{"pointer": "/data/equipment", "message": "other equipment"}],
            )
        if downtime.state in ("closed", "ended_first"):
            message._post_note(
                equipment,
                self.env._(
                    "downtime %(id)s was already closed", id=data["downtime_id"]
                ),
            )
            return downtime
        if not downtime:  # out of order: kept until its start arrives
            downtime = self.create(
                {
                    "downtime_id": data["downtime_id"],
                    "system_id": system.id,
                    "equipment_id": equipment.id,
                    "state": "ended_first",
                    "started_at": started,
                    "ended_at": ended,
                    "comment": data.get("comment"),
                }
            )
            message._post_note(
                equipment,
                self.env._(
                    "end of downtime %(id)s received before its start: kept until "
                    "the start arrives",
                    id=data["downtime_id"],
                ),
            )
            return downtime
        values = {"state": "closed", "ended_at": max(ended, downtime.started_at)}
        line = {"date_end": values["ended_at"]}
        category = data.get("reason_category") or downtime.reason_category
        code = data.get("reason_code") or downtime.reason_code
        if (category, code) != (downtime.reason_category, downtime.reason_code):
            reason, known = self.env["mfg.integration.downtime.reason"]._match(
                system, category, code
            )
            loss = reason.loss_id or self._mfg_default_loss()
            values.update(
                reason_category=category,
                reason_code=code,
                loss_id=loss.id,
                reason_unknown=not known,
            )
            line["loss_id"] = loss.id
        if data.get("comment"):
            values["comment"] = "\n".join(
                filter(None, [downtime.comment, data["comment"]])
            )
        downtime.write(values)
        downtime.productivity_id.write(line)
        message._post_note(
            equipment,
            self.env._(
                "machine running again after %(minutes)s min, work center %(wc)s "
                "unblocked",
                minutes=round(downtime.duration_minutes, 1),
                wc=downtime.workcenter_id.display_name,
            ),
        )
        return downtime
