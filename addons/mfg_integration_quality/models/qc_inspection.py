from odoo import Command, api, fields, models

from odoo.addons.mfg_integration_core.tools import utc_naive

from mfg_integration import errors

INSPECTION_TYPES = [
    ("incoming", "Incoming"),
    ("in_process", "In process"),
    ("final", "Final"),
    ("first_article", "First article"),
    ("periodic", "Periodic"),
]


class QcInspection(models.Model):
    _name = "qc.inspection"
    _inherit = ["qc.inspection", "mfg.integration.linked.mixin"]

    mfg_system_id = fields.Many2one(
        "mfg.integration.system", string="Reported By", readonly=True, copy=False
    )
    mfg_inspection_id = fields.Char(
        string="QMS Inspection", readonly=True, copy=False, index="btree_not_null"
    )
    mfg_inspection_type = fields.Selection(
        INSPECTION_TYPES, string="Inspection Type", readonly=True
    )
    mfg_product_id = fields.Many2one("product.product", readonly=True)
    mfg_lot_id = fields.Many2one("stock.lot", string="Lot", readonly=True)
    mfg_picking_id = fields.Many2one("stock.picking", string="Receipt", readonly=True)
    mfg_production_id = fields.Many2one(
        "mrp.production", string="Manufacturing Order", readonly=True
    )
    mfg_nonconformity_id = fields.Many2one(
        "mgmtsystem.nonconformity", string="Nonconformity", readonly=True, copy=False
    )

    _mfg_inspection_uniq = models.UniqueIndex(
        "(mfg_system_id, mfg_inspection_id) WHERE mfg_inspection_id IS NOT NULL"
    )

    @api.model
    def object_selection_values(self):
        return super().object_selection_values() + [
            ("stock.lot", "Lot/Serial Number"),
            ("stock.picking", "Transfer"),
            ("mrp.production", "Manufacturing Order"),
        ]

    @api.depends("object_id", "mfg_product_id")
    def _compute_product_id(self):
        res = super()._compute_product_id()
        for inspection in self.filtered(lambda i: not i.product_id):
            inspection.product_id = inspection.mfg_product_id
        return res

    # ------------------------------------------------------------------
    # inspection.result_recorded / inspection.failed
    # ------------------------------------------------------------------

    @api.model
    def _mfg_handle_result(self, message, data):
        inspection = self._mfg_record(message, data, data["characteristics"])
        message._post_note(
            inspection._mfg_note_target(),
            self.env._(
                "inspection %(id)s: %(result)s",
                id=data["inspection_id"],
                result=data["result"],
            ),
        )
        return inspection

    @api.model
    def _mfg_handle_failed(self, message, data):
        """The failed inspection (kept as recorded when its result came first), a
        nonconformity, and the quarantine of the lot when asked or when the
        severity always asks for it."""
        system = message.system_id
        existing = self.search(
            [
                ("mfg_system_id", "=", system.id),
                ("mfg_inspection_id", "=", data["inspection_id"]),
            ]
        )
        if existing and existing.state == "failed":
            inspection = existing
        else:
            failed = [dict(c, result="fail") for c in data["failed_characteristics"]]
            keep = [
                line_data
                for line_data in existing._mfg_characteristics()
                if line_data["code"] not in {c["code"] for c in failed}
            ]
            inspection = self._mfg_record(
                message, dict(data, result="fail"), keep + failed
            )
        nonconformity = inspection.mfg_nonconformity_id
        if not nonconformity:
            nonconformity = self.env["mgmtsystem.nonconformity"]._mfg_open_for(
                inspection, message, data
            )
            inspection.mfg_nonconformity_id = nonconformity
        message._post_note(
            inspection._mfg_note_target(),
            self.env._(
                "inspection %(id)s failed (%(severity)s): nonconformity %(nc)s",
                id=data["inspection_id"],
                severity=data["severity"],
                nc=nonconformity.ref,
            ),
        )
        return nonconformity

    def _mfg_note_target(self):
        self.ensure_one()
        return self.mfg_production_id or self.mfg_picking_id or self.mfg_lot_id or self

    @api.model
    def _mfg_record(self, message, data, characteristics):
        """Create or update (never duplicate) the inspection ``data`` reports, with
        one line per characteristic; its state is the QMS's result."""
        system = message.system_id
        resolver = self.env["mfg.integration.resolver"]
        product = resolver.product(system, data["product"])
        lot = self.env["stock.lot"]
        if data.get("lot"):
            lot = resolver.lot(system, product, data["lot"], "/data/lot", create=True)
        production = self.env["mrp.production"]
        if data.get("production_order"):
            production = resolver.resolve(
                system,
                "production_order",
                data["production_order"],
                "/data/production_order",
            )
        picking = self.env["stock.picking"]
        if data.get("receipt"):
            picking = resolver.resolve(
                system, "picking", data["receipt"], "/data/receipt"
            )
        quantity = 1.0
        if data.get("quantity_inspected"):
            quantity = resolver.quantity(
                data["quantity_inspected"], product.uom_id, "/data/quantity_inspected"
            )
        target = production or picking or lot or product
        values = {
            "object_id": f"{target._name},{target.id}",
            "mfg_product_id": product.id,
            "mfg_lot_id": lot.id,
            "mfg_production_id": production.id,
            "mfg_picking_id": picking.id,
            "mfg_inspection_type": data.get("inspection_type"),
            "qty": quantity,
            "date": utc_naive(data["inspected_at"]),
            "internal_notes": data.get("comment") or False,
            "company_id": system.company_id.id,
            "inspection_lines": [Command.clear()]
            + [
                Command.create(self._mfg_line_values(c, f"/data/characteristics/{i}"))
                for i, c in enumerate(characteristics)
            ],
        }
        inspection = self.search(
            [
                ("mfg_system_id", "=", system.id),
                ("mfg_inspection_id", "=", data["inspection_id"]),
            ]
        )
        if inspection:
            inspection.write(values)
        else:
            values.update(
                mfg_system_id=system.id, mfg_inspection_id=data["inspection_id"]
            )
            inspection = self.create(values)
        passed = data["result"] == "pass"
        if passed != inspection.success:
            raise errors.BusinessRuleError(
                self.env._(
                    "/data/result: the inspection says '%(result)s' but its "
                    "characteristics say otherwise.",
                    result=data["result"],
                ),
                errors=[{"pointer": "/data/result", "message": "inconsistent"}],
            )
        # the QMS decided: its result is the inspection's state
        inspection.write({"state": "success" if passed else "failed"})
        return inspection

    @api.model
    def _mfg_line_values(self, characteristic, pointer):
        """An inspection line for a characteristic: measured against its limits
        when they are given and agree with the QMS's result, else the QMS's
        verdict (pass/fail) with the figures in the notes."""
        code = characteristic["code"]
        name = characteristic.get("name")
        values = {
            "name": f"{code} {name}" if name else code,
            "notes": self._mfg_line_notes(characteristic),
        }
        passed = characteristic["result"] == "pass"
        measured = characteristic.get("measured_value")
        nominal = characteristic.get("nominal")
        if measured is not None and nominal is not None:
            low = nominal + characteristic.get("lower_tolerance", 0)
            high = nominal + characteristic.get("upper_tolerance", 0)
            if (low <= measured <= high) == passed:
                unit = self._mfg_unit(characteristic.get("uom"))
                values.update(
                    question_type="quantitative",
                    quantitative_value=measured,
                    min_value=low,
                    max_value=high,
                    uom_id=unit.id,
                    test_uom_id=unit.id,
                )
                return values
        verdicts = self._mfg_verdicts()
        values.update(
            question_type="qualitative",
            possible_ql_values=[Command.set(verdicts.ids)],
            qualitative_value=verdicts.filtered(lambda v: v.ok == passed).id,
        )
        return values

    @api.model
    def _mfg_unit(self, name):
        """Odoo's unit of that name, if any: plant units (mbar.l/s…) need not be
        Odoo units; the notes keep the unit as sent."""
        if not name:
            return self.env["uom.uom"]
        return self.env["uom.uom"].search([("name", "=ilike", name)], limit=1)

    @api.model
    def _mfg_verdicts(self):
        return self.env.ref("mfg_integration_quality.qc_value_pass") | self.env.ref(
            "mfg_integration_quality.qc_value_fail"
        )

    @api.model
    def _mfg_line_notes(self, characteristic):
        parts = []
        unit = characteristic.get("uom", "")
        if "measured_value" in characteristic:
            parts.append(f"measured {characteristic['measured_value']} {unit}".strip())
        if "nominal" in characteristic:
            parts.append(
                f"nominal {characteristic['nominal']} "
                f"{characteristic.get('lower_tolerance', 0):+g}/"
                f"{characteristic.get('upper_tolerance', 0):+g} {unit}".strip()
            )
        if "defects_found" in characteristic:
            parts.append(f"{characteristic['defects_found']} defective")
        if characteristic.get("defect_code"):
            parts.append(f"defect {characteristic['defect_code']}")
        parts.append(f"QMS result: {characteristic['result']}")
        return "; ".join(parts)

    def _mfg_characteristics(self):
        """The characteristics of these recorded lines, as a QMS would send them
        (to keep the passing ones when a failure is reported later)."""
        result = []
        for line in self.inspection_lines:
            code, _sep, name = (line.name or "").partition(" ")
            entry = {"code": code, "result": "pass" if line.success else "fail"}
            if name:
                entry["name"] = name
            if line.question_type == "quantitative":
                entry.update(
                    measured_value=line.quantitative_value,
                    nominal=line.min_value,
                    upper_tolerance=line.max_value - line.min_value,
                )
                if line.uom_id:
                    entry["uom"] = line.uom_id.name
            result.append(entry)
        return result
