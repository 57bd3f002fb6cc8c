from datetime import timedelta

from freezegun import freeze_time

from odoo import Command
from odoo.tests import new_test_user

from odoo.addons.mfg_integration_core.tests.common import run_jobs
from odoo.addons.queue_job.tests.common import trap_jobs

from .common import QualityCase

MANAGER = "mgmtsystem.group_mgmtsystem_manager"


class TestContainmentFlow(QualityCase):
    """The nonconformance containment flow as installed: a failed inspection of
    major severity quarantines, asks maintenance and the quality manager, waits for
    the QMS's disposition and closes the nonconformity."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.Run = cls.env["mfg.integration.flow.run"]
        cls.flow = cls.env.ref(
            "mfg_integration_quality.flow_nonconformance_containment"
        )
        cls.quality_manager = new_test_user(
            cls.env, login="mfg_q_manager", groups=f"base.group_user,{MANAGER}"
        )
        cls.planner = new_test_user(
            cls.env,
            login="mfg_q_planner",
            groups="mfg_integration_core.group_mfg_integration_user",
        )
        cls.system.responsible_id = cls.planner

    def advance(self):
        """Perform the flow jobs as the runner would."""
        with trap_jobs() as trap:
            for run in self.Run.search([("state", "=", "running")]):
                run._enqueue_advance()
            run_jobs(trap)

    def started(self, message):
        self.assertDone(message)
        run = self.Run.search([("start_message_id", "=", message.id)])
        self.assertEqual(len(run), 1, "one run per failed inspection")
        self.advance()
        return run

    def steps(self, run):
        return [(s.step_id.code, s.state) for s in run.run_step_ids]

    def test_supplier_nonconformity_is_contained_then_closed(self):
        run = self.started(self.failed())
        nonconformity = run._record()
        self.assertEqual(nonconformity._name, "mgmtsystem.nonconformity")
        self.assertEqual(self.qty(self.quarantine), 40)
        self.assertEqual(run.state, "waiting")
        self.assertEqual(run.current_step_id.code, "approve_scar")
        self.assertEqual(
            self.steps(run),
            [
                ("quarantine", "done"),
                ("equipment_known", "done"),
                ("supplier", "done"),
                ("approve_scar", "waiting"),
            ],
        )
        self.assertIn(self.quality_manager, run.activity_ids.user_id)
        self.assertEqual(nonconformity.mfg_flow_run_count, 1)
        self.assertEqual(nonconformity.mfg_flow_state, "waiting")
        with trap_jobs() as trap:
            run.with_user(self.quality_manager).action_approve()
            run_jobs(trap)
        self.assertEqual(run.current_step_id.code, "disposition")
        self.assertTrue(nonconformity.action_ids.filtered("mfg_scar"))
        self.assertFalse(run.activity_ids)
        # the QMS's disposition moves the run on when it is processed
        message = self.disposition("release", nonconformance=nonconformity.ref)
        self.advance()
        self.assertDone(message)
        self.assertEqual(run.state, "done", run.error_message)
        self.assertEqual(
            self.steps(run)[-2:], [("disposition", "done"), ("close", "done")]
        )
        self.assertIn(message, run.integration_message_ids)
        self.assertEqual(self.qty(self.stock), 40)
        nonconformity.invalidate_recordset(["mfg_flow_state"])  # a new request
        self.assertEqual(nonconformity.mfg_flow_state, "done")
        # the supplier's corrective action is under way: the nonconformity stays
        # open until the management system closes it with its last action
        self.assertNotEqual(nonconformity.state, "done")
        self.assertFalse(run._data()["closed"])
        self.assertEqual(len(run._data()["open_actions"]), 1)

    def test_without_supplier_the_disposition_closes_it(self):
        run = self.started(self.failed(supplier=None))
        nonconformity = run._record()
        self.assertEqual(run.current_step_id.code, "disposition")
        self.assertDone(self.disposition("scrap", nonconformance=nonconformity.ref))
        self.advance()
        self.assertEqual(run.state, "done", run.error_message)
        self.assertEqual(nonconformity.state, "done")
        self.assertTrue(run._data()["closed"])
        self.assertEqual(self.qty(self.quarantine), 0)

    def test_minor_failures_start_no_containment(self):
        message = self.failed(severity="minor")
        self.assertDone(message)
        self.assertFalse(self.Run.search([("start_message_id", "=", message.id)]))

    def test_cancelling_releases_the_quarantine(self):
        run = self.started(self.failed())
        self.assertEqual(self.qty(self.quarantine), 40)
        with trap_jobs() as trap:
            run.with_user(self.planner).action_cancel()
            run_jobs(trap)
        self.assertEqual(run.state, "cancelled")
        self.assertEqual(self.qty(self.quarantine), 0)
        self.assertEqual(self.qty(self.stock), 40)
        self.assertFalse(self.lot.mfg_hold_nonconformity_id)
        self.assertEqual(self.steps(run)[0], ("quarantine", "compensated"))

    def test_rejected_request_and_late_disposition(self):
        run = self.started(self.failed())
        nonconformity = run._record()
        with trap_jobs() as trap:
            run.with_user(self.quality_manager).action_reject()
            run_jobs(trap)
        self.assertEqual(run.current_step_id.code, "disposition")
        self.assertEqual(self.steps(run)[3], ("approve_scar", "rejected"))
        scars = nonconformity.action_ids.filtered("mfg_scar")
        self.assertFalse(scars, "rejected: no request to the supplier")
        with freeze_time(run.deadline + timedelta(seconds=1)), trap_jobs() as trap:
            self.Run._cron_timeouts()
            run_jobs(trap)
        self.assertEqual(run.state, "incident")
        self.assertEqual(run.error_class, "flow.timeout")
        self.assertEqual(run.activity_ids.user_id, self.planner)

    def test_unanswered_request_escalates_to_the_administrator(self):
        run = self.started(self.failed())
        with freeze_time(run.deadline + timedelta(seconds=1)), trap_jobs() as trap:
            self.Run._cron_timeouts()
            run_jobs(trap)
        self.assertTrue(run.current_run_step_id.escalated)
        self.assertEqual(run.activity_ids.user_id, self.env.ref("base.user_admin"))

    def test_equipment_that_made_the_goods_is_inspected(self):
        workcenter = self.env["mrp.workcenter"].create(
            {"name": "Casting cell", "code": "CAST-1"}
        )
        machine = self.env["maintenance.equipment"].create(
            {"name": "Die caster 3", "mfg_workcenter_id": workcenter.id}
        )
        bracket = self.env["product.product"].create(
            {"name": "Bracket Q", "default_code": "Q-BRACKET", "is_storable": True}
        )
        bom = self.env["mrp.bom"].create(
            {
                "product_tmpl_id": bracket.product_tmpl_id.id,
                "product_qty": 1,
                "bom_line_ids": [
                    Command.create({"product_id": self.casting.id, "product_qty": 1})
                ],
                "operation_ids": [
                    Command.create(
                        {
                            "name": "Cast",
                            "workcenter_id": workcenter.id,
                            "time_cycle": 5,
                        }
                    )
                ],
            }
        )
        production = self.env["mrp.production"].create(
            {"product_id": bracket.id, "product_qty": 2, "bom_id": bom.id}
        )
        production.action_confirm()
        run = self.started(
            self.failed(
                inspection_type="in_process",
                production_order=production.name,
                supplier=None,
            )
        )
        requests = self.env["maintenance.request"].search(
            [("equipment_id", "=", machine.id)]
        )
        self.assertEqual(len(requests), 1)
        self.assertIn(run._record().ref, requests.name)
        self.assertEqual(run._data()["equipment_inspections"], requests.ids)
        self.assertEqual(
            [code for code, _state in self.steps(run)],
            [
                "quarantine",
                "equipment_known",
                "inspect_equipment",
                "supplier",
                "disposition",
            ],
        )
