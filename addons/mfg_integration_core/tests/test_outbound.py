import json
import time
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from unittest.mock import patch

import psycopg2
from standardwebhooks.webhooks import Webhook

from odoo import fields
from odoo.exceptions import UserError, ValidationError
from odoo.tests import tagged
from odoo.tools import mute_logger

from odoo.addons.mfg_integration_core.models.mfg_integration_endpoint import (
    ALLOWED_NETWORKS_PARAM,
)
from odoo.addons.mfg_integration_core.tools import DELIVERY_LOCK_NAMESPACE
from odoo.addons.queue_job.exception import RetryableJobError
from odoo.addons.queue_job.tests.common import trap_jobs

from mfg_integration.batching import batch_id, next_flush
from mfg_integration.simulators import Answer, StubServer, closed_port_url
from mfg_integration.webhooks import generate_webhook_secret

from .common import MfgIntegrationCase, capture_logs

CODE = "test.order_released"


@tagged("post_install", "-at_install")
class TestOutbound(MfgIntegrationCase):
    """Delivery to real HTTP receivers on 127.0.0.1 (a stub server in a thread)."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.outbound_type = cls._create_event_type(CODE)
        cls.outbound_type.direction = "outbound"
        cls.server = StubServer()
        cls.server.start()
        cls.addClassCleanup(cls.server.stop)
        cls.secret = generate_webhook_secret()
        cls.endpoint = cls.env["mfg.integration.endpoint"].create(
            {
                "name": "MES orders",
                "code": "mes-orders",
                "system_id": cls.system.id,
                "direction": "outbound",
                "url": cls.server.url("/odoo/events?token=abc"),
                "signing_secret": cls.secret,
                "timeout": 2,
                # one request at a time: the outcome rules are easier to follow;
                # parallel delivery has its own test
                "delivery_concurrency": 1,
                "breaker_threshold": 3,
                "breaker_cooldown": 30,
            }
        )
        cls.subscription = cls.env["mfg.integration.subscription"].create(
            {"event_type_id": cls.outbound_type.id, "endpoint_id": cls.endpoint.id}
        )
        cls.Types = cls.env["mfg.integration.event.type"]
        cls.Delivery = cls.env["mfg.integration.delivery"]

    def setUp(self):
        super().setUp()
        self.server.reset()

    def emit(self, order="WH/MO/00042", **kw):
        return self.Types.emit(CODE, {"order": order, "quantity": 2}, **kw)

    def deliver(self):
        """Run the endpoint's delivery job once, as if every retry were due."""
        self.env["mfg.integration.message"].search(
            [("endpoint_id", "=", self.endpoint.id), ("state", "=", "failed")]
        ).sudo().write(
            {"next_attempt_at": fields.Datetime.now() - timedelta(seconds=1)}
        )
        self.endpoint.sudo().circuit_open_until = False
        return self.Delivery._job_deliver(self.endpoint.id)

    # -- emitting ---------------------------------------------------------------

    def test_emit_writes_one_message_per_subscription_in_the_transaction(self):
        second = self.env["mfg.integration.endpoint"].create(
            {
                "name": "QMS",
                "code": "qms-orders",
                "system_id": self.system.id,
                "direction": "outbound",
                "url": self.server.url("/qms"),
            }
        )
        self.env["mfg.integration.subscription"].create(
            {"event_type_id": self.outbound_type.id, "endpoint_id": second.id}
        )
        with trap_jobs() as trap:
            messages = self.emit(subject="WH/MO/00042")
            trap.assert_jobs_count(2)
        self.assertEqual(len(messages), 2)
        self.assertEqual(set(messages.mapped("state")), {"queued"})
        self.assertEqual(len(set(messages.mapped("ce_id"))), 1)
        event = messages[0]._outbound_event()
        self.assertEqual(event["type"], CODE)
        self.assertEqual(event["subject"], "WH/MO/00042")
        self.assertTrue(event["source"].startswith("urn:mfg-integration:odoo:"))
        self.assertEqual(event["dataschema"], f"urn:mfg-integration:event:{CODE}:v1")

    def test_rolled_back_emit_leaves_nothing(self):
        Message = self.env["mfg.integration.message"]
        before = Message.search_count([])
        jobs_before = self.env["queue.job"].search_count([])
        try:
            with self.env.cr.savepoint():
                self.emit()
                raise RuntimeError("business transaction fails")
        except RuntimeError:
            pass
        self.env.invalidate_all()
        self.assertEqual(Message.search_count([]), before)
        self.assertEqual(self.env["queue.job"].search_count([]), jobs_before)
        self.assertFalse(self.server.requests)

    def test_emit_validates_the_data(self):
        with self.assertRaisesRegex(UserError, "/data/quantity"):
            self.Types.emit(CODE, {"order": "WH/MO/1", "quantity": 0})
        with self.assertRaisesRegex(UserError, "not an event type"):
            self.Types.emit("test.unknown", {})

    def test_record_filter(self):
        self.subscription.write(
            {"filter_model": "res.partner", "filter_domain": "[('name', '=', 'ACME')]"}
        )
        acme = self.env["res.partner"].create({"name": "ACME"})
        other = self.env["res.partner"].create({"name": "Other"})
        self.assertEqual(len(self.emit(record=acme)), 1)
        self.assertFalse(self.emit(record=other))
        self.assertFalse(self.emit())

    # -- delivering -------------------------------------------------------------

    def test_delivery_is_signed_per_standard_webhooks(self):
        message = self.emit()
        self.deliver()
        self.assertEqual(message.state, "done")
        (received,) = self.server.requests
        headers = {k.lower(): v for k, v in received.headers.items()}
        self.assertEqual(headers["webhook-id"], message.ce_id)
        payload = Webhook(self.secret).verify(received.body, headers)
        self.assertEqual(payload["data"], {"order": "WH/MO/00042", "quantity": 2})
        self.assertEqual(received.path, "/odoo/events?token=abc")
        self.assertEqual(message.response_code, 200)
        self.assertTrue(self.endpoint.last_success_at)

    def test_rotation_signs_with_both_secrets(self):
        old = self.secret
        action = self.endpoint.action_rotate_signing_secret()
        new = action["context"]["default_secret"]
        self.emit()
        self.deliver()
        received = self.server.requests[0]
        headers = {k.lower(): v for k, v in received.headers.items()}
        self.assertEqual(len(headers["webhook-signature"].split()), 2)
        for secret in (old, new):
            Webhook(secret).verify(received.body, headers)

    def test_failures_retry_on_the_schedule_with_a_stable_webhook_id(self):
        self.endpoint.breaker_threshold = 0
        self.server.script(Answer(500), Answer(502), Answer(200))
        message = self.emit()
        delays = []
        for _attempt in range(3):
            before = fields.Datetime.now()
            self.deliver()
            if message.state == "failed":
                delays.append((message.next_attempt_at - before).total_seconds())
        self.assertEqual(message.state, "done")
        self.assertEqual(message.attempts, 3)
        ids = {r.headers["webhook-id"] for r in self.server.requests}
        stamps = [int(r.headers["webhook-timestamp"]) for r in self.server.requests]
        self.assertEqual(len(ids), 1, "webhook-id is stable across retries")
        self.assertEqual(len(stamps), 3)
        # 5 s then 5 min, each within +/-20 % jitter (stored to the second)
        self.assertGreaterEqual(delays[0], 5 * 0.8 - 1)
        self.assertLessEqual(delays[0], 5 * 1.2 + 1)
        self.assertGreaterEqual(delays[1], 300 * 0.8 - 1)
        self.assertLessEqual(delays[1], 300 * 1.2 + 1)

    def test_exhausted_schedule_makes_a_dead_letter_and_an_activity(self):
        self.endpoint.write({"retry_schedule": "0, 1s", "breaker_threshold": 0})
        self.server.default = Answer(500)
        message = self.emit()
        self.deliver()
        self.deliver()
        self.assertEqual(message.state, "dead")
        self.assertEqual(message.error_class, "http.500")
        self.assertIn(
            "Undelivered messages on MES orders",
            self.system.activity_ids.mapped("summary"),
        )

    def test_gone_disables_the_endpoint(self):
        self.server.script(Answer(410))
        first = self.emit()
        second = self.emit(order="WH/MO/00043")
        self.deliver()
        self.assertFalse(self.endpoint.active)
        self.assertIn("410", self.endpoint.disabled_reason)
        self.assertEqual(len(self.server.requests), 1, "nothing after the 410")
        self.assertEqual(first.state, "failed")
        self.assertEqual(second.state, "queued", "kept for when it comes back")
        self.assertIn(
            "Endpoint MES orders disabled", self.system.activity_ids.mapped("summary")
        )
        self.assertEqual(self.deliver(), "endpoint inactive")
        with trap_jobs() as trap:
            self.endpoint.active = True
            trap.assert_jobs_count(1)

    def test_retry_after_is_honoured(self):
        self.server.script(Answer(429, {"Retry-After": "120"}))
        message = self.emit()
        before = fields.Datetime.now()
        self.deliver()
        self.assertEqual(message.state, "failed")
        self.assertGreaterEqual((message.next_attempt_at - before).total_seconds(), 119)

    def test_timeout_and_closed_port_are_retried(self):
        self.server.script(Answer(200, delay=4))
        message = self.emit()
        self.deliver()
        self.assertEqual(message.state, "failed")
        self.assertEqual(message.error_class, "timeout")
        self.endpoint.url = closed_port_url("/gone")
        self.deliver()
        self.assertEqual(message.error_class, "connection")
        self.assertEqual(message.attempts, 2)

    def test_redirects_are_failures(self):
        self.server.script(Answer(301, {"Location": self.server.url("/elsewhere")}))
        message = self.emit()
        self.deliver()
        self.assertEqual(message.state, "failed")
        self.assertEqual(len(self.server.requests), 1)

    def test_circuit_breaker_opens_probes_and_closes(self):
        self.server.default = Answer(500)
        messages = [self.emit(order=f"WH/MO/{i}") for i in range(5)]
        self.endpoint.delivery_batch_size = 10
        result = self.Delivery._job_deliver(self.endpoint.id)
        self.assertEqual(result, "circuit opened")
        self.assertEqual(self.endpoint.circuit_state, "open")
        self.assertEqual(self.endpoint.failure_streak, 3)
        self.assertEqual(len(self.server.requests), 3, "stops calling once open")
        # while open, a job calls nothing and reschedules itself
        with trap_jobs() as trap:
            self.assertEqual(
                self.Delivery._job_deliver(self.endpoint.id), "circuit open"
            )
            trap.assert_jobs_count(1)
        self.assertEqual(len(self.server.requests), 3)
        self.assertEqual(messages[3].state, "queued", "rescheduled, not failed")
        # after the cool-down one probe goes through: it fails, the circuit re-opens
        self.endpoint.sudo().circuit_open_until = fields.Datetime.now()
        self.Delivery._job_deliver(self.endpoint.id)
        self.assertEqual(self.endpoint.circuit_state, "open")
        self.assertEqual(len(self.server.requests), 4)
        # the receiver recovers: the probe succeeds and the circuit closes
        self.server.default = Answer(200)
        self.deliver()
        self.assertEqual(self.endpoint.circuit_state, "closed")
        self.assertEqual(self.endpoint.failure_streak, 0)

    def test_ordering_key_holds_successors_of_a_dead_message(self):
        self.subscription.ordering_key = "order"
        self.endpoint.write({"retry_schedule": "0", "breaker_threshold": 0})
        self.server.script(Answer(500))
        first = self.emit(order="A")
        second = self.emit(order="A")
        other = self.emit(order="B")
        self.deliver()
        self.assertEqual(first.state, "dead")
        self.assertEqual(second.state, "queued")
        self.assertEqual(second.blocked_by_id, first)
        self.assertEqual(other.state, "done", "other keys are not held")
        self.deliver()
        self.assertEqual(second.state, "queued", "still held by the dead message")
        first.action_discard("Order A was cancelled in the MES")
        self.deliver()
        self.assertEqual(second.state, "done")
        self.assertFalse(second.blocked_by_id)
        bodies = [json.loads(r.body)["data"]["order"] for r in self.server.requests]
        self.assertEqual(bodies, ["A", "B", "A"])

    def test_batched_draining_delivers_each_message_once(self):
        self.endpoint.delivery_batch_size = 4
        messages = [self.emit(order=f"WH/MO/{i}") for i in range(10)]
        with trap_jobs() as trap:
            self.Delivery._job_deliver(self.endpoint.id)
            trap.assert_jobs_count(1)  # a full batch hands over to a new job
        self.Delivery._job_deliver(self.endpoint.id)
        self.Delivery._job_deliver(self.endpoint.id)
        self.assertEqual({m.state for m in messages}, {"done"})
        ids = [json.loads(r.body)["id"] for r in self.server.requests]
        self.assertEqual(len(ids), 10)
        self.assertEqual(len(set(ids)), 10)

    def test_secrets_never_logged(self):
        self.endpoint.write({"auth_kind": "bearer", "credential": "tok-OUT-SECRET"})
        with capture_logs() as lines:
            self.emit()
            self.deliver()
        text = "\n".join(lines)
        self.assertNotIn(self.secret[6:], text)
        self.assertNotIn("tok-OUT-SECRET", text)
        received = self.server.requests[0]
        self.assertEqual(received.headers["Authorization"], "Bearer tok-OUT-SECRET")

    def test_misconfigured_endpoint_makes_dead_letters_that_replay_once_fixed(self):
        endpoint = self.env["mfg.integration.endpoint"].create(
            {
                "name": "Unsigned",
                "code": "unsigned",
                "system_id": self.system.id,
                "direction": "outbound",
                "url": self.server.url("/unsigned"),
            }
        )
        self.subscription.endpoint_id = endpoint
        message = self.emit()
        self.Delivery._job_deliver(endpoint.id)
        self.assertEqual(message.state, "dead")
        self.assertEqual(message.error_class, "configuration-error")
        self.assertFalse(self.server.requests)
        endpoint.signing_secret = generate_webhook_secret()
        message.action_replay()
        self.Delivery._job_deliver(endpoint.id)
        self.assertEqual(message.state, "done")

    def test_parallel_delivery_sends_each_message_once_in_waves(self):
        self.endpoint.write({"delivery_concurrency": 4, "breaker_threshold": 0})
        messages = [self.emit(order=f"WH/MO/{i}") for i in range(10)]
        self.Delivery._job_deliver(self.endpoint.id)
        self.assertEqual({m.state for m in messages}, {"done"})
        ids = [json.loads(r.body)["id"] for r in self.server.requests]
        self.assertEqual(sorted(ids), sorted(m.ce_id for m in messages))

    def test_parallel_delivery_stops_after_the_wave_that_got_gone(self):
        self.endpoint.write({"delivery_concurrency": 3, "breaker_threshold": 0})
        self.server.default = Answer(410)
        messages = [self.emit(order=f"WH/MO/{i}") for i in range(7)]
        self.Delivery._job_deliver(self.endpoint.id)
        self.assertFalse(self.endpoint.active)
        self.assertEqual(len(self.server.requests), 3, "one wave, then stop")
        self.assertEqual([m.state for m in messages[3:]], ["queued"] * 4)

    def test_throttle_spaces_sends_and_plans_the_next_job_for_long_gaps(self):
        # one message every 10 s: longer than a job sleeps (time travel below)
        self.endpoint.write({"delivery_rate_limit": 0.1, "delivery_concurrency": 4})
        messages = [self.emit(order=f"WH/MO/{i}") for i in range(3)]
        before = time.time()
        with trap_jobs() as trap:
            self.Delivery._job_deliver(self.endpoint.id)
            trap.assert_jobs_count(1)
            [job] = trap.enqueued_jobs
        self.assertEqual([m.state for m in messages], ["done", "queued", "queued"])
        self.assertEqual(len(self.server.requests), 1)
        due = self.endpoint.throttle_next_at
        self.assertGreaterEqual(due, before + 10)
        # the planned job starts when the next turn comes
        self.assertEqual(job.eta, datetime.fromtimestamp(due, UTC).replace(tzinfo=None))
        # the turn has come: the next message goes, and the one after waits again
        self.endpoint.throttle_next_at = time.time()
        with trap_jobs() as trap:
            self.Delivery._job_deliver(self.endpoint.id)
            trap.assert_jobs_count(1)
        self.assertEqual([m.state for m in messages], ["done", "done", "queued"])
        bodies = [json.loads(r.body)["data"]["order"] for r in self.server.requests]
        self.assertEqual(bodies, ["WH/MO/0", "WH/MO/1"])

    def test_throttle_sleeps_through_short_gaps_one_request_at_a_time(self):
        self.endpoint.write({"delivery_rate_limit": 50, "delivery_concurrency": 4})
        messages = [self.emit(order=f"WH/MO/{i}") for i in range(4)]
        with trap_jobs() as trap:
            self.Delivery._job_deliver(self.endpoint.id)
            trap.assert_jobs_count(0)
        self.assertEqual({m.state for m in messages}, {"done"})
        bodies = [json.loads(r.body)["data"]["order"] for r in self.server.requests]
        self.assertEqual(bodies, [f"WH/MO/{i}" for i in range(4)])
        self.assertGreater(self.endpoint.throttle_next_at, 0)
        with (
            self.assertRaises(psycopg2.errors.CheckViolation),
            mute_logger("odoo.sql_db"),
            self.env.cr.savepoint(),
        ):
            self.endpoint.write({"delivery_rate_limit": -1})
            self.endpoint.flush_recordset()

    # -- batch delivery ---------------------------------------------------------

    def flush_time_comes(self, messages):
        """Time travel: the batch's scheduled time has come."""
        for message in messages.filtered("next_attempt_at"):
            message.next_attempt_at -= timedelta(days=1)

    def test_batch_gathers_events_until_its_time_and_sends_one_batch(self):
        self.subscription.write({"delivery_mode": "batch", "batch_interval": 15})
        now = fields.Datetime.now()
        with trap_jobs() as trap:
            messages = self.emit(order="A") | self.emit(order="B") | self.emit("C")
            flush = next_flush(now, 15)
            # the job that sends them is planned for the scheduled time
            self.assertTrue(trap.enqueued_jobs)
            self.assertEqual({job.eta for job in trap.enqueued_jobs}, {flush})
        self.assertEqual(set(messages.mapped("next_attempt_at")), {flush})
        self.Delivery._job_deliver(self.endpoint.id)
        self.assertFalse(self.server.requests, "nothing before the scheduled time")
        self.assertEqual(set(messages.mapped("state")), {"queued"})
        self.flush_time_comes(messages)
        self.Delivery._job_deliver(self.endpoint.id)
        [request] = self.server.requests
        self.assertEqual(
            request.headers["Content-Type"], "application/cloudevents-batch+json"
        )
        events = request.json()
        self.assertEqual([e["data"]["order"] for e in events], ["A", "B", "C"])
        self.assertEqual([e["id"] for e in events], messages.mapped("ce_id"))
        self.assertEqual(
            request.headers["webhook-id"], batch_id(messages.mapped("ce_id"))
        )
        Webhook(self.secret).verify(request.body, dict(request.headers))
        self.assertEqual(set(messages.mapped("state")), {"done"})

    def test_batch_goes_at_once_when_enough_messages_wait(self):
        self.subscription.write(
            {"delivery_mode": "batch", "batch_interval": 60, "batch_max_messages": 3}
        )
        first = self.emit(order="A") | self.emit(order="B")
        self.assertTrue(all(first.mapped("next_attempt_at")))
        third = self.emit(order="C")
        self.assertFalse(third.next_attempt_at, "the third one is due now")
        self.Delivery._job_deliver(self.endpoint.id)
        [request] = self.server.requests
        self.assertEqual([e["data"]["order"] for e in request.json()], ["A", "B", "C"])
        self.assertEqual(set((first | third).mapped("state")), {"done"})

    def test_a_failed_batch_is_retried_together_and_dead_letters_per_message(self):
        self.subscription.write({"delivery_mode": "batch", "batch_times": "06:00"})
        self.endpoint.write({"retry_schedule": "0, 1m", "breaker_threshold": 0})
        self.server.default = Answer(503)
        old = self.emit(order="A") | self.emit(order="B")
        self.flush_time_comes(old)
        self.Delivery._job_deliver(self.endpoint.id)
        self.assertEqual(old.mapped("state"), ["failed", "failed"])
        self.assertEqual(len(set(old.mapped("next_attempt_at"))), 1, "retried together")
        self.assertEqual(self.endpoint.failure_streak, 1, "one request, one failure")
        # a newer event waits for its batch; the retry takes it along, in order
        new = self.emit(order="C")
        self.deliver()
        self.assertEqual(len(self.server.requests), 2)
        retry = self.server.requests[1].json()
        self.assertEqual([e["data"]["order"] for e in retry], ["A", "B", "C"])
        # the older messages spent their retries: each is a dead letter of its own
        self.assertEqual(old.mapped("state"), ["dead", "dead"])
        self.assertEqual(set(old.mapped("error_class")), {"http.503"})
        self.assertEqual((new.state, new.attempts), ("failed", 1))
        # a replayed dead letter goes with the next batch
        self.server.default = Answer(200)
        old[0].action_replay()
        self.deliver()
        last = self.server.requests[-1].json()
        self.assertEqual([e["data"]["order"] for e in last], ["A", "C"])
        self.assertEqual((old[0].state, new.state), ("done", "done"))

    def test_batch_settings_are_checked(self):
        with self.assertRaisesRegex(ValidationError, "needs a schedule"):
            self.subscription.write({"delivery_mode": "batch"})
        with self.assertRaisesRegex(ValidationError, "not a time of day"):
            self.subscription.write(
                {"delivery_mode": "batch", "batch_times": "end of shift"}
            )
        broker = self.env["mfg.integration.endpoint"].create(
            {
                "name": "Rabbit",
                "code": "rabbit",
                "system_id": self.system.id,
                "direction": "outbound",
                "transport": "amqp",
                "url": "amqp://127.0.0.1:5672/%2F",
                "signing_secret": generate_webhook_secret(),
            }
        )
        with self.assertRaisesRegex(ValidationError, "publishes to a broker"):
            self.subscription.write(
                {
                    "endpoint_id": broker.id,
                    "delivery_mode": "batch",
                    "batch_interval": 5,
                }
            )

    def test_a_receiver_echoing_a_redacted_value_leaves_no_trace(self):
        self.outbound_type.redact_pointers = "/order"
        self.server.script(
            Answer(500, body=b'{"error": "order WH/MO/SECRET-7 is unknown"}'),
            Answer(200, body=b'{"received": "WH/MO/SECRET-7"}'),
        )
        message = self.emit("WH/MO/SECRET-7")
        self.deliver()
        self.assertEqual(message.state, "failed")
        self.assertIn("is unknown", message.response_excerpt)
        self.assertNotIn("SECRET-7", message.response_excerpt)
        self.assertNotIn("SECRET-7", message.error_message or "")
        self.deliver()
        self.assertEqual(message.state, "done")
        self.assertEqual(message.response_excerpt, '{"received": "***"}')

    # -- stranded backlogs --------------------------------------------------------

    def test_sweep_gives_a_stranded_backlog_a_job_and_leaves_live_ones(self):
        with trap_jobs():
            self.emit()  # its job never reaches the queue: the backlog is stranded
        self.assertIn(self.endpoint.id, self.swept("_job_deliver"))
        self.emit("WH/MO/00043")  # a real job now waits in the queue
        self.assertNotIn(self.endpoint.id, self.swept("_job_deliver"))
        self.env["queue.job"].search(
            [("channel", "like", "root.mfg_integration.outbound.%")]
        ).write({"state": "failed"})  # as after a database restart
        self.assertIn(self.endpoint.id, self.swept("_job_deliver"))
        self.endpoint.active = False  # a disabled endpoint stays paused
        self.assertNotIn(self.endpoint.id, self.swept("_job_deliver"))

    def test_one_delivery_job_per_endpoint_at_a_time(self):
        self.emit()
        holder = self.registry.cursor()  # another connection holds the lock
        self.addCleanup(holder.close)
        holder.execute(  # as a job in another transaction would
            "SELECT pg_advisory_lock(%s, %s)",
            (DELIVERY_LOCK_NAMESPACE, self.endpoint.id),
        )
        with self.assertRaisesRegex(RetryableJobError, "Another job") as info:
            self.Delivery._job_deliver(self.endpoint.id)
        self.assertTrue(info.exception.ignore_retry)
        self.assertEqual(self.server.requests, [])
        holder.execute(
            "SELECT pg_advisory_unlock(%s, %s)",
            (DELIVERY_LOCK_NAMESPACE, self.endpoint.id),
        )
        self.assertEqual(self.deliver(), "1 message(s) handled")
        self.assertEqual(len(self.server.requests), 1)

    # -- server-side request forgery guard ---------------------------------------

    def _allow_networks(self, text):
        self.env["ir.config_parameter"].set_param(ALLOWED_NETWORKS_PARAM, text)

    def _endpoint_to(self, code, url):
        return self.env["mfg.integration.endpoint"].create(
            {
                "system_id": self.system.id,
                "direction": "outbound",
                "code": code,
                "url": url,
                "signing_secret": self.secret,
            }
        )

    def test_restricted_urls_are_refused_when_configured(self):
        self._allow_networks("")
        for url in (
            "http://169.254.169.254/latest/meta-data/",
            "http://localhost:8080/hook",
            "http://[::1]/hook",
            self.server.url("/hook"),
        ):
            with self.subTest(url=url), self.assertRaises(ValidationError) as info:
                self._endpoint_to("restricted", url)
            self.assertRegex(
                str(info.exception), "may not reach.*outbound_allowed_networks"
            )
        # the plant's systems live on private networks: accepted
        private = self._endpoint_to("mes-lan", "https://10.20.30.40/hook")
        self.assertEqual(private.url, "https://10.20.30.40/hook")
        self._allow_networks("127.0.0.0/8")
        self._endpoint_to("local", "http://localhost:8080/hook")
        self._allow_networks("not a network")
        with self.assertRaises(UserError) as info:
            private.url = "https://10.20.30.41/hook"
        self.assertIn("outbound_allowed_networks is invalid", str(info.exception))

    def test_delivery_refuses_a_restricted_address_at_send_time(self):
        # configured while allowed, then closed again: the name localhost is
        # resolved when connecting, and its address refused before anything is sent
        self.endpoint.url = f"http://localhost:{self.server.port}/odoo/events"
        self._allow_networks("")
        message = self.emit()
        self.deliver()
        self.assertEqual(message.state, "failed")
        self.assertEqual(message.error_class, "address")
        self.assertIn("loopback", message.error_message)
        self.assertEqual(self.server.requests, [])
        self._allow_networks("127.0.0.0/8")
        self.deliver()
        self.assertEqual(message.state, "done")
        self.assertEqual(len(self.server.requests), 1)

    def test_a_long_emit_gets_a_job_once_committed(self):
        """The emitting transaction finds a delivery job waiting; that job runs and
        finds nothing before the emit commits (an emit of many events lasts):
        once committed, the emit asks again and gets a job of its own."""
        Delivery = self.env["mfg.integration.delivery"]
        Job = self.env["queue.job"]
        key = f"mfg_integration_deliver_{self.endpoint.id}_0"
        Delivery._enqueue(self.endpoint)
        waiting = Job.search([("identity_key", "=", key)])
        self.assertEqual(len(waiting), 1)
        Delivery._enqueue(self.endpoint)  # found waiting: no second job now
        self.assertEqual(Job.search_count([("identity_key", "=", key)]), 1)
        waiting.write({"state": "done"})  # it ran before this transaction ended
        test_cursor = self.env.cr

        @contextmanager
        def same_cursor(_registry):
            yield test_cursor

        with patch.object(type(self.registry), "cursor", same_cursor):
            self.env.cr.postcommit.run()
        again = Job.search([("identity_key", "=", key), ("state", "=", "pending")])
        self.assertEqual(len(again), 1)
        self.assertEqual(again.method_name, "_job_deliver")
