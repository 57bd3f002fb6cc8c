from datetime import timedelta

from freezegun import freeze_time

from odoo import fields
from odoo.exceptions import AccessError, UserError, ValidationError
from odoo.tests import new_test_user

from odoo.addons.queue_job.tests.common import trap_jobs

from mfg_integration import errors

from .common import MfgIntegrationCase, event_handler, flow_actions, run_jobs
from .test_ingress_http import cloudevent


def done(_handler, _message, _data):
    return None


class TestFlow(MfgIntegrationCase):
    """The process flow engine: every kind of step, waits and their timeouts,
    approvals, incidents and compensations, with real queue_job jobs performed as
    the runner would."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.Flow = cls.env["mfg.integration.flow"]
        cls.Run = cls.env["mfg.integration.flow.run"]
        cls.Message = cls.env["mfg.integration.message"]
        cls.key, _token = cls.env["mfg.integration.api.key"].generate(cls.system, "MES")
        cls.shipped = cls._create_event_type("test.order_shipped")
        cls.shipped.direction = "outbound"
        cls.approver = new_test_user(
            cls.env, login="mfg_flow_approver", groups="base.group_user"
        )
        cls.boss = new_test_user(
            cls.env, login="mfg_flow_boss", groups="base.group_user"
        )
        cls.calls = []

    def setUp(self):
        super().setUp()
        self.calls = []

    # helpers ------------------------------------------------------------

    def flow(self, steps, **values):
        """A flow started by test.order_started, keyed by the order."""
        return self.Flow.create(
            {
                "name": "Test flow",
                "code": values.pop("code", "test-flow"),
                "trigger_event_type_id": self.event_type.id,
                "key_expression": "order",
                "step_ids": [
                    (0, 0, dict({"sequence": (i + 1) * 10}, **step))
                    for i, step in enumerate(steps)
                ],
                **values,
            }
        )

    def step(self, flow, code):
        return flow.step_ids.filtered(lambda s: s.code == code)

    def send(self, *events):
        """Receive the events, process them, and perform every job that follows."""
        self.receive_batch(self.key, *events)
        with (
            event_handler(self.env, "test.order_started", done),
            event_handler(self.env, "test.order_stopped", done),
            trap_jobs() as trap,
        ):
            self.Message._job_drain(self.system.id)
            run_jobs(trap)

    def record(self, name):
        """An action that records its call."""

        def action(_actions, run, step):
            """Record the call"""
            self.calls.append((name, run.key, step.code))
            return {name: True}

        return action

    def actions(self, **extra):
        funcs = {
            "first": self.record("first"),
            "second": self.record("second"),
            "undo_first": self.record("undo_first"),
            "undo_second": self.record("undo_second"),
        }
        funcs.update(extra)
        return flow_actions(self.env, **funcs)

    def perform(self, method, *args):
        with trap_jobs() as trap:
            result = method(*args)
            run_jobs(trap)
        return result

    def states(self, run):
        return [(s.step_id.code, s.state) for s in run.run_step_ids]

    # definitions --------------------------------------------------------

    def test_definitions_that_cannot_run_are_refused(self):
        with self.actions():
            flow = self.flow(
                [
                    {"code": "a", "name": "A", "kind": "action", "function": "first"},
                    {
                        "code": "loop",
                        "name": "Loop",
                        "kind": "condition",
                        "expression": "trigger.quantity",
                    },
                ]
            )
            first, loop = flow.step_ids.sorted("sequence")
            with self.assertRaises(ValidationError) as caught:
                loop.on_true_id = first
        self.assertIn(
            "loops through a → loop → a without waiting", str(caught.exception)
        )
        with self.actions(), self.assertRaises(ValidationError) as caught:
            self.flow(
                [
                    {
                        "code": "wait",
                        "name": "Wait",
                        "kind": "wait_event",
                        "event_type_id": self.other_event_type.id,
                    }
                ],
                code="no-timeout",
            )
        self.assertIn("a wait needs a timeout", str(caught.exception))
        with self.assertRaises(ValidationError):
            self.flow(
                [{"code": "a", "name": "A", "kind": "condition", "expression": "a |"}],
                code="bad-expression",
            )

    # an event flow end to end --------------------------------------------

    def event_flow(self):
        return self.flow(
            [
                {
                    "code": "first",
                    "name": "First",
                    "kind": "action",
                    "function": "first",
                },
                {
                    "code": "tell",
                    "name": "Tell the MES",
                    "kind": "emit",
                    "event_type_id": self.shipped.id,
                    "expression": "{order: trigger.order, quantity: trigger.quantity}",
                },
                {
                    "code": "stopped",
                    "name": "Wait for the stop",
                    "kind": "wait_event",
                    "event_type_id": self.other_event_type.id,
                    "match": "expression",
                    "expression": "order",
                    "timeout_minutes": 60,
                },
                {
                    "code": "big",
                    "name": "Big order?",
                    "kind": "condition",
                    "expression": "events.stopped.quantity > `5`",
                },
                {
                    "code": "second",
                    "name": "Second",
                    "kind": "action",
                    "function": "second",
                },
            ],
            trigger_expression="quantity > `1`",
        )

    def test_event_starts_and_moves_runs_each_on_its_own(self):
        endpoint, _server = self.outbound_endpoint()
        self.env["mfg.integration.subscription"].create(
            {"event_type_id": self.shipped.id, "endpoint_id": endpoint.id}
        )
        with self.actions():
            flow = self.event_flow()
            self.send(
                cloudevent("s-a", data={"order": "MO-A", "quantity": 2}),
                cloudevent("s-b", data={"order": "MO-B", "quantity": 3}),
                # the trigger expression is false: no run
                cloudevent("s-c", data={"order": "MO-C", "quantity": 1}),
            )
            runs = self.Run.search([("flow_id", "=", flow.id)], order="key")
            self.assertEqual(runs.mapped("key"), ["MO-A", "MO-B"])
            self.assertEqual(set(runs.mapped("state")), {"waiting"})
            run_a, run_b = runs
            self.assertEqual(
                self.states(run_a),
                [("first", "done"), ("tell", "done"), ("stopped", "waiting")],
            )
            self.assertEqual(json_of(run_a)["first"], True)
            emitted = run_a.run_step_ids[1].message_id
            self.assertEqual(emitted.event_code, "test.order_shipped")
            self.assertIn(emitted, run_a.integration_message_ids)
            self.assertEqual(run_a.start_message_id.ce_id, "s-a")
            # the stop of B moves B only
            self.send(
                cloudevent(
                    "x-b", "test.order_stopped", {"order": "MO-B", "quantity": 9}
                )
            )
            self.assertEqual(run_a.state, "waiting")
            self.assertEqual(run_b.state, "done")
            self.assertEqual(
                self.states(run_b),
                [
                    ("first", "done"),
                    ("tell", "done"),
                    ("stopped", "done"),
                    ("big", "done"),
                    ("second", "done"),
                ],
            )
            self.assertEqual(run_b.run_step_ids[3].outcome, "true")
            self.assertEqual(json_of(run_b)["events"]["stopped"]["quantity"], 9)
            # the stop of A is small: the condition goes on in order too (no
            # "if false" target), and the run ends
            self.send(
                cloudevent(
                    "x-a", "test.order_stopped", {"order": "MO-A", "quantity": 1}
                )
            )
            self.assertEqual(run_a.state, "done")
            self.assertEqual(run_a.run_step_ids[3].outcome, "false")
            self.assertIn(
                ("second", "MO-B", "second"), self.calls, "B ran its second step"
            )
            self.assertTrue(
                any("Flow done." in str(m.body) for m in run_a.message_ids),
                "the chatter tells the timeline",
            )
            Metric = self.env["mfg.integration.metric"]
            self.assertEqual(
                Metric._value("flow_runs_ended", flow="test-flow", outcome="done"), 2
            )

    def test_replayed_events_move_nothing_twice(self):
        with self.actions():
            flow = self.event_flow()
            self.send(cloudevent("r-1", data={"order": "MO-R", "quantity": 2}))
            run = self.Run.search([("flow_id", "=", flow.id)])
            trigger = run.start_message_id
            trigger.sudo().state = "dead"
            with (
                event_handler(self.env, "test.order_started", done),
                trap_jobs() as trap,
            ):
                trigger.action_replay()
                self.Message._job_drain(self.system.id)
                run_jobs(trap)
            self.assertEqual(self.Run.search_count([("flow_id", "=", flow.id)]), 1)
            self.assertEqual(self.calls.count(("first", "MO-R", "first")), 1)
            self.send(
                cloudevent(
                    "r-2", "test.order_stopped", {"order": "MO-R", "quantity": 1}
                )
            )
            self.assertEqual(run.state, "done")
            stop = run.run_step_ids[2].message_id
            stop.sudo().state = "dead"
            with (
                event_handler(self.env, "test.order_stopped", done),
                trap_jobs() as trap,
            ):
                stop.action_replay()
                self.Message._job_drain(self.system.id)
                run_jobs(trap)
            self.assertEqual(stop.state, "done")
            self.assertEqual(len(run.run_step_ids), 5)
            # the stop was small: the run went on to its last step once, not twice
            self.assertEqual(self.calls.count(("second", "MO-R", "second")), 1)

    # timeouts -------------------------------------------------------------

    def test_wait_timeout_makes_an_incident_that_can_be_skipped(self):
        with self.actions():
            flow = self.event_flow()
            self.send(cloudevent("t-1", data={"order": "MO-T", "quantity": 2}))
            run = self.Run.search([("flow_id", "=", flow.id)])
            deadline = run.deadline
            self.assertTrue(deadline)
            with freeze_time(deadline - timedelta(minutes=1)):
                self.perform(self.Run._cron_timeouts)
            self.assertEqual(run.state, "waiting")
            with freeze_time(deadline + timedelta(seconds=1)):
                self.perform(self.Run._cron_timeouts)
            self.assertEqual(run.state, "incident")
            self.assertEqual(run.error_class, "flow.timeout")
            self.assertEqual(self.states(run)[-1], ("stopped", "timed_out"))
            Metric = self.env["mfg.integration.metric"]
            self.assertEqual(
                Metric._value(
                    "flow_incidents",
                    flow="test-flow",
                    step="stopped",
                    error_class="flow.timeout",
                ),
                1,
            )
            self.env.flush_all()  # a scrape reads what is committed
            gauges = Metric._snapshot().gauges
            self.assertEqual(gauges[("flow_runs", ("test-flow", "incident"))], 1)
            incident = run.activity_ids.filtered(
                lambda a: a.activity_type_id.name == "Flow incident"
            )
            self.assertEqual(len(incident), 1)
            # a stop arriving now does not move an incident
            self.send(
                cloudevent(
                    "t-2", "test.order_stopped", {"order": "MO-T", "quantity": 9}
                )
            )
            self.assertEqual(run.state, "incident")
            self.perform(run.with_user(self.user).action_skip)
            self.assertEqual(run.state, "done")
            self.assertFalse(run.activity_ids)
            self.assertEqual(
                [s for _c, s in self.states(run)],
                ["done", "done", "skipped", "done", "done"],
            )

    def test_timeout_may_go_on_or_go_to_a_step(self):
        with self.actions():
            flow = self.event_flow()
            wait = self.step(flow, "stopped")
            wait.write(
                {"on_timeout": "goto", "timeout_step_id": self.step(flow, "second").id}
            )
            self.send(cloudevent("g-1", data={"order": "MO-G", "quantity": 2}))
            run = self.Run.search([("flow_id", "=", flow.id)])
            with freeze_time(run.deadline + timedelta(seconds=1)):
                # the timeout job, as the runner performs it at its eta
                self.perform(self.Run._job_timeout, run.current_run_step_id.id)
            self.assertEqual(run.state, "done")
            self.assertEqual(
                [c for c, _s in self.states(run)],
                ["first", "tell", "stopped", "second"],
            )

    # approvals ------------------------------------------------------------

    def approval_flow(self, **approval):
        return self.flow(
            [
                {
                    "code": "first",
                    "name": "First",
                    "kind": "action",
                    "function": "first",
                    "compensation_function": "undo_first",
                },
                dict(
                    {
                        "code": "approve",
                        "name": "Approve the order",
                        "kind": "approval",
                        "approver_user_id": self.approver.id,
                        "escalation_user_id": self.boss.id,
                        "timeout_minutes": 24 * 60,
                        "on_timeout": "escalate",
                    },
                    **approval,
                ),
                {
                    "code": "second",
                    "name": "Second",
                    "kind": "action",
                    "function": "second",
                },
            ]
        )

    def test_approval_escalates_then_is_approved(self):
        with self.actions():
            flow = self.approval_flow()
            self.send(cloudevent("a-1", data={"order": "MO-P", "quantity": 2}))
            run = self.Run.search([("flow_id", "=", flow.id)])
            self.assertEqual(run.state, "waiting")
            self.assertEqual(run.activity_ids.user_id, self.approver)
            self.assertTrue(run.with_user(self.approver).can_decide)
            self.assertFalse(run.with_user(self.outsider).can_decide)
            with self.assertRaises(AccessError):
                run.with_user(self.outsider).action_approve()
            with freeze_time(run.deadline + timedelta(seconds=1)):
                self.perform(self.Run._cron_timeouts)
            self.assertEqual(run.state, "waiting")
            self.assertTrue(run.current_run_step_id.escalated)
            self.assertEqual(run.activity_ids.user_id, self.boss)
            self.perform(run.with_user(self.boss).action_approve)
            self.assertEqual(run.state, "done")
            self.assertFalse(run.activity_ids)
            self.assertEqual(
                json_of(run)["approvals"]["approve"]["by"], "mfg_flow_boss"
            )
            self.assertIn(("second", "MO-P", "second"), self.calls)

    def test_escalation_timing_out_is_an_incident(self):
        with self.actions():
            flow = self.approval_flow()
            self.send(cloudevent("a-2", data={"order": "MO-Q", "quantity": 2}))
            run = self.Run.search([("flow_id", "=", flow.id)])
            with freeze_time(run.deadline + timedelta(seconds=1)):
                self.perform(self.Run._cron_timeouts)
            with freeze_time(run.deadline + timedelta(seconds=1)):
                self.perform(self.Run._cron_timeouts)
            self.assertEqual(run.state, "incident")
            self.assertEqual(run.error_class, "flow.timeout")

    def test_rejection_goes_to_its_step_or_cancels_with_compensation(self):
        with self.actions():
            flow = self.approval_flow()
            self.send(cloudevent("a-3", data={"order": "MO-X", "quantity": 2}))
            run = self.Run.search([("flow_id", "=", flow.id)])
            self.perform(run.with_user(self.approver).action_reject)
            self.assertEqual(run.state, "cancelled")
            self.assertIn(("undo_first", "MO-X", "first"), self.calls)
            self.assertEqual(
                self.states(run), [("first", "compensated"), ("approve", "rejected")]
            )
            with self.assertRaises(UserError):
                run.with_user(self.approver).action_approve()
            self.step(flow, "approve").on_reject_id = self.step(flow, "second")
            self.send(cloudevent("a-4", data={"order": "MO-Y", "quantity": 2}))
            other = self.Run.search([("flow_id", "=", flow.id), ("key", "=", "MO-Y")])
            self.perform(other.with_user(self.approver).action_reject)
            self.assertEqual(other.state, "done")
            self.assertFalse(json_of(other)["approvals"]["approve"]["approved"])

    def test_an_event_arriving_before_its_wait_is_not_lost(self):
        with self.actions():
            flow = self.event_flow()
            approval = {
                "code": "approve",
                "name": "Approve",
                "kind": "approval",
                "approver_user_id": self.approver.id,
                "timeout_minutes": 60,
                "sequence": 25,
            }
            flow.step_ids = [(0, 0, approval)]
            self.send(cloudevent("e-1", data={"order": "MO-E", "quantity": 2}))
            run = self.Run.search([("flow_id", "=", flow.id)])
            self.assertEqual(run.current_step_id.code, "approve")
            # the stop comes while the run waits for the approval
            self.send(
                cloudevent(
                    "e-2", "test.order_stopped", {"order": "MO-E", "quantity": 7}
                ),
                cloudevent(
                    "e-3", "test.order_stopped", {"order": "MO-Z", "quantity": 1}
                ),
            )
            self.assertEqual(run.state, "waiting")
            self.perform(run.with_user(self.approver).action_approve)
            self.assertEqual(run.state, "done")
            stopped = run.run_step_ids.filtered(lambda s: s.step_id.code == "stopped")
            self.assertEqual(stopped.message_id.ce_id, "e-2")
            self.assertEqual(run._data()["events"]["stopped"]["quantity"], 7)

    # failures -------------------------------------------------------------

    def test_transient_failures_retry_then_become_an_incident(self):
        def busy(_actions, _run, _step):
            """Fail for a passing reason"""
            raise errors.TransientError("the MES is busy")

        with self.actions(busy=busy):
            flow = self.flow(
                [
                    {
                        "code": "busy",
                        "name": "Busy",
                        "kind": "action",
                        "function": "busy",
                    }
                ],
                retry_max_attempts=3,
            )
            self.send(cloudevent("f-1", data={"order": "MO-F", "quantity": 2}))
            run = self.Run.search([("flow_id", "=", flow.id)])
            self.assertEqual(run.state, "running")
            self.assertEqual(run.attempts, 1)
            self.assertGreater(run.next_attempt_at, fields.Datetime.now())
            for _attempt in range(2):
                with freeze_time(run.next_attempt_at + timedelta(seconds=1)):
                    self.perform(self.Run._job_advance, run.id)
            self.assertEqual(run.state, "incident")
            self.assertEqual(run.error_class, "transient-error")
            self.assertEqual(run.run_step_ids.attempts, 3)
            self.assertEqual(len(run.run_step_ids), 1, "one step, three attempts")

    def test_permanent_failure_is_an_incident_fixed_by_editing_the_data(self):
        def needs_line(_actions, run, _step):
            """Need a line"""
            if "line" not in run._data():
                raise errors.BusinessRuleError("no line in the run's data")
            return {"used": run._data()["line"]}

        with self.actions(needs_line=needs_line):
            flow = self.flow(
                [
                    {
                        "code": "line",
                        "name": "Line",
                        "kind": "action",
                        "function": "needs_line",
                    }
                ]
            )
            self.send(cloudevent("e-1", data={"order": "MO-E", "quantity": 2}))
            run = self.Run.search([("flow_id", "=", flow.id)])
            self.assertEqual(run.state, "incident")
            self.assertEqual(run.error_class, "business-rule")
            with self.assertRaises(UserError):
                run.with_user(self.user).action_approve()  # not an approval
            run.with_user(self.user).data_json = '{"line": "L1"}'
            self.perform(run.with_user(self.user).action_retry)
            self.assertEqual(run.state, "done")
            self.assertEqual(json_of(run)["used"], "L1")
            self.assertEqual([s for _c, s in self.states(run)], ["failed", "done"])
            with self.assertRaises(UserError):
                run.with_user(self.user).data_json = "{}"

    def test_failure_that_compensates_undoes_the_steps_done_last_first(self):
        def broken(_actions, _run, _step):
            """Break"""
            raise ValueError("cannot")

        with self.actions(broken=broken):
            flow = self.flow(
                [
                    {
                        "code": "first",
                        "name": "First",
                        "kind": "action",
                        "function": "first",
                        "compensation_function": "undo_first",
                    },
                    {
                        "code": "second",
                        "name": "Second",
                        "kind": "action",
                        "function": "second",
                        "compensation_function": "undo_second",
                    },
                    {
                        "code": "broken",
                        "name": "Broken",
                        "kind": "action",
                        "function": "broken",
                        "on_failure": "compensate",
                    },
                ]
            )
            self.send(cloudevent("c-1", data={"order": "MO-C", "quantity": 2}))
            run = self.Run.search([("flow_id", "=", flow.id)])
            self.assertEqual(run.state, "cancelled")
            self.assertEqual(
                [c[0] for c in self.calls],
                ["first", "second", "undo_second", "undo_first"],
            )

    def test_cancelling_a_waiting_run_compensates(self):
        with self.actions():
            flow = self.approval_flow()
            self.send(cloudevent("k-1", data={"order": "MO-K", "quantity": 2}))
            run = self.Run.search([("flow_id", "=", flow.id)])
            self.perform(run.with_user(self.user).action_cancel)
            self.assertEqual(run.state, "cancelled")
            self.assertIn(("undo_first", "MO-K", "first"), self.calls)
            self.assertFalse(run.activity_ids, "the approval is withdrawn")
            with self.assertRaises(UserError):
                run.with_user(self.user).action_cancel()

    def test_business_trigger_starts_by_code(self):
        with self.actions():
            flow = self.flow(
                [
                    {
                        "code": "first",
                        "name": "First",
                        "kind": "action",
                        "function": "first",
                    }
                ],
                trigger="business",
                code="gate",
            )
            partner = self.env.company.partner_id
            run = self.perform(self.Flow._start_by_code, "gate", partner)
            self.assertEqual(run.flow_id, flow)
            self.assertEqual(run.state, "done")
            self.assertEqual(run.record_name, partner.display_name)
            self.assertFalse(self.Flow._start_by_code("no-such-flow", partner))


def json_of(run):
    return run._data()
