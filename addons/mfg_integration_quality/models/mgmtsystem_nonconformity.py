from odoo import Command, api, fields, models
from odoo.exceptions import UserError

from odoo.addons.mfg_integration_core.tools import iso_utc, utc_naive

from mfg_integration import errors

OPENED = "nonconformance.opened"
#: inspection type -> canonical origin of the nonconformance
ORIGINS = {
    "incoming": "incoming_inspection",
    "in_process": "in_process_inspection",
    "first_article": "in_process_inspection",
    "periodic": "in_process_inspection",
    "final": "final_inspection",
}
#: the OCA origin (required on a nonconformity) of each place it was found at
ORIGIN_RECORDS = {
    "incoming_inspection": "mfg_integration_quality.nc_origin_incoming_inspection",
    "in_process_inspection": "mfg_integration_quality.nc_origin_in_process_inspection",
    "final_inspection": "mfg_integration_quality.nc_origin_final_inspection",
    "customer_complaint": "mgmtsystem_nonconformity.nc_origin_external_client",
    "internal_audit": "mgmtsystem_nonconformity.nc_origin_internal_audit",
    "production": "mgmtsystem_nonconformity.nc_origin_process",
    "other": "mgmtsystem_nonconformity.nc_origin_process",
}
DISPOSITIONS = [
    ("release", "Release"),
    ("rework", "Rework"),
    ("scrap", "Scrap"),
    ("return_to_supplier", "Return to supplier"),
    ("use_as_is", "Use as is (concession)"),
]


class MgmtsystemNonconformity(models.Model):
    _name = "mgmtsystem.nonconformity"
    _inherit = ["mgmtsystem.nonconformity", "mfg.integration.linked.mixin"]

    mfg_product_id = fields.Many2one("product.product", string="Product", copy=False)
    mfg_lot_ids = fields.Many2many("stock.lot", string="Lots", copy=False)
    mfg_quantity = fields.Float(string="Quantity Affected", copy=False)
    mfg_uom_id = fields.Many2one("uom.uom", string="Unit", copy=False)
    mfg_origin = fields.Selection(
        [
            ("incoming_inspection", "Incoming inspection"),
            ("in_process_inspection", "In-process inspection"),
            ("final_inspection", "Final inspection"),
            ("customer_complaint", "Customer complaint"),
            ("internal_audit", "Internal audit"),
            ("production", "Production"),
            ("other", "Other"),
        ],
        string="Found At",
        copy=False,
    )
    mfg_picking_id = fields.Many2one("stock.picking", string="Receipt", copy=False)
    mfg_production_id = fields.Many2one(
        "mrp.production", string="Manufacturing Order", copy=False
    )
    mfg_inspection_ids = fields.One2many(
        "qc.inspection", "mfg_nonconformity_id", string="Inspections"
    )
    mfg_quarantine_picking_ids = fields.Many2many(
        "stock.picking",
        "mfg_nonconformity_quarantine_picking_rel",
        string="Quarantine Transfers",
        copy=False,
    )
    mfg_disposition = fields.Selection(
        DISPOSITIONS, string="Disposition", readonly=True, copy=False
    )
    mfg_disposition_by = fields.Char(string="Approved By", readonly=True, copy=False)
    mfg_disposition_at = fields.Datetime(
        string="Approved At", readonly=True, copy=False
    )
    mfg_concession = fields.Char(string="Concession", readonly=True, copy=False)

    def _mfg_integration_records(self):
        return [self, self.mfg_inspection_ids]

    # ------------------------------------------------------------------
    # Opening (after a failed inspection) and nonconformance.opened
    # ------------------------------------------------------------------

    @api.model_create_multi
    def create(self, vals_list):
        nonconformities = super().create(vals_list)
        if not self.env.context.get("mfg_integration_defer_announce"):
            nonconformities._mfg_announce()
        return nonconformities

    @api.model
    def _mfg_origin_records(self, origin):
        """The OCA origin records of a place a nonconformity was found at."""
        return (
            self.env.ref(
                ORIGIN_RECORDS.get(origin or "other", ORIGIN_RECORDS["other"]),
                raise_if_not_found=False,
            )
            or self.env["mgmtsystem.nonconformity.origin"]
        )

    @api.model
    def _mfg_open_for(self, inspection, message, data):
        """The nonconformity of a failed inspection, its quarantine when asked, then
        its announcement (with the containment in place)."""
        system = message.system_id
        resolver = self.env["mfg.integration.resolver"]
        partner = system.company_id.partner_id
        if data.get("supplier"):
            partner = resolver.resolve(
                system, "partner", data["supplier"]["code"], "/data/supplier/code"
            )
        responsible = system.responsible_id or self.env.ref("base.user_admin")
        severity = self.env["mgmtsystem.nonconformity.severity"].search(
            [("mfg_code", "=", data["severity"])], limit=1
        )
        product = inspection.mfg_product_id
        quantity = data.get("quantity_rejected") or data.get("quantity_inspected")
        lines = [
            f"- {c['code']}{' ' + c['name'] if c.get('name') else ''}: "
            + self.env["qc.inspection"]._mfg_line_notes(dict(c, result="fail"))
            for c in data["failed_characteristics"]
        ]
        description = "\n".join(
            [
                self.env._(
                    "Inspection %(id)s (%(type)s) of %(product)s%(lot)s failed:",
                    id=data["inspection_id"],
                    type=data.get("inspection_type") or "-",
                    product=product.display_name,
                    lot=f", lot {data['lot']}" if data.get("lot") else "",
                ),
                *lines,
                data.get("comment") or "",
            ]
        ).strip()
        origin = ORIGINS.get(data.get("inspection_type"), "other")
        nonconformity = self.with_context(mfg_integration_defer_announce=True).create(
            {
                "name": self.env._(
                    "%(product)s: failed %(type)s inspection",
                    product=product.display_name,
                    type=(data.get("inspection_type") or "").replace("_", " "),
                ),
                "partner_id": partner.id,
                "severity_id": severity.id,
                "responsible_user_id": responsible.id,
                "manager_user_id": responsible.id,
                "description": description,
                "company_id": system.company_id.id,
                "mfg_product_id": product.id,
                "mfg_lot_ids": [Command.set(inspection.mfg_lot_id.ids)],
                "mfg_quantity": quantity["value"] if quantity else 0.0,
                "mfg_uom_id": (
                    resolver.unit(quantity["uom"], "/data/quantity_rejected/uom").id
                    if quantity
                    else product.uom_id.id
                ),
                "mfg_origin": origin,
                "origin_ids": [Command.set(self._mfg_origin_records(origin).ids)],
                "mfg_picking_id": inspection.mfg_picking_id.id,
                "mfg_production_id": inspection.mfg_production_id.id,
            }
        )
        hold = data.get("hold_requested", True) or severity.mfg_always_hold
        if hold and inspection.mfg_lot_id:
            nonconformity._mfg_quarantine(inspection.mfg_lot_id, system)
        nonconformity._mfg_announce(inspection_id=data["inspection_id"])
        if (
            severity.mfg_auto_scar
            and data.get("inspection_type") == "incoming"
            and partner != system.company_id.partner_id
        ):
            nonconformity.action_mfg_request_scar()
        return nonconformity

    def _mfg_announce(self, inspection_id=None):
        EventType = self.env["mfg.integration.event.type"]
        if not EventType._has_subscribers(OPENED):
            return
        Xref = self.env["mfg.integration.xref"].sudo()
        for nonconformity in self:
            data = nonconformity._mfg_opened_data()
            if inspection_id:
                data["inspection_id"] = inspection_id
            messages = EventType.emit(
                OPENED, data, subject=nonconformity.ref, record=nonconformity
            )
            supplier = data.get("supplier")
            for system in messages.sudo().system_id:
                Xref.bind(system, "nonconformance", nonconformity.ref, nonconformity)
                if supplier and not nonconformity.partner_id.ref:
                    # the P-<id> code the system will quote back in a return
                    Xref.bind(
                        system, "partner", supplier["code"], nonconformity.partner_id
                    )

    def _mfg_opened_data(self):
        self.ensure_one()
        severity = self.severity_id.mfg_code or "major"
        data = {
            "nonconformance": self.ref,
            "title": (self.name or self.ref)[:256],
            "severity": severity,
            "origin": self.mfg_origin or "other",
            "opened_at": iso_utc(self.create_date or fields.Datetime.now()),
        }
        product = self.mfg_product_id
        if product.default_code:
            data["product"] = {
                "default_code": product.default_code,
                "name": product.name[:256],
            }
        if self.mfg_lot_ids:
            data["lots"] = self.mfg_lot_ids.mapped("name")
        if self.mfg_quantity > 0 and self.mfg_uom_id:
            data["quantity_affected"] = {
                "value": self.mfg_quantity,
                "uom": self.mfg_uom_id.name,
            }
        if self.mfg_picking_id:
            data["receipt"] = self.mfg_picking_id.name
        if self.mfg_production_id:
            data["production_order"] = self.mfg_production_id.name
        partner = self.partner_id
        if partner and partner != self.company_id.partner_id:
            data["supplier"] = {
                "code": partner.ref or f"P-{partner.id}",
                "name": partner.name[:256],
            }
        if self.description:
            data["description"] = self.description[:4000]
        if self.mfg_quarantine_picking_ids or any(
            self.mfg_lot_ids.mapped("mfg_quarantine_pending")
        ):
            data["containment_actions"] = ["quarantine"]
        email = self.responsible_user_id.email
        if email and "@" in email:
            data["responsible"] = email
        return data

    # ------------------------------------------------------------------
    # Quarantine
    # ------------------------------------------------------------------

    def _mfg_quarantine(self, lot, system):
        """Move the lot's stock of each warehouse to its quarantine location with a
        validated internal transfer; a lot not in stock yet is flagged so that its
        next receipts go there."""
        self.ensure_one()
        quants = self._mfg_lot_quants(lot, system, quarantined=False)
        if not quants:
            lot.write(
                {"mfg_quarantine_pending": True, "mfg_hold_nonconformity_id": self.id}
            )
            return self.env["stock.picking"]
        lot.mfg_hold_nonconformity_id = self
        return self._mfg_hold(quants)

    def _mfg_hold(self, quants):
        """Move ``quants`` to the quarantine location of their warehouse."""
        self.ensure_one()
        pickings = self.env["stock.picking"]
        for warehouse, warehouse_quants in quants.grouped("warehouse_id").items():
            pickings |= self._mfg_transfer(
                warehouse_quants,
                warehouse.mfg_quarantine_location_id,
                warehouse.int_type_id,
            )
        self.mfg_quarantine_picking_ids = [Command.link(p.id) for p in pickings]
        return pickings

    def _mfg_lot_quants(self, lot, system, quarantined):
        """The lot's positive quants in internal locations of the system's plant (or
        company), in quarantine or out of it."""
        domain = [
            ("lot_id", "=", lot.id),
            ("location_id.usage", "=", "internal"),
            ("quantity", ">", 0),
            ("company_id", "=", system.company_id.id),
        ]
        if system.warehouse_id:
            domain.append(("warehouse_id", "=", system.warehouse_id.id))
        quarantines = (
            self.env["stock.warehouse"]
            .search([("company_id", "=", system.company_id.id)])
            .mfg_quarantine_location_id
        )
        domain.append(
            ("location_id", "in" if quarantined else "not in", quarantines.ids)
        )
        return self.env["stock.quant"].search(domain)

    def _mfg_transfer(self, quants, destination, picking_type, quantity=None):
        """A validated internal transfer of ``quants`` (up to ``quantity`` in the
        product's unit) to ``destination``; reservations on them are released
        first."""
        self.ensure_one()
        product = quants.product_id
        lines = []
        remaining = quantity
        for quant in quants:
            take = (
                quant.quantity if remaining is None else min(quant.quantity, remaining)
            )
            if take <= 0:
                continue
            lines.append((quant, take))
            if remaining is not None:
                remaining -= take
        reserving = self.env["stock.move.line"].search(
            [
                ("lot_id", "in", quants.lot_id.ids),
                ("location_id", "in", quants.location_id.ids),
                ("state", "not in", ("done", "cancel")),
                ("picked", "=", False),
            ]
        )
        reserving.move_id._do_unreserve()
        picking = self.env["stock.picking"].create(
            {
                "picking_type_id": picking_type.id,
                "location_id": lines[0][0].location_id.id,
                "location_dest_id": destination.id,
                "origin": self.ref,
                "company_id": self.company_id.id,
            }
        )
        move = self.env["stock.move"].create(
            {
                "product_id": product.id,
                "product_uom_qty": sum(take for _q, take in lines),
                "product_uom": product.uom_id.id,
                "location_id": picking.location_id.id,
                "location_dest_id": destination.id,
                "picking_id": picking.id,
                "company_id": self.company_id.id,
                "move_line_ids": [
                    Command.create(
                        {
                            "product_id": product.id,
                            "product_uom_id": product.uom_id.id,
                            "lot_id": quant.lot_id.id,
                            "quantity": take,
                            "location_id": quant.location_id.id,
                            "location_dest_id": destination.id,
                            "picking_id": picking.id,
                        }
                    )
                    for quant, take in lines
                ],
            }
        )
        move._action_confirm()
        move.picked = True
        picking._action_done()
        return picking

    # ------------------------------------------------------------------
    # batch.disposition_approved
    # ------------------------------------------------------------------

    @api.model
    def _mfg_handle_disposition(self, message, data):
        system = message.system_id
        resolver = self.env["mfg.integration.resolver"]
        product = resolver.product(system, data["product"])
        lot = resolver.lot(system, product, data["lot"], "/data/lot")
        nonconformity = lot.mfg_hold_nonconformity_id
        if data.get("nonconformance"):
            nonconformity = resolver.resolve(
                system, "nonconformance", data["nonconformance"], "/data/nonconformance"
            )
        quarantined = self._mfg_lot_quants(lot, system, quarantined=True)
        if not quarantined and not lot.mfg_quarantine_pending:
            raise errors.BusinessRuleError(
                self.env._(
                    "/data/lot: lot %(lot)s of %(product)s has nothing in quarantine; "
                    "no disposition to apply.",
                    lot=lot.name,
                    product=product.display_name,
                ),
                errors=[{"pointer": "/data/lot", "message": "not in quarantine"}],
            )
        if not nonconformity:
            raise errors.ReferenceNotFound(
                self.env._(
                    "/data/nonconformance: no nonconformity holds lot %(lot)s.",
                    lot=lot.name,
                ),
                errors=[{"pointer": "/data/nonconformance", "message": "none"}],
            )
        quantity = None
        if data.get("quantity"):
            quantity = resolver.quantity(
                data["quantity"], product.uom_id, "/data/quantity"
            )
        decision = data["disposition"]
        done = nonconformity._mfg_apply_disposition(
            decision, lot, quarantined, quantity, system, data
        )
        lot.mfg_quarantine_pending = False
        nonconformity.write(
            {
                "mfg_disposition": decision,
                "mfg_disposition_by": data["approved_by"],
                "mfg_disposition_at": utc_naive(data["approved_at"]),
                "mfg_concession": data.get("concession") or False,
            }
        )
        still = self._mfg_lot_quants(lot, system, quarantined=True)
        if not still and not lot.mfg_quarantine_pending:
            nonconformity._mfg_close(
                self.env._(
                    "Disposition %(decision)s approved by %(by)s on %(at)s. %(why)s",
                    decision=decision,
                    by=data["approved_by"],
                    at=data["approved_at"],
                    why=data.get("comment") or "",
                ).strip()
            )
        message._post_note(
            nonconformity,
            self.env._(
                "disposition %(decision)s of lot %(lot)s approved by %(by)s: %(done)s",
                decision=decision,
                lot=lot.name,
                by=data["approved_by"],
                done=done,
            ),
        )
        return nonconformity

    def _mfg_apply_disposition(
        self, decision, lot, quarantined, quantity, system, data
    ):
        """Apply the decision to the quarantined stock; return what was done."""
        self.ensure_one()
        if not quarantined:  # held before any receipt: lift or keep the hold
            if decision in ("release", "use_as_is"):
                return self.env._("hold lifted for future receipts")
            raise errors.BusinessRuleError(
                self.env._(
                    "/data/disposition: lot %(lot)s is not in stock yet; only release "
                    "or use as is can apply to it now.",
                    lot=lot.name,
                ),
                errors=[
                    {"pointer": "/data/disposition", "message": "nothing in stock"}
                ],
            )
        warehouse = quarantined.warehouse_id[:1]
        if decision in ("release", "use_as_is"):
            picking = self._mfg_transfer(
                quarantined, warehouse.lot_stock_id, warehouse.int_type_id, quantity
            )
            self.mfg_quarantine_picking_ids = [Command.link(picking.id)]
            return self.env._(
                "released to %(loc)s (%(picking)s)",
                loc=warehouse.lot_stock_id.complete_name,
                picking=picking.name,
            )
        if decision == "scrap":
            product = quarantined.product_id
            for quant in quarantined:
                take = (
                    quant.quantity
                    if quantity is None
                    else min(quantity, quant.quantity)
                )
                if take <= 0:
                    continue
                scrap = self.env["stock.scrap"].create(
                    {
                        "product_id": product.id,
                        "lot_id": lot.id,
                        "scrap_qty": take,
                        "product_uom_id": product.uom_id.id,
                        "location_id": quant.location_id.id,
                        "origin": self.ref,
                        "company_id": self.company_id.id,
                    }
                )
                scrap.do_scrap()
                if quantity is not None:
                    quantity -= take
            return self.env._("scrapped")
        if decision == "return_to_supplier":
            supplier = self.env["mfg.integration.resolver"].resolve(
                system, "partner", data["supplier"]["code"], "/data/supplier/code"
            )
            picking = self._mfg_return(quarantined, supplier, warehouse, quantity)
            return self.env._(
                "return %(picking)s to %(supplier)s created",
                picking=picking.name,
                supplier=supplier.display_name,
            )
        # rework
        product = quarantined.product_id
        bom = self.env["mrp.bom"]._bom_find(product, company_id=self.company_id.id)[
            product
        ]
        if not bom:
            self.activity_schedule(
                "mail.mail_activity_data_todo",
                summary=self.env._("Rework lot %(lot)s", lot=lot.name),
                note=data.get("rework_instructions") or "",
                user_id=(self.responsible_user_id or self.user_id or self.env.user).id,
            )
            return self.env._("no bill of materials: rework activity scheduled")
        order = self.env["mrp.production"].create(
            {
                "product_id": product.id,
                "product_qty": quantity or sum(quarantined.mapped("quantity")),
                "bom_id": bom.id,
                "origin": self.ref,
                "company_id": self.company_id.id,
            }
        )
        return self.env._("rework order %(mo)s created", mo=order.name)

    def _mfg_return(self, quants, supplier, warehouse, quantity):
        """The return picking of the quarantined goods to the supplier, confirmed and
        reserved on the quarantine location (shipped when validated)."""
        product = quants.product_id
        picking = self.env["stock.picking"].create(
            {
                "picking_type_id": warehouse.out_type_id.id,
                "partner_id": supplier.id,
                "location_id": warehouse.mfg_quarantine_location_id.id,
                "location_dest_id": self.env.ref("stock.stock_location_suppliers").id,
                "origin": self.ref,
                "company_id": self.company_id.id,
                "move_ids": [
                    Command.create(
                        {
                            "product_id": product.id,
                            "product_uom_qty": quantity
                            or sum(quants.mapped("quantity")),
                            "product_uom": product.uom_id.id,
                            "location_id": warehouse.mfg_quarantine_location_id.id,
                            "location_dest_id": self.env.ref(
                                "stock.stock_location_suppliers"
                            ).id,
                        }
                    )
                ],
            }
        )
        picking.action_confirm()
        picking.action_assign()
        return picking

    def action_mfg_request_scar(self):
        """Request a corrective action from the supplier of this nonconformity
        (8D by default, answer due in 30 days) and send it to the supplier's
        systems."""
        for nonconformity in self:
            partner = nonconformity.partner_id
            if not partner or partner == nonconformity.company_id.partner_id:
                raise UserError(
                    self.env._(
                        "%(nc)s is not about a supplier: set the supplier as its "
                        "partner first.",
                        nc=nonconformity.ref,
                    )
                )
            if nonconformity.action_ids.filtered("mfg_scar"):
                raise UserError(
                    self.env._(
                        "A corrective action was already requested from the supplier "
                        "for %(nc)s.",
                        nc=nonconformity.ref,
                    )
                )
            Action = self.env["mgmtsystem.action"]
            action = Action.create(Action._mfg_scar_values(nonconformity))
            nonconformity.action_ids = [Command.link(action.id)]
            action._mfg_announce(nonconformity)
        return True

    def _mfg_open_actions(self):
        """The actions of the nonconformity that are not done yet."""
        self.ensure_one()
        return self._get_all_actions().filtered(lambda a: not a.stage_id.is_ending)

    def _mfg_close(self, evaluation):
        """Close the nonconformity (nothing of it is left in quarantine). One whose
        actions are not all done (a supplier's corrective action under way) stays
        open, with a note: the management system closes it with its last action.

        :return: whether it is closed
        """
        open_actions = self._mfg_open_actions()
        if open_actions:
            self.message_post(
                body=self.env._(
                    "%(evaluation)s Left open until its actions are done: %(actions)s.",
                    evaluation=evaluation,
                    actions=", ".join(open_actions.mapped("display_name")),
                ),
                subtype_xmlid="mail.mt_note",
            )
            return False
        stage = self.env.ref("mgmtsystem_nonconformity.stage_done")
        values = {"stage_id": stage.id}
        if not self.evaluation_comments:
            values["evaluation_comments"] = evaluation
        self.write(values)
        return True
