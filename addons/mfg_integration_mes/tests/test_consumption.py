from odoo.tests import tagged

from .common import MesCase


@tagged("post_install", "-at_install")
class TestConsumption(MesCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.order = cls.make_order(qty=10)
        cls.ref = cls.refs(cls.order)

    def move(self, product):
        return self.order.move_raw_ids.filtered(lambda m: m.product_id == product)

    def test_bookings_replace_the_reservation_and_add_up(self):
        casting = self.move(self.casting)
        self.assertEqual(casting.quantity, 10)  # reserved by Odoo at confirmation
        first = self.consume(
            self.order, "T-CAST", 4, lot="T-LOT-A", work_order=self.ref["Machining"]
        )
        self.assertDone(first)
        self.assertEqual(first.result_model, "mrp.production")
        self.assertTrue(casting.mfg_integration_booked)
        self.assertTrue(casting.picked)
        self.assertEqual(casting.quantity, 4)
        self.assertEqual(casting.move_line_ids.lot_id, self.lot_a)
        self.assertDone(self.consume(self.order, "T-CAST", 5, lot="T-LOT-A"))
        self.assertEqual(casting.quantity, 9)
        self.assertEqual(len(casting.move_line_ids), 1)
        # another unit: grams booked on a move in kg
        sealant = self.move(self.sealant)
        self.assertDone(self.consume(self.order, "T-SEAL", 150, uom="g"))
        self.assertAlmostEqual(sealant.quantity, 0.15)
        self.assertIn("T-SEAL", self.order.message_ids[0].body, "one note on the order")

    def test_extra_material_creates_or_increases_the_component_move(self):
        self.assertDone(
            self.consume(self.order, "T-GASKET", 3, consumption_type="extra")
        )
        gasket = self.move(self.gasket)
        self.assertEqual(len(gasket), 1)
        self.assertEqual(gasket.product_uom_qty, 3)
        self.assertEqual(gasket.quantity, 3)
        motor = self.move(self.motor)
        self.assertDone(
            self.consume(self.order, "T-MOTOR", 11, consumption_type="extra")
        )
        self.assertEqual(motor.product_uom_qty, 21)
        self.assertEqual(motor.quantity, 11)

    def test_scrap_at_the_line_books_an_odoo_scrap(self):
        before = self.on_hand(self.motor)
        message = self.consume(self.order, "T-MOTOR", 2, consumption_type="scrap")
        self.assertDone(message)
        scrap = self.order.scrap_ids
        self.assertEqual(scrap.product_id, self.motor)
        self.assertEqual(scrap.scrap_qty, 2)
        self.assertEqual(scrap.state, "done")
        self.assertEqual(self.on_hand(self.motor), before - 2)

    def test_refusals_name_their_pointer(self):
        self.assertDead(
            self.consume(self.order, "T-CAST", 1),
            "business-rule",
            "/data/lot",
        )
        self.assertDead(
            self.consume(self.order, "T-CAST", 1, lot="NO-SUCH-LOT"),
            "reference.not-found",
            "/data/lot",
        )
        self.assertDead(
            self.consume(self.order, "T-GASKET", 1),
            "business-rule",
            "/data/product",
        )
        self.assertDead(
            self.consume(self.order, "NOPE", 1),
            "reference.not-found",
            "/data/product/default_code",
        )
        self.assertDead(
            self.consume(self.order, "T-MOTOR", 1, uom="kg"),
            "uom.unknown",
            "/data/quantity/uom",
        )
        self.assertDead(
            self.consume(self.order, "T-MOTOR", 1, source_location="WH/Nowhere"),
            "reference.not-found",
            "/data/source_location",
        )
        self.assertFalse(self.move(self.casting).mfg_integration_booked)
        self.assertFalse(self.move(self.motor).mfg_integration_booked)
