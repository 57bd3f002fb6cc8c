import json

from odoo.exceptions import UserError
from odoo.tests import Form, tagged

from odoo.addons.queue_job.tests.common import trap_jobs

from mfg_integration.schemas import validate

from .common import MesCase


@tagged("post_install", "-at_install")
class TestRelease(MesCase):
    def test_confirmation_releases_the_order_once_with_its_routing(self):
        order = self.make_order(qty=10)
        messages = self.released(order)
        self.assertEqual(len(messages), 1)
        message = messages.sudo()
        data = json.loads(message.payload)
        schema = self.Types.get_by_code("production_order.released")
        self.assertEqual(validate(schema.current_schema_id.schema_json, data), [])
        self.assertEqual(data["production_order"], order.name)
        self.assertEqual(data["product"]["default_code"], "T-PUMP")
        self.assertEqual(data["quantity"], {"value": 10.0, "uom": "Units"})
        self.assertEqual(
            [
                (w["sequence"], w["operation"], w["work_center"])
                for w in data["work_orders"]
            ],
            [
                (1, "Machining", "T-CNC"),
                (2, "Assembly", "T-ASM"),
                (3, "Leak test", "T-TEST"),
            ],
        )
        # each work order's reference is bound for the system: its reports find it
        Xref = self.env["mfg.integration.xref"]
        for entry in data["work_orders"]:
            workorder = Xref.lookup(self.system, "work_order", entry["reference"])
            self.assertEqual(workorder.production_id, order)
            self.assertEqual(workorder.name, entry["operation"])
        components = {
            (c["product"]["default_code"], c.get("lot")): c for c in data["components"]
        }
        # the casting was reserved by lot at confirmation
        self.assertEqual(components[("T-CAST", "T-LOT-A")]["quantity"]["value"], 10)
        self.assertEqual(components[("T-CAST", "T-LOT-A")]["operation_sequence"], 1)
        self.assertEqual(
            components[("T-SEAL", None)]["quantity"], {"value": 0.2, "uom": "kg"}
        )
        self.assertEqual(components[("T-MOTOR", None)]["operation_sequence"], 2)
        self.assertTrue(order.mfg_integration_released)
        self.assertEqual(message.state, "queued")
        # the order shows its message
        self.assertEqual(order.mfg_integration_message_count, 1)
        self.assertEqual(order.mfg_integration_last_state, "queued")
        action = order.action_view_mfg_integration_messages()
        self.assertEqual(self.Message.search(action["domain"]), messages)

    def test_rolled_back_confirmation_releases_nothing(self):
        order = self.make_order(confirm=False)
        with self.assertRaises(ZeroDivisionError), self.env.cr.savepoint():
            with trap_jobs():
                order.action_confirm()
                _fail = 1 / 0
        self.assertFalse(self.released(order))

    def test_product_without_reference_is_refused_clearly(self):
        self.pump.default_code = False
        order = self.make_order(confirm=False)
        with self.assertRaisesRegex(UserError, "internal reference"), trap_jobs():
            order.action_confirm()

    def test_work_center_without_code_is_refused_clearly(self):
        self.wc_asm.code = "Assembly line"
        order = self.make_order(confirm=False)
        with self.assertRaisesRegex(UserError, "needs a code"), trap_jobs():
            order.action_confirm()

    def test_no_subscriber_no_release(self):
        self.env["mfg.integration.subscription"].search([]).active = False
        self.pump.default_code = False  # would be refused if a payload were built
        order = self.make_order()
        self.assertEqual(order.state, "confirmed")
        self.assertFalse(order.mfg_integration_released)

    def test_release_when_planned(self):
        self.system.mes_release_trigger = "plan"
        order = self.make_order()
        self.assertFalse(self.released(order))
        with trap_jobs():
            order.button_plan()
        self.assertEqual(len(self.released(order)), 1)
        with trap_jobs():
            order.button_unplan()
            order.button_plan()
        self.assertEqual(len(self.released(order)), 1, "released once")

    def test_quantity_change_releases_again(self):
        order = self.make_order(qty=10)
        with trap_jobs():
            wizard = Form(
                self.env["change.production.qty"].with_context(default_mo_id=order.id)
            )
            wizard.product_qty = 12
            wizard.save().change_prod_qty()
        messages = self.released(order)
        self.assertEqual(len(messages), 2)
        data = json.loads(messages[-1].sudo().payload)
        self.assertEqual(data["quantity"]["value"], 12)
        # the references did not change
        first = json.loads(messages[0].sudo().payload)
        self.assertEqual(
            [w["reference"] for w in first["work_orders"]],
            [w["reference"] for w in data["work_orders"]],
        )

    def test_cancellation_is_announced_with_the_open_work_orders(self):
        order = self.make_order()
        refs = sorted(self.refs(order).values())
        with trap_jobs():
            order.action_cancel()
        cancelled = self.released(order, "production_order.cancelled")
        self.assertEqual(len(cancelled), 1)
        data = json.loads(cancelled.sudo().payload)
        self.assertEqual(data["production_order"], order.name)
        self.assertEqual(sorted(data["work_orders"]), refs)

    def test_never_released_order_is_not_announced_when_cancelled(self):
        order = self.make_order(confirm=False)
        order.action_cancel()
        self.assertFalse(self.released(order, "production_order.cancelled"))
