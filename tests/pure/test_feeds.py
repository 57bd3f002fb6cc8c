"""The feed forwarder and ``mfg-integration consume``: what is POSTed to the hub for
a broker message, how the hub's answer decides the broker's fate of the message,
and the command's usage errors. The hub is a real HTTP server on 127.0.0.1
(:class:`~mfg_integration.simulators.StubServer`); the consumer against a real
broker and a real hub is in tests/e2e/test_broker_e2e.py."""

import base64
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from datetime import datetime, timezone

import pytest

from mfg_integration import cli, feeds
from mfg_integration.brokers import BrokerMessage
from mfg_integration.simulators import StubServer, closed_port_url
from mfg_integration.webhooks import generate_webhook_secret, verify_webhook

SECRET = generate_webhook_secret()
OLD_SECRET = generate_webhook_secret()


def message(body=b'{"state": "down"}', msg_id="mqtt-1", **properties):
    return BrokerMessage(
        body=body,
        destination="plant/press/P1/state",
        msg_id=msg_id,
        redelivered=False,
        properties=properties,
    )


@pytest.fixture
def hub():
    with StubServer() as stub:
        yield stub


# -- feed_body -----------------------------------------------------------------


def test_feed_body_carries_json_payloads_as_json():
    when = datetime(2026, 12, 3, 6, 0, tzinfo=timezone.utc)
    body = feeds.feed_body(message(line="L1"), received_at=when)
    assert body == {
        "topic": "plant/press/P1/state",
        "data": {"state": "down"},
        "properties": {"line": "L1"},
        "timestamp": "2026-12-03T06:00:00Z",
    }


def test_feed_body_carries_text_and_binary_payloads():
    assert feeds.feed_body(message(b"DOWN 17"))["data"] == "DOWN 17"
    raw = b"\xff\x00\x81"
    data = feeds.feed_body(message(raw))["data"]
    assert base64.b64decode(data["base64"]) == raw


def test_feed_body_timestamp_defaults_to_now():
    before = datetime.now(timezone.utc)
    stamp = feeds.feed_body(message())["timestamp"]
    parsed = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    assert parsed >= before.replace(microsecond=0)


# -- FeedForwarder ---------------------------------------------------------------


def test_forward_posts_a_signed_body_to_the_feed_route(hub):
    hub.reply(202, {"id": 7, "status": "accepted"})
    forwarder = feeds.FeedForwarder(hub.base_url, "press iot", [SECRET, OLD_SECRET])
    try:
        assert forwarder.forward(message(msg_id="mqtt-abc")) == (feeds.ACK, "stored")
    finally:
        forwarder.close()
    [request] = hub.requests
    assert request.method == "POST"
    assert request.path == "/api/mfg/v1/feeds/press%20iot"
    assert request.headers["Content-Type"] == "application/json"
    # one signature per secret: the hub takes either during a rotation
    assert verify_webhook([SECRET], request.headers, request.body) == "mqtt-abc"
    assert verify_webhook([OLD_SECRET], request.headers, request.body) == "mqtt-abc"
    assert request.json()["data"] == {"state": "down"}


def test_forward_acknowledges_a_message_the_hub_already_had(hub):
    hub.reply(200, {"id": 7, "status": "duplicate"})
    forwarder = feeds.FeedForwarder(hub.base_url, "press-iot", SECRET)
    assert forwarder.forward(message()) == (feeds.ACK, "duplicate")


@pytest.mark.parametrize("status", [400, 413, 422])
def test_forward_rejects_what_the_hub_can_never_store(hub, status):
    hub.reply(
        status,
        {
            "type": "https://mfg-integration.dev/problems/validation",
            "title": "Invalid",
            "status": status,
            "detail": "The message gives no event type.",
            "errors": [{"pointer": "/data/state", "message": "is required"}],
        },
        headers={"Content-Type": "application/problem+json"},
    )
    forwarder = feeds.FeedForwarder(hub.base_url, "press-iot", SECRET)
    decision, detail = forwarder.forward(message())
    assert decision == feeds.REJECT
    assert detail.startswith(f"HTTP {status}: The message gives no event type.")
    assert "/data/state is required" in detail


@pytest.mark.parametrize("status", [401, 404, 429, 500, 503])
def test_forward_keeps_the_message_for_a_retry_on_other_answers(hub, status):
    hub.reply(status, "not json at all", headers={"Content-Type": "text/plain"})
    forwarder = feeds.FeedForwarder(hub.base_url, "press-iot", SECRET)
    decision, detail = forwarder.forward(message())
    assert decision == feeds.RETRY
    assert detail.startswith(f"HTTP {status}")
    assert SECRET not in detail


def test_forward_keeps_the_message_when_the_hub_is_unreachable():
    forwarder = feeds.FeedForwarder(closed_port_url(), "press-iot", SECRET, timeout=5)
    decision, detail = forwarder.forward(message())
    assert decision == feeds.RETRY
    assert detail


def test_forwarder_refuses_bad_settings():
    with pytest.raises(ValueError, match="signing secret"):
        feeds.FeedForwarder("http://127.0.0.1:8069", "press-iot", [])
    with pytest.raises(ValueError):
        feeds.FeedForwarder("ftp://127.0.0.1", "press-iot", SECRET)


# -- mfg-integration consume: usage ----------------------------------------------


@pytest.fixture(autouse=True)
def no_secret_in_environment(monkeypatch):
    monkeypatch.delenv(cli.DEFAULT_SECRET_ENV, raising=False)
    monkeypatch.delenv(cli.DEFAULT_BROKER_CREDENTIAL_ENV, raising=False)


def consume_args(broker, *extra):
    return [
        "consume",
        broker,
        "--source",
        "plant/+/state",
        "--url",
        "http://127.0.0.1:8069",
        "--endpoint",
        "press-iot",
        *extra,
    ]


@pytest.mark.parametrize(
    "broker, extra, expected",
    [
        ("http://127.0.0.1:1883", ["--secret", SECRET], "must start with amqp://"),
        ("mqtt://user:pw@127.0.0.1:1883", ["--secret", SECRET], "credential"),
        ("amqp://127.0.0.1", ["--secret", SECRET, "--bind", "nocolon"], "--bind"),
        ("mqtt://127.0.0.1:1883", [], "secret"),
    ],
)
def test_consume_usage_errors(capsys, broker, extra, expected):
    assert cli.main(consume_args(broker, *extra)) == 2
    _out, err = capsys.readouterr()
    assert expected in err
    assert SECRET not in err
    assert "pw" not in err.split("error:", 1)[-1]


def _free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_consume_stops_on_sigterm_while_the_broker_is_down():
    """The consumer keeps trying an unreachable broker with back-off and exits 0 with
    its counts on SIGTERM; neither secret nor broker credential is printed."""
    env = dict(
        os.environ,
        MFG_INTEGRATION_WEBHOOK_SECRET=SECRET,
        MFG_INTEGRATION_BROKER_CREDENTIAL="feeder:very-secret-password",
    )
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mfg_integration.cli",
            *consume_args(f"mqtt://127.0.0.1:{_free_port()}", "--timeout", "2"),
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines = []
    reader = threading.Thread(target=lambda: lines.extend(process.stderr), daemon=True)
    reader.start()
    # wait (without a deadline of our own) for its first line, then for a failed
    # connection report, so SIGTERM lands while it backs off
    while process.poll() is None and not any(
        "Could not connect to" in line for line in lines
    ):
        time.sleep(0.1)
    process.send_signal(signal.SIGTERM)
    assert process.wait() == 0
    reader.join()
    text = "".join(lines) + process.stdout.read()
    assert lines[0].startswith("consuming plant/+/state on mqtt for endpoint press-iot")
    assert (
        "consumer stopped: 0 stored, 0 duplicates dropped by the hub, 0 rejected, "
        "0 kept for a retry" in text
    )
    assert SECRET not in text
    assert "very-secret-password" not in text


def test_cli_module_runs_as_a_script():
    """``python -m mfg_integration.cli`` is what the test above runs."""
    out = subprocess.run(
        [sys.executable, "-m", "mfg_integration.cli", "consume", "--help"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "--source" in out
