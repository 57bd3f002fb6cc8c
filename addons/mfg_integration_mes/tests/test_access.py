from odoo.tests import new_test_user, tagged

from .common import MesCase


@tagged("post_install", "-at_install")
class TestAccess(MesCase):
    def test_mes_technical_user_gets_the_mes_group_only(self):
        mes_group = self.env.ref("mfg_integration_mes.group_mfg_integration_mes")
        self.assertIn(mes_group, self.system.user_id.group_ids)
        self.assertFalse(self.system.user_id.has_group("mrp.group_mrp_manager"))
        self.assertFalse(self.system.user_id.has_group("base.group_system"))
        qms = self.env["mfg.integration.system"].create(
            {"name": "QMS", "code": "t_qms", "kind": "qms"}
        )
        self.assertNotIn(mes_group, qms.user_id.group_ids)
        qms.kind = "mes"
        self.assertIn(mes_group, qms.user_id.group_ids)
        qms.kind = "qms"
        self.assertNotIn(mes_group, qms.user_id.group_ids)

    def test_a_system_without_mes_rights_cannot_change_orders(self):
        order = self.make_order()
        ref = self.refs(order)["Machining"]
        self.system.kind = "other"
        message = self.progress(order, ref, "started", 0)
        self.assertEqual(message.state, "dead")
        self.assertEqual(
            order.workorder_ids.filtered(lambda w: w.name == "Machining").state, "ready"
        )

    def test_a_plant_bound_system_cannot_see_other_plants(self):
        plant_b = self.env["stock.warehouse"].create({"name": "Plant B", "code": "PLB"})
        order = self.make_order()  # plant A: the main warehouse
        ref = self.refs(order)["Machining"]
        self.system.warehouse_id = plant_b
        for message in (
            self.progress(order, ref, "started", 0),
            self.consume(order, "T-MOTOR", 1),
            self.complete(order, 1),
        ):
            self.assertDead(message, "reference.not-found", "/data/production_order")
            self.assertIn("Plant B", message.error_message)
        self.system.warehouse_id = self.warehouse
        self.assertDone(self.progress(order, ref, "started", 0))

    def test_integration_users_see_their_plants_messages(self):
        plant_b = self.env["stock.warehouse"].create({"name": "Plant B", "code": "PLB"})
        other = self.env["mfg.integration.system"].create(
            {
                "name": "MES B",
                "code": "mes_b",
                "kind": "mes",
                "warehouse_id": plant_b.id,
            }
        )
        self.system.warehouse_id = self.warehouse
        order = self.make_order()
        self.progress(order, self.refs(order)["Machining"], "started", 0)
        user = new_test_user(
            self.env,
            login="plant_b_user",
            groups="mfg_integration_core.group_mfg_integration_user,stock.group_stock_user",
        )
        user.mfg_integration_warehouse_ids = plant_b
        Systems = self.env["mfg.integration.system"].with_user(user)
        self.assertIn(other, Systems.search([]))
        self.assertNotIn(self.system, Systems.search([]))
        self.assertFalse(
            self.env["mfg.integration.message"]
            .with_user(user)
            .search([("system_id", "=", self.system.id)])
        )
        user.mfg_integration_warehouse_ids = False
        self.assertIn(self.system, Systems.search([]))
