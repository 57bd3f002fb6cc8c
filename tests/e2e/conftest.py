"""End-to-end tier: a real Odoo server process, with its queue_job runner, on the
database that scripts/test.sh installed, driven over real HTTP on 127.0.0.1.

scripts/test.sh passes MFG_E2E_CONFIG, MFG_E2E_DB, MFG_E2E_ODOO_CMD and MFG_E2E_LOG.
Without them (or without Odoo) the whole tier is skipped, loudly, by test.sh.
"""

import os
import shlex
import socket
import subprocess
import time
import uuid

import pytest
import requests

ENV_VARS = ("MFG_E2E_CONFIG", "MFG_E2E_DB", "MFG_E2E_ODOO_CMD", "MFG_E2E_LOG")


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


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
        ["-c", settings["MFG_E2E_CONFIG"], "-d", settings["MFG_E2E_DB"]]
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

    suffix = uuid.uuid4().hex[:6]
    secret = generate_webhook_secret()

    def setup(env):
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
        }

    data = committed(setup)
    port = _free_port()
    command = shlex.split(settings["MFG_E2E_ODOO_CMD"]) + [
        "-c",
        settings["MFG_E2E_CONFIG"],
        "-d",
        settings["MFG_E2E_DB"],
        "--http-interface=127.0.0.1",
        f"--http-port={port}",
        "--workers=0",
        "--max-cron-threads=0",
        "--load=base,rpc,web,queue_job",
        "--log-level=info",
        f"--logfile={settings['MFG_E2E_LOG']}",
    ]
    server = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while True:
        try:
            if requests.get(f"{base}/api/mfg/v1/health", timeout=2).status_code in (
                200,
                503,
            ):
                break
        except requests.ConnectionError:
            pass
        if server.poll() is not None or time.monotonic() > deadline:
            server.kill()
            pytest.fail(f"the Odoo server did not start; see {settings['MFG_E2E_LOG']}")
        time.sleep(0.3)
    data["base"] = base
    yield data

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

    deadline = time.monotonic() + 60
    while committed(busy) and time.monotonic() < deadline:
        time.sleep(0.3)
    server.terminate()
    try:
        server.wait(30)
    except subprocess.TimeoutExpired:
        server.kill()

    def cleanup(env):
        env.cr.execute(
            "DELETE FROM mfg_integration_message WHERE system_id = %s",
            [data["system_id"]],
        )
        env.cr.execute("DELETE FROM queue_job WHERE user_id = %s", [data["user_id"]])
        endpoints = env["mfg.integration.endpoint"].with_context(active_test=False)
        endpoints = endpoints.search([("system_id", "=", data["system_id"])])
        env["mfg.integration.subscription"].with_context(active_test=False).search(
            [("endpoint_id", "in", endpoints.ids)]
        ).unlink()
        endpoints.unlink()
        env["mfg.integration.api.key"].search(
            [("system_id", "=", data["system_id"])]
        ).unlink()
        env["mfg.integration.system"].browse(data["system_id"]).unlink()
        user = env["res.users"].with_context(active_test=False).browse(data["user_id"])
        partner = user.partner_id
        user.unlink()
        partner.unlink()

    committed(cleanup)
