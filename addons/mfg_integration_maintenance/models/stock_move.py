from odoo import api, fields, models

from mfg_integration import errors


class StockMove(models.Model):
    _inherit = "stock.move"

    mfg_maintenance_request_id = fields.Many2one(
        "maintenance.request",
        string="Maintenance Request",
        index="btree_not_null",
        readonly=True,
        copy=False,
    )

    @api.model
    def _mfg_handle_spare_part(self, message, data):
        """Take one booked spare part out of stock: a validated move from its source
        location to the maintenance consumption location, with its lot, linked to
        the request."""
        system = message.system_id
        resolver = self.env["mfg.integration.resolver"]
        request = self.env["maintenance.request"]._mfg_find(system, data)
        if request:
            self.env["mfg.integration.xref"].sudo().bind(
                system, "cmms_work_order", data["cmms_work_order"], request
            )
        equipment = request.equipment_id
        if data.get("equipment"):
            equipment = resolver.equipment(system, data["equipment"], "/data/equipment")
        product = resolver.product(system, data["product"])
        quantity = resolver.quantity(data["quantity"], product.uom_id, "/data/quantity")
        lot = resolver.booked_lot(system, product, data.get("lot"), "/data/lot")
        source = self._mfg_spare_source(system, data)
        available = self.env["stock.quant"]._get_available_quantity(
            product, source, lot_id=lot or None, strict=bool(lot)
        )
        short = product.uom_id.compare(available, quantity) < 0
        if short and not system.mfg_spare_negative_stock:
            raise errors.BusinessRuleError(
                self.env._(
                    "/data/quantity: only %(available)s %(unit)s of %(product)s "
                    "%(lot)s are available in %(location)s, %(quantity)s were booked. "
                    "Receive or move the parts in Odoo, then replay this message.",
                    available=available,
                    unit=product.uom_id.name,
                    product=product.display_name,
                    lot=self.env._("(lot %(lot)s)", lot=lot.name) if lot else "",
                    location=source.complete_name,
                    quantity=quantity,
                ),
                errors=[{"pointer": "/data/quantity", "message": "not in stock"}],
            )
        destination = self.env.ref(
            "mfg_integration_maintenance.stock_location_maintenance_consumption"
        )
        reference = request.name or data["cmms_work_order"]
        move = self.create(
            {
                "product_id": product.id,
                "product_uom_qty": quantity,
                "product_uom": product.uom_id.id,
                "location_id": source.id,
                "location_dest_id": destination.id,
                "origin": reference,
                "reference": reference,
                "company_id": system.company_id.id,
                "mfg_maintenance_request_id": request.id,
                "move_line_ids": [
                    fields.Command.create(
                        {
                            "product_id": product.id,
                            "product_uom_id": product.uom_id.id,
                            "quantity": quantity,
                            "lot_id": lot.id,
                            "location_id": source.id,
                            "location_dest_id": destination.id,
                        }
                    )
                ],
            }
        )
        move._action_confirm()
        move.picked = True
        move._action_done()
        summary = self.env._(
            "%(qty)s %(unit)s of %(product)s taken from %(location)s for %(wo)s",
            qty=quantity,
            unit=product.uom_id.name,
            product=product.display_name,
            location=source.complete_name,
            wo=data["cmms_work_order"],
        )
        if short:
            summary += self.env._(
                " (beyond the %(available)s in stock: the stock is now negative)",
                available=available,
            )
        message._post_note(request or equipment, summary)
        return request or move

    @api.model
    def _mfg_spare_source(self, system, data):
        """The location a spare part is taken from: the one booked, else the stock
        of the system's plant, else of the company's first warehouse."""
        if data.get("source_location"):
            return self.env["mfg.integration.resolver"].resolve(
                system, "location", data["source_location"], "/data/source_location"
            )
        warehouse = system.warehouse_id or self.env["stock.warehouse"].search(
            [("company_id", "=", system.company_id.id)], limit=1
        )
        return warehouse.lot_stock_id
