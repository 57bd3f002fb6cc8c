from datetime import timedelta
from unittest.mock import patch

from freezegun import freeze_time

from odoo.addons.mfg_integration_core.tests.common import run_jobs
from odoo.addons.queue_job.tests.common import trap_jobs

from .common import MesCase


class TestReleaseGate(MesCase):
    """The production release gate as installed: a gated order is reserved,
    checked for held lots, released to the MES and released in Odoo only once the
    MES acknowledged it."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.Run = cls.env["mfg.integration.flow.run"]
        cls.pump.product_tmpl_id.mfg_release_gate = True

    def advance(self):
        with trap_jobs() as trap:
            for run in self.Run.search([("state", "=", "running")]):
                run._enqueue_advance()
            run_jobs(trap)

    def gated(self, qty=10):
        order = self.make_order(qty)
        self.assertEqual(order.mfg_release_state, "gated")
        self.assertFalse(self.released(order), "nothing goes out before the gate")
        run = self.Run.search(
            [("res_model", "=", "mrp.production"), ("res_id", "=", order.id)]
        )
        self.assertEqual(len(run), 1)
        self.advance()
        return order, run

    def ack(self, order, accepted=True, **extra):
        data = {
            "production_order": order.name,
            "accepted": accepted,
            "acknowledged_at": "2026-11-30T06:05:00Z",
        }
        if not accepted:
            data["reason"] = "No line is qualified for the leak test."
        data.update(extra)
        message = self.send("production_order.release_acknowledged", data)
        self.advance()
        return message

    def test_acknowledged_order_is_released(self):
        order, run = self.gated()
        self.assertEqual(run.state, "waiting")
        self.assertEqual(run.current_step_id.code, "acknowledged")
        self.assertEqual(order.reservation_state, "assigned")
        self.assertEqual(len(self.released(order)), 1)
        self.assertTrue(order.mfg_integration_released)
        self.assertEqual(order.mfg_release_state, "gated")
        message = self.ack(order, routing_confirmed=list(self.refs(order).values()))
        self.assertDone(message)
        self.assertEqual(run.state, "done", run.error_message)
        self.assertEqual(order.mfg_release_state, "released")
        order.invalidate_recordset(["mfg_flow_state"])  # a new request
        self.assertEqual(order.mfg_flow_run_count, 1)
        self.assertEqual(order.mfg_flow_state, "done")
        # planning the order later does not release it a second time
        with trap_jobs():
            order.button_plan()
        self.assertEqual(len(self.released(order)), 1)

    def test_refusal_is_an_incident_and_the_order_stays_unreleased(self):
        order, run = self.gated()
        self.assertDone(self.ack(order, accepted=False))
        self.assertEqual(run.state, "incident")
        self.assertEqual(run.current_step_id.code, "refused")
        self.assertIn("No line is qualified", run.error_message)
        self.assertEqual(order.mfg_release_state, "gated")

    def test_no_answer_in_time_is_an_incident(self):
        order, run = self.gated()
        with freeze_time(run.deadline + timedelta(seconds=1)), trap_jobs() as trap:
            self.Run._cron_timeouts()
            run_jobs(trap)
        self.assertEqual(run.state, "incident")
        self.assertEqual(run.error_class, "flow.timeout")
        # an answer now finds no gate waiting: it is refused, not lost
        message = self.ack(order)
        self.assertDead(message, "business-rule", "/data/production_order")
        self.assertEqual(order.mfg_release_state, "gated")
        # the planner retries the wait; the replayed answer releases the order
        with trap_jobs() as trap:
            run.action_retry()
            run_jobs(trap)
        self.assertEqual(run.state, "waiting")
        with trap_jobs() as trap:
            message.action_replay()
            self.Message._job_drain(self.system.id)
            run_jobs(trap)
        self.advance()
        self.assertDone(message)
        self.assertEqual(run.state, "done")
        self.assertEqual(order.mfg_release_state, "released")

    def test_held_component_lot_stops_the_gate(self):
        Lot = type(self.env["stock.lot"])

        def holds(lots):
            return {lot: "open nonconformity NC-T" for lot in lots if lot == self.lot_a}

        with patch.object(Lot, "_mfg_integration_holds", holds):
            order, run = self.gated()
        self.assertEqual(run.state, "incident")
        self.assertEqual(run.current_step_id.code, "component_holds")
        self.assertIn("lot T-LOT-A", run.error_message)
        self.assertIn("open nonconformity NC-T", run.error_message)
        self.assertFalse(self.released(order))
        # the hold is lifted: a retry goes on to the release
        with trap_jobs() as trap:
            run.action_retry()
            run_jobs(trap)
        self.assertEqual(run.current_step_id.code, "acknowledged")
        self.assertEqual(len(self.released(order)), 1)

    def test_missing_components_are_waited_for_then_an_incident(self):
        self.env["stock.quant"]._update_available_quantity(self.motor, self.stock, -100)
        order, run = self.gated()
        self.assertEqual(run.state, "running")
        self.assertEqual(run.current_step_id.code, "availability")
        self.assertIn("Motor T", run.run_step_ids.error_message)
        for _attempt in range(run.flow_id.retry_max_attempts - 1):
            with freeze_time(run.next_attempt_at + timedelta(seconds=1)):
                self.advance()
        self.assertEqual(run.state, "incident")
        self.assertEqual(run.error_class, "transient-error")
        self.assertFalse(self.released(order))

    def test_orders_without_a_gate_are_released_at_once(self):
        self.pump.product_tmpl_id.mfg_release_gate = False
        order = self.make_order()
        self.assertFalse(order.mfg_release_state)
        self.assertEqual(len(self.released(order)), 1)
        self.assertFalse(order.mfg_flow_run_count)

    def test_an_archived_gate_flow_releases_as_before(self):
        self.env.ref("mfg_integration_mes.flow_production_release_gate").active = False
        order = self.make_order()
        self.assertFalse(order.mfg_release_state)
        self.assertEqual(len(self.released(order)), 1)
