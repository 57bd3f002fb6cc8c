import json
from datetime import timedelta

import psycopg2
from prometheus_client.parser import text_string_to_metric_families

from odoo import fields
from odoo.tests import HttpCase, tagged
from odoo.tools import config

from odoo.addons.mfg_integration_core.models.mfg_integration_ingress import (
    METRICS_NETWORKS_PARAM,
    RUNNER_LOCK_ID,
)
from odoo.addons.queue_job.tests.common import trap_jobs

from mfg_integration.metrics import LATENCY_BUCKETS, NO_BUCKET, bucket_of
from mfg_integration.simulators import Answer

from .common import MfgIntegrationCase, event_handler
from .test_ingress_http import EVENTS, cloudevent

METRICS = "/api/mfg/v1/metrics"
HEALTH = "/api/mfg/v1/health"


def samples(text, name):
    """``{labels tuple: value}`` of one sample name in a scrape (parsed by
    prometheus_client's own parser)."""
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name:
                found[tuple(sorted(sample.labels.items()))] = sample.value
    return found


@tagged("post_install", "-at_install")
class TestMetrics(MfgIntegrationCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.Metric = cls.env["mfg.integration.metric"]
        cls.Message = cls.env["mfg.integration.message"]
        cls.key, cls.token = cls.env["mfg.integration.api.key"].generate(
            cls.system, "MES"
        )

    def receive(self, *events):
        return self.receive_batch(self.key, *events)

    def value(self, name, bucket=NO_BUCKET, **labels):
        return self.Metric._value(name, bucket=bucket, **labels)

    def test_received_events_are_counted_by_outcome(self):
        self.receive(cloudevent("m-1"), cloudevent("m-2"))
        self.receive(
            cloudevent("m-2"),
            cloudevent("m-3", type_="no.such_type"),
            cloudevent("m-4", data={"order": ""}),
            # PostgreSQL cannot store NUL: the item is rejected before any lookup
            cloudevent("m-5", type_="test.order\x00started"),
        )
        labels = {"system": "test_mes", "event_type": "test.order_started"}
        self.assertEqual(self.value("events_received", outcome="accepted", **labels), 2)
        self.assertEqual(
            self.value("events_received", outcome="duplicate", **labels), 1
        )
        self.assertEqual(self.value("events_received", outcome="rejected", **labels), 1)
        # an unknown or unstorable type is no label value (any string would be): it
        # counts as ""
        self.assertEqual(
            self.value(
                "events_received", system="test_mes", event_type="", outcome="rejected"
            ),
            2,
        )

    def test_processing_outcomes_and_latency(self):
        def handle(_handler, _message, data):
            if data["order"] == "boom":
                raise ValueError("no such order")

        self.receive(
            cloudevent("p-1"),
            cloudevent("p-2"),
            cloudevent("p-3", data={"order": "boom", "quantity": 1}),
        )
        # received 20 s ago: the latency is at least that
        self.Message.search([("ce_id", "in", ["p-1", "p-2"])]).flush_recordset()
        self.env.cr.execute(
            "UPDATE mfg_integration_message SET create_date = %s "
            "WHERE ce_id LIKE 'p-%%'",
            [fields.Datetime.now() - timedelta(seconds=20)],
        )
        self.Message.invalidate_model(["create_date"])
        with event_handler(self.env, "test.order_started", handle), trap_jobs():
            self.Message._job_drain(self.system.id)
        labels = {"system": "test_mes", "event_type": "test.order_started"}
        self.assertEqual(
            self.value("messages_processed", outcome="done", error_class="", **labels),
            2,
        )
        self.assertEqual(
            self.value(
                "messages_processed",
                outcome="dead",
                error_class="builtins.ValueError",
                **labels,
            ),
            1,
        )
        self.assertEqual(
            self.value("processing_latency_seconds", bucket=bucket_of(20), **labels), 2
        )
        self.assertGreaterEqual(
            self.value("processing_latency_seconds", **labels), 40
        )  # the sum

    def test_counts_of_a_rolled_back_transaction_vanish(self):
        self.env.cr.flush()
        self.Metric._count("replays", system="test_mes", direction="inbound")
        self.assertEqual(
            self.value("replays", system="test_mes", direction="inbound"), 1
        )
        self.env.cr.precommit.clear()  # what a rollback does
        self.assertEqual(
            self.value("replays", system="test_mes", direction="inbound"), 0
        )

    def test_unknown_metric_or_label_is_refused(self):
        with self.assertRaises(ValueError):
            self.Metric._count("no_such_metric")
        with self.assertRaises(ValueError):
            self.Metric._count("replays", plant="x")

    def test_compaction_keeps_values_and_leaves_one_row_per_series(self):
        for _round in range(5):
            self.Metric._count("discards", system="test_mes", direction="inbound")
            self.Metric._observe(
                "processing_latency_seconds", 0.2, system="a", event_type="b"
            )
            self.env.cr.flush()  # one INSERT per transaction, as at each commit
        before = self.Metric._snapshot().samples
        self.Metric._cron_compact()
        after = self.Metric._snapshot().samples
        self.assertEqual(sorted(before), sorted(after))
        self.env.cr.execute(
            "SELECT count(*), count(DISTINCT (metric, labels, bucket)) "
            "FROM mfg_integration_metric"
        )
        rows, series = self.env.cr.fetchone()
        self.assertEqual(rows, series)

    def test_replays_and_discards_are_counted(self):
        self.receive(cloudevent("r-1"), cloudevent("r-2"))
        messages = self.Message.search([("ce_id", "in", ["r-1", "r-2"])])
        with trap_jobs():
            messages.action_discard("test")
            messages.action_replay()
        labels = {"system": "test_mes", "direction": "inbound"}
        self.assertEqual(self.value("discards", **labels), 2)
        self.assertEqual(self.value("replays", **labels), 2)

    def test_gauges_of_backlog_dead_letters_and_circuits(self):
        self.receive(cloudevent("g-1"), cloudevent("g-2"), cloudevent("g-3"))
        dead = self.Message.search([("ce_id", "=", "g-3")])
        dead.sudo().write({"state": "dead", "error_class": "mapping-error"})
        waiting = self.Message.search([("ce_id", "=", "g-2")])
        waiting.sudo().write(
            {
                "state": "failed",
                "next_attempt_at": fields.Datetime.now() + timedelta(hours=1),
            }
        )
        endpoint = self.env["mfg.integration.endpoint"].create(
            {
                "name": "Out",
                "code": "metrics-out",
                "system_id": self.system.id,
                "direction": "outbound",
                "url": "http://127.0.0.1:9/hook",
            }
        )
        endpoint.sudo().circuit_state = "open"
        self.env.flush_all()
        gauges = self.Metric._snapshot().gauges
        inbound = ("test_mes", "inbound")
        self.assertEqual(gauges["backlog_messages", inbound], 2)
        self.assertEqual(gauges["backlog_due_messages", inbound], 1)
        self.assertGreaterEqual(gauges["backlog_oldest_due_age_seconds", inbound], 0)
        self.assertEqual(gauges["dead_letters", (*inbound, "mapping-error")], 1)
        self.assertIn(("dead_letter_oldest_age_seconds", inbound), gauges)
        circuit = ("test_mes", "metrics-out")
        self.assertEqual(gauges["circuit_state", (*circuit, "open")], 1)
        self.assertEqual(gauges["circuit_state", (*circuit, "closed")], 0)
        self.assertIn(("scrape_duration_seconds", ()), gauges)

    def test_delivery_outcomes_and_latency(self):
        endpoint, server = self.outbound_endpoint(retry_schedule="0, 1s")
        server.script(Answer(503), Answer(200))
        Types = self.env["mfg.integration.event.type"]
        with trap_jobs():
            Types.emit("test.order_released", {"order": "A", "quantity": 1})
            self.env["mfg.integration.delivery"]._job_deliver(endpoint.id)
            self.Message.search([("endpoint_id", "=", endpoint.id)]).sudo().write(
                {"next_attempt_at": fields.Datetime.now() - timedelta(seconds=1)}
            )
            self.env["mfg.integration.delivery"]._job_deliver(endpoint.id)
        labels = {
            "system": "test_mes",
            "endpoint": "mes-orders",
            "event_type": "test.order_released",
        }
        self.assertEqual(
            self.value("deliveries", outcome="retry", error_class="http.503", **labels),
            1,
        )
        self.assertEqual(
            self.value("deliveries", outcome="delivered", error_class="", **labels), 1
        )
        total = sum(
            self.value("delivery_latency_seconds", bucket=index, **labels)
            for index in range(len(LATENCY_BUCKETS) + 1)
        )
        self.assertEqual(total, 1)


@tagged("post_install", "-at_install")
class TestMetricsHttp(MfgIntegrationCase, HttpCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        Key = cls.env["mfg.integration.api.key"]
        cls.key, cls.token = Key.generate(cls.system, "MES")
        cls.metrics_key, cls.metrics_token = Key.generate(
            cls.system, "Prometheus", metrics_scope=True
        )

    def get(self, path, token=None):
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return self.url_open(path, headers=headers, timeout=60)

    def test_scrape_needs_a_metrics_key_or_an_allowed_network(self):
        response = self.get(METRICS)
        self.assertEqual(response.status_code, 401, response.text)
        self.assertEqual(response.headers["Content-Type"], "application/problem+json")
        self.assertIn("Bearer", response.headers["WWW-Authenticate"])
        response = self.get(METRICS, self.token)
        self.assertEqual(response.status_code, 403, response.text)
        self.assertIn("metrics scope", response.json()["detail"])
        self.assertEqual(self.get(METRICS, self.metrics_token).status_code, 200)
        self.env["ir.config_parameter"].set_param(METRICS_NETWORKS_PARAM, "10.0.0.0/8")
        self.assertEqual(self.get(METRICS).status_code, 401)
        self.env["ir.config_parameter"].set_param(METRICS_NETWORKS_PARAM, "127.0.0.1")
        self.assertEqual(self.get(METRICS).status_code, 200)

    def test_scrape_parses_and_counts_requests(self):
        events = {"Content-Type": "application/cloudevents+json"}
        body = json.dumps(cloudevent("h-1"))
        # requests carry no system label: count what these ones add
        before = samples(
            self.get(METRICS, self.metrics_token).text,
            "mfg_integration_requests_total",
        )
        answers = []
        for token in (self.token, self.token, "mfg_wrong"):
            response = self.url_open(
                EVENTS,
                data=body,
                headers={**events, "Authorization": f"Bearer {token}"},
                timeout=60,
            )
            answers.append(response.status_code)
        self.assertEqual(answers, [202, 200, 401])
        response = self.get(METRICS, self.metrics_token)
        self.assertEqual(response.status_code, 200, response.text)
        self.assertTrue(response.headers["Content-Type"].startswith("text/plain"))
        text = response.text
        requests_total = samples(text, "mfg_integration_requests_total")
        for status in ("202", "200", "401"):
            key = (("route", "events"), ("status", status))
            self.assertEqual(requests_total[key] - before.get(key, 0), 1, status)
        received = samples(text, "mfg_integration_events_received_total")
        key = (
            ("event_type", "test.order_started"),
            ("outcome", "accepted"),
            ("system", "test_mes"),
        )
        self.assertEqual(received[key], 1)
        backlog = samples(text, "mfg_integration_backlog_messages")
        self.assertEqual(backlog[("direction", "inbound"), ("system", "test_mes")], 1)
        # every family the hub documents is present (with its HELP), even empty
        names = {family.name for family in text_string_to_metric_families(text)}
        self.assertIn("mfg_integration_processing_latency_seconds", names)
        self.assertIn("mfg_integration_jobs", names)

    def test_health_without_runner_and_with_it(self):
        response = self.get(HEALTH)
        self.assertEqual(response.status_code, 503, response.text)
        body = response.json()
        # the tests run without queue_job's runner: nothing would process messages
        self.assertEqual(body["job_runner"], "down")
        self.assertEqual(body["status"], "degraded")
        self.assertNotIn("queue", body)  # figures are for operators only
        # a runner elected on this database holds queue_job's lock on it
        runner = psycopg2.connect(
            dbname=self.env.cr.dbname,
            user=config["db_user"] or None,
            host=config["db_host"] or None,
            port=config["db_port"] or None,
        )
        self.addCleanup(runner.close)
        with runner.cursor() as cr:
            cr.execute("SELECT pg_try_advisory_lock(%s)", [RUNNER_LOCK_ID])
            self.assertTrue(cr.fetchone()[0])
        runner.commit()
        response = self.get(HEALTH, self.metrics_token)
        self.assertEqual(response.status_code, 200, response.text)
        body = response.json()
        self.assertEqual((body["status"], body["job_runner"]), ("ok", "alive"))
        self.assertIn("pending_messages", body["queue"])
        self.assertGreaterEqual(body["database_latency_ms"], 0)
        # a key without the metrics scope is told so
        self.assertEqual(self.get(HEALTH, self.token).status_code, 403)
