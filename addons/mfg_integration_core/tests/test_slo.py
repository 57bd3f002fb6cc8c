import json
from datetime import timedelta

from freezegun import freeze_time

from odoo import fields
from odoo.exceptions import ValidationError
from odoo.tests import tagged

from odoo.addons.queue_job.tests.common import trap_jobs

from mfg_integration.schemas import validate
from mfg_integration.simulators import Answer, StubServer
from mfg_integration.webhooks import generate_webhook_secret

from .common import MfgIntegrationCase, event_handler
from .test_ingress_http import cloudevent

META_EVENTS = (
    "integration.endpoint_disabled",
    "integration.circuit_opened",
    "integration.dead_letter_threshold",
    "integration.slo_breached",
    "integration.slo_recovered",
    "integration.system_silent",
)


@tagged("post_install", "-at_install")
class TestServiceLevels(MfgIntegrationCase):
    """Objectives, the silent-system alarm and the meta-events they emit, delivered
    to a real receiver on 127.0.0.1."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.Message = cls.env["mfg.integration.message"]
        cls.Slo = cls.env["mfg.integration.slo"]
        cls.key, _token = cls.env["mfg.integration.api.key"].generate(cls.system, "k")
        cls.server = StubServer()
        cls.server.start()
        cls.addClassCleanup(cls.server.stop)
        cls.alerting = cls.env["mfg.integration.system"].create(
            {"name": "Plant alerting", "code": "alerting", "kind": "other"}
        )
        cls.alerts = cls.env["mfg.integration.endpoint"].create(
            {
                "name": "Alertmanager bridge",
                "code": "alerts",
                "system_id": cls.alerting.id,
                "direction": "outbound",
                "url": cls.server.url("/alerts"),
                "signing_secret": generate_webhook_secret(),
                "timeout": 2,
                "delivery_concurrency": 1,
            }
        )
        Types = cls.env["mfg.integration.event.type"]
        for code in META_EVENTS:
            cls.env["mfg.integration.subscription"].create(
                {
                    "event_type_id": Types.get_by_code(code).id,
                    "endpoint_id": cls.alerts.id,
                }
            )

    def setUp(self):
        super().setUp()
        self.server.reset()

    def receive(self, *events):
        return self.receive_batch(self.key, *events)

    def meta(self, code):
        """The data of the meta-events ``code`` written for the alerting endpoint,
        each checked against the catalogue schema."""
        messages = self.Message.search(
            [("endpoint_id", "=", self.alerts.id), ("event_code", "=", code)],
            order="id",
        )
        schema = self.env["mfg.integration.event.type"].get_by_code(code)
        found = []
        for message in messages:
            data = json.loads(message.sudo().payload)
            self.assertEqual(
                validate(schema.current_schema_id.schema_json, data), [], data
            )
            found.append(data)
        return found

    def activities(self, summary_start, system=None):
        return (system or self.system).activity_ids.filtered(
            lambda a: a.summary.startswith(summary_start)
        )

    def check_at(self, moment):
        with freeze_time(moment), trap_jobs():
            self.Slo._cron_check()

    def test_backlog_age_breach_and_recovery_with_time_travel(self):
        slo = self.Slo.create(
            {
                "name": "MES backlog",
                "system_id": self.system.id,
                "indicator": "backlog_age",
                "target": 600,
            }
        )
        messages = self.receive(cloudevent("s-1"))
        now = fields.Datetime.now()
        self.check_at(now)
        self.assertEqual(slo.state, "met")
        self.assertFalse(self.meta("integration.slo_breached"))
        # two hours later nothing processed the message: breached, once
        self.check_at(now + timedelta(hours=2))
        self.assertEqual(slo.state, "breached")
        self.assertGreaterEqual(slo.last_value, 7200)
        self.assertEqual(len(self.activities("Service level breached")), 1)
        (breach,) = self.meta("integration.slo_breached")
        self.assertEqual(breach["system"], {"code": "test_mes", "name": "Test MES"})
        self.assertEqual(breach["slo"]["indicator"], "backlog_age")
        self.assertEqual(breach["slo"]["direction"], "inbound")
        self.check_at(now + timedelta(hours=3))
        self.assertEqual(len(self.meta("integration.slo_breached")), 1)
        self.assertEqual(len(self.activities("Service level breached")), 1)
        # processed: met again, the activity is done, recovery emitted
        with event_handler(self.env, "test.order_started", lambda h, m, d: None):
            with trap_jobs():
                self.Message._job_drain(self.system.id)
        self.assertEqual(messages.state, "done")
        self.check_at(now + timedelta(hours=3, minutes=5))
        self.assertEqual(slo.state, "met")
        self.assertFalse(self.activities("Service level breached"))
        (recovery,) = self.meta("integration.slo_recovered")
        self.assertEqual(recovery["breached_at"], breach["breached_at"])

    def test_success_rate_and_latency_objectives(self):
        def handle(_handler, _message, data):
            if data["order"] == "bad":
                raise ValueError("unknown order")

        rate = self.Slo.create(
            {
                "name": "MES success",
                "system_id": self.system.id,
                "indicator": "success_rate",
                "target": 90,
            }
        )
        latency = self.Slo.create(
            {
                "name": "MES latency",
                "system_id": self.system.id,
                "indicator": "processing_latency_p95",
                "target": 60,
                "window_minutes": 600,
            }
        )
        self.receive(
            cloudevent("r-1"),
            cloudevent("r-2"),
            cloudevent("r-3", data={"order": "bad", "quantity": 1}),
        )
        now = fields.Datetime.now()
        with event_handler(self.env, "test.order_started", handle), trap_jobs():
            self.Message._job_drain(self.system.id)
        self.check_at(now)
        self.assertAlmostEqual(rate.last_value, 200 / 3, places=3)
        self.assertEqual(rate.state, "breached")
        self.assertEqual(latency.state, "met")
        # a message received and never processed ages into the latency
        self.receive(cloudevent("r-4"), cloudevent("r-5"))
        self.check_at(now + timedelta(minutes=5))
        self.assertEqual(latency.state, "breached")
        self.assertGreaterEqual(latency.last_value, 60)

    def test_targets_are_checked(self):
        with self.assertRaises(ValidationError):
            self.Slo.create(
                {
                    "name": "Wrong",
                    "system_id": self.system.id,
                    "indicator": "success_rate",
                    "target": 120,
                }
            )

    def test_silent_system_alarm_raises_once_and_clears(self):
        self.system.silence_minutes = 15
        self.receive(cloudevent("h-1"))
        now = fields.Datetime.now()
        self.check_at(now + timedelta(minutes=10))
        self.assertFalse(self.system.silent_since)
        self.check_at(now + timedelta(minutes=20))
        self.assertTrue(self.system.silent_since)
        self.assertEqual(len(self.activities("System silent")), 1)
        self.check_at(now + timedelta(minutes=40))
        (silent,) = self.meta("integration.system_silent")
        self.assertEqual(silent["expected_every_minutes"], 15)
        self.assertIn("last_message_at", silent)
        self.assertEqual(len(self.activities("System silent")), 1)
        # it sends again: the alarm clears (the new message is newer than the check)
        self.env.cr.execute(
            "UPDATE mfg_integration_message SET create_date = %s WHERE ce_id = 'h-1'",
            [now + timedelta(minutes=41)],
        )
        self.check_at(now + timedelta(minutes=45))
        self.assertFalse(self.system.silent_since)
        self.assertFalse(self.activities("System silent"))

    def test_a_system_that_never_sent_is_silent_after_its_interval(self):
        self.system.silence_minutes = 5
        self.check_at(fields.Datetime.now() + timedelta(minutes=10))
        (silent,) = self.meta("integration.system_silent")
        self.assertNotIn("last_message_at", silent)

    def test_circuit_opened_and_endpoint_disabled_are_emitted_and_delivered(self):
        endpoint, target = self.outbound_endpoint(
            breaker_threshold=1, breaker_cooldown=30
        )
        Delivery = self.env["mfg.integration.delivery"]
        Types = self.env["mfg.integration.event.type"]
        target.script(Answer(503))
        with trap_jobs():
            Types.emit("test.order_released", {"order": "A", "quantity": 1})
            Delivery._job_deliver(endpoint.id)
        (opened,) = self.meta("integration.circuit_opened")
        self.assertEqual(
            opened["endpoint"], {"code": "mes-orders", "name": "MES orders"}
        )
        self.assertEqual(
            (opened["failure_streak"], opened["error_class"]), (1, "http.503")
        )
        # the receiver is gone for good: the hub disables the endpoint
        target.script(Answer(410))
        endpoint.sudo().write({"circuit_state": "closed", "circuit_open_until": False})
        self.Message.search([("endpoint_id", "=", endpoint.id)]).sudo().write(
            {"next_attempt_at": fields.Datetime.now() - timedelta(seconds=1)}
        )
        with trap_jobs():
            Delivery._job_deliver(endpoint.id)
        self.assertFalse(endpoint.active)
        (disabled,) = self.meta("integration.endpoint_disabled")
        self.assertEqual(disabled["status_code"], 410)
        # the alerting endpoint gets both, signed like any event
        with trap_jobs():
            Delivery._job_deliver(self.alerts.id)
        types = [json.loads(r.body)["type"] for r in self.server.requests]
        self.assertEqual(
            types, ["integration.circuit_opened", "integration.endpoint_disabled"]
        )
        self.assertTrue(
            all("webhook-signature" in r.headers for r in self.server.requests)
        )

    def test_dead_letter_threshold_is_emitted_once_per_activity(self):
        self.system.dead_letter_threshold = 2

        def fail(_handler, _message, _data):
            raise ValueError("no")

        self.receive(cloudevent("d-1"), cloudevent("d-2"), cloudevent("d-3"))
        with event_handler(self.env, "test.order_started", fail), trap_jobs():
            self.Message._job_drain(self.system.id)
        (event,) = self.meta("integration.dead_letter_threshold")
        self.assertEqual((event["dead_letters"], event["threshold"]), (2, 2))
