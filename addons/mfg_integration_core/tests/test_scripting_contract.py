"""The scripting contract of ARCHITECTURE.md, called exactly as documented.

The contract's create() calls pass the documented fields and nothing else (one test
also gives an endpoint name, to check that a given name is kept), and its methods get
the documented arguments only: a script written against the contract must work as is.
The calls run as an integration manager (the administrators who write such scripts);
fixtures (event types, a system) and checks of the outcome may use anything.
"""

import json
import threading
from datetime import timedelta

from standardwebhooks.webhooks import Webhook

from odoo import fields
from odoo.exceptions import UserError
from odoo.tests import TransactionCase, tagged

from odoo.addons.queue_job.jobrunner import QueueJobRunnerThread
from odoo.addons.queue_job.tests.common import trap_jobs

from mfg_integration.errors import AuthenticationFailed, Forbidden, MappingError
from mfg_integration.simulators import StubServer
from mfg_integration.webhooks import generate_webhook_secret, sign_headers

from .common import MfgIntegrationCase

OUTBOUND = "test.contract_released"
DATA = {"order": "WH/MO/00042", "quantity": 2}

DEFINITION = {
    "format": "mfg-integration-mapping/1",
    "name": "Contract vendor orders",
    "event_type": "test.order_started",
    "direction": "inbound",
    "lines": [
        {
            "target": "order",
            "source": "wo.number",
            "transforms": [{"type": "required"}],
        },
        {"target": "quantity", "source": "qty"},
    ],
}
VENDOR = {"wo": {"number": "WH/MO/00042"}, "qty": 3}


@tagged("post_install", "-at_install")
class TestScriptingContract(MfgIntegrationCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.outbound_type = cls._create_event_type(OUTBOUND)
        cls.outbound_type.direction = "outbound"
        cls.receiver = StubServer()
        cls.receiver.start()
        cls.addClassCleanup(cls.receiver.stop)
        # a script runs as an integration administrator
        cls.admin_env = cls.env(user=cls.manager)

    def setUp(self):
        super().setUp()
        self.receiver.reset()

    def assert_required_fields_set(self, record):
        """Every required field got a value although the script did not give it."""
        numeric = ("integer", "float", "monetary")
        for name, field in record._fields.items():
            if field.required and field.type not in numeric:
                with self.subTest(field=name):
                    self.assertTrue(record[name], f"{record._name}.{name} is empty")

    # -- API keys ----------------------------------------------------------------

    def test_api_key_generate_and_revoke(self):
        Keys = self.admin_env["mfg.integration.api.key"]
        key, clear = Keys.generate(self.system, "MES server")
        self.assertEqual(key._name, "mfg.integration.api.key")
        self.assertEqual(key.name, "MES server")
        self.assertEqual(key.system_id, self.system)
        self.assertFalse(key.event_type_ids, "no event types given: every one allowed")
        self.assertFalse(key.expires_at)
        self.assertFalse(key.revoked)
        self.assertEqual(Keys._authenticate(clear), key)
        # the clear key exists only in the return value
        self.env.flush_all()
        self.env.cr.execute(
            "SELECT row_to_json(k)::text FROM mfg_integration_api_key k WHERE id = %s",
            [key.id],
        )
        self.assertNotIn(clear, self.env.cr.fetchone()[0])

        key.action_revoke()
        self.assertTrue(key.revoked)
        with self.assertRaisesRegex(AuthenticationFailed, "revoked"):
            Keys._authenticate(clear)

    def test_api_key_generate_with_scopes_and_expiry(self):
        Keys = self.admin_env["mfg.integration.api.key"]
        expires_at = fields.Datetime.now().replace(microsecond=0) + timedelta(days=30)
        key, clear = Keys.generate(
            self.system,
            "QMS gateway",
            event_types=self.event_type,
            expires_at=expires_at,
        )
        self.assertEqual(key.event_type_ids, self.event_type)
        self.assertEqual(key.expires_at, expires_at)
        self.assertEqual(
            Keys._authenticate(clear, event_type_code=self.event_type.code), key
        )
        with self.assertRaises(Forbidden):
            Keys._authenticate(clear, event_type_code=self.other_event_type.code)
        # passed positionally, as the signature documents them
        _key, clear = Keys.generate(
            self.system,
            "Expired",
            self.event_type,
            fields.Datetime.now() - timedelta(seconds=1),
        )
        with self.assertRaisesRegex(AuthenticationFailed, "expired"):
            Keys._authenticate(clear)

    # -- endpoints and subscriptions -------------------------------------------

    def test_inbound_endpoint_from_the_documented_fields(self):
        secret = generate_webhook_secret()
        endpoint = self.admin_env["mfg.integration.endpoint"].create(
            {
                "system_id": self.system.id,
                "direction": "inbound",
                "code": "contract-hooks",
                "signing_secret": secret,
            }
        )
        self.assert_required_fields_set(endpoint)
        self.assertIn("contract-hooks", endpoint.name)
        self.assertIn(self.system.name, endpoint.name)
        self.assertEqual(endpoint.display_name, endpoint.name)
        # write-only, stored encrypted
        self.assertFalse(endpoint.signing_secret)
        self.assertTrue(endpoint.has_signing_secret)
        self.env.flush_all()
        self.env.cr.execute(
            "SELECT row_to_json(e)::text FROM mfg_integration_endpoint e WHERE id = %s",
            [endpoint.id],
        )
        self.assertNotIn(secret[6:], self.env.cr.fetchone()[0])
        # and it is the route of signed webhooks
        body = json.dumps({"type": self.event_type.code, "data": DATA}).encode()
        status, answer, _headers = self.env["mfg.integration.ingress"].receive_webhook(
            "contract-hooks",
            "application/json",
            sign_headers(secret, "msg_contract_1", body),
            lambda _limit: body,
            "corr-contract",
        )
        self.assertEqual(status, 202, answer)
        message = self.env["mfg.integration.message"].browse(answer["id"])
        self.assertEqual(message.endpoint_id, endpoint)

    def test_outbound_endpoint_and_subscription_from_the_documented_fields(self):
        secret = generate_webhook_secret()
        endpoint = self.admin_env["mfg.integration.endpoint"].create(
            {
                "system_id": self.system.id,
                "direction": "outbound",
                "code": "contract-orders",
                "url": self.receiver.url("/events"),
                "signing_secret": secret,
            }
        )
        self.assert_required_fields_set(endpoint)
        self.assertIn("contract-orders", endpoint.name)
        subscription = self.admin_env["mfg.integration.subscription"].create(
            {"event_type_id": self.outbound_type.id, "endpoint_id": endpoint.id}
        )
        self.assert_required_fields_set(subscription)
        self.assertTrue(subscription.active)

        messages = self.admin_env["mfg.integration.event.type"].emit(OUTBOUND, DATA)
        self.assertEqual(len(messages), 1)
        self.assertEqual(messages.endpoint_id, endpoint)
        self.env["mfg.integration.delivery"]._job_deliver(endpoint.id)
        self.assertEqual(messages.state, "done")
        (received,) = self.receiver.requests
        headers = {name.lower(): value for name, value in received.headers.items()}
        event = Webhook(secret).verify(received.body, headers)
        self.assertEqual(event["type"], OUTBOUND)
        self.assertEqual(event["data"], DATA)

    def test_endpoint_name_stays_editable(self):
        Endpoints = self.admin_env["mfg.integration.endpoint"]
        endpoint = Endpoints.create(
            {
                "system_id": self.system.id,
                "direction": "outbound",
                "code": "renamed",
                "url": self.receiver.url("/a"),
                "signing_secret": generate_webhook_secret(),
            }
        )
        endpoint.name = "Orders to the MES"
        endpoint.code = "renamed-again"
        self.assertEqual(endpoint.name, "Orders to the MES")
        named = Endpoints.create(
            {
                "name": "Given name",
                "system_id": self.system.id,
                "direction": "outbound",
                "code": "named",
                "url": self.receiver.url("/b"),
            }
        )
        self.assertEqual(named.name, "Given name")

    # -- emitting -----------------------------------------------------------------

    def test_emit_returns_one_message_per_matching_subscription(self):
        Endpoints = self.admin_env["mfg.integration.endpoint"]
        Subscriptions = self.admin_env["mfg.integration.subscription"]
        endpoints = Endpoints.browse()
        for code in ("contract-a", "contract-b"):
            endpoint = Endpoints.create(
                {
                    "system_id": self.system.id,
                    "direction": "outbound",
                    "code": code,
                    "url": self.receiver.url(f"/{code}"),
                    "signing_secret": generate_webhook_secret(),
                }
            )
            Subscriptions.create(
                {"event_type_id": self.outbound_type.id, "endpoint_id": endpoint.id}
            )
            endpoints |= endpoint
        Types = self.admin_env["mfg.integration.event.type"]
        with trap_jobs() as trap:
            messages = Types.emit(OUTBOUND, DATA)
            trap.assert_jobs_count(2)  # one delivery job per endpoint
        self.assertEqual(messages._name, "mfg.integration.message")
        self.assertEqual(messages.endpoint_id, endpoints)
        self.assertEqual(set(messages.mapped("direction")), {"outbound"})
        self.assertEqual(set(messages.mapped("state")), {"queued"})
        for message in messages:
            self.assertEqual(json.loads(message.sudo().payload), DATA)

        # subject and record, by keyword and positionally
        about = Types.emit(OUTBOUND, DATA, subject="WH/MO/00042", record=self.system)
        self.assertEqual(set(about.mapped("ce_subject")), {"WH/MO/00042"})
        self.assertEqual(set(about.mapped("result_model")), {self.system._name})
        self.assertEqual(set(about.mapped("result_id")), {self.system.id})
        again = Types.emit(OUTBOUND, DATA, "WH/MO/00043", self.system)
        self.assertEqual(set(again.mapped("ce_subject")), {"WH/MO/00043"})

        # an event type nobody subscribed to: no message
        self.assertFalse(Types.emit(self.other_event_type.code, DATA))
        # and a rolled-back transaction leaves none either
        before = self.env["mfg.integration.message"].search_count([])
        with self.assertRaises(RuntimeError), self.env.cr.savepoint():
            Types.emit(OUTBOUND, DATA)
            raise RuntimeError("the business transaction fails")
        self.assertEqual(self.env["mfg.integration.message"].search_count([]), before)

    # -- dead letters -------------------------------------------------------------

    def test_replay_and_discard(self):
        secret = generate_webhook_secret()
        self.admin_env["mfg.integration.endpoint"].create(
            {
                "system_id": self.system.id,
                "direction": "inbound",
                "code": "contract-dead",
                "signing_secret": secret,
            }
        )
        Ingress = self.env["mfg.integration.ingress"]
        Messages = self.env["mfg.integration.message"]
        ids = []
        for msg_id in ("msg_dead_1", "msg_dead_2"):
            body = json.dumps({"type": self.event_type.code, "data": DATA}).encode()
            _status, answer, _headers = Ingress.receive_webhook(
                "contract-dead",
                "application/json",
                sign_headers(secret, msg_id, body),
                lambda _limit, body=body: body,
                "corr-dead",
            )
            ids.append(answer["id"])
        # nothing handles this test event type: dead letters at the first attempt
        Messages._job_drain(self.system.id)
        messages = self.admin_env["mfg.integration.message"].browse(ids)
        self.assertEqual(set(messages.mapped("state")), {"dead"})

        first, second = messages
        with trap_jobs() as trap:
            first.action_replay()
            trap.assert_jobs_count(1)
        self.assertEqual(first.state, "queued")

        second.action_discard("Order cancelled in the MES")
        self.assertEqual(second.state, "discarded")
        self.assertEqual(second.discard_reason, "Order cancelled in the MES")
        with self.assertRaisesRegex(UserError, "reason"):
            first.action_discard("")
        # a discarded message can be replayed too
        with trap_jobs():
            second.action_replay()
        self.assertEqual(second.state, "queued")
        self.assertFalse(second.discard_reason)

    # -- mappings -----------------------------------------------------------------

    def test_mapping_import_apply_export(self):
        Mappings = self.admin_env["mfg.integration.mapping"]
        mapping = Mappings.import_definition(DEFINITION)
        self.assertEqual(mapping._name, "mfg.integration.mapping")
        self.assertEqual(mapping.apply(VENDOR), {"order": "WH/MO/00042", "quantity": 3})
        with self.assertRaisesRegex(MappingError, r"Line 1 \(order\)"):
            mapping.apply({"qty": 3})

        exported = mapping.export_definition()
        self.assertEqual(json.loads(json.dumps(exported)), exported)
        self.assertEqual(exported["name"], DEFINITION["name"])
        self.assertEqual(
            [line["target"] for line in exported["lines"]], ["order", "quantity"]
        )

        # importing an edited export updates the mapping of the same name
        exported["lines"][1]["source"] = "amount"
        again = Mappings.import_definition(exported)
        self.assertEqual(again, mapping)
        self.assertEqual(
            mapping.apply({"wo": {"number": "WH/MO/7"}, "amount": 5}),
            {"order": "WH/MO/7", "quantity": 5},
        )
        # and one under another name (as JSON text too) is a new mapping
        other = Mappings.import_definition(
            json.dumps(dict(exported, name="Contract copy"))
        )
        self.assertNotEqual(other, mapping)
        self.assertEqual(other.export_definition()["lines"], exported["lines"])


@tagged("post_install", "-at_install")
class TestNoJobRunnerInTests(TransactionCase):
    """The tests above, and scripts tested like them, run jobs themselves (trap_jobs,
    the _job_* methods). A queue_job runner in the test process would also run the
    jobs that tests commit, racing them: with pytest-odoo's --odoo-http, queue_job
    starts one along with the HTTP server unless its root channel has capacity 0,
    which scripts/test.sh sets (ODOO_QUEUE_JOB_CHANNELS=root:0)."""

    def test_no_job_runner_thread_in_the_test_process(self):
        runners = [
            thread
            for thread in threading.enumerate()
            if isinstance(thread, QueueJobRunnerThread)
        ]
        self.assertFalse(
            runners,
            "a queue_job runner runs in the test process: run the tests with "
            "ODOO_QUEUE_JOB_CHANNELS=root:0",
        )
