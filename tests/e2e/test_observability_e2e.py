"""Metrics and health against the real server and job runner."""

import os
import shutil
import subprocess
import time
import uuid
from pathlib import Path

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from mfg_integration.client import Client

EVENT_TYPE = "work_order.progress_reported"


def _metrics_key(committed, hub):
    def generate(env):
        system = env["mfg.integration.system"].browse(hub["system_id"])
        _key, token = env["mfg.integration.api.key"].generate(
            system, "e2e prometheus", metrics_scope=True
        )
        return token

    return committed(generate)


def _scrape(hub, token):
    response = requests.get(
        f"{hub['base']}/api/mfg/v1/metrics",
        headers={"Authorization": f"Bearer {token}"},
        timeout=60,
    )
    assert response.status_code == 200, response.text
    return response.text


def _value(text, name, **labels):
    total = 0.0
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(
                sample.labels.get(k) == v for k, v in labels.items()
            ):
                total += sample.value
    return total


def test_scrape_counts_what_the_runner_did_and_promtool_accepts_it(hub, committed):
    token = _metrics_key(committed, hub)
    system = committed(
        lambda env: env["mfg.integration.system"].browse(hub["system_id"]).code
    )
    example = committed(
        lambda env: env["mfg.integration.event.type"]
        .get_by_code(EVENT_TYPE)
        .current_schema_id.get_schema()["examples"][0]
    )
    labels = {"system": system, "event_type": EVENT_TYPE}
    dead_labels = {**labels, "outcome": "dead", "error_class": "reference.not-found"}
    gauge_labels = {
        "system": system,
        "direction": "inbound",
        "error_class": "reference.not-found",
    }
    # the hub's system is shared with the other e2e tests: count what this one adds
    text = _scrape(hub, token)
    dead_before = _value(
        text, "mfg_integration_messages_processed_total", **dead_labels
    )
    received_before = _value(
        text, "mfg_integration_events_received_total", outcome="accepted", **labels
    )
    letters_before = _value(text, "mfg_integration_dead_letters", **gauge_labels)
    client = Client(hub["base"], hub["token"], timeout=60)
    tag = uuid.uuid4().hex[:8]
    answer = client.send_batch(
        [
            {
                "specversion": "1.0",
                "id": f"obs-{tag}-{index}",
                "source": "urn:e2e:mes",
                "type": EVENT_TYPE,
                "data": example,
            }
            for index in range(5)
        ]
    )
    assert answer["accepted"] == 5, answer
    # the example names an order this database lacks: the runner's job makes each
    # a dead letter (reference.not-found), and the scrape counts that
    deadline = time.monotonic() + 120
    while True:
        text = _scrape(hub, token)
        dead = _value(text, "mfg_integration_messages_processed_total", **dead_labels)
        if dead - dead_before >= 5 or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert dead - dead_before == 5
    received = _value(
        text, "mfg_integration_events_received_total", outcome="accepted", **labels
    )
    assert received - received_before == 5
    letters = _value(text, "mfg_integration_dead_letters", **gauge_labels)
    assert letters - letters_before == 5
    assert _value(text, "mfg_integration_requests_total", route="events") >= 1
    promtool = os.environ.get("MFG_PROMTOOL") or shutil.which("promtool")
    if not promtool:
        pytest.skip("promtool is not installed: the scrape was checked by the parser")
    check = subprocess.run(
        [promtool, "check", "metrics"],
        input=text.encode(),
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert check.returncode == 0, check.stdout.decode() + check.stderr.decode()


def test_health_sees_the_job_runner_and_gives_figures_to_operators(hub, committed):
    token = _metrics_key(committed, hub)
    url = f"{hub['base']}/api/mfg/v1/health"
    anonymous = requests.get(url, timeout=60)
    body = anonymous.json()
    assert body["job_runner"] == "alive", body
    assert body["database"] == "ok"
    assert "queue" not in body and "database_latency_ms" not in body
    operator = requests.get(
        url, headers={"Authorization": f"Bearer {token}"}, timeout=60
    ).json()
    assert operator["job_runner"] == "alive"
    assert set(operator["queue"]) >= {"pending_messages", "dead_letters", "jobs"}
    refused = requests.get(
        url, headers={"Authorization": f"Bearer {hub['token']}"}, timeout=60
    )
    assert refused.status_code == 403


def test_served_api_documents_are_valid(hub, e2e):
    from openapi_spec_validator import validate as validate_openapi

    base = f"{hub['base']}/api/mfg/v1"
    validate_openapi(requests.get(f"{base}/openapi.json", timeout=60).json())
    asyncapi = e2e.load_module(
        "mfg_pure_test_asyncapi",
        Path(__file__).parents[1] / "pure" / "test_asyncapi.py",
    )
    document = requests.get(f"{base}/asyncapi.json", timeout=60).json()
    errors = sorted(asyncapi.official_validator().iter_errors(document), key=str)
    assert not errors, [error.message for error in errors[:5]]
    assert "work_order.progress_reported" in document["channels"]
    assert "send.integration.circuit_opened" in document["operations"]
