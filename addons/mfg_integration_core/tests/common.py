import base64
import contextlib
import json
import logging
import os
import pathlib
import uuid
from contextlib import contextmanager
from unittest.mock import patch

from odoo.modules.module import get_module_path
from odoo.tests import TransactionCase, new_test_user
from odoo.tests.common import ChromeBrowser

from odoo.addons.mfg_integration_core.models.mfg_integration_endpoint import (
    ALLOWED_NETWORKS_PARAM,
)
from odoo.addons.queue_job.tests.common import trap_jobs

from mfg_integration.schemas import check_schema, validate
from mfg_integration.simulators import StubServer
from mfg_integration.webhooks import generate_webhook_secret

BATCH_TYPE = "application/cloudevents-batch+json"
MANAGER = "mfg_integration_core.group_mfg_integration_manager"
USER = "mfg_integration_core.group_mfg_integration_user"

SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": ["order", "quantity"],
    "properties": {
        "order": {"type": "string", "minLength": 1},
        "quantity": {"type": "number", "exclusiveMinimum": 0},
    },
    "examples": [{"order": "WH/MO/00001", "quantity": 2}],
}


class MfgIntegrationCase(TransactionCase):
    """Base of the core tests: users of each role, a system and an event type."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.env = cls.env(context=dict(cls.env.context, tracking_disable=True))
        # the tests' receivers are stub servers on this machine
        cls.env["ir.config_parameter"].set_param(ALLOWED_NETWORKS_PARAM, "127.0.0.0/8")
        cls.manager = new_test_user(cls.env, login="mfg_test_manager", groups=MANAGER)
        cls.user = new_test_user(cls.env, login="mfg_test_user", groups=USER)
        cls.outsider = new_test_user(
            cls.env, login="mfg_test_outsider", groups="base.group_user"
        )
        cls.system = cls.env["mfg.integration.system"].create(
            {"name": "Test MES", "code": "test_mes", "kind": "mes"}
        )
        cls.event_type = cls._create_event_type("test.order_started")
        cls.other_event_type = cls._create_event_type("test.order_stopped")

    def swept(self, job_method):
        """Run the stranded-backlog sweep as its cron does; return the ids its
        ``job_method`` jobs (``_job_drain``, ``_job_deliver``) were given."""
        cron = self.env.ref("mfg_integration_core.ir_cron_requeue_stranded")
        self.assertTrue(cron.active)
        with trap_jobs() as trap:
            cron.ir_actions_server_id.run()
        return {
            job.args[0] for job in trap.enqueued_jobs if job.method_name == job_method
        }

    def receive_batch(self, key, *events):
        """Send CloudEvents to the ingress as a batch with ``key`` (jobs trapped):
        return the messages stored for them."""
        body = json.dumps(list(events)).encode()
        with trap_jobs():
            self.env["mfg.integration.ingress"].receive_events(
                key, BATCH_TYPE, lambda _limit: body, "corr-test", None
            )
        Message = self.env["mfg.integration.message"]
        return Message.search([("ce_id", "in", [event["id"] for event in events])])

    def outbound_endpoint(self, code="mes-orders", **values):
        """An outbound endpoint of the test system, delivering to a stub server on
        127.0.0.1 (started here, stopped after the test), subscribed to a new
        outbound event type ``test.order_released``.

        :return: ``(endpoint, server)``
        """
        server = StubServer()
        server.start()
        self.addCleanup(server.stop)
        outbound = self._create_event_type("test.order_released")
        outbound.direction = "outbound"
        endpoint = self.env["mfg.integration.endpoint"].create(
            {
                "name": "MES orders",
                "code": code,
                "system_id": self.system.id,
                "direction": "outbound",
                "url": server.url("/hook"),
                "signing_secret": generate_webhook_secret(),
                "timeout": 2,
                "delivery_concurrency": 1,
                **values,
            }
        )
        self.env["mfg.integration.subscription"].create(
            {"event_type_id": outbound.id, "endpoint_id": endpoint.id}
        )
        return endpoint, server

    @classmethod
    def _create_event_type(cls, code, schema=None):
        return cls.env["mfg.integration.event.type"].create(
            {
                "code": code,
                "name": code,
                "schema_ids": [
                    (0, 0, {"version": 1, "schema_json": json.dumps(schema or SCHEMA)})
                ],
            }
        )


class TourMixin:
    """Runs Odoo tours (the functional users' journeys, on Chromium), mixed into an
    ``HttpCase``. A tour fails on any console error of the page.

    With ``MFG_SCREENSHOTS`` set (``scripts/refresh_screenshots.sh`` sets it), the
    last screen of each journey is kept as
    ``static/description/screenshots/<tour>.png`` of the addon whose test runs it,
    for the documentation.
    """

    #: the longest a tour may take, the first asset build of a cold machine included
    tour_timeout = 600
    tour_login = "mfg_test_manager"

    def tour(self, name, url="/odoo", login=None, cookies=None):
        def run():
            self.start_tour(
                url,
                name,
                login=login or self.tour_login,
                timeout=self.tour_timeout,
                cookies=cookies,
            )

        if os.environ.get("MFG_SCREENSHOTS"):
            addon = type(self).__module__.split(".")[2]
            folder = pathlib.Path(
                get_module_path(addon), "static", "description", "screenshots"
            )
            folder.mkdir(parents=True, exist_ok=True)
            stop = ChromeBrowser.stop

            def screenshot_then_stop(browser):
                shot = browser.take_screenshot(prefix="mfg_")
                if shot is not None:
                    data = shot.result(timeout=self.tour_timeout)["data"]
                    (folder / f"{name}.png").write_bytes(base64.b64decode(data))
                stop(browser)

            with patch.object(ChromeBrowser, "stop", screenshot_then_stop):
                run()
        else:
            run()
        self.env.invalidate_all()  # read what the browser's requests changed


class CatalogueMixin:
    """Checks the catalogue entries a domain addon ships.

    Mixed into a ``TransactionCase`` that sets ``module`` and ``events``
    (``{code: direction}``).
    """

    module = None
    events = {}

    def test_catalogue_entries(self):
        Types = self.env["mfg.integration.event.type"]
        for code, direction in self.events.items():
            with self.subTest(code=code):
                event_type = Types.get_by_code(code)
                self.assertTrue(event_type, f"{code} is not installed")
                self.assertEqual(event_type.direction, direction)
                xmlid = event_type.get_external_id()[event_type.id]
                self.assertTrue(xmlid.startswith(f"{self.module}."), xmlid)
                self.assertEqual(event_type.current_version, 1)
                schema = check_schema(event_type.current_schema_id.schema_json)
                self.assertGreaterEqual(len(schema["examples"]), 1)
                for example in schema["examples"]:
                    self.assertEqual(validate(schema, example), [])
                broken = dict(schema["examples"][0])
                broken.pop(schema["required"][0])
                self.assertTrue(validate(schema, broken))


@contextmanager
def capture_logs():
    """Collect every log message emitted (at any level) inside the block."""
    lines = []

    class Collector(logging.Handler):
        def emit(self, record):
            lines.append(record.getMessage())

    root = logging.getLogger()
    collector, level = Collector(logging.DEBUG), root.level
    root.addHandler(collector)
    root.setLevel(logging.DEBUG)
    try:
        yield lines
    finally:
        root.removeHandler(collector)
        root.setLevel(level)


@contextmanager
def event_handler(env, code, func):
    """Give ``code`` a handler for the duration of a test.

    Tests only: real handlers are methods that domain modules add to
    ``mfg.integration.handler`` by inheritance.
    """
    handler_class = type(env["mfg.integration.handler"])
    name = env["mfg.integration.handler"]._handler_method_name(code)
    with patch.object(handler_class, name, func, create=True):
        yield


@contextmanager
def flow_actions(env, **funcs):
    """Register flow actions ``code=func`` for the duration of a test (each func
    is called ``func(actions, run, step)``; its docstring's first line is its label).

    Tests only: real actions are ``_flow_<code>`` methods that domain modules add to
    ``mfg.integration.flow.action`` by inheritance.
    """
    action_class = type(env["mfg.integration.flow.action"])
    with contextlib.ExitStack() as stack:
        for code, func in funcs.items():
            stack.enter_context(
                patch.object(action_class, f"_flow_{code}", func, create=True)
            )
        yield


def run_jobs(trap, rounds=20):
    """Perform the trapped jobs, and the jobs they enqueue, until none is left
    (jobs whose time has not come find nothing to do)."""
    for _round in range(rounds):
        if not trap.enqueued_jobs:
            return
        trap.perform_enqueued_jobs()
    raise AssertionError(f"jobs still enqueued after {rounds} rounds")


class DomainFlowMixin:
    """Helpers of the domain modules' flow tests: send an event as an external
    system would (through the ingress, checked against its schema first), process
    it as the job would, and check the outcome. Mixed into a ``TransactionCase``;
    ``correlation_id`` is the X-Correlation-ID the events are sent with."""

    correlation_id = "corr-test"

    def send_event(self, key, code, data, event_id=None):
        types = self.env["mfg.integration.event.type"]
        schema = types.get_by_code(code).current_schema_id.schema_json
        self.assertEqual(validate(schema, data), [], "test data must match the schema")
        body = json.dumps(
            {
                "specversion": "1.0",
                "id": event_id or str(uuid.uuid4()),
                "source": "urn:test",
                "type": code,
                "data": data,
            }
        ).encode()
        Message = self.env["mfg.integration.message"]
        with trap_jobs():
            status, answer, _headers = self.env[
                "mfg.integration.ingress"
            ].receive_events(
                key.sudo(),
                "application/cloudevents+json",
                lambda _limit: body,
                self.correlation_id,
                None,
            )
            self.assertIn(status, (200, 202), answer)
            Message._job_drain(key.system_id.id)
        message = Message.browse(answer["id"])
        message.invalidate_recordset()
        return message

    def assertDone(self, message):
        self.assertEqual(
            message.state, "done", f"{message.error_class}: {message.error_message}"
        )

    def assertDead(self, message, error_class, pointer):
        self.assertEqual(message.state, "dead")
        self.assertEqual(message.error_class, error_class, message.error_message)
        self.assertIn(pointer, message.error_message)
