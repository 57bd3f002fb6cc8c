"""Broker endpoints and feeds against the real local brokers: RabbitMQ
(127.0.0.1:5672), Mosquitto (127.0.0.1:1883) and NATS JetStream (127.0.0.1:4222).

Every test creates its own exchange, queue, topic or stream (a random name) and
removes it. A test whose broker does not answer is skipped, naming the broker.
"""

import asyncio
import json
import socket
import threading
import time
import unittest
import uuid
from datetime import timedelta

import nats
import paho.mqtt.client as mqtt
import pika
from standardwebhooks.webhooks import Webhook

from odoo import fields
from odoo.exceptions import ValidationError
from odoo.tests import HttpCase, tagged

from mfg_integration.webhooks import generate_webhook_secret, sign_headers

from .common import MfgIntegrationCase, event_handler

CODE = "test.order_released"
#: generous bound for a message to arrive on a slow machine (not a timing test)
ARRIVAL = 30


def reachable(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2):
            return True
    except OSError:
        return False


def needs(kind, port):
    return unittest.skipUnless(
        reachable(port), f"{kind} broker not reachable at 127.0.0.1:{port}"
    )


def closed_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def amqp_channel():
    connection = pika.BlockingConnection(
        pika.ConnectionParameters(
            "127.0.0.1", 5672, credentials=pika.PlainCredentials("guest", "guest")
        )
    )
    return connection, connection.channel()


def jetstream(coroutine_factory):
    """Run ``coroutine_factory(js)`` on a fresh connection to NATS."""

    async def run():
        client = await nats.connect("nats://127.0.0.1:4222", connect_timeout=5)
        try:
            return await coroutine_factory(client.jetstream())
        finally:
            await client.close()

    return asyncio.run(run())


@tagged("post_install", "-at_install")
class TestBrokerDelivery(MfgIntegrationCase):
    """Outbound endpoints that publish to a broker: a delivery counts once the
    broker acknowledged it, with the retry, breaker and dead-letter rules of HTTP."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.outbound_type = cls._create_event_type(CODE)
        cls.outbound_type.direction = "outbound"
        cls.secret = generate_webhook_secret()
        cls.Types = cls.env["mfg.integration.event.type"]
        cls.Delivery = cls.env["mfg.integration.delivery"]

    def broker_endpoint(self, transport, url, **values):
        endpoint = self.env["mfg.integration.endpoint"].create(
            {
                "code": f"{transport}-{uuid.uuid4().hex[:6]}",
                "system_id": self.system.id,
                "direction": "outbound",
                "transport": transport,
                "url": url,
                "signing_secret": self.secret,
                "timeout": 5,
                **values,
            }
        )
        self.env["mfg.integration.subscription"].create(
            {"event_type_id": self.outbound_type.id, "endpoint_id": endpoint.id}
        )
        return endpoint

    def emit(self, endpoint):
        messages = self.Types.emit(
            CODE, {"order": "WH/MO/00042", "quantity": 2}, subject="WH/MO/00042"
        )
        return messages.filtered(lambda m: m.endpoint_id == endpoint)

    def deliver(self, endpoint):
        """Run the endpoint's delivery job once, as if every retry were due."""
        self.env["mfg.integration.message"].search(
            [("endpoint_id", "=", endpoint.id), ("state", "=", "failed")]
        ).sudo().write(
            {"next_attempt_at": fields.Datetime.now() - timedelta(seconds=1)}
        )
        endpoint.sudo().circuit_open_until = False
        return self.Delivery._job_deliver(endpoint.id)

    def assertSigned(self, body, headers, message):
        event = Webhook(self.secret).verify(body, headers)
        self.assertEqual(event["id"], message.ce_id)
        self.assertEqual(event["type"], CODE)
        self.assertEqual(event["subject"], "WH/MO/00042")
        self.assertEqual(event["data"], {"order": "WH/MO/00042", "quantity": 2})

    # -- configuration ----------------------------------------------------------

    def test_broker_endpoint_checks(self):
        def make(**values):
            return self.broker_endpoint(
                values.pop("transport", "amqp"),
                values.pop("url", "amqp://127.0.0.1:5672/%2F"),
                **values,
            )

        with self.assertRaisesRegex(ValidationError, "broker URL of that kind"):
            make(url="https://127.0.0.1/hook")
        with self.assertRaisesRegex(ValidationError, "broker URL of that kind"):
            make(transport="mqtt", url="amqp://127.0.0.1")
        with self.assertRaises(ValidationError) as caught:
            make(url="amqp://guest:s3cret-pw@127.0.0.1:5672/")
        self.assertNotIn("s3cret-pw", str(caught.exception))
        with self.assertRaisesRegex(ValidationError, "user and password"):
            make(auth_kind="bearer", credential="token")
        with self.assertRaisesRegex(ValidationError, "Destination"):
            make(transport="mqtt", url="mqtt://127.0.0.1", broker_destination="a/#")
        with self.assertRaisesRegex(ValidationError, "Destination"):
            make(broker_destination="mfg.{nope}")
        with self.assertRaisesRegex(ValidationError, "may not reach"):
            self.env["ir.config_parameter"].set_param(
                "mfg_integration.outbound_allowed_networks", ""
            )
            make()
        self.env["ir.config_parameter"].set_param(
            "mfg_integration.outbound_allowed_networks", "127.0.0.0/8"
        )
        nats_token = make(
            transport="nats", url="nats://127.0.0.1", auth_kind="bearer", credential="t"
        )
        self.assertEqual(nats_token._broker_destination(), "mfg.{type}")

    # -- AMQP ---------------------------------------------------------------------

    @needs("amqp", 5672)
    def test_amqp_publishes_persistent_signed_cloudevents_with_confirms(self):
        name = f"mfgtest-{uuid.uuid4().hex[:8]}"
        connection, channel = amqp_channel()
        self.addCleanup(connection.close)
        channel.exchange_declare(name, "topic")
        self.addCleanup(channel.exchange_delete, name)
        channel.queue_declare(name, durable=True)
        self.addCleanup(channel.queue_delete, name)
        channel.queue_bind(name, name, routing_key="orders.#")
        endpoint = self.broker_endpoint(
            "amqp",
            "amqp://127.0.0.1:5672/%2F",
            auth_kind="basic",
            credential="guest:guest",
            broker_exchange=name,
            broker_destination="orders.{type}",
        )
        message = self.emit(endpoint)
        self.deliver(endpoint)
        self.assertEqual(message.state, "done", message.error_message)
        self.assertEqual(message.attempts, 1)
        method, properties, body = channel.basic_get(name, auto_ack=True)
        self.assertEqual(method.routing_key, f"orders.{CODE}")
        self.assertEqual(properties.delivery_mode, 2)
        self.assertEqual(properties.message_id, message.ce_id)
        self.assertTrue(
            properties.content_type.startswith("application/cloudevents+json")
        )
        self.assertSigned(body, properties.headers, message)
        # the broker credential opens the connection; it is in no message header
        self.assertNotIn("Authorization", properties.headers)
        self.assertNotIn("guest", json.dumps(properties.headers))
        self.assertEqual(channel.basic_get(name, auto_ack=True)[0], None)

        # a routing key no queue is bound to: the broker returns it, not delivered
        endpoint.broker_destination = "nowhere.{type}"
        lost = self.emit(endpoint)
        self.deliver(endpoint)
        self.assertEqual(lost.state, "failed")
        self.assertEqual(lost.error_class, "broker.unroutable")
        self.assertTrue(lost.next_attempt_at)

    @needs("amqp", 5672)
    def test_amqp_broker_unreachable_then_back(self):
        name = f"mfgtest-{uuid.uuid4().hex[:8]}"
        connection, channel = amqp_channel()
        self.addCleanup(connection.close)
        channel.queue_declare(name, durable=True)
        self.addCleanup(channel.queue_delete, name)
        endpoint = self.broker_endpoint(
            "amqp",
            f"amqp://127.0.0.1:{closed_port()}/%2F",
            auth_kind="basic",
            credential="guest:guest",
            broker_destination=name,  # the default exchange routes to the queue
        )
        message = self.emit(endpoint)
        self.deliver(endpoint)
        self.assertEqual(message.state, "failed")
        self.assertEqual(message.error_class, "broker.connection")
        self.assertNotIn("guest", message.error_message)
        self.assertEqual(endpoint.failure_streak, 1)
        endpoint.url = "amqp://127.0.0.1:5672/%2F"
        self.deliver(endpoint)
        self.assertEqual(message.state, "done", message.error_message)
        self.assertEqual(message.attempts, 2)
        self.assertEqual(endpoint.failure_streak, 0)
        self.assertEqual(
            channel.queue_declare(name, passive=True).method.message_count, 1
        )

    # -- MQTT ---------------------------------------------------------------------

    @needs("mqtt", 1883)
    def test_mqtt_publishes_qos1_with_user_properties(self):
        prefix = f"mfgtest/{uuid.uuid4().hex[:8]}"
        received = []
        subscribed = threading.Event()
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
        client.on_subscribe = lambda *_args: subscribed.set()
        client.on_message = lambda _c, _u, msg: received.append(msg)
        client.connect("127.0.0.1", 1883)
        client.loop_start()
        self.addCleanup(client.disconnect)
        self.addCleanup(client.loop_stop)
        client.subscribe(f"{prefix}/#", qos=1)
        self.assertTrue(subscribed.wait(ARRIVAL))
        endpoint = self.broker_endpoint(
            "mqtt", "mqtt://127.0.0.1:1883", broker_destination=prefix + "/{type}"
        )
        message = self.emit(endpoint)
        self.deliver(endpoint)
        self.assertEqual(message.state, "done", message.error_message)
        deadline = time.monotonic() + ARRIVAL
        while not received and time.monotonic() < deadline:
            time.sleep(0.1)
        (msg,) = received
        self.assertEqual(msg.topic, f"{prefix}/{CODE}")
        self.assertEqual(msg.qos, 1)
        self.assertFalse(msg.retain)
        properties = dict(msg.properties.UserProperty)
        self.assertTrue(
            msg.properties.ContentType.startswith("application/cloudevents+json")
        )
        self.assertSigned(msg.payload, properties, message)

    # -- NATS JetStream -------------------------------------------------------------

    @needs("nats", 4222)
    def test_jetstream_publish_ack_and_dedup_on_replay(self):
        tag = uuid.uuid4().hex[:8]
        stream, prefix = f"MFGTEST_{tag}", f"mfgtest_{tag}"

        async def create(js):
            await js.add_stream(name=stream, subjects=[f"{prefix}.>"])

        async def delete(js):
            await js.delete_stream(stream)

        jetstream(create)
        self.addCleanup(jetstream, delete)
        endpoint = self.broker_endpoint(
            "nats", "nats://127.0.0.1:4222", broker_destination=prefix + ".{type}"
        )
        message = self.emit(endpoint)
        self.deliver(endpoint)
        self.assertEqual(message.state, "done", message.error_message)

        async def last(js):
            info = await js.stream_info(stream)
            msg = await js.get_last_msg(stream, f"{prefix}.{CODE}")
            return info.state.messages, msg

        count, msg = jetstream(last)
        self.assertEqual(count, 1)
        self.assertEqual(msg.headers["Nats-Msg-Id"], message.ce_id)
        self.assertSigned(msg.data, msg.headers, message)

        # sent again (a replay): the stream keeps it once (Nats-Msg-Id dedup)
        message.sudo().write({"state": "failed", "next_attempt_at": False})
        self.deliver(endpoint)
        self.assertEqual(message.state, "done")
        self.assertEqual(jetstream(last)[0], 1)

        # a subject no stream takes is not delivered
        endpoint.broker_destination = f"nostream_{tag}.{{type}}"
        lost = self.emit(endpoint)
        self.deliver(endpoint)
        self.assertEqual(lost.state, "failed")
        self.assertEqual(lost.error_class, "broker.no-stream")


@tagged("post_install", "-at_install")
class TestFeedHttp(MfgIntegrationCase, HttpCase):
    """``POST /api/mfg/v1/feeds/<code>``: what a feed's consumer sends."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.secret = generate_webhook_secret()
        cls.feed = cls.env["mfg.integration.endpoint"].create(
            {
                "code": "plant-iot",
                "system_id": cls.system.id,
                "direction": "inbound",
                "transport": "mqtt",
                "url": "mqtt://127.0.0.1:1883",
                "feed_source": "plant/+/state",
                "signing_secret": cls.secret,
                "feed_type_expression": "data.state == 'down' && "
                "'test.order_started' || 'test.order_stopped'",
            }
        )
        cls.Message = cls.env["mfg.integration.message"]

    def post(self, body, msg_id=None, code="plant-iot", route="feeds", secret=None):
        raw = json.dumps(body).encode()
        headers = {"Content-Type": "application/json"}
        headers.update(
            sign_headers([secret or self.secret], msg_id or uuid.uuid4().hex, raw)
        )
        return self.url_open(
            f"/api/mfg/v1/{route}/{code}", data=raw, headers=headers, timeout=60
        )

    def test_feed_messages_are_stored_once_with_their_event_type(self):
        body = {
            "topic": "plant/cnc-01/state",
            "data": {"order": "WH/MO/00042", "quantity": 1, "state": "down"},
            "properties": {"line": "1"},
            "timestamp": "2026-12-01T06:00:00Z",
        }
        response = self.post(body, msg_id="mqtt-abc")
        self.assertEqual(response.status_code, 202, response.text)
        message = self.Message.browse(response.json()["id"])
        self.assertEqual(message.ce_id, "mqtt-abc")
        self.assertEqual(message.event_code, "test.order_started")
        self.assertEqual(message.ce_subject, "plant/cnc-01/state")
        self.assertEqual(message.ce_source, "urn:mfg-integration:feed:plant-iot")
        self.assertEqual(message.endpoint_id, self.feed)
        # redelivered by the broker: a duplicate, stored once
        again = self.post(body, msg_id="mqtt-abc")
        self.assertEqual(again.status_code, 200, again.text)
        self.assertTrue(again.json()["duplicate"])
        self.assertEqual(self.Message.search_count([("ce_id", "=", "mqtt-abc")]), 1)
        up = self.post({**body, "data": {**body["data"], "state": "up"}})
        self.assertEqual(up.status_code, 202, up.text)
        self.assertEqual(
            self.Message.browse(up.json()["id"]).event_code, "test.order_stopped"
        )

    def test_data_that_does_not_fit_becomes_a_dead_letter(self):
        response = self.post({"topic": "plant/cnc-01/state", "data": {"state": "down"}})
        self.assertEqual(response.status_code, 202, response.text)
        message = self.Message.browse(response.json()["id"])
        with event_handler(
            self.env, "test.order_started", lambda _handler, _message, _data: None
        ):
            message._process()
        self.assertEqual(message.state, "dead")
        self.assertEqual(message.error_class, "validation-failed")
        self.assertIn("/data", message.error_message)

    def test_refusals(self):
        problem = self.post({"data": {}})
        self.assertEqual(problem.status_code, 422, problem.text)
        self.assertEqual(problem.json()["errors"][0]["pointer"], "/topic")
        self.feed.feed_type_expression = "data.kind"
        unknown = self.post({"topic": "t", "data": {"kind": "no.such_type"}})
        self.assertEqual(unknown.status_code, 422, unknown.text)
        self.assertIn("no.such_type", unknown.text)
        none = self.post({"topic": "t", "data": {}})
        self.assertEqual(none.status_code, 422, none.text)
        self.assertIn("gives no event type", none.json()["detail"])
        forged = self.post({"topic": "t", "data": {}}, secret=generate_webhook_secret())
        self.assertEqual(forged.status_code, 401, forged.text)
        # a feed is not a webhook, and a webhook endpoint is not a feed
        webhook = self.post(
            {"type": "test.order_started", "data": {}}, route="webhooks"
        )
        self.assertEqual(webhook.status_code, 404, webhook.text)
        self.assertIn("/feeds/plant-iot", webhook.json()["detail"])
        self.feed.copy({"code": "plain-hook", "transport": "http"})
        hook = self.post({"topic": "t", "data": {}}, code="plain-hook")
        self.assertEqual(hook.status_code, 404, hook.text)
        self.assertEqual(
            self.Message.search_count([("endpoint_id", "=", self.feed.id)]), 0
        )

    def test_feed_checks_and_consumer_command(self):
        with self.assertRaisesRegex(ValidationError, "needs an event type"):
            self.feed.copy({"code": "no-type", "feed_type_expression": False})
        with self.assertRaisesRegex(ValidationError, "Event type expression"):
            self.feed.copy({"code": "bad-expr", "feed_type_expression": "data.["})
        command = self.feed.feed_command
        self.assertIn("mfg-integration consume mqtt://127.0.0.1:1883", command)
        self.assertIn("--source plant/+/state ", command)
        self.assertIn("--endpoint plant-iot", command)
