import json
import threading
import uuid
from unittest.mock import patch

from psycopg2 import errors as pg_errors

from odoo import api
from odoo.modules import module as odoo_module
from odoo.tests import TransactionCase, tagged

from odoo.addons.mfg_integration_core.models.mfg_integration_endpoint import (
    ALLOWED_NETWORKS_PARAM,
)
from odoo.addons.queue_job.tests.common import trap_jobs

from mfg_integration.simulators import StubServer
from mfg_integration.webhooks import generate_webhook_secret

from .common import SCHEMA

THREADS = 8


class CommittedMixin:
    """Tests that need real, separate transactions: their setup is committed
    through cursors of their own, and removed at the end."""

    def _committed(self, func):
        with self.registry.cursor() as cr:
            env = api.Environment(cr, api.SUPERUSER_ID, {"tracking_disable": True})
            return func(env)


@tagged("post_install", "-at_install")
class TestConcurrentIngress(CommittedMixin, TransactionCase):
    """Identical events posted at the same time by 8 workers: exactly one message.

    Unlike the other tests, this one needs real, separate transactions: the setup is
    committed through cursors of its own and removed at the end.
    """

    def setUp(self):
        super().setUp()
        suffix = uuid.uuid4().hex[:8]

        def setup(env):
            event_type = env["mfg.integration.event.type"].create(
                {
                    "code": f"test.concurrent_{suffix}",
                    "name": "Concurrency test",
                    "schema_ids": [
                        (0, 0, {"version": 1, "schema_json": json.dumps(SCHEMA)})
                    ],
                }
            )
            system = env["mfg.integration.system"].create(
                {"name": "Concurrency", "code": f"concurrency_{suffix}"}
            )
            key, _token = env["mfg.integration.api.key"].generate(system, "k")
            return event_type.id, system.id, key.id, system.user_id.id

        self.type_id, self.system_id, self.key_id, self.user_id = self._committed(setup)
        self.code = f"test.concurrent_{suffix}"
        self.addCleanup(self._cleanup)

    def _cleanup(self):
        def cleanup(env):
            env.cr.execute(
                "DELETE FROM mfg_integration_message WHERE system_id = %s",
                [self.system_id],
            )
            env.cr.execute(
                "DELETE FROM queue_job WHERE channel LIKE %s",
                [f"root.mfg_integration.inbound.{self.code.split('_')[-1]}%"],
            )
            env.cr.execute("DELETE FROM queue_job WHERE user_id = %s", [self.user_id])
            env["mfg.integration.api.key"].browse(self.key_id).unlink()
            env["mfg.integration.system"].browse(self.system_id).unlink()
            env["mfg.integration.event.type"].browse(self.type_id).unlink()
            user = env["res.users"].with_context(active_test=False).browse(self.user_id)
            partner = user.partner_id
            user.unlink()
            partner.unlink()

        self._committed(cleanup)

    def _post_once(self, body, results, barrier):
        barrier.wait()
        for _try in range(5):  # as Odoo's HTTP layer retries concurrency errors
            try:
                with self.registry.cursor() as cr:
                    env = api.Environment(cr, self.user_id, {})
                    key = env["mfg.integration.api.key"].sudo().browse(self.key_id)
                    status, answer, _headers = env[
                        "mfg.integration.ingress"
                    ].receive_events(
                        key, "application/json", lambda _limit: body, "c", None
                    )
                results.append((status, answer["id"]))
                return
            except pg_errors.SerializationFailure:
                continue
        results.append(("gave up", None))

    def test_eight_identical_posts_make_one_message(self):
        body = json.dumps(
            {
                "specversion": "1.0",
                "id": "same-event",
                "source": "urn:test",
                "type": self.code,
                "data": {"order": "WH/MO/1", "quantity": 1},
            }
        ).encode()
        results, barrier = [], threading.Barrier(THREADS)
        threads = [
            threading.Thread(target=self._post_once, args=(body, results, barrier))
            for _i in range(THREADS)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        statuses = sorted(status for status, _id in results)
        self.assertEqual(statuses, [200] * (THREADS - 1) + [202])
        self.assertEqual(len({msg_id for _status, msg_id in results}), 1)
        count = self._committed(
            lambda env: env["mfg.integration.message"].search_count(
                [("system_id", "=", self.system_id)]
            )
        )
        self.assertEqual(count, 1)

    def test_a_message_committed_while_a_drain_runs_is_not_stranded(self):
        """The ingress saw a drain job already enqueued and added none, but that
        job's snapshot predates the message: the job must have another one look."""
        body = json.dumps(
            {
                "specversion": "1.0",
                "id": "late-event",
                "source": "urn:test",
                "type": self.code,
                "data": {"order": "WH/MO/1", "quantity": 1},
            }
        ).encode()
        with self.registry.cursor() as job_cr:
            job_env = api.Environment(job_cr, api.SUPERUSER_ID, {})
            Message = job_env["mfg.integration.message"]
            Message.search_count([])  # the job's snapshot is taken here
            results = []
            self._post_once(body, results, threading.Barrier(1))
            self.assertEqual(results[0][0], 202)
            with trap_jobs() as trap:
                Message._job_drain(self.system_id)
                trap.assert_jobs_count(1)
                job = trap.enqueued_jobs[0]
                self.assertEqual(job.method_name, "_job_drain")
                self.assertEqual(job.args, (self.system_id,))
                self.assertFalse(job.eta)  # nobody holds it: at once
            # the follow-up job, in a fresh transaction, finds it; nothing is left
            job_cr.rollback()
            seen = Message.search([("system_id", "=", self.system_id)]).ids
            with trap_jobs() as trap:
                self.assertFalse(Message._unseen_due_messages(self.system_id, seen))
            job_cr.rollback()


@tagged("post_install", "-at_install")
class TestDeliveryDurability(CommittedMixin, TransactionCase):
    """A delivery job whose last write fails must not send its delivered messages
    again. Real, committed transactions, as in production (removed at the end)."""

    def setUp(self):
        super().setUp()
        self.server = StubServer()
        self.server.start()
        self.addCleanup(self.server.stop)
        suffix = uuid.uuid4().hex[:8]
        self.code = f"test.durable_{suffix}"

        def setup(env):
            # the receiver is a stub server on this machine
            params = env["ir.config_parameter"]
            self.allowed_networks = params.get_param(ALLOWED_NETWORKS_PARAM)
            params.set_param(ALLOWED_NETWORKS_PARAM, "127.0.0.0/8")
            event_type = env["mfg.integration.event.type"].create(
                {
                    "code": self.code,
                    "name": "Durability test",
                    "direction": "outbound",
                    "schema_ids": [
                        (0, 0, {"version": 1, "schema_json": json.dumps(SCHEMA)})
                    ],
                }
            )
            system = env["mfg.integration.system"].create(
                {"name": "Durability", "code": f"durable_{suffix}"}
            )
            endpoint = env["mfg.integration.endpoint"].create(
                {
                    "system_id": system.id,
                    "direction": "outbound",
                    "code": "receiver",
                    "url": self.server.url("/events"),
                    "signing_secret": generate_webhook_secret(),
                    "delivery_concurrency": 1,
                }
            )
            env["mfg.integration.subscription"].create(
                {"event_type_id": event_type.id, "endpoint_id": endpoint.id}
            )
            for order in ("WH/MO/1", "WH/MO/2", "WH/MO/3"):
                env["mfg.integration.event.type"].emit(
                    self.code, {"order": order, "quantity": 1}
                )
            return system.id, endpoint.id

        self.system_id, self.endpoint_id = self._committed(setup)
        self.addCleanup(self._cleanup)

    def _cleanup(self):
        def cleanup(env):
            env["ir.config_parameter"].set_param(
                ALLOWED_NETWORKS_PARAM, self.allowed_networks
            )
            env.cr.execute(
                "DELETE FROM mfg_integration_message WHERE endpoint_id = %s",
                [self.endpoint_id],
            )
            env.cr.execute(
                "DELETE FROM queue_job WHERE channel LIKE %s",
                [f"root.mfg_integration.outbound.durable_{self.code[-8:]}%"],
            )
            system = env["mfg.integration.system"].browse(self.system_id)
            user = system.user_id.with_context(active_test=False)
            partner = user.partner_id
            env["mfg.integration.subscription"].search(
                [("endpoint_id", "=", self.endpoint_id)]
            ).unlink()
            env["mfg.integration.endpoint"].browse(self.endpoint_id).unlink()
            system.unlink()
            if user.exists():
                user.unlink()
            if partner.exists():
                partner.unlink()
            env["queue.job.channel"].search(
                [("name", "=", f"durable_{self.code[-8:]}-receiver")]
            ).unlink()
            env["mfg.integration.event.type"].search(
                [("code", "=", self.code)]
            ).unlink()

        self._committed(cleanup)

    def _states(self):
        return self._committed(
            lambda env: sorted(
                env["mfg.integration.message"]
                .search([("endpoint_id", "=", self.endpoint_id)])
                .mapped("state")
            )
        )

    def test_outcomes_survive_a_failure_at_the_end_of_the_job(self):
        Delivery = type(self.env["mfg.integration.delivery"])
        with (
            patch.object(odoo_module, "current_test", False),
            patch.object(
                Delivery,
                "_schedule_retry",
                side_effect=pg_errors.SerializationFailure("concurrent update"),
            ),
            self.assertRaises(pg_errors.SerializationFailure),
            self.registry.cursor() as cr,
        ):
            env = api.Environment(cr, api.SUPERUSER_ID, {})
            env["mfg.integration.delivery"]._job_deliver(self.endpoint_id)
        self.assertEqual(len(self.server.requests), 3)
        self.assertEqual(self._states(), ["done"] * 3)
        # queue_job retries the job: nothing is sent twice
        with patch.object(odoo_module, "current_test", False):
            self._committed(
                lambda env: env["mfg.integration.delivery"]._job_deliver(
                    self.endpoint_id
                )
            )
        self.assertEqual(len(self.server.requests), 3)
        ids = {request.headers["webhook-id"] for request in self.server.requests}
        self.assertEqual(len(ids), 3)
