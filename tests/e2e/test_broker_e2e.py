"""The broker bridge, end to end, through an outage of every broker link.

A press PLC's state messages published on MQTT (Mosquitto) reach Odoo through a
feed's consumer (``mfg-integration consume``, a process of its own) and become a
downtime; a nonconformity opened in Odoo is published to a RabbitMQ queue and a
NATS JetStream stream by the real job runner. Each broker link goes through a TCP
forwarder that the test stops and starts (the brokers themselves are shared and
never touched): messages published meanwhile arrive once the link is back, each
exactly once.
"""

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import nats
import paho.mqtt.client as mqtt
import pytest

from mfg_integration.webhooks import generate_webhook_secret

REPO = Path(__file__).resolve().parents[2]

#: generous bound: a cold machine is slow; nothing here is a timing assertion
RUN_TIMEOUT = 300
PORTS = {"amqp": 5672, "mqtt": 1883, "nats": 4222}
MAPPINGS = REPO / "addons/mfg_integration_maintenance/demo/mappings"


def _reachable(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2):
            return True
    except OSError:
        return False


pytestmark = [
    pytest.mark.skipif(
        not _reachable(port), reason=f"{kind} broker not reachable at 127.0.0.1:{port}"
    )
    for kind, port in PORTS.items()
]


def _all_in(state, rows):
    """The rows (state first) when there are some and all are in ``state``."""
    return rows if rows and all(row[0] == state for row in rows) else None


def _wait(what, probe, timeout=RUN_TIMEOUT):
    deadline = time.monotonic() + timeout
    value = probe()
    while not value and time.monotonic() < deadline:
        time.sleep(0.5)
        value = probe()
    assert value, f"timed out waiting for {what}"
    return value


def _jetstream(func):
    async def run():
        client = await nats.connect("nats://127.0.0.1:4222", connect_timeout=5)
        try:
            return await func(client.jetstream())
        finally:
            await client.close()

    return asyncio.run(run())


def _publish_mqtt(topic, payload):
    """Publish one QoS 1 message straight to Mosquitto (not through the proxy)."""
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    client.connect("127.0.0.1", 1883)
    client.loop_start()
    try:
        info = client.publish(topic, json.dumps(payload), qos=1)
        info.wait_for_publish(timeout=30)
        assert info.is_published()
    finally:
        client.disconnect()
        client.loop_stop()


def _setup(committed, sfx, secret, proxies, queue, subject_prefix):
    machine = f"press-{sfx}"
    source = f"mfgtest/{sfx}/+/state"

    def setup(env):
        System = env["mfg.integration.system"]
        iot = System.create({"name": f"PLC {sfx}", "code": f"plc_{sfx}", "kind": "iot"})
        qms = System.create({"name": f"QMS {sfx}", "code": f"qms_{sfx}", "kind": "qms"})
        workcenter = env["mrp.workcenter"].create(
            {"name": f"Press {sfx}", "code": f"PRESS-{sfx}"}
        )
        env["maintenance.equipment"].create(
            {
                "name": f"Press {sfx}",
                "mfg_code": machine.upper(),
                "mfg_workcenter_id": workcenter.id,
            }
        )
        Endpoint = env["mfg.integration.endpoint"]
        feed = Endpoint.create(
            {
                "code": f"plc-{sfx}",
                "system_id": iot.id,
                "direction": "inbound",
                "transport": "mqtt",
                "url": f"mqtt://127.0.0.1:{proxies['mqtt'].port}",
                "feed_source": source,
                "signing_secret": secret,
                "feed_type_expression": "data.state == 'down' && "
                "'machine.downtime_started' || 'machine.downtime_ended'",
            }
        )
        for kind in ("started", "ended"):
            definition = json.loads(
                (MAPPINGS / f"iot_downtime_{kind}.json").read_text()
            )
            definition["name"] += f" {sfx}"
            mapping = env["mfg.integration.mapping"].import_definition(definition)
            mapping.write({"system_id": iot.id, "endpoint_id": feed.id})
        common = {
            "system_id": qms.id,
            "direction": "outbound",
            "signing_secret": secret,
            "timeout": 5,
            "retry_schedule": "0, 1s" + ", 2s" * 40,
            "breaker_threshold": 0,
        }
        rabbit = Endpoint.create(
            {
                **common,
                "code": f"rabbit-{sfx}",
                "transport": "amqp",
                "url": f"amqp://127.0.0.1:{proxies['amqp'].port}/%2F",
                "auth_kind": "basic",
                "credential": "guest:guest",
                "broker_destination": queue,  # the default exchange: the queue
            }
        )
        jet = Endpoint.create(
            {
                **common,
                "code": f"jet-{sfx}",
                "transport": "nats",
                "url": f"nats://127.0.0.1:{proxies['nats'].port}",
                "broker_destination": subject_prefix + ".{type}",
            }
        )
        opened = env["mfg.integration.event.type"].get_by_code("nonconformance.opened")
        for endpoint in (rabbit, jet):
            env["mfg.integration.subscription"].create(
                {"event_type_id": opened.id, "endpoint_id": endpoint.id}
            )
        return {
            "iot_id": iot.id,
            "qms_id": qms.id,
            "feed_code": feed.code,
            "feed_source": source,
            "machine": machine,
            "outbound_ids": [rabbit.id, jet.id],
        }

    return committed(setup)


def _remove(committed, data):
    def cleanup(env):
        systems = [data["iot_id"], data["qms_id"]]
        env["mfg.integration.endpoint"].browse(data["outbound_ids"]).active = False
        env.cr.execute(
            "DELETE FROM mfg_integration_message WHERE system_id = ANY(%s)", [systems]
        )
        users = env["mfg.integration.system"].browse(systems).user_id
        env.cr.execute("DELETE FROM queue_job WHERE user_id = ANY(%s)", [users.ids])

    committed(cleanup)


def _start_consumer(hub, data, secret, proxies, output):
    env = dict(os.environ, MFG_INTEGRATION_WEBHOOK_SECRET=secret)
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mfg_integration.cli",
            "consume",
            f"mqtt://127.0.0.1:{proxies['mqtt'].port}",
            "--source",
            data["feed_source"],
            "--group",
            f"plc-{data['machine']}",
            "--url",
            hub["base"],
            "--endpoint",
            data["feed_code"],
            "--timeout",
            "10",
            "--verbose",
        ],
        env=env,
        stdout=output,
        stderr=subprocess.STDOUT,
    )


def test_signals_in_and_nonconformities_out_exactly_once_through_an_outage(
    hub, committed, e2e, tmp_path
):
    brokerproxy = e2e.load_module("mfg_brokerproxy", REPO / "tests/pure/brokerproxy.py")
    sfx = uuid.uuid4().hex[:6]
    secret = generate_webhook_secret()
    queue, stream, prefix = f"mfgtest-{sfx}", f"MFGTEST_{sfx}", f"mfgtest_{sfx}"
    proxies = {kind: brokerproxy.BrokerProxy(port) for kind, port in PORTS.items()}
    for proxy in proxies.values():
        proxy.start()
    e2e.amqp(lambda channel: channel.queue_declare(queue, durable=True))

    async def add_stream(js):
        await js.add_stream(name=stream, subjects=[f"{prefix}.>"])

    async def delete_stream(js):
        await js.delete_stream(stream)

    _jetstream(add_stream)
    data = _setup(committed, sfx, secret, proxies, queue, prefix)
    output = open(tmp_path / "consumer.log", "w+b")  # noqa: SIM115 - read at the end
    consumer = _start_consumer(hub, data, secret, proxies, output)
    try:
        # an MQTT broker keeps messages only for a subscription that exists
        _wait(
            "the consumer's subscription",
            lambda: consumer.poll() is None
            and b"Consuming " in (tmp_path / "consumer.log").read_bytes()
            or consumer.poll() is not None,
        )
        assert consumer.poll() is None, "the consumer exited"
        _run_and_check(committed, e2e.amqp, data, sfx, proxies, queue, stream)
    finally:
        consumer.send_signal(signal.SIGTERM)
        try:
            code = consumer.wait(timeout=60)
        except subprocess.TimeoutExpired:
            consumer.kill()
            code = consumer.wait()
        output.seek(0)
        log = output.read().decode("utf-8", "replace")
        output.close()
        print(f"consumer output:\n{log}")  # shown by pytest when the test fails
        for proxy in proxies.values():
            proxy.stop()
        e2e.amqp(lambda channel: channel.queue_delete(queue))
        _jetstream(delete_stream)
        _remove(committed, data)
    assert code == 0, log
    assert secret not in log
    assert (
        "consumer stopped: 2 stored, 1 duplicates dropped by the hub, 0 rejected" in log
    ), log


def _run_and_check(committed, amqp, data, sfx, proxies, queue, stream):
    machine = data["machine"]
    topic = f"mfgtest/{sfx}/{machine}/state"
    stop_id = f"{machine.upper()}-STOP-1"
    down = {
        "machine": machine,
        "state": "down",
        "stop_id": stop_id,
        "at": "2026-12-01T06:00:00Z",
        "fault": "HYD-LEAK",
    }

    def downtimes(env):
        found = env["mfg.integration.downtime"].search(
            [("system_id", "=", data["iot_id"])]
        )
        return [(d.downtime_id, d.state) for d in found]

    def feed_messages(env):
        messages = env["mfg.integration.message"].search(
            [("system_id", "=", data["iot_id"])]
        )
        return sorted(messages.mapped("state")), sorted(messages.mapped("event_code"))

    # the PLC's stop, and the same message again (a QoS 1 duplicate)
    _publish_mqtt(topic, down)
    _publish_mqtt(topic, down)
    _wait("the downtime", lambda: committed(downtimes))
    # the consumer's link to the broker goes down; the restart is published meanwhile
    proxies["mqtt"].stop()
    _publish_mqtt(topic, {**down, "state": "running", "at": "2026-12-01T06:40:00Z"})
    time.sleep(2)  # not a timing assertion: the restart waits in the session
    assert [state for _id, state in committed(downtimes)] == ["open"]
    proxies["mqtt"].start()
    _wait(
        "the downtime's end",
        lambda: [state for _id, state in committed(downtimes)] == ["closed"],
    )
    _states, codes = _wait(
        "both signals processed",
        lambda: (found := committed(feed_messages))[0] == ["done", "done"] and found,
    )
    assert codes == ["machine.downtime_ended", "machine.downtime_started"]

    # outbound: both broker links are down when the nonconformity is opened
    proxies["amqp"].stop()
    proxies["nats"].stop()

    def open_nonconformity(env):
        admin = env.ref("base.user_admin")
        nonconformity = env["mgmtsystem.nonconformity"].create(
            {
                "name": f"Burr on flange {sfx}",
                "partner_id": env.company.partner_id.id,
                "description": "Found at assembly.",
                "responsible_user_id": admin.id,
                "manager_user_id": admin.id,
            }
        )
        return nonconformity.ref

    ref = committed(open_nonconformity)

    def outbound(env):
        messages = env["mfg.integration.message"].search(
            [("endpoint_id", "in", data["outbound_ids"]), ("ce_subject", "=", ref)]
        )
        return [(m.state, m.attempts, m.error_class, m.ce_id) for m in messages]

    failed = _wait(
        "failed deliveries while the brokers are away",
        lambda: _all_in("failed", committed(outbound)),
    )
    assert len(failed) == 2, failed  # the outbox wrote both with the nonconformity
    assert {error for _s, _a, error, _id in failed} == {"broker.connection"}, failed
    proxies["amqp"].start()
    proxies["nats"].start()
    done = _wait(
        "deliveries once the brokers are back",
        lambda: _all_in("done", committed(outbound)),
    )
    (ce_id,) = {row[3] for row in done}

    # exactly once in the queue and in the stream
    def drain(channel):
        return list(iter(lambda: channel.basic_get(queue, auto_ack=True), (None,) * 3))

    [(_method, properties, body)] = amqp(drain)
    assert properties.message_id == ce_id
    assert json.loads(body)["subject"] == ref

    async def stream_state(js):
        info = await js.stream_info(stream)
        last = await js.get_last_msg(stream, f"mfgtest_{sfx}.nonconformance.opened")
        return info.state.messages, last.headers["Nats-Msg-Id"]

    assert _jetstream(stream_state) == (1, ce_id)
