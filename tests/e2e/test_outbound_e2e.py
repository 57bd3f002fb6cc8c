import json
import os
import subprocess
import sys
import time

from standardwebhooks.webhooks import Webhook

from mfg_integration.client import Client
from mfg_integration.simulators import StubServer
from mfg_integration.webhooks import generate_webhook_secret

OUTBOUND = "production_order.released"
INBOUND = "work_order.progress_reported"


def _example(committed, code):
    def read(env):
        event_type = env["mfg.integration.event.type"].get_by_code(code)
        return event_type.current_schema_id.get_schema()["examples"][0]

    return committed(read)


def test_emitted_event_is_delivered_signed_by_the_job_runner(hub, committed):
    secret = generate_webhook_secret()
    data = _example(committed, OUTBOUND)
    with StubServer() as receiver:

        def setup(env):
            endpoint = env["mfg.integration.endpoint"].create(
                {
                    "name": "E2E receiver",
                    "code": "e2e-receiver",
                    "system_id": hub["system_id"],
                    "direction": "outbound",
                    "url": receiver.url("/events"),
                    "signing_secret": secret,
                }
            )
            event_type = env["mfg.integration.event.type"].get_by_code(OUTBOUND)
            env["mfg.integration.subscription"].create(
                {"event_type_id": event_type.id, "endpoint_id": endpoint.id}
            )
            return endpoint.id

        endpoint_id = committed(setup)

        def emit_then_fail(env):
            env["mfg.integration.event.type"].emit(OUTBOUND, data)
            env.cr.rollback()

        committed(emit_then_fail)  # a rolled-back emit leaves nothing to deliver
        message_ids = committed(
            lambda env: env["mfg.integration.event.type"]
            .emit(OUTBOUND, data, subject="e2e")
            .ids
        )
        assert len(message_ids) == 1

        def state(env):
            return env["mfg.integration.message"].browse(message_ids).state

        deadline = time.monotonic() + 60
        while committed(state) != "done" and time.monotonic() < deadline:
            time.sleep(0.3)
        assert committed(state) == "done"
        (received,) = receiver.requests
        headers = {k.lower(): v for k, v in received.headers.items()}
        event = Webhook(secret).verify(received.body, headers)
        assert event["subject"] == "e2e"
        assert event["data"] == data

        def outbound_count(env):
            return env["mfg.integration.message"].search_count(
                [("endpoint_id", "=", endpoint_id)]
            )

        assert committed(outbound_count) == 1


def test_sdk_and_cli_against_the_real_server(hub, committed):
    data = _example(committed, INBOUND)
    with Client(hub["base"], hub["token"]) as client:
        first = client.send_event(INBOUND, data, source="urn:e2e:sdk", id="sdk-1")
        assert first["status"] == "accepted"
        again = client.send_event(INBOUND, data, source="urn:e2e:sdk", id="sdk-1")
        assert again["duplicate"] is True and again["id"] == first["id"]
        batch = client.send_batch(
            [
                {
                    "specversion": "1.0",
                    "id": f"sdk-b{i}",
                    "source": "urn:e2e:sdk",
                    "type": INBOUND,
                    "data": data,
                }
                for i in range(3)
            ]
        )
        assert batch["accepted"] == 3
        assert client.message_status(first["id"])["cloudevent_id"] == "sdk-1"
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "mfg_integration.cli",
            "send",
            "--url",
            hub["base"],
            "--key-env",
            "E2E_KEY",
            "--type",
            INBOUND,
            "--source",
            "urn:e2e:cli",
            "--id",
            "cli-1",
            "--data",
            json.dumps(data),
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "E2E_KEY": hub["token"]},
        check=False,
        timeout=60,
    )
    assert completed.returncode == 0, completed.stderr
    assert json.loads(completed.stdout)["status"] == "accepted"
    assert hub["token"] not in completed.stdout + completed.stderr
