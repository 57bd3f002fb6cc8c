import json

from odoo.tests import tagged

from .common import MesCase


@tagged("post_install", "-at_install")
class TestCompletion(MesCase):
    def run_shift(self, order, good=9, scrap=1):
        ref = self.refs(order)
        for name, wc in (
            ("Machining", "T-CNC"),
            ("Assembly", "T-ASM"),
            ("Leak test", "T-TEST"),
        ):
            self.assertDone(
                self.progress(order, ref[name], "started", 0, work_center=wc)
            )
            extra = {}
            if name == "Machining" and scrap:
                extra = {
                    "quantity_scrap": {"value": scrap, "uom": "Units"},
                    "scrap_reason": "material_defect",
                }
            self.assertDone(
                self.progress(
                    order,
                    ref[name],
                    "finished",
                    good,
                    work_center=wc,
                    duration_minutes=30,
                    reported_at="2026-11-30T09:00:00Z",
                    **extra,
                )
            )
        self.assertDone(self.consume(order, "T-CAST", good + scrap, lot="T-LOT-A"))
        self.assertDone(self.consume(order, "T-MOTOR", good))

    def test_completion_marks_the_order_done_with_matching_stock(self):
        order = self.make_order(qty=10)
        cast_before = self.on_hand(self.casting, lot=self.lot_a)
        motor_before = self.on_hand(self.motor)
        seal_before = self.on_hand(self.sealant)
        self.run_shift(order, good=9, scrap=1)
        done = self.complete(
            order,
            9,
            quantity_scrapped={"value": 1, "uom": "Units"},
            remaining_quantity_action="close",
            started_at="2026-11-30T06:00:00Z",
        )
        self.assertDone(done)
        self.assertEqual(order.state, "done")
        self.assertEqual(order.qty_produced, 9)
        self.assertEqual(self.on_hand(self.pump), 9)
        # what the MES booked, not the planned 10
        self.assertEqual(self.on_hand(self.casting, lot=self.lot_a), cast_before - 10)
        self.assertEqual(self.on_hand(self.motor), motor_before - 9)
        # not booked by the MES: Odoo's own consumption for 9 produced
        self.assertAlmostEqual(self.on_hand(self.sealant), seal_before - 0.18)
        # one scrap of 1 (reported on machining, confirmed by the completion)
        self.assertEqual(sum(order.scrap_ids.mapped("scrap_qty")), 1)
        scrap_location = order.scrap_ids.scrap_location_id
        self.assertEqual(self.on_hand(self.pump, location=scrap_location), 1)
        for workorder in order.workorder_ids:
            self.assertAlmostEqual(workorder.duration, 30, delta=0.1)
            self.assertEqual(workorder.qty_produced, 9)
        self.assertIn("completed at 2026-11-30T12:00:00Z", self.order_notes(order)[0])
        # completing twice changes nothing
        again = self.complete(order, 9)
        self.assertDone(again)
        self.assertEqual(self.on_hand(self.pump), 9)
        # and reports on the done order are refused
        self.assertDead(
            self.consume(order, "T-MOTOR", 1),
            "business-rule",
            "/data/production_order",
        )

    def test_backorder_keeps_the_rest_and_releases_it(self):
        order = self.make_order(qty=10)
        name = order.name
        self.run_shift(order, good=6, scrap=0)
        done = self.complete(order, 6, remaining_quantity_action="backorder")
        self.assertDone(done)
        self.assertEqual(order.state, "done")
        self.assertEqual(order.qty_produced, 6)
        backorder = order.production_group_id.production_ids - order
        self.assertEqual(len(backorder), 1)
        self.assertEqual(backorder.product_qty, 4)
        self.assertIn("backorder", self.order_notes(order)[0])
        # the backorder is released to the MES, with the correlation id of the
        # completion that caused it
        release = self.released(backorder)
        self.assertEqual(len(release), 1)
        self.assertEqual(release.correlation_id, "corr-mes-test")
        # the MES still finds the first order by the name it knows
        self.assertNotEqual(order.name, name)
        again = self.complete(order, 6)
        self.assertDone(again)
        self.assertEqual(again.result_id, order.id)

    def order_notes(self, order):
        return [
            m.body for m in order.message_ids if "production_order" in (m.body or "")
        ]

    def test_tracked_product_needs_lots_and_creates_them(self):
        self.pump.tracking = "lot"
        order = self.make_order(qty=5)
        self.run_shift(order, good=5, scrap=0)
        self.assertDead(self.complete(order, 5), "business-rule", "/data/produced_lots")
        self.assertDead(
            self.complete(
                order,
                5,
                produced_lots=[
                    {"lot": "P-1", "quantity": {"value": 4, "uom": "Units"}}
                ],
            ),
            "business-rule",
            "/data/produced_lots",
        )
        self.assertFalse(self.env["stock.lot"].search([("name", "=", "P-1")]))
        done = self.complete(
            order,
            5,
            produced_lots=[
                {"lot": "P-1", "quantity": {"value": 3, "uom": "Units"}},
                {"lot": "P-2", "quantity": {"value": 2, "uom": "Units"}},
            ],
        )
        self.assertDone(done)
        lots = self.env["stock.lot"].search([("name", "in", ["P-1", "P-2"])])
        self.assertEqual(len(lots), 2)
        self.assertEqual(
            self.on_hand(self.pump, lot=lots.filtered(lambda lot: lot.name == "P-1")), 3
        )
        self.assertEqual(
            self.on_hand(self.pump, lot=lots.filtered(lambda lot: lot.name == "P-2")), 2
        )

    def test_refusals(self):
        order = self.make_order(qty=10)
        wrong = self.send(
            "production_order.completed",
            {
                "production_order": order.name,
                "product": {"default_code": "T-MOTOR"},
                "quantity_produced": {"value": 1, "uom": "Units"},
                "completed_at": "2026-11-30T12:00:00Z",
            },
        )
        self.assertDead(wrong, "business-rule", "/data/product")
        self.assertDead(
            self.complete(order, 0), "business-rule", "/data/quantity_produced"
        )
        self.assertDead(
            self.complete(order, 1, destination_location="WH/Nowhere"),
            "reference.not-found",
            "/data/destination_location",
        )
        self.assertEqual(order.state, "confirmed")
        self.assertFalse(json.loads(self.released(order).sudo().payload).get("lot"))

    def test_finished_goods_reach_the_reported_location(self):
        shelf = self.env["stock.location"].create(
            {"name": "Shelf T", "location_id": self.stock.id}
        )
        order = self.make_order(qty=3)
        self.run_shift(order, good=3, scrap=0)
        done = self.complete(order, 3, destination_location=shelf.complete_name)
        self.assertDone(done)
        self.assertEqual(self.on_hand(self.pump, location=shelf), 3)
