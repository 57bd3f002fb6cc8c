"""Broker feeds: a system fed from a broker instead of HTTP.

A feed's consumer (``mfg-integration consume``, see :mod:`mfg_integration.cli`)
reads an AMQP queue, an MQTT topic filter or a JetStream durable consumer with a
:class:`mfg_integration.brokers.Consumer`, and hands each message to a
:class:`FeedForwarder`, which POSTs it to the hub's ``/api/mfg/v1/feeds/<endpoint>``
route, signed per Standard Webhooks with the endpoint's signing secret. The broker
message is acknowledged only once the hub answered that it stored it (``202``, or
``200`` for a message it already had): the hub commits before it answers, so a
crash anywhere in between makes the broker deliver the message again, and the hub
deduplicates it on its ``webhook-id`` (the broker message's stable id). Nothing is
lost and nothing is stored twice.

Why a separate process and not a thread inside Odoo: Odoo's workers serve requests
and are recycled on memory and time limits, which would cut a long-lived broker
subscription at any moment; a consumer beside Odoo keeps its connection, scales on
its own (AMQP and JetStream consumers compete for messages, MQTT uses a shared
subscription), and goes through the very ingress that HTTP senders use:
signature, rate limit, event type, deduplication, mapping and dead letters are
written once, in the hub.

How the hub answers decides what happens to the broker message:

- ``200`` / ``202``: stored (or stored before): acknowledge.
- ``400``, ``413``, ``422``: this message can never be stored (not JSON the hub
  takes, too large, no event type): reject it to the broker's dead-letter path
  (an AMQP queue's dead-letter exchange, a JetStream ``term``; MQTT has none: the
  consumer logs it). Data that does not match the event's schema is *not* such a
  case: the hub stores it and it becomes a dead letter in Odoo, to repair there.
- anything else (``401`` bad secret, ``404`` unknown endpoint, ``429``, ``5xx``,
  the hub unreachable): keep the message in the broker and try again later.
"""

import base64
import json
import logging
from datetime import datetime, timezone
from urllib.parse import quote

import requests

from .client import API_PREFIX, Client, error_from_problem
from .transport import USER_AGENT, describe_request_exception, encode_json
from .webhooks import sign_headers

_logger = logging.getLogger(__name__)

ACK = "ack"
REJECT = "reject"
RETRY = "retry"
#: hub answers that mean the message itself can never be stored
REJECTED_STATUSES = frozenset({400, 413, 422})


def feed_body(message, received_at=None):
    """The body POSTed to the hub for one broker message.

    The payload is carried as JSON when it is JSON; otherwise as its UTF-8 text, or,
    when it is not UTF-8 either, as ``{"base64": ...}`` (so that a mapping or a
    user can still see it).

    :param message: a :class:`mfg_integration.brokers.BrokerMessage`
    :param received_at: an aware datetime (default: now)
    :return: ``{"topic", "data", "properties", "timestamp"}``
    """
    try:
        text = message.body.decode("utf-8")
    except UnicodeDecodeError:
        data = {"base64": base64.b64encode(message.body).decode("ascii")}
    else:
        try:
            data = json.loads(text)
        except ValueError:
            data = text
    when = received_at or datetime.now(timezone.utc)
    return {
        "topic": message.destination,
        "data": data,
        "properties": {str(k): str(v) for k, v in (message.properties or {}).items()},
        "timestamp": when.isoformat().replace("+00:00", "Z"),
    }


class FeedForwarder:
    """POST broker messages to a feed endpoint of the hub, one attempt each.

    Retries are the consumer's business (it keeps the message in the broker and
    backs off); this class only tells what to do with each message.

    :param hub_url: the hub's address, e.g. ``https://erp.example.com``
    :param endpoint: the code of the inbound endpoint of the feed
    :param secrets: the endpoint's ``whsec_`` signing secrets (one, or two while it
        is rotated: the request carries one signature per secret)
    :param timeout: seconds allowed to connect and for each read
    :param session: a :class:`requests.Session` (default: its own)
    """

    def __init__(self, hub_url, endpoint, secrets, timeout=15, session=None):
        base = Client._check_base_url(hub_url)  # noqa: SLF001 - one rule for URLs
        self.url = f"{base}{API_PREFIX}/feeds/{quote(endpoint, safe='')}"
        self.secrets = [secrets] if isinstance(secrets, str) else list(secrets)
        if not self.secrets:
            raise ValueError("A feed needs the endpoint's signing secret.")
        self.timeout = timeout
        self._session = session or requests.Session()
        self._own_session = session is None

    def close(self):
        if self._own_session:
            self._session.close()

    def forward(self, message):
        """Hand one broker message to the hub.

        :return: ``(decision, detail)``: :data:`ACK`, :data:`REJECT` or
            :data:`RETRY`, and a short text for the log (never the payload)
        """
        body = encode_json(feed_body(message))
        headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT}
        headers.update(sign_headers(self.secrets, message.msg_id, body))
        try:
            response = self._session.post(
                self.url,
                data=body,
                headers=headers,
                timeout=self.timeout,
                allow_redirects=False,
            )
        except requests.RequestException as exc:
            _kind, text = describe_request_exception(exc, self.url, self.timeout)
            return RETRY, text
        status = response.status_code
        if status in (200, 202):
            return ACK, "duplicate" if status == 200 else "stored"
        try:
            problem = response.json()
        except ValueError:
            problem = {}
        if not isinstance(problem, dict):
            problem = {}
        error = error_from_problem(problem, status, headers=response.headers)
        detail = f"HTTP {status}: {error.detail}"
        if error.errors:
            detail += (
                " ("
                + ", ".join(
                    f"{item.get('pointer', '')} {item.get('message', '')}".strip()
                    for item in error.errors[:5]
                )
                + ")"
            )
        return (REJECT if status in REJECTED_STATUSES else RETRY), detail
