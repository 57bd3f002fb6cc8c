import json
from datetime import timedelta
from unittest.mock import patch

from psycopg2 import errors as pg_errors

from odoo import fields
from odoo.exceptions import AccessError, UserError, ValidationError
from odoo.tests import tagged
from odoo.tools import mute_logger

from odoo.addons.mfg_integration_core.models.mfg_integration_message import (
    DRAIN_BATCH,
)
from odoo.addons.mfg_integration_core.tools import DRAIN_LOCK_NAMESPACE
from odoo.addons.queue_job.exception import RetryableJobError
from odoo.addons.queue_job.tests.common import trap_jobs

from mfg_integration import errors

from .common import MfgIntegrationCase, capture_logs, event_handler, run_jobs

CODE = "test.order_started"


@tagged("post_install", "-at_install")
class TestProcessing(MfgIntegrationCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.key, _token = cls.env["mfg.integration.api.key"].generate(cls.system, "k")
        cls.Message = cls.env["mfg.integration.message"]
        cls.Ingress = cls.env["mfg.integration.ingress"]

    def ingest(self, event_id, data=None):
        event = {
            "specversion": "1.0",
            "id": event_id,
            "source": "urn:test",
            "type": CODE,
            "data": data or {"order": "WH/MO/00042", "quantity": 3},
        }
        body = json.dumps(event).encode()
        status, answer, _h = self.Ingress.receive_events(
            self.key.sudo(), "application/json", lambda _limit: body, "corr-t", None
        )
        self.assertIn(status, (200, 202))
        return self.Message.browse(answer["id"])

    def drain(self):
        self.Message._job_drain(self.system.id)

    def test_ingest_enqueues_one_drain_job_on_the_system_channel(self):
        with trap_jobs() as trap:
            self.ingest("e1")
            self.ingest("e2")
            trap.assert_jobs_count(1)  # one pending drain per system (identity key)
            job = trap.enqueued_jobs[0]
            self.assertEqual(job.channel, "root.mfg_integration.inbound.test_mes")
            self.assertEqual(job.method_name, "_job_drain")
            self.assertEqual(job.args, (self.system.id,))
            self.assertEqual(
                job.identity_key, f"mfg_integration_drain_{self.system.id}_0"
            )

    def test_a_backlog_larger_than_a_batch_is_handed_over_batch_by_batch(self):
        # one batch per job and transaction: a burst never becomes one transaction
        # that a worker's time limit would kill and roll back again and again
        with trap_jobs():
            messages = self.Message.browse(
                [self.ingest(f"b-{i}").id for i in range(DRAIN_BATCH + 3)]
            )
        seen = []
        with (
            event_handler(self.env, CODE, lambda h, m, d: seen.append(m.id)),
            trap_jobs() as trap,
        ):
            self.assertEqual(
                self.Message.with_context(
                    mfg_integration_drain_seconds=3600
                )._job_drain(self.system.id),
                f"{DRAIN_BATCH} message(s) processed",
            )
            trap.assert_jobs_count(1, only=self.Message._job_drain)
            self.assertEqual(trap.enqueued_jobs[0].args, (self.system.id,))
            self.assertEqual(len(seen), DRAIN_BATCH)
            trap.perform_enqueued_jobs()
        self.assertEqual(sorted(seen), messages.ids)
        self.assertEqual(set(messages.mapped("state")), {"done"})

    def test_a_job_hands_over_once_its_time_is_up(self):
        # the records a job's messages change stay locked for DRAIN_SECONDS at
        # most (and one message): with no time at all, one message per job
        with trap_jobs():
            messages = self.Message.browse([self.ingest(f"t-{i}").id for i in range(4)])
        seen = []
        with (
            event_handler(self.env, CODE, lambda h, m, d: seen.append(m.id)),
            trap_jobs() as trap,
        ):
            self.assertEqual(
                self.Message.with_context(mfg_integration_drain_seconds=0)._job_drain(
                    self.system.id
                ),
                "1 message(s) processed",
            )
            trap.assert_jobs_count(1, only=self.Message._job_drain)
            run_jobs(trap)
        self.assertEqual(seen, messages.ids)  # one by one, in the order received
        self.assertEqual(set(messages.mapped("state")), {"done"})

    def test_a_handover_brings_a_postponed_job_forward(self):
        # a job postponed because its system was busy (with the job now handing
        # over) must not hold back the work: the handover finds it under the
        # same key and brings it forward instead of leaving it to wait
        self.ingest("p-1")
        job = self.env["queue.job"].search(
            [("identity_key", "=", f"mfg_integration_drain_{self.system.id}_0")]
        )
        self.assertEqual(len(job), 1)
        later = fields.Datetime.now() + timedelta(seconds=30)
        job.write({"state": "pending", "eta": later})
        self.ingest("p-2")  # the ingress spares the query: it waits
        self.assertEqual(job.eta, later)
        self.Message._enqueue_drain(self.system, handover=True)
        self.assertFalse(job.eta)
        self.assertEqual(
            self.env["queue.job"].search_count(
                [("identity_key", "like", f"mfg_integration_drain_{self.system.id}_%")]
            ),
            1,
        )
        # a job asked for later never postpones one that is due sooner
        job.eta = later
        self.Message._enqueue_drain(
            self.system, eta=later + timedelta(minutes=5), handover=True
        )
        self.assertEqual(job.eta, later)

    def test_one_processing_job_per_system_at_a_time(self):
        with trap_jobs():
            message = self.ingest("locked-1")
        holder = self.registry.cursor()  # a job in another transaction holds it
        self.addCleanup(holder.close)
        self.addCleanup(holder.rollback)  # releases the lock whatever happens
        holder.execute(
            "SELECT pg_advisory_xact_lock(%s, %s)",
            (DRAIN_LOCK_NAMESPACE, self.system.id),
        )
        with self.assertRaisesRegex(RetryableJobError, "Another job") as info:
            self.drain()
        self.assertTrue(info.exception.ignore_retry)  # postponed, not a retry
        self.assertEqual(message.state, "queued")
        holder.rollback()  # that job ended
        with event_handler(self.env, CODE, lambda h, m, d: None):
            self.drain()
        self.assertEqual(message.state, "done")

    def test_handler_success(self):
        seen = []

        def handle(handler, message, data):
            seen.append((message.id, data["order"]))
            return self.system  # any record: linked as the message's result

        message = self.ingest("ok-1")
        with event_handler(self.env, CODE, handle):
            self.drain()
        self.assertEqual(seen, [(message.id, "WH/MO/00042")])
        self.assertEqual(message.state, "done")
        self.assertEqual(message.attempts, 1)
        self.assertTrue(message.processed_at)
        self.assertEqual(
            (message.result_model, message.result_id),
            ("mfg.integration.system", self.system.id),
        )

    def test_no_handler_is_a_dead_letter_at_once(self):
        message = self.ingest("nh-1")
        self.drain()
        self.assertEqual(message.state, "dead")
        self.assertEqual(message.error_class, "no-handler")
        self.assertIn(CODE, message.error_message)
        self.assertEqual(message.attempts, 1)

    def test_permanent_failure_is_dead_at_once_with_traceback(self):
        def handle(handler, message, data):
            raise errors.BusinessRuleError("Order WH/MO/00042 is already done.")

        message = self.ingest("perm-1")
        with event_handler(self.env, CODE, handle):
            self.drain()
        self.assertEqual(message.state, "dead")
        self.assertEqual(message.error_class, "business-rule")
        self.assertIn("already done", message.error_message)
        self.assertIn("BusinessRuleError", message.sudo().error_traceback)
        self.assertFalse(message.next_attempt_at)

    def test_transient_failure_retries_with_growing_delays(self):
        self.system.write(
            {
                "retry_base_seconds": 10,
                "retry_max_seconds": 3600,
                "retry_max_attempts": 4,
            }
        )
        calls = []

        def handle(handler, message, data):
            calls.append(1)
            raise errors.TransientError("MES database is restarting")

        message = self.ingest("tr-1")
        delays = []
        with event_handler(self.env, CODE, handle), trap_jobs() as trap:
            for _attempt in range(4):
                before = fields.Datetime.now()
                message.sudo().next_attempt_at = False  # due now
                self.drain()
                if message.state == "failed":
                    delays.append((message.next_attempt_at - before).total_seconds())
            # each failure schedules a drain at the next attempt time
            etas = [job.eta for job in trap.enqueued_jobs]
        self.assertEqual(len(calls), 4)
        self.assertEqual(message.state, "dead", "dead once attempts are exhausted")
        self.assertEqual(message.attempts, 4)
        self.assertEqual(len(delays), 3)
        # 10 s, 20 s, 40 s, each within +/-20 % jitter (and whole-second storage)
        for delay, nominal in zip(delays, (10, 20, 40), strict=True):
            self.assertGreaterEqual(delay, nominal * 0.8 - 1)
            self.assertLessEqual(delay, nominal * 1.2 + 1)
        self.assertLess(delays[0], delays[2])
        self.assertEqual(len(etas), 3)
        self.assertIn("Attempt 1 failed", " ".join(message.message_ids.mapped("body")))

    def test_transient_os_errors_and_due_time(self):
        def handle(handler, message, data):
            raise ConnectionRefusedError("connection refused")

        message = self.ingest("os-1")
        with event_handler(self.env, CODE, handle):
            self.drain()
            self.assertEqual(message.state, "failed")
            attempts = message.attempts
            self.drain()  # not due yet: left alone
            self.assertEqual(message.attempts, attempts)

    def test_database_errors_are_recorded_not_hidden(self):
        def handle(handler, message, data):
            handler.env.cr.execute("SELECT 1/0")

        message = self.ingest("db-1")
        with (
            event_handler(self.env, CODE, handle),
            mute_logger("odoo.sql_db", "odoo.addons.mfg_integration_core.models"),
        ):
            self.drain()
        self.assertEqual(message.state, "dead")
        self.assertEqual(message.error_class, "database.DivisionByZero")

    def test_a_concurrent_update_hands_the_message_over_to_a_new_job(self):
        # two lines booking the same component: the second message's update meets
        # a concurrent one; the first stays processed, the second and the rest are
        # taken again at once by a new job, with a fresh snapshot
        calls = []

        def handle(handler, message, data):
            calls.append(message.id)
            if len(calls) == 2:
                raise pg_errors.SerializationFailure("could not serialize access")

        with trap_jobs():
            first, second, third = (self.ingest(f"cc-{i}") for i in range(3))
        with event_handler(self.env, CODE, handle), trap_jobs() as trap:
            self.assertEqual(
                self.Message._job_drain(self.system.id), "1 message(s) processed"
            )
            self.assertEqual(first.state, "done")
            self.assertEqual((second.state, second.attempts), ("queued", 0))
            self.assertEqual(third.state, "queued")
            trap.assert_jobs_count(1, only=self.Message._job_drain)
            self.assertFalse(trap.enqueued_jobs[0].eta)
            run_jobs(trap)
        self.assertEqual(calls, [first.id, second.id, second.id, third.id])
        self.assertEqual({first.state, second.state, third.state}, {"done"})
        self.assertEqual(second.attempts, 1)

    def test_replay_after_fix(self):
        message = self.ingest("rp-1")
        self.drain()
        self.assertEqual(message.state, "dead")
        with trap_jobs() as trap:
            message.with_user(self.user).action_replay()
            trap.assert_jobs_count(1)
        self.assertEqual(message.state, "queued")
        with event_handler(self.env, CODE, lambda h, m, d: None):
            self.drain()
        self.assertEqual(message.state, "done")
        self.assertEqual(message.attempts, 2)
        self.assertIn("Replay requested", " ".join(message.message_ids.mapped("body")))
        with self.assertRaises(UserError):
            message.action_replay()

    def test_edit_and_replay_keeps_the_original(self):
        message = self.ingest("ed-1", {"order": "WH/MO/1", "quantity": 3})
        self.drain()
        wizard = (
            self.env["mfg.integration.message.edit"]
            .with_user(self.user)
            .with_context(active_model=message._name, active_id=message.id)
            .create({})
        )
        self.assertIn('"quantity": 3', wizard.payload)
        wizard.payload = json.dumps({"order": "WH/MO/1", "quantity": 5})
        received = []
        with event_handler(self.env, CODE, lambda h, m, d: received.append(d)):
            wizard.action_apply()
            self.drain()
        self.assertEqual(received, [{"order": "WH/MO/1", "quantity": 5}])
        self.assertEqual(message.state, "done")
        self.assertTrue(message.payload_edited)
        self.assertEqual(
            json.loads(message.sudo().original_payload),
            {"order": "WH/MO/1", "quantity": 3},
        )
        self.assertIn("Payload edited", " ".join(message.message_ids.mapped("body")))

    def test_edit_refuses_invalid_payloads(self):
        message = self.ingest("ed-2")
        self.drain()
        with self.assertRaisesRegex(UserError, "not valid JSON"):
            message._edit_payload("{broken")
        with self.assertRaisesRegex(UserError, "/data/quantity"):
            message._edit_payload(json.dumps({"order": "x", "quantity": -1}))
        self.assertFalse(message.payload_edited)

    def test_discard_needs_a_reason(self):
        message = self.ingest("ds-1")
        self.drain()
        wizard = (
            self.env["mfg.integration.message.discard"]
            .with_user(self.user)
            .with_context(active_model=message._name, active_ids=message.ids)
            .create({"reason": "Order was cancelled in the MES"})
        )
        wizard.action_discard()
        self.assertEqual(message.state, "discarded")
        self.assertEqual(message.discard_reason, "Order was cancelled in the MES")
        with self.assertRaisesRegex(UserError, "reason"):
            self.ingest("ds-2").action_discard("  ")

    def test_replay_all_matching(self):
        messages = self.ingest("m-1") | self.ingest("m-2") | self.ingest("m-3")
        self.drain()
        other = self.env["mfg.integration.system"].create(
            {"name": "O", "code": "o_sys"}
        )
        self.assertEqual(set(messages.mapped("state")), {"dead"})
        wizard = self.env["mfg.integration.message.replay"].create(
            {"system_id": self.system.id, "error_class": "no-handler"}
        )
        self.assertEqual(wizard.match_count, 3)
        wizard.system_id = other
        self.assertEqual(wizard.match_count, 0)
        wizard.system_id = self.system
        wizard.action_replay()
        self.assertEqual(set(messages.mapped("state")), {"queued"})

    def test_dead_letter_threshold_gives_one_activity(self):
        self.system.dead_letter_threshold = 2
        self.ingest("t-1")
        self.drain()
        self.assertFalse(self.system.activity_ids)
        self.ingest("t-2")
        self.ingest("t-3")
        self.drain()
        self.assertEqual(self.system.dead_letter_count, 3)
        self.assertEqual(len(self.system.activity_ids), 1)
        self.assertEqual(self.system.activity_ids.user_id, self.system.responsible_id)

    def test_retention_cron(self):
        params = self.env["ir.config_parameter"].sudo()
        params.set_param("mfg_integration.retention_done_days", 30)
        params.set_param("mfg_integration.retention_dead_days", 90)
        old_done, new_done, old_dead, mid_dead = (
            self.ingest(f"ret-{i}") for i in range(4)
        )
        (old_done | new_done).sudo().write({"state": "done"})
        (old_dead | mid_dead).sudo().write({"state": "dead"})
        now = fields.Datetime.now()
        for message, days in (
            (old_done, 31),
            (new_done, 5),
            (old_dead, 91),
            (mid_dead, 60),
        ):
            self.env.cr.execute(
                "UPDATE mfg_integration_message SET create_date = %s WHERE id = %s",
                (now - timedelta(days=days), message.id),
            )
        self.Message.invalidate_model()
        # outside a cron run, _commit_progress commits: not inside a test
        cron_class = type(self.env["ir.cron"])
        with patch.object(cron_class, "_commit_progress", return_value=float("inf")):
            self.Message._cron_purge()
        self.assertFalse(old_done.exists())
        self.assertFalse(old_dead.exists())
        self.assertTrue(new_done.exists())
        self.assertTrue(mid_dead.exists())

    def test_redaction_in_views_and_logs(self):
        self.event_type.redact_pointers = "/order\n# comment line\n"
        message = self.ingest("rd-1", {"order": "SECRET-ORDER-77", "quantity": 3})
        self.assertNotIn("SECRET-ORDER-77", message.payload_display)
        self.assertIn('"order": "***"', message.payload_display)

        def handle(handler, message, data):
            raise errors.BusinessRuleError("refused")

        with capture_logs() as capture, event_handler(self.env, CODE, handle):
            self.drain()
        self.assertNotIn("SECRET-ORDER-77", "\n".join(capture))
        self.assertNotIn(
            "SECRET-ORDER-77", " ".join(message.message_ids.mapped("body"))
        )
        # editing the masked payload leaves the masked value as it was
        message._edit_payload(json.dumps({"order": "***", "quantity": 4}))
        self.assertEqual(
            json.loads(message.sudo().payload),
            {"order": "SECRET-ORDER-77", "quantity": 4},
        )

    def test_redacted_values_never_reach_error_texts_notes_or_logs(self):
        self.event_type.redact_pointers = "/order"
        message = self.ingest("rd-2", {"order": "SECRET-ORDER-99", "quantity": 3})
        noted = self.ingest("rd-3", {"order": "SECRET-ORDER-98", "quantity": 4})

        def handle(handler, message, data):
            if data["quantity"] == 4:
                system = message.system_id.sudo()  # a document with a chatter
                message._post_note(system, f"looked for {data['order']}")
                return
            raise errors.BusinessRuleError(f"order {data['order']!r} is closed")

        with capture_logs() as logs, event_handler(self.env, CODE, handle):
            self.drain()
        self.assertEqual(
            (message.state, noted.state), ("dead", "done"), noted.error_message
        )
        self.assertIn("is closed", message.error_message)
        texts = [
            message.error_message,
            message.error_traceback,
            *message.message_ids.mapped("body"),
            *self.system.message_ids.mapped("body"),
            *logs,
        ]
        self.assertTrue(any("looked for ***" in text for text in texts))
        for text in texts:
            self.assertNotIn("SECRET-ORDER-9", text)

    def test_redaction_pointers_are_checked(self):
        with self.assertRaisesRegex(ValidationError, "(?i)line 1"):
            self.event_type.redact_pointers = "order"

    def test_functional_user_cannot_read_raw_payload(self):
        message = self.ingest("acl-1")
        with self.assertRaises(AccessError), mute_logger("odoo.access"):
            message.with_user(self.user).read(["payload"])
        self.assertTrue(message.with_user(self.user).payload_display)

    def test_sweep_gives_a_stranded_inbound_backlog_a_job(self):
        with trap_jobs():
            self.ingest("stranded-1")  # its drain job never reaches the queue
        self.assertIn(self.system.id, self.swept("_job_drain"))
        self.ingest("stranded-2")  # a real drain job now waits
        self.assertNotIn(self.system.id, self.swept("_job_drain"))
        self.env["queue.job"].search(
            [("channel", "=", f"root.mfg_integration.inbound.{self.system.code}")]
        ).write({"state": "failed"})  # as after a database restart
        self.assertIn(self.system.id, self.swept("_job_drain"))
        self.drain()
        self.assertNotIn(
            self.system.id, self.swept("_job_drain")
        )  # nothing is due any more
