from odoo import api, fields, models
from odoo.exceptions import UserError

from odoo.addons.mfg_integration_core.tools import iso_utc, utc_naive

from mfg_integration import errors

from .mrp_production import CODE_RE

#: the progress statuses of work going on (the work order's timer runs)
RUNNING = ("started", "in_progress", "resumed")


class MrpWorkorder(models.Model):
    _name = "mrp.workorder"
    _inherit = ["mrp.workorder", "mfg.integration.linked.mixin"]

    mfg_integration_reported_at = fields.Datetime(
        string="Last MES Report",
        copy=False,
        readonly=True,
        help="Shop-floor time of the latest progress report applied to this work "
        "order; older reports that arrive later change nothing.",
    )

    def _mfg_integration_reference(self):
        """The reference Odoo issues for this work order in production_order.released:
        stable for the life of the work order, unique in the database."""
        self.ensure_one()
        return f"WO-{self.id}"

    def _mfg_release_data(self, sequence):
        self.ensure_one()
        code = self.workcenter_id.code or ""
        if not CODE_RE.match(code):
            raise UserError(
                self.env._(
                    "Work center %(name)s needs a code of letters, digits, '_', '.', "
                    "'/' or '-' (no spaces) before its orders can be released to the "
                    "MES; it has '%(code)s'.",
                    name=self.workcenter_id.display_name,
                    code=code,
                )
            )
        data = {
            "reference": self._mfg_integration_reference(),
            "sequence": sequence,
            "operation": self.name[:128],
            "work_center": code,
            "planned_duration_minutes": round(self.duration_expected, 2),
        }
        if self.date_start:
            data["planned_start"] = iso_utc(self.date_start)
        return data

    def _mfg_report_progress(self, message, data):
        """Apply one progress report (cumulative quantities and duration) through
        Odoo's own work order methods. Returns a summary for the chatter, or None when
        the report is older than one already applied (out of order: nothing done)."""
        self.ensure_one()
        production = self.production_id
        reported_at = utc_naive(data["reported_at"])
        if self.mfg_integration_reported_at and (
            reported_at < self.mfg_integration_reported_at
        ):
            return None
        status = data["status"]
        if self.state == "cancel" or (self.state == "done" and status != "finished"):
            raise errors.BusinessRuleError(
                self.env._(
                    "/data/work_order: work order %(ref)s of %(order)s is already "
                    "%(state)s; a '%(status)s' report cannot reopen it.",
                    ref=data["work_order"],
                    order=production.name,
                    state="finished" if self.state == "done" else "cancelled",
                    status=status,
                ),
                errors=[{"pointer": "/data/work_order", "message": self.state}],
            )
        system = message.system_id
        resolver = self.env["mfg.integration.resolver"]
        workcenter = resolver.resolve(
            system, "work_center", data["work_center"], "/data/work_center"
        )
        unit = production.product_uom_id
        good = resolver.quantity(data["quantity_good"], unit, "/data/quantity_good")
        scrap = 0.0
        if data.get("quantity_scrap"):
            scrap = resolver.quantity(
                data["quantity_scrap"],
                production.product_id.uom_id,
                "/data/quantity_scrap",
            )
        if status == "finished" and unit.compare(good, 0) <= 0:
            raise errors.BusinessRuleError(
                self.env._(
                    "/data/quantity_good: work order %(ref)s cannot be finished with "
                    "no good quantity; report it paused, or cancel the order in Odoo.",
                    ref=data["work_order"],
                ),
                errors=[{"pointer": "/data/quantity_good", "message": "zero"}],
            )
        scrap_in_order_unit = production.product_id.uom_id._compute_quantity(
            scrap, unit
        )
        workorder = self.with_context(mfg_integration_releasing=True)
        if self.state == "done":  # a repeated 'finished': nothing counts twice
            workorder.mfg_integration_reported_at = reported_at
            return self.env._("%(ref)s already finished", ref=data["work_order"])
        if workcenter != self.workcenter_id:  # rerouted on the shop floor
            workorder.write({"workcenter_id": workcenter.id})
        running = status in RUNNING
        timing = self.time_ids.filtered(lambda t: not t.date_end)
        # A report of work going on, without a duration, while the timer runs
        # changes the quantities only: the timer goes on (restarting it would
        # cost Odoo's start logic, planning included, on every report of a busy
        # line). Otherwise closed time lines make the cumulative duration exact,
        # and the timer starts again below when the work goes on.
        keep_timer = running and timing and "duration_minutes" not in data
        if timing and not keep_timer:
            workorder.end_all()
        if "duration_minutes" in data:
            workorder.duration = data["duration_minutes"]
        workorder.qty_produced = good
        lot = None
        if data.get("lot"):
            lot = resolver.lot(
                system, production.product_id, data["lot"], "/data/lot", create=True
            )
        production._mfg_scrap(
            production.product_id,
            scrap,
            workorder=self,
            reason=data.get("scrap_reason"),
            lot=lot,
        )
        if running and not keep_timer:
            workorder.button_start()
        elif status == "finished":
            self._mfg_consume_started(good + scrap_in_order_unit)
            workorder.button_finish()  # keeps the quantity set above
        workorder.mfg_integration_reported_at = reported_at
        return self.env._(
            "%(ref)s %(operation)s %(status)s: %(good)s %(unit)s good, %(scrap)s "
            "scrapped, %(minutes)s min",
            ref=data["work_order"],
            operation=self.name,
            status=status.replace("_", " "),
            good=good,
            unit=unit.name,
            scrap=scrap,
            minutes=round(self.duration, 1),
        )

    def _mfg_consume_started(self, started):
        """Consume this operation's components that the MES did not book, for the
        units the operation worked on (good and scrapped, in the order's unit): what
        Odoo's own work order finish does for the planned quantity. They then keep
        that quantity when the order is completed."""
        self.ensure_one()
        for move in self.move_raw_ids.filtered(
            lambda m: not m.picked
            and not m.mfg_integration_booked
            and m.state not in ("done", "cancel")
        ):
            move._set_quantity_done(move.product_uom.round(started * move.unit_factor))
            move.write({"picked": True, "manual_consumption": True})

    @api.model
    def _mfg_handle_progress(self, message, data):
        resolver = self.env["mfg.integration.resolver"]
        system = message.system_id
        production = resolver.resolve(
            system,
            "production_order",
            data["production_order"],
            "/data/production_order",
        )
        workorder = resolver.resolve(
            system,
            "work_order",
            data["work_order"],
            "/data/work_order",
            domain=[("production_id", "=", production.id)],
        )
        production._mfg_check_open()
        summary = workorder._mfg_report_progress(message, data)
        if summary is None:
            summary = self.env._(
                "%(ref)s: report of %(at)s is older than the last one applied; "
                "nothing changed",
                ref=data["work_order"],
                at=data["reported_at"],
            )
        message._post_note(production, summary)
        return workorder
