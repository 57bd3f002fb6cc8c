"""Scale-out: two Odoo HTTP servers and one job runner on one database, with two
broker consumers feeding the hub through different servers.

Server A runs HTTP workers and queue_job's runner; server B runs HTTP workers only
(``ODOO_QUEUE_JOB_CHANNELS=root:0``). A gateway sends machine stops and restarts,
one after the other, alternately through A and B, and sends each again through
the other server (as a client retrying through a load balancer would); two
``mfg-integration consume`` processes share one RabbitMQ queue, each handing its
messages to a different server; events emitted in Odoo with an ordering key are
delivered by the one runner. Checked: no event lost, none stored or processed
twice, each stop closed by its restart (inbound order kept), and every ordering
key's events received in emission order.
"""

import json
import os
import signal
import socket
import subprocess
import sys
import uuid
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta

import pika
import pytest

from mfg_integration.client import Client
from mfg_integration.simulators import StubServer
from mfg_integration.webhooks import generate_webhook_secret

STARTED, ENDED = "machine.downtime_started", "machine.downtime_ended"
OUTBOUND = "production_order.released"
#: machine stops (and their restarts) sent over HTTP
PAIRS = 60
#: machine stops published on the broker
FED = 60
#: production orders (ordering keys) and events per order delivered
ORDERS, PER_ORDER = 6, 10
MACHINES = 6


def _amqp_reachable():
    try:
        with socket.create_connection(("127.0.0.1", 5672), timeout=2):
            return True
    except OSError:
        return False


pytestmark = pytest.mark.skipif(
    not _amqp_reachable(), reason="amqp broker not reachable at 127.0.0.1:5672"
)


def _feed(committed, system_id, code, queue, secret):
    def create(env):
        env["mfg.integration.endpoint"].create(
            {
                "system_id": system_id,
                "direction": "inbound",
                "code": code,
                "transport": "amqp",
                "url": "amqp://127.0.0.1:5672/%2F",
                "feed_source": queue,
                "signing_secret": secret,
                "feed_type_expression": f"'{STARTED}'",
            }
        )

    committed(create)


def _ordered_receiver(committed, plant, url):
    """An outbound endpoint of the plant's first system whose subscription keeps
    each production order's events in order."""

    def create(env):
        endpoint = env["mfg.integration.endpoint"].create(
            {
                "system_id": plant.systems[0]["id"],
                "direction": "outbound",
                "code": f"ordered-{plant.suffix}",
                "url": url,
                "signing_secret": generate_webhook_secret(),
                "delivery_concurrency": 4,
            }
        )
        event_type = env["mfg.integration.event.type"].get_by_code(OUTBOUND)
        env["mfg.integration.subscription"].create(
            {
                "event_type_id": event_type.id,
                "endpoint_id": endpoint.id,
                "ordering_key": "production_order",
            }
        )
        return event_type.current_schema_id.get_schema()["examples"][0]

    return committed(create)


def _consumer(server, code, queue, secret, log):
    env = dict(os.environ, MFG_INTEGRATION_WEBHOOK_SECRET=secret)
    command = [
        sys.executable,
        "-m",
        "mfg_integration.cli",
        "consume",
        "amqp://127.0.0.1:5672/%2F",
        "--source",
        queue,
        "--url",
        server.base,
        "--endpoint",
        code,
        "--verbose",
    ]
    env["MFG_INTEGRATION_BROKER_CREDENTIAL"] = "guest:guest"
    return subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)


def _downtime(suffix, machines, now, number, ended=False):
    """Machine stop ``number`` (or its restart) as event data."""
    data = {
        "downtime_id": f"scale-{suffix}-{number}",
        "equipment": {"code": machines[number % len(machines)]},
        "started_at": (now + timedelta(minutes=number)).isoformat(),
    }
    if ended:
        data["ended_at"] = (now + timedelta(minutes=number, seconds=30)).isoformat()
    else:
        data["reason_category"] = "changeover"
    return data


def _wait_subscribed(fault, consumer, path):
    fault.wait_for(
        lambda: consumer.poll() is not None or b"Consuming " in path.read_bytes(), 300
    )


def _publish(amqp, queue, payloads):
    def publish(channel):
        for data in payloads:
            channel.basic_publish(
                "",
                queue,
                json.dumps(data),
                pika.BasicProperties(delivery_mode=2, content_type="application/json"),
            )

    amqp(publish)


def _send_twice(servers, token, events):
    """Send each event through one server, then again through the other; count
    the answers (``accepted``, ``duplicate``, ``stored twice``)."""
    clients = [Client(server.base, token, timeout=120) for server in servers]
    answers = Counter()
    try:
        for number, event in enumerate(events):
            first = clients[number % 2]
            answers[first.send_event(**event)["status"]] += 1
            again = clients[1 - number % 2].send_event(**event)
            answers["duplicate" if again.get("duplicate") else "stored twice"] += 1
    finally:
        for client in clients:
            client.close()
    return answers


def _emit_ordered(example, suffix):
    def emit(env):
        Types = env["mfg.integration.event.type"]
        for number in range(PER_ORDER):
            for order in range(ORDERS):
                data = dict(
                    example,
                    production_order=f"MO-{suffix}-{order}",
                    origin=f"seq-{number}",
                )
                Types.emit(OUTBOUND, data, subject=data["production_order"])
            env.cr.commit()  # the runner starts while more is emitted

    return emit


def test_two_http_servers_one_runner_keep_every_guarantee(
    committed, plant, plant_server, fault, e2e, capsys, tmp_path
):
    suffix, system = plant.suffix, plant.systems[0]
    machines = [plant.add_machine(number)[0] for number in range(MACHINES)]
    servers = (plant_server(), plant_server(channels="root:0"))
    now = datetime.now(UTC)
    expected = PAIRS * 2 + FED

    # two consumers of one queue, each feeding a different server
    queue, code, secret = f"scale-{suffix}", f"feed-{suffix}", generate_webhook_secret()
    _feed(committed, system["id"], code, queue, secret)
    e2e.amqp(lambda channel: channel.queue_declare(queue, durable=True))
    paths = [tmp_path / f"consumer-{n}.log" for n in range(2)]
    logs = [path.open("w+b") for path in paths]
    consumers = [
        _consumer(server, code, queue, secret, log)
        for server, log in zip(servers, logs, strict=True)
    ]
    receiver = StubServer()
    receiver.start()
    try:
        # both consumers subscribed before the first message: they share them
        for consumer, path in zip(consumers, paths, strict=True):
            _wait_subscribed(fault, consumer, path)
        _publish(
            e2e.amqp,
            queue,
            [_downtime(suffix, machines, now, PAIRS + n) for n in range(FED)],
        )
        # HTTP ingress through both servers: each stop, then its restart, each
        # sent twice
        answers = _send_twice(
            servers,
            system["token"],
            [
                {
                    "type": ENDED if ended else STARTED,
                    "data": _downtime(suffix, machines, now, pair, ended),
                    "source": f"urn:scale:{suffix}",
                    "id": str(uuid.uuid4()),
                }
                for pair in range(PAIRS)
                for ended in (False, True)
            ],
        )
        # ordered delivery by the one runner
        example = _ordered_receiver(committed, plant, receiver.url("/events"))
        committed(_emit_ordered(example, suffix))

        def drained(env):
            return (
                fault.message_states(env, system["id"], "inbound") == {"done": expected}
                and fault.message_states(env, system["id"], "outbound")
                == {"done": ORDERS * PER_ORDER}
                and not {"pending", "enqueued", "started"}
                & set(fault.job_states(env, system["id"]))
            )

        finished = fault.wait_for(lambda: committed(drained), 900, pause=1)
    finally:
        receiver.stop()
        for consumer in consumers:
            consumer.send_signal(signal.SIGTERM)
        consumer_codes = [consumer.wait(timeout=120) for consumer in consumers]
        for log in logs:
            log.close()
        e2e.amqp(lambda channel: channel.queue_delete(queue))

    consumer_logs = [path.read_text("utf-8", "replace") for path in paths]
    seen = committed(lambda env: fault.inbound_figures(env, system["id"]))
    received = [request.json() for request in receiver.requests]
    ids = Counter(event["id"] for event in received)
    by_order = defaultdict(list)
    for event in received:
        by_order[event["data"]["production_order"]].append(event["data"]["origin"])
    stored_by = [
        sum(line.startswith("stored ") for line in log.splitlines())
        for log in consumer_logs
    ]
    reports = [server.read_log()[0] for server in servers]
    with capsys.disabled():
        print(
            f"\nscale-out (2 HTTP servers, 1 job runner, 2 consumers): "
            f"{PAIRS * 2} HTTP events sent twice each through both servers "
            f"({dict(answers)}); {FED} broker messages through two consumers "
            f"(stored by each: {stored_by}); {seen['messages']} inbound messages "
            f"({seen['distinct']} distinct, {seen['attempts']} processing attempts), "
            f"{seen['downtimes']} downtimes ({seen['closed']} closed); "
            f"{len(received)} deliveries of {ORDERS * PER_ORDER} ordered events "
            f"({len(ids)} distinct)"
        )
    assert not any(reports), reports
    assert consumer_codes == [0, 0], consumer_logs
    assert finished, seen
    assert answers == {"accepted": PAIRS * 2, "duplicate": PAIRS * 2}, answers
    # none lost, none stored or processed twice
    assert seen["messages"] == seen["distinct"] == seen["attempts"] == expected
    assert seen["downtimes"] == seen["distinct_downtimes"] == PAIRS + FED
    assert seen["closed"] == PAIRS  # each HTTP stop closed by its restart, in order
    assert len(received) == len(ids) == ORDERS * PER_ORDER
    for order, sequence in by_order.items():
        assert sequence == [f"seq-{n}" for n in range(PER_ORDER)], order
    # both consumers took part, through both servers
    assert sum(stored_by) == FED and all(stored_by), consumer_logs
