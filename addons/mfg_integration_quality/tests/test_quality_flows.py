import json
from unittest.mock import patch

from odoo.exceptions import UserError
from odoo.tests import tagged

from .common import QualityCase


@tagged("post_install", "-at_install")
class TestInspections(QualityCase):
    def test_result_is_an_inspection_with_one_line_per_characteristic(self):
        message = self.recorded()
        self.assertDone(message)
        inspection = self.Inspection.browse(message.result_id)
        self.assertEqual(inspection.state, "success")
        self.assertEqual(inspection.product_id, self.casting)
        self.assertEqual(inspection.object_id, self.lot)
        self.assertEqual(inspection.qty, 40)
        wall, visual = inspection.inspection_lines.sorted("name")[::-1]
        self.assertEqual(wall.question_type, "quantitative")
        self.assertAlmostEqual(wall.min_value, 3.9)
        self.assertAlmostEqual(wall.max_value, 4.1)
        self.assertAlmostEqual(wall.quantitative_value, 4.02)
        self.assertTrue(wall.success)
        self.assertEqual(visual.question_type, "qualitative")
        self.assertTrue(visual.success)
        # resent (a correction): updated, never duplicated
        again = self.recorded(passing=False)
        self.assertDone(again)
        self.assertEqual(again.result_id, inspection.id)
        self.assertEqual(
            self.Inspection.search_count([("mfg_inspection_id", "=", "INSP-1")]), 1
        )
        self.assertEqual(inspection.state, "failed")
        self.assertEqual(len(inspection.inspection_lines), 2)
        self.assertFalse(inspection.success)

    def test_an_inconsistent_result_is_refused(self):
        data_lines = self.characteristics(passing=False)
        message = self.recorded(result="pass", characteristics=data_lines)
        self.assertDead(message, "business-rule", "/data/result")
        self.assertFalse(self.Inspection.search([("mfg_inspection_id", "=", "INSP-1")]))

    def test_refusals_name_their_pointer(self):
        self.assertDead(
            self.recorded(product={"default_code": "NOPE"}),
            "reference.not-found",
            "/data/product/default_code",
        )
        self.assertDead(
            self.recorded(receipt="WH/IN/NOPE"), "reference.not-found", "/data/receipt"
        )
        self.assertDead(
            self.failed(supplier={"code": "SUP-NOPE"}),
            "reference.not-found",
            "/data/supplier/code",
        )
        self.assertEqual(self.qty(self.stock), 40)


@tagged("post_install", "-at_install")
class TestNonconformity(QualityCase):
    def test_failed_incoming_inspection_quarantines_the_lot(self):
        message = self.failed()
        self.assertDone(message)
        nonconformity = self.env["mgmtsystem.nonconformity"].browse(message.result_id)
        self.assertEqual(message.result_model, "mgmtsystem.nonconformity")
        self.assertEqual(nonconformity.partner_id, self.supplier)
        self.assertEqual(nonconformity.severity_id.mfg_code, "major")
        self.assertEqual(nonconformity.mfg_origin, "incoming_inspection")
        # the origin OCA's form requires, from where it was found
        self.assertEqual(
            nonconformity.origin_ids,
            self.env.ref("mfg_integration_quality.nc_origin_incoming_inspection"),
        )
        self.assertIn("WALL-THK", nonconformity.description)
        self.assertEqual(nonconformity.mfg_lot_ids, self.lot)
        inspection = nonconformity.mfg_inspection_ids
        self.assertEqual(inspection.state, "failed")
        # quarantine: a validated internal transfer, the stock out of reach
        (picking,) = nonconformity.mfg_quarantine_picking_ids
        self.assertEqual(picking.state, "done")
        self.assertEqual(picking.location_dest_id, self.quarantine)
        self.assertEqual(self.qty(self.stock), 0)
        self.assertEqual(self.qty(self.quarantine), 40)
        available = self.env["stock.quant"]._get_available_quantity(
            self.casting, self.stock, lot_id=self.lot
        )
        self.assertEqual(available, 0)
        # announced to the QMS, with the containment in place
        (opened,) = self.Message.search(
            [
                ("endpoint_id", "=", self.endpoint.id),
                ("result_model", "=", "mgmtsystem.nonconformity"),
                ("result_id", "=", nonconformity.id),
            ]
        )
        data = json.loads(opened.sudo().payload)
        self.assertEqual(data["nonconformance"], nonconformity.ref)
        self.assertEqual(data["lots"], ["Q-LOT-1"])
        self.assertEqual(data["containment_actions"], ["quarantine"])
        self.assertEqual(data["supplier"]["code"], "SUP-T1")
        self.assertEqual(data["inspection_id"], "INSP-2")
        self.assertEqual(data["quantity_affected"], {"value": 12.0, "uom": "Units"})
        self.assertEqual(opened.correlation_id, "corr-q")
        # a repeated failure changes nothing
        self.assertDone(self.failed())
        self.assertEqual(
            self.env["mgmtsystem.nonconformity"].search_count(
                [("mfg_lot_ids", "in", self.lot.ids)]
            ),
            1,
        )

    def test_no_hold_unless_the_severity_always_holds(self):
        self.assertDone(self.failed(hold_requested=False, severity="minor"))
        self.assertEqual(self.qty(self.stock), 40)
        self.assertDone(
            self.failed(
                inspection_id="INSP-3", hold_requested=False, severity="critical"
            )
        )
        self.assertEqual(self.qty(self.quarantine), 40)

    def test_a_lot_not_yet_received_goes_to_quarantine_on_receipt(self):
        self.assertDone(self.failed(lot="Q-LOT-2"))
        lot = self.env["stock.lot"].search([("name", "=", "Q-LOT-2")])
        self.assertTrue(lot.mfg_quarantine_pending)
        receipt = self.env["stock.picking"].create(
            {
                "picking_type_id": self.warehouse.in_type_id.id,
                "partner_id": self.supplier.id,
                "location_id": self.env.ref("stock.stock_location_suppliers").id,
                "location_dest_id": self.stock.id,
                "move_ids": [
                    (
                        0,
                        0,
                        {
                            "product_id": self.casting.id,
                            "product_uom_qty": 15,
                            "product_uom": self.casting.uom_id.id,
                            "location_id": self.env.ref(
                                "stock.stock_location_suppliers"
                            ).id,
                            "location_dest_id": self.stock.id,
                        },
                    )
                ],
            }
        )
        receipt.action_confirm()
        receipt.move_ids.move_line_ids.unlink()
        receipt.move_ids.move_line_ids = [
            (
                0,
                0,
                {
                    "product_id": self.casting.id,
                    "lot_id": lot.id,
                    "quantity": 15,
                    "location_id": receipt.location_id.id,
                    "location_dest_id": self.stock.id,
                },
            )
        ]
        receipt.move_ids.picked = True
        receipt._action_done()
        self.assertEqual(self.qty(self.stock, lot), 0)
        self.assertEqual(self.qty(self.quarantine, lot), 15)


@tagged("post_install", "-at_install")
class TestDisposition(QualityCase):
    def nonconformity(self):
        message = self.failed()
        self.assertDone(message)
        return self.env["mgmtsystem.nonconformity"].browse(message.result_id)

    def test_release_returns_the_stock_and_closes_the_nonconformity(self):
        nonconformity = self.nonconformity()
        message = self.disposition("release", nonconformance=nonconformity.ref)
        self.assertDone(message)
        self.assertEqual(self.qty(self.stock), 40)
        self.assertEqual(self.qty(self.quarantine), 0)
        self.assertEqual(nonconformity.mfg_disposition, "release")
        self.assertEqual(nonconformity.mfg_disposition_by, "QA-0001")
        self.assertEqual(nonconformity.stage_id.state, "done")
        # nothing left in quarantine: a second disposition is refused
        self.assertDead(self.disposition("scrap"), "business-rule", "/data/lot")

    def test_partial_scrap_keeps_the_rest_on_hold(self):
        nonconformity = self.nonconformity()
        self.assertDone(
            self.disposition("scrap", quantity={"value": 12, "uom": "Units"})
        )
        self.assertEqual(self.qty(self.quarantine), 28)
        self.assertNotEqual(nonconformity.stage_id.state, "done")
        self.assertDone(self.disposition("use_as_is", concession="CONC-7"))
        self.assertEqual(self.qty(self.stock), 28)
        self.assertEqual(nonconformity.mfg_concession, "CONC-7")
        self.assertEqual(nonconformity.stage_id.state, "done")

    def test_return_to_supplier_creates_the_return(self):
        nonconformity = self.nonconformity()
        message = self.disposition("return_to_supplier", supplier={"code": "SUP-T1"})
        self.assertDone(message)
        returns = self.env["stock.picking"].search(
            [("origin", "=", nonconformity.ref), ("partner_id", "=", self.supplier.id)]
        )
        self.assertEqual(len(returns), 1)
        self.assertEqual(returns.location_id, self.quarantine)
        self.assertEqual(returns.state, "assigned")

    def test_rework_without_bill_of_materials_schedules_an_activity(self):
        nonconformity = self.nonconformity()
        self.assertDone(
            self.disposition("rework", rework_instructions="grind the wall")
        )
        self.assertIn("Rework lot Q-LOT-1", nonconformity.activity_ids.summary)
        self.assertEqual(self.qty(self.quarantine), 40)

    def test_refusals(self):
        self.assertDead(self.disposition("release"), "business-rule", "/data/lot")
        self.assertDead(
            self.disposition("release", lot="NOPE"), "reference.not-found", "/data/lot"
        )


@tagged("post_install", "-at_install")
class TestSupplierCorrectiveAction(QualityCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.portal_endpoint = cls.env["mfg.integration.endpoint"].create(
            {
                "system_id": cls.system.id,
                "direction": "outbound",
                "code": "portal-q",
                "url": "http://127.0.0.1:9/portal",
            }
        )
        cls.env["mfg.integration.subscription"].create(
            {
                "event_type_id": cls.Types.get_by_code(
                    "supplier_corrective_action.opened"
                ).id,
                "endpoint_id": cls.portal_endpoint.id,
            }
        )

    def scars(self):
        return self.Message.search([("endpoint_id", "=", self.portal_endpoint.id)])

    def test_button_requests_a_scar_from_the_supplier(self):
        nonconformity = self.env["mgmtsystem.nonconformity"].browse(
            self.failed().result_id
        )
        self.assertFalse(self.scars(), "not automatic for a major failure")
        nonconformity.action_mfg_request_scar()
        action = nonconformity.action_ids.filtered("mfg_scar")
        self.assertEqual(action.type_action, "correction")
        (scar,) = self.scars()
        data = json.loads(scar.sudo().payload)
        self.assertEqual(data["corrective_action"], action.reference)
        self.assertEqual(data["nonconformance"], nonconformity.ref)
        self.assertEqual(data["supplier"]["code"], "SUP-T1")
        self.assertEqual(data["methodology"], "8d")
        self.assertEqual(data["lots"], ["Q-LOT-1"])
        with self.assertRaisesRegex(UserError, "already requested"):
            nonconformity.action_mfg_request_scar()

    def test_critical_incoming_failure_requests_it_when_configured(self):
        critical = self.env.ref(
            "mfg_integration_quality.nonconformity_severity_critical"
        )
        critical.mfg_auto_scar = True
        self.assertDone(self.failed(severity="critical"))
        self.assertEqual(len(self.scars()), 1)

    def test_not_for_a_nonconformity_of_the_company(self):
        nonconformity = self.env["mgmtsystem.nonconformity"].browse(
            self.failed(supplier=None, inspection_type="final").result_id
        )
        with self.assertRaisesRegex(UserError, "not about a supplier"):
            nonconformity.action_mfg_request_scar()


@tagged("post_install", "-at_install")
class TestQualityGuarantees(QualityCase):
    def test_rework_with_a_bill_of_materials_creates_a_rework_order(self):
        self.env["mrp.bom"].create(
            {"product_tmpl_id": self.casting.product_tmpl_id.id, "product_qty": 1}
        )
        nonconformity = self.env["mgmtsystem.nonconformity"].browse(
            self.failed().result_id
        )
        self.assertDone(
            self.disposition("rework", quantity={"value": 5, "uom": "Units"})
        )
        order = self.env["mrp.production"].search([("origin", "=", nonconformity.ref)])
        self.assertEqual(order.product_id, self.casting)
        self.assertEqual(order.product_qty, 5)

    def test_nothing_is_half_written_when_a_step_fails(self):
        Nonconformity = type(self.env["mgmtsystem.nonconformity"])
        with patch.object(
            Nonconformity,
            "_mfg_announce",
            side_effect=ValueError("boom"),
            autospec=True,
        ):
            message = self.failed()
        self.assertEqual(message.state, "dead")
        self.assertFalse(self.Inspection.search([("mfg_inspection_id", "=", "INSP-2")]))
        self.assertFalse(
            self.env["mgmtsystem.nonconformity"].search(
                [("mfg_lot_ids", "in", self.lot.ids)]
            )
        )
        self.assertEqual(self.qty(self.stock), 40)
        self.assertEqual(self.qty(self.quarantine), 0)

    def test_the_qms_technical_user_has_the_quality_group_only(self):
        group = self.env.ref("mfg_integration_quality.group_mfg_integration_quality")
        self.assertIn(group, self.system.user_id.group_ids)
        self.assertFalse(self.system.user_id.has_group("base.group_system"))
        self.assertFalse(
            self.system.user_id.has_group("mgmtsystem.group_mgmtsystem_manager")
        )
        mes = self.env["mfg.integration.system"].create(
            {"name": "MES Q", "code": "mes_q", "kind": "mes"}
        )
        self.assertNotIn(group, mes.user_id.group_ids)

    def test_a_supplier_without_reference_is_found_by_the_code_odoo_sent(self):
        self.supplier.ref = False
        self.supplier.vat = False
        self.env["mfg.integration.xref"].bind(
            self.system, "partner", "SUP-T1", self.supplier
        )
        nonconformity = self.env["mgmtsystem.nonconformity"].browse(
            self.failed().result_id
        )
        opened = self.Message.search(
            [
                ("endpoint_id", "=", self.endpoint.id),
                ("result_id", "=", nonconformity.id),
            ]
        )
        code = json.loads(opened.sudo().payload)["supplier"]["code"]
        self.assertEqual(code, f"P-{self.supplier.id}")
        returned = self.disposition("return_to_supplier", supplier={"code": code})
        self.assertDone(returned)

    def test_a_nonconformity_created_by_hand_is_announced(self):
        nonconformity = self.env["mgmtsystem.nonconformity"].create(
            {
                "name": "Burr on flange",
                "partner_id": self.supplier.id,
                "description": "Found at assembly.",
                "responsible_user_id": self.env.user.id,
                "manager_user_id": self.env.user.id,
                "mfg_product_id": self.casting.id,
                "mfg_lot_ids": [(6, 0, self.lot.ids)],
            }
        )
        (opened,) = self.Message.search(
            [
                ("endpoint_id", "=", self.endpoint.id),
                ("result_id", "=", nonconformity.id),
            ]
        )
        data = json.loads(opened.sudo().payload)
        self.assertEqual(data["title"], "Burr on flange")
        self.assertEqual(data["origin"], "other")
        self.assertNotIn("containment_actions", data)
        self.assertEqual(nonconformity.mfg_integration_message_count, 1)
