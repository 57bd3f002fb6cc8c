import re

from odoo import Command, api, fields, models
from odoo.exceptions import UserError

from odoo.addons.mfg_integration_core.tools import iso_utc

from mfg_integration import errors

RELEASED = "production_order.released"
#: the code of the flow that stands between confirmation and release when a gate is
#: enabled for the operation type or the product
RELEASE_GATE_FLOW = "production-release-gate"
CANCELLED = "production_order.cancelled"
#: a work center code the release schema accepts
CODE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_./-]{0,63}$")
#: changes of a released order that the MES must hear about (a new release)
RELEASE_FIELDS = {"product_qty", "product_uom_id"}
#: changes that matter only before the shop floor started the order
PLANNING_FIELDS = {"date_start", "date_finished", "priority"}


class MrpProduction(models.Model):
    _name = "mrp.production"
    _inherit = ["mrp.production", "mfg.integration.linked.mixin"]

    mfg_integration_released = fields.Boolean(
        string="Released to MES",
        copy=False,
        readonly=True,
        help="The order was sent to the MES (production_order.released).",
    )
    mfg_integration_plan_released = fields.Boolean(copy=False, readonly=True)
    mfg_release_state = fields.Selection(
        [("gated", "At the release gate"), ("released", "Released")],
        string="Release Gate",
        copy=False,
        readonly=True,
        tracking=True,
        help="Orders of an operation type or product with a release gate wait at "
        "the gate after confirmation: components reserved, no lot on hold, released "
        "to the MES and acknowledged by it, then released.",
    )

    def _mfg_integration_records(self):
        return [self, self.workorder_ids]

    # ------------------------------------------------------------------
    # Outbound: production_order.released / production_order.cancelled
    # ------------------------------------------------------------------

    def action_confirm(self):
        res = super(
            MrpProduction, self.with_context(mfg_integration_releasing=True)
        ).action_confirm()
        confirmed = self.filtered(lambda p: p.state not in ("draft", "cancel"))
        gated = confirmed.filtered(
            lambda p: p._mfg_gated() and p.mfg_release_state != "released"
        )
        (confirmed - gated)._mfg_release("confirm")
        gated._mfg_start_release_gate()
        return res

    def _mfg_gated(self):
        """Whether a release gate is enabled for this order."""
        self.ensure_one()
        return bool(
            self.picking_type_id.mfg_release_gate
            or self.product_id.product_tmpl_id.mfg_release_gate
        )

    def _mfg_start_release_gate(self):
        """Start the release gate flow of each order; an order whose gate flow is
        archived is released as if it had no gate."""
        Flow = self.env["mfg.integration.flow"]
        for production in self:
            run = Flow._start_by_code(
                RELEASE_GATE_FLOW,
                production,
                data={"production_order": production.name},
                key=production.name,
            )
            if run:
                production.with_context(
                    mfg_integration_releasing=True
                ).mfg_release_state = "gated"
            else:
                production._mfg_release("confirm")

    def button_plan(self):
        res = super(
            MrpProduction, self.with_context(mfg_integration_releasing=True)
        ).button_plan()
        planned = self.filtered(
            lambda p: p.is_planned and not p.mfg_integration_plan_released
        )
        planned._mfg_release("plan")
        planned.mfg_integration_plan_released = True
        return res

    def write(self, vals):
        res = super().write(vals)
        if self.env.context.get("mfg_integration_releasing"):
            return res
        changed = set(vals)
        if changed & (RELEASE_FIELDS | PLANNING_FIELDS):
            self.filtered(
                lambda p: p.mfg_integration_released
                and (
                    (changed & RELEASE_FIELDS and p.state in ("confirmed", "progress"))
                    or p.state == "confirmed"
                )
            )._mfg_release("update")
        return res

    def action_cancel(self):
        open_refs = {
            production: [
                wo._mfg_integration_reference()
                for wo in production.workorder_ids
                if wo.state not in ("done", "cancel")
            ]
            for production in self.filtered("mfg_integration_released")
        }
        res = super().action_cancel()
        EventType = self.env["mfg.integration.event.type"]
        if not EventType._has_subscribers(CANCELLED):
            return res
        for production, refs in open_refs.items():
            if production.state != "cancel":
                continue
            EventType.emit(
                CANCELLED,
                {
                    "production_order": production.name,
                    "work_orders": refs,
                    "cancelled_at": iso_utc(fields.Datetime.now()),
                },
                subject=production.name,
                record=production,
            )
        return res

    def _split_productions(
        self, amounts=False, cancel_remaining_qty=False, set_consumed_qty=False
    ):
        productions = super()._split_productions(
            amounts=amounts,
            cancel_remaining_qty=cancel_remaining_qty,
            set_consumed_qty=set_consumed_qty,
        )
        # a backorder is a new order for the shop floor
        (productions - self).filtered(
            lambda p: p.state not in ("draft", "cancel", "done")
            and not p.mfg_integration_released
        )._mfg_release("confirm")
        return productions

    def _mfg_release(self, trigger):
        """Emit ``production_order.released`` for these orders to the subscribed
        systems that take it at ``trigger`` (``confirm``, ``plan``, ``update`` for a
        changed order already released, or ``gate``: every subscribed system, when
        the order passes its release gate), and bind the work order references."""
        EventType = self.env["mfg.integration.event.type"]
        productions = self
        if trigger != "gate":  # only the gate flow releases an order at its gate
            productions = self.filtered(lambda p: p.mfg_release_state != "gated")
        if not productions or not EventType._has_subscribers(RELEASED):
            return
        EventType = EventType.with_context(mfg_integration_release_trigger=trigger)
        for production in productions:
            if not production.workorder_ids:
                production.message_post(
                    body=self.env._(
                        "Not released to the MES: the order has no work orders."
                    )
                )
                continue
            messages = EventType.emit(
                RELEASED,
                production._mfg_release_data(),
                subject=production.name,
                record=production,
            )
            production._mfg_bind_work_orders(messages.sudo().system_id)
            if messages and not production.mfg_integration_released:
                production.with_context(
                    mfg_integration_releasing=True
                ).mfg_integration_released = True

    def _mfg_bind_work_orders(self, systems):
        """Bind the order's name and each work order's reference as cross-references
        of each system they were sent to, so that the system's reports find them."""
        Xref = self.env["mfg.integration.xref"].sudo()
        for system in systems:
            # the order keeps the name the system knows, even when a backorder
            # renames it
            Xref.bind(system, "production_order", self.name, self)
            for workorder in self.workorder_ids:
                Xref.bind(
                    system,
                    "work_order",
                    workorder._mfg_integration_reference(),
                    workorder,
                )

    @api.model
    def _mfg_product_data(self, product):
        """The canonical product reference of ``product``."""
        if not product.default_code:
            raise UserError(
                self.env._(
                    "Product %(product)s has no internal reference: the MES needs one "
                    "to know the product. Set it on the product, then try again.",
                    product=product.display_name,
                )
            )
        data = {"default_code": product.default_code, "name": product.name[:256]}
        if product.barcode and " " not in product.barcode:
            data["barcode"] = product.barcode
        return data

    def _mfg_release_data(self):
        """The data of ``production_order.released`` for this order (its schema is
        the contract)."""
        self.ensure_one()
        workorders = self.workorder_ids.sorted(lambda w: (w.sequence, w.id))
        sequence = {workorder: i for i, workorder in enumerate(workorders, 1)}
        data = {
            "production_order": self.name,
            "product": self._mfg_product_data(self.product_id),
            "quantity": {"value": self.product_qty, "uom": self.product_uom_id.name},
            "planned_start": iso_utc(self.date_start or fields.Datetime.now()),
            "priority": "urgent" if self.priority == "1" else "normal",
            "work_orders": [wo._mfg_release_data(sequence[wo]) for wo in workorders],
            "components": [],
        }
        if self.date_finished:
            data["planned_end"] = iso_utc(self.date_finished)
        if self.origin:
            data["origin"] = self.origin[:128]
        if self.bom_id:
            data["bill_of_materials"] = (
                self.bom_id.code or self.bom_id.display_name
            ).strip()[:64]
        if len(self.lot_producing_ids) == 1:
            data["lot"] = self.lot_producing_ids.name
        by_operation = {wo.operation_id: sequence[wo] for wo in workorders}
        for move in self.move_raw_ids.filtered(lambda m: m.state != "cancel"):
            data["components"] += move._mfg_release_components(
                by_operation.get(move.operation_id)
            )
        return data

    # ------------------------------------------------------------------
    # Inbound: production_order.completed
    # ------------------------------------------------------------------

    def _mfg_check_open(self, pointer="/data/production_order"):
        """Refuse reports on a finished or cancelled order."""
        self.ensure_one()
        if self.state in ("done", "cancel"):
            state = dict(self._fields["state"]._description_selection(self.env))
            raise errors.BusinessRuleError(
                self.env._(
                    "%(pointer)s: manufacturing order %(order)s is %(state)s: it "
                    "takes no more reports.",
                    pointer=pointer,
                    order=self.name,
                    state=state[self.state],
                ),
                errors=[{"pointer": pointer, "message": f"order is {self.state}"}],
            )

    def _mfg_scrap(self, product, total, workorder=None, reason=None, lot=None):
        """Make the scrapped quantity of ``product`` on this order (on ``workorder``
        when given) equal the cumulative ``total`` (in the product's unit): scrap the
        difference, never twice. Finished goods are scrapped from the production
        location (they never reached stock), components from the order's source
        location."""
        self.ensure_one()
        scraps = self.scrap_ids.filtered(
            lambda s: s.product_id == product
            and s.state == "done"
            and (not workorder or s.workorder_id == workorder)
        )
        done = sum(
            s.product_uom_id._compute_quantity(s.scrap_qty, product.uom_id)
            for s in scraps
        )
        missing = product.uom_id.round(total - done)
        if missing <= 0:
            return self.env["stock.scrap"]
        if product.tracking != "none" and not lot:
            raise errors.BusinessRuleError(
                self.env._(
                    "/data/lot: %(product)s is tracked: the scrapped goods need their "
                    "lot or serial number.",
                    product=product.display_name,
                ),
                errors=[{"pointer": "/data/lot", "message": "required for scrap"}],
            )
        is_finished = product == self.product_id
        location = self.production_location_id if is_finished else self.location_src_id
        return self._mfg_do_scrap(product, missing, location, workorder, reason, lot)

    def _mfg_do_scrap(self, product, quantity, location, workorder, reason, lot):
        values = {
            "product_id": product.id,
            "scrap_qty": quantity,
            "product_uom_id": product.uom_id.id,
            "production_id": self.id,
            "location_id": location.id,
            "company_id": self.company_id.id,
            "origin": self.name,
        }
        if workorder:
            values["workorder_id"] = workorder.id
        if lot:
            values["lot_id"] = lot.id
        if reason:
            values["scrap_reason_tag_ids"] = [
                Command.set(self._mfg_scrap_tag(reason).ids)
            ]
        scrap = self.env["stock.scrap"].create(values)
        scrap.do_scrap()
        return scrap

    @api.model
    def _mfg_scrap_tag(self, reason):
        """The scrap reason tag of a canonical reason code (created once)."""
        name = reason.replace("_", " ").capitalize()
        Tag = self.env["stock.scrap.reason.tag"].sudo()
        return Tag.search([("name", "=", name)], limit=1) or Tag.create({"name": name})

    def _mfg_complete(self, message, data):
        """Record what the MES produced and mark the order done."""
        self.ensure_one()
        system = message.system_id
        resolver = self.env["mfg.integration.resolver"]
        product = resolver.product(system, data["product"])
        if product != self.product_id:
            raise errors.BusinessRuleError(
                self.env._(
                    "/data/product: %(product)s is not the product of %(order)s "
                    "(%(expected)s).",
                    product=product.display_name,
                    order=self.name,
                    expected=self.product_id.display_name,
                ),
                errors=[{"pointer": "/data/product", "message": "wrong product"}],
            )
        unit = self.product_uom_id
        quantity = resolver.quantity(
            data["quantity_produced"], unit, "/data/quantity_produced"
        )
        if unit.compare(quantity, 0) <= 0:
            raise errors.BusinessRuleError(
                self.env._(
                    "/data/quantity_produced: nothing was produced on %(order)s; "
                    "cancel the order in Odoo instead.",
                    order=self.name,
                ),
                errors=[{"pointer": "/data/quantity_produced", "message": "zero"}],
            )
        lots = self._mfg_produced_lots(system, data, quantity)
        if data.get("quantity_scrapped"):
            scrapped = resolver.quantity(
                data["quantity_scrapped"], product.uom_id, "/data/quantity_scrapped"
            )
            self._mfg_scrap(product, scrapped, lot=lots[0][0] if lots else None)
        destination = self.location_dest_id
        if data.get("destination_location"):
            destination = resolver.resolve(
                system,
                "location",
                data["destination_location"],
                "/data/destination_location",
                domain=[("id", "child_of", self.location_dest_id.id)],
            )
        order = self.with_context(mfg_integration_releasing=True)
        order.qty_producing = quantity
        if product.tracking == "serial":
            order.lot_producing_ids = [Command.set([lot.id for lot, _qty in lots])]
        elif product.tracking == "lot":  # Odoo names one lot per order
            order.lot_producing_ids = [Command.set(lots[0][0].ids)]
        order._set_qty_producing(False)
        order._mfg_set_finished_lines(lots or [(False, quantity)], destination)
        backorder = data.get("remaining_quantity_action") == "backorder"
        context = {
            "skip_consumption": True,
            "skip_backorder": True,
            "skip_redirection": True,
            "mo_ids_to_backorder": self.ids if backorder else [],
        }
        answer = order.with_context(**context).button_mark_done()
        if self.state != "done":
            asked = None
            if isinstance(answer, dict):
                asked = answer.get("name") or answer.get("res_model")
            raise errors.BusinessRuleError(
                self.env._(
                    "Odoo did not mark %(order)s done (it asks for: %(asked)s); "
                    "finish the order in Odoo, or fix it and replay this message.",
                    order=self.name,
                    asked=asked or self.env._("nothing it says"),
                )
            )
        return lots

    def _mfg_produced_lots(self, system, data, quantity):
        """[(lot, quantity in the order's unit)] of a tracked product (created when
        new), checked against the produced quantity; [] for an untracked one."""
        product = self.product_id
        entries = data.get("produced_lots") or []
        if product.tracking == "none":
            if entries:
                raise errors.BusinessRuleError(
                    self.env._(
                        "/data/produced_lots: %(product)s is not tracked by lot.",
                        product=product.display_name,
                    ),
                    errors=[{"pointer": "/data/produced_lots", "message": "untracked"}],
                )
            return []
        if not entries:
            raise errors.BusinessRuleError(
                self.env._(
                    "/data/produced_lots: %(product)s is tracked: say which lots or "
                    "serial numbers were produced.",
                    product=product.display_name,
                ),
                errors=[{"pointer": "/data/produced_lots", "message": "required"}],
            )
        resolver = self.env["mfg.integration.resolver"]
        lots = []
        for i, entry in enumerate(entries):
            pointer = f"/data/produced_lots/{i}"
            lot = resolver.lot(
                system, product, entry["lot"], f"{pointer}/lot", create=True
            )
            if entry.get("expiration_date") and "expiration_date" in lot._fields:
                lot.expiration_date = fields.Datetime.to_datetime(
                    entry["expiration_date"]
                )
            lots.append(
                (
                    lot,
                    resolver.quantity(
                        entry["quantity"], self.product_uom_id, f"{pointer}/quantity"
                    ),
                )
            )
        total = sum(qty for _lot, qty in lots)
        if self.product_uom_id.compare(total, quantity) != 0:
            raise errors.BusinessRuleError(
                self.env._(
                    "/data/produced_lots: the lots add up to %(total)s, not to the "
                    "produced %(quantity)s.",
                    total=total,
                    quantity=quantity,
                ),
                errors=[{"pointer": "/data/produced_lots", "message": "sum differs"}],
            )
        return lots

    def _mfg_set_finished_lines(self, lots, destination):
        """Put the produced quantity (per lot) on the finished product's move, to
        ``destination``. The move's reserved lines are rewritten, never deleted:
        Odoo cancels a finished move whose lines were removed."""
        move = self.move_finished_ids.filtered(
            lambda m: m.product_id == self.product_id
            and m.state not in ("done", "cancel")
        )[:1]
        if move.location_dest_id != destination:
            move.location_dest_id = destination
        values = [
            {
                "lot_id": lot.id if lot else False,
                "quantity": quantity,
                "location_dest_id": destination.id,
            }
            for lot, quantity in lots
        ]
        lines = move.move_line_ids
        for line, vals in zip(lines, values, strict=False):
            line.write(vals)
        lines[len(values) :].unlink()
        self.env["stock.move.line"].create(
            [
                dict(
                    vals,
                    move_id=move.id,
                    product_id=move.product_id.id,
                    product_uom_id=move.product_uom.id,
                    location_id=move.location_id.id,
                )
                for vals in values[len(lines) :]
            ]
        )

    @api.model
    def _mfg_handle_release_ack(self, message, data):
        """production_order.release_acknowledged: the MES's answer to an order
        released behind a gate. The gate flow waiting for it moves on (when the
        message is processed); an order no gate waits for refuses it."""
        production = self.env["mfg.integration.resolver"].resolve(
            message.system_id,
            "production_order",
            data["production_order"],
            "/data/production_order",
        )
        production._mfg_check_open()
        Run = self.env["mfg.integration.flow.run"]
        if not Run._awaiting(production, message.event_type_id):
            raise errors.BusinessRuleError(
                self.env._(
                    "/data/production_order: no release gate of %(order)s waits for "
                    "an acknowledgement now.",
                    order=production.name,
                ),
                errors=[
                    {"pointer": "/data/production_order", "message": "not awaited"}
                ],
            )
        if data["accepted"]:
            summary = self.env._("release accepted by the MES")
        else:
            summary = self.env._(
                "release refused by the MES: %(reason)s", reason=data["reason"]
            )
        message._post_note(production, summary)
        return production

    def _mfg_handle_completed(self, message, data):
        production = self.env["mfg.integration.resolver"].resolve(
            message.system_id,
            "production_order",
            data["production_order"],
            "/data/production_order",
        )
        if production.state == "done":
            message._post_note(production, self.env._("already done, nothing changed"))
            return production
        production._mfg_check_open()
        lots = production._mfg_complete(message, data)
        unit = production.product_uom_id.name
        summary = self.env._(
            "done, %(qty)s %(unit)s produced, completed at %(at)s",
            qty=production.qty_produced,
            unit=unit,
            at=data["completed_at"],
        )
        if lots:
            summary += self.env._(
                " (lots %(lots)s)", lots=", ".join(lot.name for lot, _q in lots)
            )
        backorders = production.production_group_id.production_ids.filtered(
            lambda p: p != production and p.state not in ("done", "cancel")
        )
        if backorders:
            summary += self.env._(
                "; backorder %(names)s", names=", ".join(backorders.mapped("name"))
            )
        message._post_note(production, summary)
        return production
