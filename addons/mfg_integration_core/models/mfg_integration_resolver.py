from odoo import api, models

from mfg_integration import errors


class MfgIntegrationResolver(models.AbstractModel):
    """Reference resolution for the domain handlers, written once.

    A reference in an event's data (a product code, an order name, a work order
    reference that Odoo issued…) is resolved within what the sending system may see:
    its company and, when the system is bound to a plant (warehouse), that plant. The
    system's cross-references are tried first, then the business keys of the kind, in
    order. Nothing found is a permanent error of class ``reference.not-found`` naming
    the JSON pointer and the value; more than one match is refused the same way
    (never a guess).

    Domain modules add their kinds by extending :meth:`_reference_kinds`.
    """

    _name = "mfg.integration.resolver"
    _description = "Integration Reference Resolver"

    @api.model
    def _reference_kinds(self):
        """The kinds of references, by name (also the cross-reference's external
        model). Each kind gives:

        - ``model``: the Odoo model;
        - ``label``: how an error names it;
        - ``keys``: business key fields tried after the cross-reference, in order;
        - ``plant``: optional function(warehouse) returning the domain that confines
          the search to a plant.
        """
        return {
            "product": {
                "model": "product.product",
                "label": self.env._("product"),
                "keys": ["default_code", "barcode"],
            },
            "location": {
                "model": "stock.location",
                "label": self.env._("location"),
                "keys": ["complete_name", "barcode"],
                "plant": lambda warehouse: [("warehouse_id", "=", warehouse.id)],
            },
            "partner": {
                "model": "res.partner",
                "label": self.env._("partner"),
                "keys": ["ref", "vat"],
            },
            "picking": {
                "model": "stock.picking",
                "label": self.env._("transfer"),
                "keys": ["name"],
                "plant": lambda warehouse: [
                    ("picking_type_id.warehouse_id", "=", warehouse.id)
                ],
            },
            "warehouse": {
                "model": "stock.warehouse",
                "label": self.env._("warehouse"),
                "keys": ["code", "name"],
                "plant": lambda warehouse: [("id", "=", warehouse.id)],
            },
            # manufacturing (resolvable where mrp is installed)
            "production_order": {
                "model": "mrp.production",
                "label": self.env._("manufacturing order"),
                "keys": ["name"],
                "plant": lambda warehouse: [
                    ("picking_type_id.warehouse_id", "=", warehouse.id)
                ],
            },
            # only the reference Odoo issued in production_order.released
            "work_order": {
                "model": "mrp.workorder",
                "label": self.env._("work order"),
                "keys": [],
                "plant": lambda warehouse: [
                    ("production_id.picking_type_id.warehouse_id", "=", warehouse.id)
                ],
            },
            "work_center": {
                "model": "mrp.workcenter",
                "label": self.env._("work center"),
                "keys": ["code", "name"],
            },
        }

    @api.model
    def _scope_domain(self, system, kind):
        """What ``system`` may resolve of ``kind``: its company (or shared records)
        and, for a system bound to a plant, that plant."""
        spec = self._reference_kinds()[kind]
        Model = self.env[spec["model"]]
        domain = []
        if "company_id" in Model._fields:
            domain.append(("company_id", "in", [system.company_id.id, False]))
        plant = spec.get("plant")
        if plant and system.warehouse_id:
            domain += plant(system.warehouse_id)
        return domain

    @api.model
    def resolve(self, system, kind, value, pointer, domain=None):
        """The one record of ``kind`` that ``value`` names for ``system``.

        :param pointer: JSON pointer of the value in the event, e.g. ``/data/product``
        :param domain: optional extra condition (e.g. the work orders of one order)
        :raise ReferenceNotFound: no such record, or several
        """
        spec = self._reference_kinds()[kind]
        Model = self.env[spec["model"]]
        scope = self._scope_domain(system, kind) + list(domain or [])
        bound = self.env["mfg.integration.xref"].lookup(system, kind, value)
        if bound is not None:
            found = Model.search([("id", "=", bound.id)] + scope, limit=1)
            if found:
                return found
            raise self._not_found(system, kind, value, pointer)
        for key in spec["keys"]:
            found = Model.search([(key, "=", value)] + scope, limit=2)
            if len(found) == 1:
                return found
            if len(found) > 1:
                raise errors.ReferenceNotFound(
                    self.env._(
                        "%(pointer)s: '%(value)s' names several %(label)s records "
                        "(%(key)s); bind the right one with a cross-reference of "
                        "system %(system)s.",
                        pointer=pointer,
                        value=value,
                        label=spec["label"],
                        key=key,
                        system=system.code,
                    ),
                    errors=[{"pointer": pointer, "message": "ambiguous reference"}],
                )
        raise self._not_found(system, kind, value, pointer)

    @api.model
    def _not_found(self, system, kind, value, pointer):
        label = self._reference_kinds()[kind]["label"]
        where = self.env._("company %(company)s", company=system.company_id.name)
        if system.warehouse_id and self._reference_kinds()[kind].get("plant"):
            where = self.env._("plant %(plant)s", plant=system.warehouse_id.name)
        return errors.ReferenceNotFound(
            self.env._(
                "%(pointer)s: no %(label)s '%(value)s' in %(where)s for system "
                "%(system)s.",
                pointer=pointer,
                label=label,
                value=value,
                where=where,
                system=system.code,
            ),
            errors=[
                {
                    "pointer": pointer,
                    "message": f"no {kind} '{value}'",
                    "kind": kind,
                    "value": value,
                }
            ],
        )

    @api.model
    def product(self, system, data, pointer="/data/product"):
        """The product a canonical ``{"default_code", …}`` object at ``pointer``
        names (its code: cross-reference, internal reference, barcode)."""
        return self.resolve(
            system, "product", data["default_code"], f"{pointer}/default_code"
        )

    @api.model
    def lot(self, system, product, name, pointer, create=False):
        """The lot or serial number ``name`` of ``product`` (created when ``create``
        and missing)."""
        Lot = self.env["stock.lot"]
        domain = [
            ("product_id", "=", product.id),
            ("name", "=", name),
            ("company_id", "in", [system.company_id.id, False]),
        ]
        lot = Lot.search(domain, limit=1)
        if lot:
            return lot
        if product.tracking == "none":
            raise errors.BusinessRuleError(
                self.env._(
                    "%(pointer)s: product %(product)s is not tracked by lot or serial "
                    "number, but lot '%(lot)s' was given.",
                    pointer=pointer,
                    product=product.display_name,
                    lot=name,
                ),
                errors=[{"pointer": pointer, "message": "product not tracked"}],
            )
        if not create:
            raise errors.ReferenceNotFound(
                self.env._(
                    "%(pointer)s: no lot or serial number '%(lot)s' of product "
                    "%(product)s.",
                    pointer=pointer,
                    lot=name,
                    product=product.display_name,
                ),
                errors=[{"pointer": pointer, "message": f"no lot '{name}'"}],
            )
        return Lot.create(
            {"name": name, "product_id": product.id, "company_id": system.company_id.id}
        )

    @api.model
    def booked_lot(self, system, product, name, pointer):
        """The lot of a booking of ``product`` (existing, by name): required for a
        tracked product, an empty recordset for an untracked one without lot."""
        if name:
            return self.lot(system, product, name, pointer)
        if product.tracking != "none":
            raise errors.BusinessRuleError(
                self.env._(
                    "%(pointer)s: %(product)s is tracked by lot or serial number: the "
                    "booking must say which one was used.",
                    pointer=pointer,
                    product=product.display_name,
                ),
                errors=[{"pointer": pointer, "message": "required"}],
            )
        return self.env["stock.lot"]

    @api.model
    def unit(self, name, pointer):
        """The ``uom.uom`` named ``name`` (exact name first, then ignoring case)."""
        Uom = self.env["uom.uom"]
        for operator in ("=", "=ilike"):
            units = Uom.search([("name", operator, name)], limit=2)
            if len(units) == 1:
                return units
        raise errors.UnknownUnit(
            self.env._(
                "%(pointer)s: '%(unit)s' is not a unit of measure of Odoo.",
                pointer=pointer,
                unit=name,
            ),
            errors=[
                {
                    "pointer": pointer,
                    "message": f"unknown unit '{name}'",
                    "kind": "uom",
                    "value": name,
                }
            ],
        )

    @api.model
    def quantity(self, quantity, to_unit, pointer):
        """Convert ``{"value", "uom"}`` (at ``pointer``) to ``to_unit``; return the
        amount in ``to_unit``."""
        unit = self.unit(quantity["uom"], f"{pointer}/uom")
        if unit == to_unit:
            return quantity["value"]
        if not unit._has_common_reference(to_unit):
            raise errors.UnknownUnit(
                self.env._(
                    "%(pointer)s: '%(unit)s' cannot be converted to %(target)s.",
                    pointer=f"{pointer}/uom",
                    unit=quantity["uom"],
                    target=to_unit.name,
                ),
                errors=[{"pointer": f"{pointer}/uom", "message": "incompatible unit"}],
            )
        return unit._compute_quantity(
            quantity["value"], to_unit, rounding_method="HALF-UP"
        )
