"""End-to-end tier: a real Odoo server process, with its queue_job runner, on the
database that scripts/test.sh installed, driven over real HTTP on 127.0.0.1.

scripts/test.sh passes MFG_E2E_CONFIG, MFG_E2E_DB, MFG_E2E_ODOO_CMD and MFG_E2E_LOG.
Without them (or without Odoo) the whole tier is skipped, loudly, by test.sh.
MFG_E2E_START_TIMEOUT (seconds, default 600) bounds the wait for the server.
"""

import importlib.util
import os
import shlex
import sys
import time
import uuid
from pathlib import Path
from types import SimpleNamespace

import pytest

#: system parameter: restricted networks that deliveries may reach all the same
ALLOWED_NETWORKS = "mfg_integration.outbound_allowed_networks"

ENV_VARS = ("MFG_E2E_CONFIG", "MFG_E2E_DB", "MFG_E2E_ODOO_CMD", "MFG_E2E_LOG")


def load_module(name, path):
    """Import the Python file at ``path`` as module ``name`` (once): the helper
    files of the test tiers live in tests/, which is not a package."""
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


harness = load_module("mfg_e2e_harness", Path(__file__).with_name("harness.py"))


#: condition on queue_job: the jobs of the systems %(systems)s (a list of ids): run as
#: their technical users, or draining them, or delivering to their endpoints
#: (identity keys: see ``tools.delay_once``)
JOBS_OF_SYSTEMS = """
    user_id IN (SELECT user_id FROM mfg_integration_system
                 WHERE id = ANY(%(systems)s))
    OR split_part(identity_key, '_', 1) = 'mfg'
    AND (
        split_part(identity_key, '_', 3) = 'drain'
        AND split_part(identity_key, '_', 4) = ANY(%(systems)s::text[])
        OR split_part(identity_key, '_', 3) = 'deliver'
        AND split_part(identity_key, '_', 4) IN (
            SELECT id::text FROM mfg_integration_endpoint
             WHERE system_id = ANY(%(systems)s)
        )
    )
"""


def prepare_database(env):
    """Ready the database for tests that run a server: the demo data's
    subscriptions, which would send the tests' events to the demo's URLs, are
    paused, and deliveries may reach this machine (the tests' receivers are stub
    servers here). Return what :func:`restore_database` needs."""
    subscriptions = env["mfg.integration.subscription"].search([])
    subscriptions.active = False
    params = env["ir.config_parameter"]
    allowed = params.get_param(ALLOWED_NETWORKS)
    params.set_param(ALLOWED_NETWORKS, "127.0.0.0/8")
    return {"subscription_ids": subscriptions.ids, "allowed_networks": allowed}


def restore_database(env, prepared):
    """Undo :func:`prepare_database`."""
    env["mfg.integration.subscription"].with_context(active_test=False).browse(
        prepared["subscription_ids"]
    ).active = True
    env["ir.config_parameter"].set_param(ALLOWED_NETWORKS, prepared["allowed_networks"])


def remove_system(env, system_id, user_id):
    """Remove a system the tests made, with its messages, jobs, endpoints, keys and
    technical user."""
    env.cr.execute(
        f"DELETE FROM queue_job WHERE {JOBS_OF_SYSTEMS}", {"systems": [system_id]}
    )
    env.cr.execute(
        "DELETE FROM mfg_integration_message WHERE system_id = %s", [system_id]
    )
    endpoints = env["mfg.integration.endpoint"].with_context(active_test=False)
    endpoints = endpoints.search([("system_id", "=", system_id)])
    env["mfg.integration.subscription"].with_context(active_test=False).search(
        [("endpoint_id", "in", endpoints.ids)]
    ).unlink()
    endpoints.unlink()
    env["mfg.integration.api.key"].search([("system_id", "=", system_id)]).unlink()
    env["mfg.integration.system"].browse(system_id).unlink()
    user = env["res.users"].with_context(active_test=False).browse(user_id)
    partner = user.partner_id
    user.unlink()
    partner.unlink()


def amqp(func):
    """Run ``func(channel)`` on a connection of its own to the local RabbitMQ (a
    connection kept open but idle while a test waits would miss its heartbeats)."""
    import pika

    connection = pika.BlockingConnection(
        pika.ConnectionParameters(
            "127.0.0.1", 5672, credentials=pika.PlainCredentials("guest", "guest")
        )
    )
    try:
        return func(connection.channel())
    finally:
        connection.close()


@pytest.fixture(scope="session")
def e2e():
    """What tests/e2e/faults shares with this tier (conftest modules are not
    imported)."""
    return SimpleNamespace(
        harness=harness,
        load_module=load_module,
        jobs_of_systems=JOBS_OF_SYSTEMS,
        prepare_database=prepare_database,
        restore_database=restore_database,
        remove_system=remove_system,
        amqp=amqp,
    )


@pytest.fixture(scope="session")
def settings():
    missing = [name for name in ENV_VARS if not os.environ.get(name)]
    if missing:
        pytest.fail(
            "the e2e tier runs from scripts/test.sh, which sets " + ", ".join(missing)
        )
    return {name: os.environ[name] for name in ENV_VARS}


@pytest.fixture(scope="session")
def registry(settings):
    import odoo.init  # noqa: F401  (sets up Odoo's import-time globals)
    from odoo.orm.registry import Registry
    from odoo.tools import config

    config.parse_config(
        ["-c", settings["MFG_E2E_CONFIG"], "-d", settings["MFG_E2E_DB"]],
        setup_logging=True,  # as before, without Odoo's PendingDeprecationWarning
    )
    return Registry(settings["MFG_E2E_DB"])


@pytest.fixture(scope="session")
def committed(registry):
    """Run ``func(env)`` as superuser in a transaction of its own, committed."""
    from odoo import api

    def run(func):
        with registry.cursor() as cr:
            return func(api.Environment(cr, api.SUPERUSER_ID, {}))

    return run


@pytest.fixture(scope="session")
def hub(settings, committed):
    """A system with an API key and a signed inbound endpoint, and a running server."""
    from mfg_integration.webhooks import generate_webhook_secret

    start_timeout = harness.start_timeout()  # a bad value fails before any setup
    suffix = uuid.uuid4().hex[:6]
    secret = generate_webhook_secret()

    def setup(env):
        prepared = prepare_database(env)
        system = env["mfg.integration.system"].create(
            {"name": f"E2E {suffix}", "code": f"e2e_{suffix}", "kind": "mes"}
        )
        key, token = env["mfg.integration.api.key"].generate(system, "e2e")
        endpoint = env["mfg.integration.endpoint"].create(
            {
                "name": "E2E hooks",
                "code": f"e2e-{suffix}",
                "system_id": system.id,
                "direction": "inbound",
                "signing_secret": secret,
            }
        )
        return {
            "system_id": system.id,
            "user_id": system.user_id.id,
            "key_id": key.id,
            "token": token,
            "endpoint_code": endpoint.code,
            "endpoint_id": endpoint.id,
            "secret": secret,
            "prepared": prepared,
        }

    data = committed(setup)
    port = harness.free_port()
    command = shlex.split(settings["MFG_E2E_ODOO_CMD"]) + [
        "-c",
        settings["MFG_E2E_CONFIG"],
        "-d",
        settings["MFG_E2E_DB"],
        "--http-interface=127.0.0.1",
        f"--http-port={port}",
        "--workers=0",
        "--max-cron-threads=0",
        "--load=base,rpc,web,queue_job,mfg_integration_core",
        "--log-level=info",
        f"--logfile={settings['MFG_E2E_LOG']}",
    ]
    # What the server prints before its logging is set up (an import error, a bad
    # option) goes to a file of its own: the log check reads the log file only.
    output = settings["MFG_E2E_LOG"] + ".out"
    base = f"http://127.0.0.1:{port}"

    # Let the job runner finish the jobs the tests caused before stopping the server,
    # so that no job is dispatched to a server that is going away.
    def busy(env):
        env.cr.execute(
            "SELECT count(*) FROM queue_job WHERE user_id = %s "
            "AND state IN ('pending', 'enqueued', 'started') "
            "AND (eta IS NULL OR eta <= now() AT TIME ZONE 'UTC')",
            [data["user_id"]],
        )
        return env.cr.fetchone()[0]

    def cleanup(env):
        remove_system(env, data["system_id"], data["user_id"])
        restore_database(env, data["prepared"])

    # Whatever happens from here on (the server does not start, a test fails, the run
    # is interrupted), the server's process group is stopped and the data removed.
    server = None
    try:
        server = harness.start_server(command, output_path=output)
        problem = None
        try:
            harness.wait_until_ready(
                f"{base}/api/mfg/v1/health",
                server,
                start_timeout,
                log_paths=(settings["MFG_E2E_LOG"], output),
            )
        except harness.ServerDidNotStart as exc:
            problem = str(exc)
        if problem:
            pytest.fail(f"the Odoo server did not start: {problem}", pytrace=False)
        data["base"] = base
        yield data
        deadline = time.monotonic() + 60
        while server.poll() is None and committed(busy) and time.monotonic() < deadline:
            time.sleep(0.3)
    finally:
        if server is not None:
            harness.stop_server(server)
        committed(cleanup)


@pytest.fixture
def outbound_endpoint(committed):
    """Make an outbound endpoint of a system, signed with ``secret``, subscribed to
    the given event types: ``make(system_id, url, secret, *event_codes)`` returns its
    id. Its subscriptions are removed and it is archived after the test, so that
    the other tests' events are not delivered to a receiver that is gone."""
    created = []

    def make(system_id, url, secret, *event_codes):
        def create(env):
            endpoint = env["mfg.integration.endpoint"].create(
                {
                    "system_id": system_id,
                    "direction": "outbound",
                    "code": f"e2e-out-{uuid.uuid4().hex[:8]}",
                    "url": url,
                    "signing_secret": secret,
                }
            )
            Types = env["mfg.integration.event.type"]
            for code in event_codes:
                env["mfg.integration.subscription"].create(
                    {
                        "event_type_id": Types.get_by_code(code).id,
                        "endpoint_id": endpoint.id,
                    }
                )
            return endpoint.id

        endpoint_id = committed(create)
        created.append(endpoint_id)
        return endpoint_id

    yield make

    def retire(env):
        endpoints = env["mfg.integration.endpoint"].browse(created)
        env["mfg.integration.subscription"].with_context(active_test=False).search(
            [("endpoint_id", "in", endpoints.ids)]
        ).unlink()
        endpoints.active = False

    if created:
        committed(retire)
