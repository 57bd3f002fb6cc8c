import json
from datetime import datetime, timedelta, timezone

from openapi_spec_validator import validate as validate_openapi
from standardwebhooks.webhooks import Webhook

from odoo import fields
from odoo.tests import HttpCase, tagged
from odoo.tools import SQL

from mfg_integration.webhooks import generate_webhook_secret

from .common import SCHEMA, MfgIntegrationCase

EVENTS = "/api/mfg/v1/events"
CE = "application/cloudevents+json"
BATCH = "application/cloudevents-batch+json"


def cloudevent(event_id="evt-1", type_="test.order_started", data=None, **extra):
    event = {
        "specversion": "1.0",
        "id": event_id,
        "source": "urn:mes:line1",
        "type": type_,
        "time": "2026-11-24T08:00:00Z",
        "data": data if data is not None else {"order": "WH/MO/00042", "quantity": 3},
    }
    event.update(extra)
    return event


@tagged("post_install", "-at_install")
class TestIngressHttp(MfgIntegrationCase, HttpCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.Key = cls.env["mfg.integration.api.key"]
        cls.key, cls.token = cls.Key.generate(cls.system, "MES")
        cls.Message = cls.env["mfg.integration.message"]

    def post(self, path, body, token=None, content_type=CE, headers=None):
        all_headers = {"Content-Type": content_type}
        if token is not False:
            all_headers["Authorization"] = f"Bearer {token or self.token}"
        all_headers.update(headers or {})
        if not isinstance(body, (bytes, str)):
            body = json.dumps(body)
        return self.url_open(path, data=body, headers=all_headers, timeout=60)

    def assertProblem(self, response, status, slug=None):
        self.assertEqual(response.status_code, status, response.text)
        self.assertEqual(
            response.headers["Content-Type"].split(";")[0], "application/problem+json"
        )
        self.assertTrue(response.headers.get("X-Correlation-ID"))
        problem = response.json()
        self.assertEqual(problem["status"], status)
        if slug:
            self.assertEqual(problem["type"], f"urn:mfg-integration:problem:{slug}")
        return problem

    # -- authentication -------------------------------------------------------

    def test_missing_unknown_expired_revoked_keys(self):
        response = self.post(EVENTS, cloudevent(), token=False)
        self.assertProblem(response, 401, "unauthenticated")
        self.assertIn("Bearer", response.headers["WWW-Authenticate"])
        self.assertProblem(self.post(EVENTS, cloudevent(), token="mfgk_nope"), 401)
        _k, unknown = self.Key.generate(self.system, "gone")
        _k.unlink()
        problem = self.assertProblem(
            self.post(EVENTS, cloudevent(), token=unknown), 401
        )
        self.assertIn("unknown", problem["detail"])
        expired, expired_token = self.Key.generate(
            self.system, "old", expires_at=fields.Datetime.now() - timedelta(minutes=1)
        )
        problem = self.assertProblem(
            self.post(EVENTS, cloudevent(), token=expired_token), 401
        )
        self.assertIn("expired", problem["detail"])
        revoked, revoked_token = self.Key.generate(self.system, "revoked")
        revoked.action_revoke()
        problem = self.assertProblem(
            self.post(EVENTS, cloudevent(), token=revoked_token), 401
        )
        self.assertIn("revoked", problem["detail"])
        self.assertNotIn(revoked_token, json.dumps(problem))
        self.assertFalse(self.Message.search([("system_id", "=", self.system.id)]))

    def test_key_without_scope(self):
        _key, token = self.Key.generate(
            self.system, "scoped", event_types=self.other_event_type
        )
        self.assertProblem(
            self.post(EVENTS, cloudevent(), token=token), 403, "forbidden"
        )

    def test_network_not_allowed(self):
        _key, token = self.Key.generate(
            self.system, "net", allowed_networks="10.99.0.0/16"
        )
        self.assertProblem(self.post(EVENTS, cloudevent(), token=token), 403)

    # -- input checks -----------------------------------------------------------

    def test_malformed_json(self):
        problem = self.assertProblem(
            self.post(EVENTS, b'{"specversion": "1.0",\n "id": }'),
            400,
            "malformed-request",
        )
        self.assertIn("line 2", problem["detail"])

    def test_wrong_content_type(self):
        response = self.post(EVENTS, cloudevent(), content_type="text/plain")
        self.assertProblem(response, 415, "unsupported-media-type")

    def test_unknown_type_and_envelope_errors(self):
        problem = self.assertProblem(
            self.post(EVENTS, cloudevent(type_="test.nothing")),
            422,
            "unknown-event-type",
        )
        self.assertEqual(problem["errors"][0]["pointer"], "/type")
        problem = self.assertProblem(
            self.post(EVENTS, {"specversion": "0.3", "data": {}}), 422
        )
        pointers = {e["pointer"] for e in problem["errors"]}
        self.assertTrue({"/specversion", "/id", "/source", "/type"} <= pointers)

    def test_outbound_event_type_is_refused(self):
        self._create_event_type("test.order_released").direction = "outbound"
        problem = self.assertProblem(
            self.post(EVENTS, cloudevent(type_="test.order_released")),
            422,
            "unknown-event-type",
        )
        self.assertEqual(problem["errors"][0]["pointer"], "/type")
        self.assertIn("outbound", problem["detail"])
        self.assertFalse(self.Message.search([("system_id", "=", self.system.id)]))

    def test_schema_violation_lists_pointers(self):
        response = self.post(EVENTS, cloudevent(data={"quantity": -2, "order": ""}))
        problem = self.assertProblem(response, 422, "validation-failed")
        self.assertEqual(
            sorted(e["pointer"] for e in problem["errors"]),
            ["/data/order", "/data/quantity"],
        )

    def test_strings_the_database_refuses_are_422_per_item(self):
        for changes in ({"id": "n\x00l"}, {"subject": "s\x00"}):
            problem = self.assertProblem(
                self.post(EVENTS, cloudevent(**changes)), 422, "validation-failed"
            )
            self.assertEqual(problem["errors"][0]["pointer"], f"/{next(iter(changes))}")
        problem = self.assertProblem(
            self.post(EVENTS, cloudevent(source="urn:\ud800")), 422
        )
        self.assertEqual(problem["errors"][0]["pointer"], "/source")
        items = [cloudevent("nul-0"), cloudevent("nul-1", source="urn:\x00")]
        items.append(cloudevent("nul-2", data={"order": "MO\x00", "quantity": 1}))
        response = self.post(
            EVENTS, items, content_type=BATCH, headers={"Idempotency-Key": "nul"}
        )
        self.assertEqual(response.status_code, 200, response.text[:500])
        body = response.json()
        self.assertEqual(
            [r["status"] for r in body["results"]], ["accepted"] + ["rejected"] * 2
        )
        self.assertEqual(
            [r["problem"]["errors"][0]["pointer"] for r in body["results"][1:]],
            ["/1/source", "/2/data/order"],
        )
        again = self.post(
            EVENTS, items, content_type=BATCH, headers={"Idempotency-Key": "nul"}
        )
        self.assertEqual(again.json(), body)
        self.assertEqual(
            self.Message.search([("system_id", "=", self.system.id)]).mapped("ce_id"),
            ["nul-0"],
        )

    def test_oversize_body(self):
        self.env["ir.config_parameter"].sudo().set_param(
            "mfg_integration.max_event_bytes", 300
        )
        big = cloudevent(data={"order": "x" * 400, "quantity": 1})
        self.assertProblem(self.post(EVENTS, big), 413, "payload-too-large")
        self.assertFalse(self.Message.search([("system_id", "=", self.system.id)]))

    def test_rate_limit(self):
        self.key.rate_limit = 2
        self.assertEqual(self.post(EVENTS, cloudevent("r1")).status_code, 202)
        self.assertEqual(self.post(EVENTS, cloudevent("r2")).status_code, 202)
        response = self.post(EVENTS, cloudevent("r3"))
        self.assertProblem(response, 429, "rate-limited")
        self.assertGreaterEqual(int(response.headers["Retry-After"]), 1)

    # -- acceptance and idempotency --------------------------------------------------

    def test_accept_then_duplicate(self):
        response = self.post(
            EVENTS, cloudevent("dup-1"), headers={"X-Correlation-ID": "corr-123"}
        )
        self.assertEqual(response.status_code, 202, response.text)
        self.assertEqual(response.headers["X-Correlation-ID"], "corr-123")
        body = response.json()
        self.assertEqual(body["status"], "accepted")
        self.assertEqual(body["correlation_id"], "corr-123")
        message = self.Message.browse(body["id"])
        self.assertEqual(message.state, "queued")
        self.assertEqual(message.system_id, self.system)
        self.assertEqual(message.api_key_id, self.key)
        self.assertEqual(message.create_uid, self.system.user_id)
        self.assertEqual(message.ce_time, datetime(2026, 11, 24, 8, 0))
        again = self.post(EVENTS, cloudevent("dup-1"))
        self.assertEqual(again.status_code, 200)
        self.assertEqual(again.json()["id"], body["id"])
        self.assertTrue(again.json()["duplicate"])
        self.assertEqual(self.Message.search_count([("ce_id", "=", "dup-1")]), 1)
        job = self.env["queue.job"].search(
            [("channel", "=", "root.mfg_integration.inbound.test_mes")]
        )
        self.assertEqual(len(job), 1, "one drain job per system, not one per event")

    def test_batch_of_1000_with_3_bad_items(self):
        items = [cloudevent(f"b-{i}") for i in range(1000)]
        items[10]["data"] = {"order": "WH/MO/1"}
        items[500]["type"] = "test.nothing"
        del items[999]["id"]
        response = self.post(EVENTS, items, content_type=BATCH)
        self.assertEqual(response.status_code, 200, response.text[:500])
        body = response.json()
        self.assertEqual((body["accepted"], body["rejected"]), (997, 3))
        rejected = {
            r["index"]: r["problem"]
            for r in body["results"]
            if r["status"] == "rejected"
        }
        self.assertEqual(set(rejected), {10, 500, 999})
        self.assertEqual(rejected[10]["errors"][0]["pointer"], "/10/data/quantity")
        self.assertEqual(rejected[500]["errors"][0]["pointer"], "/500/type")
        self.assertEqual(rejected[999]["errors"][0]["pointer"], "/999/id")
        self.assertEqual(
            self.Message.search_count([("system_id", "=", self.system.id)]), 997
        )

    def test_batch_limits_and_duplicates_inside(self):
        items = [cloudevent(f"x-{i}") for i in range(1001)]
        self.assertProblem(self.post(EVENTS, items, content_type=BATCH), 413)
        self.assertProblem(self.post(EVENTS, {"a": 1}, content_type=BATCH), 400)
        body = self.post(
            EVENTS, [cloudevent("same"), cloudevent("same")], content_type=BATCH
        ).json()
        self.assertEqual(
            [r["status"] for r in body["results"]], ["accepted", "duplicate"]
        )
        self.assertEqual(body["results"][0]["id"], body["results"][1]["id"])

    def test_idempotency_key_for_batches(self):
        items = [cloudevent("i-1"), cloudevent("i-2")]
        headers = {"Idempotency-Key": "batch-42"}
        first = self.post(EVENTS, items, content_type=BATCH, headers=headers)
        second = self.post(EVENTS, items, content_type=BATCH, headers=headers)
        self.assertEqual(first.json(), second.json())
        self.assertEqual(second.headers.get("Idempotent-Replayed"), "true")
        other = self.post(
            EVENTS, [cloudevent("i-3")], content_type=BATCH, headers=headers
        )
        self.assertProblem(other, 422, "idempotency-key-reused")

    def test_idempotency_key_longer_than_the_contract_is_400(self):
        for key in ("k" * 256, "k" * 10000):
            response = self.post(
                EVENTS,
                [cloudevent("long-key")],
                content_type=BATCH,
                headers={"Idempotency-Key": key},
            )
            self.assertProblem(response, 400, "malformed-request")
            self.assertIn("255", response.json()["detail"])
        self.assertFalse(self.Message.search([("ce_id", "=", "long-key")]))

    def test_purge_crons_forget_old_keys_and_counters(self):
        Idempotency = self.env["mfg.integration.idempotency"]
        for key in ("old-key", "new-key"):
            Idempotency._store(self.system, key, "digest", {"accepted": 1})
        self.env.cr.execute(
            "UPDATE mfg_integration_idempotency SET create_date = %s "
            "WHERE key = 'old-key'",
            (fields.Datetime.now() - timedelta(hours=3),),
        )
        self.env["ir.config_parameter"].set_param(
            "mfg_integration.idempotency_retention_hours", 2
        )
        now = int(datetime.now(tz=timezone.utc).timestamp()) // 60 * 60
        for start in (now - 600, now - 120, now):
            self.env.cr.execute(
                "INSERT INTO mfg_integration_rate_counter VALUES (%s, %s, 1)",
                (self.key.id, start),
            )
        for xmlid in ("ir_cron_idempotency_purge", "ir_cron_rate_counter_purge"):
            cron = self.env.ref(f"mfg_integration_core.{xmlid}")
            self.assertTrue(cron.active)
            cron.ir_actions_server_id.run()
        self.assertIsNone(Idempotency._lookup(self.system, "old-key", "digest"))
        self.assertEqual(
            Idempotency._lookup(self.system, "new-key", "digest"), {"accepted": 1}
        )
        self.env.cr.execute(
            "SELECT window_start FROM mfg_integration_rate_counter "
            "WHERE key_id = %s ORDER BY 1",
            (self.key.id,),
        )
        # the current window is kept (the previous one too, read by the limit)
        self.assertEqual([row[0] for row in self.env.cr.fetchall()], [now])

    def test_message_status(self):
        message_id = self.post(EVENTS, cloudevent("st-1")).json()["id"]
        response = self.url_open(
            f"/api/mfg/v1/messages/{message_id}",
            headers={"Authorization": f"Bearer {self.token}"},
        )
        self.assertEqual(response.status_code, 200)
        self.assertEqual(response.json()["state"], "queued")
        self.assertEqual(response.json()["cloudevent_id"], "st-1")
        other = self.env["mfg.integration.system"].create(
            {"name": "Other", "code": "other_sys"}
        )
        _k, other_token = self.Key.generate(other, "other")
        response = self.url_open(
            f"/api/mfg/v1/messages/{message_id}",
            headers={"Authorization": f"Bearer {other_token}"},
        )
        self.assertProblem(response, 404, "not-found")

    def test_unknown_routes_and_methods(self):
        self.assertProblem(self.url_open("/api/mfg/v1/nothing/here"), 404, "not-found")
        # a path no route's converter accepts (found by the fuzzing tier)
        self.assertProblem(self.url_open("/api/mfg/v1/messages/%0A"), 404, "not-found")
        response = self.url_open(EVENTS, method="GET")
        self.assertProblem(response, 405, "method-not-allowed")
        self.assertEqual(response.headers["Allow"], "POST")
        response = self.url_open("/api/mfg/v1/health", method="DELETE")
        self.assertProblem(response, 405)

    def test_openapi_document(self):
        response = self.url_open("/api/mfg/v1/openapi.json")
        self.assertEqual(response.status_code, 200)
        spec = response.json()
        validate_openapi(spec)
        component = spec["components"]["schemas"]["test.order_started"]
        self.assertEqual(component["required"], SCHEMA["required"])
        self.assertTrue(component["examples"])

    def test_health(self):
        response = self.url_open("/api/mfg/v1/health")
        body = response.json()
        self.assertEqual(body["database"], "ok")
        # no job runner in this tier (test_metrics holds its lock to see "alive")
        self.assertEqual(response.status_code, 503, response.text)
        self.assertEqual(body["job_runner"], "down")

    def test_health_reports_a_read_only_database(self):
        # an administrator set the database read-only (maintenance): the hub cannot
        # store events, and says so (rolled back with the test's transaction)
        self.env.cr.execute(
            SQL(
                "ALTER DATABASE %s SET default_transaction_read_only = on",
                SQL.identifier(self.env.cr.dbname),
            )
        )
        response = self.url_open("/api/mfg/v1/health")
        self.assertEqual(response.status_code, 503, response.text)
        body = response.json()
        self.assertEqual((body["status"], body["database"]), ("degraded", "read-only"))


@tagged("post_install", "-at_install")
class TestWebhookHttp(MfgIntegrationCase, HttpCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.secret = generate_webhook_secret()
        cls.endpoint = cls.env["mfg.integration.endpoint"].create(
            {
                "name": "MES hooks",
                "code": "mes-hooks",
                "system_id": cls.system.id,
                "direction": "inbound",
                "signing_secret": cls.secret,
            }
        )
        cls.Message = cls.env["mfg.integration.message"]

    def body(self, order="WH/MO/7"):
        return json.dumps(
            {
                "type": "test.order_started",
                "timestamp": "2026-11-24T08:00:00Z",
                "data": {"order": order, "quantity": 1},
            }
        )

    def send(self, body, msg_id="msg_1", secret=None, when=None, headers=None):
        when = when or datetime.now(tz=timezone.utc)
        signature = Webhook(secret or self.secret).sign(msg_id, when, body)
        all_headers = {
            "Content-Type": "application/json",
            "webhook-id": msg_id,
            "webhook-timestamp": str(int(when.timestamp())),
            "webhook-signature": signature,
        }
        all_headers.update(headers or {})
        return self.url_open(
            "/api/mfg/v1/webhooks/mes-hooks", data=body, headers=all_headers
        )

    def test_valid_signature_is_accepted(self):
        response = self.send(self.body())
        self.assertEqual(response.status_code, 202, response.text)
        message = self.Message.browse(response.json()["id"])
        self.assertEqual(message.ce_id, "msg_1")
        self.assertEqual(message.endpoint_id, self.endpoint)
        self.assertEqual(message.create_uid, self.system.user_id)

    def test_replayed_webhook_id_is_a_duplicate(self):
        first = self.send(self.body(), msg_id="msg_r")
        again = self.send(self.body(), msg_id="msg_r")
        self.assertEqual(again.status_code, 200)
        self.assertTrue(again.json()["duplicate"])
        self.assertEqual(again.json()["id"], first.json()["id"])
        self.assertEqual(self.Message.search_count([("ce_id", "=", "msg_r")]), 1)

    def test_tampered_stale_unsigned(self):
        body = self.body()
        when = datetime.now(tz=timezone.utc)
        signature = Webhook(self.secret).sign("msg_t", when, body)
        tampered = self.url_open(
            "/api/mfg/v1/webhooks/mes-hooks",
            data=self.body(order="WH/MO/666"),
            headers={
                "Content-Type": "application/json",
                "webhook-id": "msg_t",
                "webhook-timestamp": str(int(when.timestamp())),
                "webhook-signature": signature,
            },
        )
        self.assertEqual(tampered.status_code, 401)
        self.assertNotIn("WWW-Authenticate", tampered.headers)
        stale = self.send(body, when=when - timedelta(minutes=6))
        self.assertEqual(stale.status_code, 401)
        self.assertIn("too old", stale.json()["detail"])
        unsigned = self.url_open(
            "/api/mfg/v1/webhooks/mes-hooks",
            data=body,
            headers={"Content-Type": "application/json"},
        )
        self.assertEqual(unsigned.status_code, 401)
        wrong = self.send(body, secret=generate_webhook_secret())
        self.assertEqual(wrong.status_code, 401)
        self.assertFalse(self.Message.search([("system_id", "=", self.system.id)]))

    def test_previous_secret_accepted_during_rotation(self):
        new = generate_webhook_secret()
        self.endpoint.signing_secret = new
        self.assertEqual(
            self.send(self.body(), "msg_old", secret=self.secret).status_code, 202
        )
        self.assertEqual(self.send(self.body(), "msg_new", secret=new).status_code, 202)
        self.endpoint.action_clear_previous_signing_secret()
        self.assertEqual(
            self.send(self.body(), "msg_old2", secret=self.secret).status_code, 401
        )

    def test_rate_limit_comes_before_the_signature_check(self):
        self.endpoint.rate_limit = 2
        self.assertEqual(self.send(self.body(), "msg_rl1").status_code, 202)
        self.assertEqual(self.send(self.body(), "msg_rl2").status_code, 202)
        # over the limit, an unsigned flood is refused before any HMAC is computed
        unsigned = self.url_open(
            "/api/mfg/v1/webhooks/mes-hooks",
            data=self.body(),
            headers={"Content-Type": "application/json"},
        )
        self.assertEqual(unsigned.status_code, 429, unsigned.text)
        limited = self.send(self.body(), "msg_rl3")
        self.assertEqual(limited.status_code, 429, limited.text)
        self.assertGreaterEqual(int(limited.headers["Retry-After"]), 1)
        self.assertIn("2 requests per minute", limited.json()["detail"])
        self.assertFalse(self.Message.search([("ce_id", "=", "msg_rl3")]))

    def test_string_the_database_refuses_is_422(self):
        response = self.send(self.body(order="WH/MO/\x00"), "msg_nul")
        self.assertEqual(response.status_code, 422, response.text)
        self.assertEqual(response.json()["errors"][0]["pointer"], "/data/order")
        self.assertFalse(self.Message.search([("ce_id", "=", "msg_nul")]))

    def test_unknown_endpoint_and_bad_bodies(self):
        response = self.url_open(
            "/api/mfg/v1/webhooks/nope",
            data="{}",
            headers={"Content-Type": "application/json"},
        )
        self.assertEqual(response.status_code, 404)
        # a code no endpoint can have, NUL included, is not looked up
        response = self.url_open(
            "/api/mfg/v1/webhooks/mes%00hooks",
            data="{}",
            headers={"Content-Type": "application/json"},
        )
        self.assertEqual(response.status_code, 404, response.text)
        self.assertNotIn("\x00", response.json()["detail"])
        response = self.send(json.dumps({"type": "test.order_started"}), "msg_nodata")
        self.assertEqual(response.status_code, 422)
        self.assertEqual(response.json()["errors"][0]["pointer"], "/data")
        self.assertEqual(
            self.send(self.body(), headers={"Content-Type": "text/xml"}).status_code,
            415,
        )
