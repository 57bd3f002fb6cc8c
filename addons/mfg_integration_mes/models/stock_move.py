from odoo import Command, api, fields, models

from mfg_integration import errors


class StockMove(models.Model):
    _inherit = "stock.move"

    mfg_integration_booked = fields.Boolean(
        string="Booked by the MES",
        copy=False,
        readonly=True,
        help="The consumption of this component is what the MES booked "
        "(material.consumed), not what Odoo derives from the produced quantity.",
    )

    def _mfg_release_components(self, operation_sequence):
        """The ``components`` entries of production_order.released for this raw move:
        one per reserved lot, and one without lot for what is not reserved by lot."""
        self.ensure_one()
        unit = self.product_uom
        product = self.raw_material_production_id._mfg_product_data(self.product_id)
        base = {"product": product, "source_location": self.location_id.complete_name}
        if operation_sequence:
            base["operation_sequence"] = operation_sequence
        entries = []
        by_lot = {}
        for line in self.move_line_ids.filtered("lot_id"):
            qty = line.product_uom_id._compute_quantity(line.quantity, unit)
            by_lot[line.lot_id] = by_lot.get(line.lot_id, 0.0) + qty
        for lot, qty in by_lot.items():
            if unit.compare(qty, 0) > 0:
                entries.append(
                    dict(base, quantity={"value": qty, "uom": unit.name}, lot=lot.name)
                )
        rest = unit.round(self.product_uom_qty - sum(by_lot.values()))
        if unit.compare(rest, 0) > 0:
            entries.append(dict(base, quantity={"value": rest, "uom": unit.name}))
        return entries

    def _mfg_book(self, quantity, lot, location):
        """Book ``quantity`` (in the move's unit) of ``lot`` from ``location`` as
        consumed. The first booking of the MES replaces what Odoo had reserved or
        derived: from then on, the move consumes what the MES booked."""
        self.ensure_one()
        if not self.mfg_integration_booked:
            self.move_line_ids.unlink()
            self.write({"mfg_integration_booked": True, "manual_consumption": True})
        line = self.move_line_ids.filtered(
            lambda ml: ml.picked and ml.lot_id == lot and ml.location_id == location
        )[:1]
        if line:
            line.quantity += quantity
        else:
            self.env["stock.move.line"].create(
                {
                    "move_id": self.id,
                    "product_id": self.product_id.id,
                    "product_uom_id": self.product_uom.id,
                    "lot_id": lot.id if lot else False,
                    "quantity": quantity,
                    "location_id": location.id,
                    "location_dest_id": self.location_dest_id.id,
                    "picked": True,
                }
            )
        self.picked = True

    @api.model
    def _mfg_handle_consumed(self, message, data):
        resolver = self.env["mfg.integration.resolver"]
        system = message.system_id
        production = resolver.resolve(
            system,
            "production_order",
            data["production_order"],
            "/data/production_order",
        )
        production._mfg_check_open()
        product = resolver.product(system, data["product"])
        workorder = self.env["mrp.workorder"]
        if data.get("work_order"):
            workorder = resolver.resolve(
                system,
                "work_order",
                data["work_order"],
                "/data/work_order",
                domain=[("production_id", "=", production.id)],
            )
        location = production.location_src_id
        if data.get("source_location"):
            location = resolver.resolve(
                system, "location", data["source_location"], "/data/source_location"
            )
        lot = resolver.booked_lot(system, product, data.get("lot"), "/data/lot")
        kind = data.get("consumption_type", "planned")
        if kind == "scrap":
            quantity = resolver.quantity(
                data["quantity"], product.uom_id, "/data/quantity"
            )
            production._mfg_do_scrap(product, quantity, location, workorder, None, lot)
            summary = self.env._(
                "%(qty)s %(unit)s of %(product)s scrapped at the line",
                qty=quantity,
                unit=product.uom_id.name,
                product=product.display_name,
            )
            message._post_note(production, summary)
            return production
        move = self._mfg_component_move(production, product, workorder, kind, data)
        quantity = resolver.quantity(
            data["quantity"], move.product_uom, "/data/quantity"
        )
        if kind == "extra":
            move.product_uom_qty += quantity
        move._mfg_book(quantity, lot, location)
        summary = self.env._(
            "%(qty)s %(unit)s of %(product)s consumed%(lot)s (%(kind)s)",
            qty=quantity,
            unit=move.product_uom.name,
            product=product.display_name,
            lot=self.env._(", lot %(lot)s", lot=lot.name) if lot else "",
            kind=kind,
        )
        message._post_note(production, summary)
        return production

    @api.model
    def _mfg_component_move(self, production, product, workorder, kind, data):
        """The open raw move of ``product`` on ``production`` (the work order's one
        first); for an ``extra`` booking of a product the order does not use, a new
        component move with no planned quantity."""
        moves = production.move_raw_ids.filtered(
            lambda m: m.product_id == product and m.state not in ("done", "cancel")
        )
        if workorder:
            moves = moves.sorted(lambda m: m.operation_id != workorder.operation_id)
        if moves:
            return moves[0]
        if kind != "extra":
            raise errors.BusinessRuleError(
                self.env._(
                    "/data/product: %(product)s is not a component of %(order)s; a "
                    "material the order does not plan is booked with "
                    "consumption_type 'extra'.",
                    product=product.display_name,
                    order=production.name,
                ),
                errors=[{"pointer": "/data/product", "message": "not a component"}],
            )
        values = production._get_move_raw_values(
            product,
            0.0,
            product.uom_id,
            operation_id=workorder.operation_id.id if workorder else False,
        )
        production.write({"move_raw_ids": [Command.create(values)]})
        move = production.move_raw_ids.filtered(
            lambda m: m.product_id == product and m.state not in ("done", "cancel")
        )[:1]
        if move.state == "draft":
            move._action_confirm()
        return move
