"""Message brokers as delivery targets and event sources: AMQP 0-9-1 (RabbitMQ),
MQTT 5 and NATS JetStream.

An outbound endpoint whose URL starts with ``amqp://``, ``amqps://``, ``mqtt://``,
``mqtts://``, ``nats://`` or ``tls://`` (NATS over TLS) publishes each event to a
broker instead of POSTing it. :func:`parse_broker_url` checks such a URL,
:func:`render_destination` turns the endpoint's destination template (like
``mfg/{type}``) into the routing key, topic or subject of one event, and a
:class:`Publisher` sends it and reports a :class:`~.transport.DeliveryResult`, as
:func:`~.transport.deliver` does for HTTP: :data:`~.transport.SUCCESS` only when the
broker acknowledged the message (an AMQP publisher confirm, an MQTT ``PUBACK``, a
JetStream acknowledgement), :data:`~.transport.RETRY` otherwise, with one of the
error classes below.

Inbound, a :class:`Consumer` reads a queue, a topic filter or a durable JetStream
consumer and hands each message to a callback as a :class:`BrokerMessage` whose
``msg_id`` stays the same over redeliveries, so the receiver can drop duplicates.

Credentials never appear in a broker URL: they are passed apart (the hub stores
them encrypted), and no error message or log line written here names one; errors
name the scheme, host and port of the broker and a generic cause. pika logs each
failed connection attempt as several ``ERROR`` lines with a traceback although
this module reports the failure itself: unless the application gave the ``pika``
logger a level, its level is raised to ``CRITICAL`` when the first AMQP connection
is made. nats-py's error callbacks are replaced by quiet ones; paho-mqtt does not
log unless asked to.
"""

import asyncio
import collections
import concurrent.futures
import hashlib
import ipaddress
import logging
import math
import re
import select
import socket
import string
import threading
import time
import traceback
import uuid
from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit

import nats.errors
import nats.js.api
import nats.js.errors
import pika
import pika.exceptions
from nats.aio.client import Client as NatsClient
from paho.mqtt import client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.subscribeoptions import SubscribeOptions

from .networks import restricted_reason
from .transport import (
    RETRY,
    SUCCESS,
    DeliveryResult,
    RestrictedAddress,
    _failure_reason,
    _tls_context,
)

_logger = logging.getLogger(__name__)

#: the broker kinds, as :attr:`BrokerAddress.kind` names them
KINDS = ("amqp", "mqtt", "nats")
# scheme -> (kind, TLS, default port)
_SCHEMES = {
    "amqp": ("amqp", False, 5672),
    "amqps": ("amqp", True, 5671),
    "mqtt": ("mqtt", False, 1883),
    "mqtts": ("mqtt", True, 8883),
    "nats": ("nats", False, 4222),
    "tls": ("nats", True, 4222),
}
#: the content type of every published message (a structured CloudEvent)
CONTENT_TYPE = "application/cloudevents+json; charset=utf-8"
#: the placeholders a destination template may use
PLACEHOLDERS = ("type", "source", "subject", "id")

#: the broker could not be reached, or the connection was lost
ERROR_CONNECTION = "broker.connection"
#: the broker did not answer (or acknowledge) in time
ERROR_TIMEOUT = "broker.timeout"
#: the broker refused the credentials or the access
ERROR_REFUSED = "broker.refused"
#: the broker received the message and declined it
ERROR_NACK = "broker.nack"
#: AMQP: no queue is bound to the routing key (or the exchange does not exist)
ERROR_UNROUTABLE = "broker.unroutable"
#: NATS: no JetStream stream takes the subject
ERROR_NO_STREAM = "broker.no-stream"
#: the broker's address is one deliveries may not reach (an AddressGuard refused it)
ERROR_RESTRICTED = "broker.restricted"
#: every error class a :class:`Publisher` may report
ERROR_CLASSES = (
    ERROR_CONNECTION,
    ERROR_TIMEOUT,
    ERROR_REFUSED,
    ERROR_NACK,
    ERROR_UNROUTABLE,
    ERROR_NO_STREAM,
    ERROR_RESTRICTED,
)

#: what a :class:`Consumer` callback returns: the message was handled
ACK = "ack"
#: the message can never be handled: send it to the broker's dead-letter path
REJECT = "reject"
#: the decisions a :class:`Consumer` callback may return (:data:`RETRY` is
#: ``"retry"``: the message is to be redelivered later)
DECISIONS = (ACK, REJECT, RETRY)

#: a message id usable as a Standard Webhooks ``webhook-id``
MSG_ID_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,128}")
#: seconds a consumer waits before a message its callback could not handle comes back
RETRY_DELAY = 1.0
#: seconds between reconnection attempts of a consumer: first and longest
FIRST_BACKOFF = 1.0
MAX_BACKOFF = 30.0
#: how long a consumer waits for a message before it looks at its stop event
_POLL_SECONDS = 0.5
#: seconds an MQTT consumer's session outlives its connection (7 days)
MQTT_SESSION_EXPIRY = 7 * 24 * 3600
_MQTT_KEEPALIVE = 60
_AMQP_MAX_NAME_BYTES = 255
_MQTT_MAX_TOPIC_BYTES = 65535
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_HOST_NAME = re.compile(r"[A-Za-z0-9_]([A-Za-z0-9_.-]*[A-Za-z0-9_])?")
_NATS_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")
_NATS_TYPE_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")
_MQTT_UNSAFE = re.compile("[+#\x00]")
_NATS_NAME = re.compile(r"[^\s.*>/\\]+")


# -- URLs -------------------------------------------------------------------


@dataclass(frozen=True)
class BrokerAddress:
    """Where a broker listens, as read from its URL by :func:`parse_broker_url`.

    :param kind: ``"amqp"``, ``"mqtt"`` or ``"nats"``
    :param host: the host name or IP address (IPv6 without brackets)
    :param port: the port (the scheme's default when the URL names none)
    :param tls: whether the connection uses TLS (schemes ``amqps``, ``mqtts``,
        ``tls``)
    :param vhost: the AMQP virtual host (``"/"`` by default), ``""`` for the
        other kinds
    """

    kind: str
    host: str
    port: int
    tls: bool
    vhost: str

    @property
    def scheme(self):
        """The URL scheme: ``amqp``, ``amqps``, ``mqtt``, ``mqtts``, ``nats`` or
        ``tls``."""
        if not self.tls:
            return self.kind
        return {"amqp": "amqps", "mqtt": "mqtts", "nats": "tls"}[self.kind]

    @property
    def origin(self):
        """``scheme://host:port``, the only part of the URL that messages name."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}"


def _check_host(host):
    if ":" in host:
        try:
            ipaddress.IPv6Address(host.split("%", 1)[0])
        except ValueError:
            raise ValueError(
                "The host of a broker URL is not a valid address."
            ) from None
    elif not _HOST_NAME.fullmatch(host):
        raise ValueError(
            "The host of a broker URL is a name (letters, digits, '-', '_', '.') "
            "or an IP address."
        )


def _vhost_of(path):
    """The AMQP virtual host of a URL path (``""`` and ``"/"`` mean ``"/"``)."""
    if path in ("", "/"):
        return "/"
    raw = path[1:]
    if "/" in raw:
        raise ValueError(
            "The virtual host is the one path segment of an AMQP URL: write a '/' "
            "in it as %2F (amqp://host/%2F is the default virtual host '/')."
        )
    try:
        vhost = unquote(raw, errors="strict")
    except UnicodeDecodeError:
        raise ValueError("The virtual host of the URL is not valid UTF-8.") from None
    if _CONTROL.search(vhost):
        raise ValueError("The virtual host of the URL holds a control character.")
    return vhost


def parse_broker_url(url):
    """Read a broker URL.

    The schemes are ``amqp`` (port 5672), ``amqps`` (5671), ``mqtt`` (1883),
    ``mqtts`` (8883), ``nats`` and ``tls`` (NATS over TLS, both 4222). The path of
    an AMQP URL is the virtual host, percent-encoded (``amqp://host/%2F`` and
    ``amqp://host`` are the default ``/``, ``amqp://host/prod`` is ``prod``); MQTT
    and NATS URLs take no path. Error messages never repeat the URL.

    :param url: the URL, e.g. ``amqps://rabbitmq.plant.example/prod``
    :return: a :class:`BrokerAddress`
    :raise ValueError: for another scheme, no host, a bad port, a user or password
        in the URL (they belong in the endpoint's encrypted credential), a query or
        a fragment, or a path where none is allowed
    """
    if not isinstance(url, str) or not url.strip():
        raise ValueError("A broker URL is a text such as amqp://rabbitmq.example.com.")
    url = url.strip()
    if _CONTROL.search(url) or " " in url:
        raise ValueError("A broker URL may not contain spaces or control characters.")
    scheme, separator, rest = url.partition("://")
    entry = _SCHEMES.get(scheme.lower()) if separator else None
    if entry is None:
        raise ValueError(
            "A broker URL starts with amqp://, amqps://, mqtt://, mqtts://, nats:// "
            "or tls:// (NATS over TLS)."
        )
    if "@" in rest.split("/", 1)[0]:
        raise ValueError(
            "A broker URL may not contain a user name or password: enter them in the "
            "endpoint's credential, which is stored encrypted."
        )
    parts = urlsplit(url)
    if parts.query or parts.fragment or "?" in url or "#" in url:
        raise ValueError("A broker URL takes no query (?...) or fragment (#...).")
    kind, tls, default_port = entry
    host = parts.hostname
    if not host:
        raise ValueError(
            "A broker URL names a host, as in amqp://rabbitmq.example.com."
        )
    _check_host(host)
    try:
        port = parts.port
    except ValueError:
        port = 0
    if port == 0:
        raise ValueError("The port of a broker URL is a number from 1 to 65535.")
    if kind == "amqp":
        vhost = _vhost_of(parts.path)
    elif parts.path not in ("", "/"):
        raise ValueError(f"A {scheme.lower()}:// URL takes no path.")
    else:
        vhost = ""
    return BrokerAddress(kind, host, port or default_port, tls, vhost)


def broker_kind(url):
    """Tell which broker a URL points to, from its scheme alone.

    :param url: any URL (or anything else)
    :return: ``"amqp"``, ``"mqtt"`` or ``"nats"``, or ``None`` for ``http(s)`` and
        anything that is not a broker URL; never raises (whether the URL is valid
        is :func:`parse_broker_url`'s business)
    """
    if not isinstance(url, str):
        return None
    scheme, separator, _rest = url.strip().partition("://")
    entry = _SCHEMES.get(scheme.lower()) if separator else None
    return entry[0] if entry else None


# -- destinations -----------------------------------------------------------


def _check_kind(kind):
    if kind not in KINDS:
        raise ValueError("The broker kind is one of " + ", ".join(KINDS) + ".")


def _nats_subject_problem(subject):
    if not subject:
        return "A NATS subject may not be empty."
    if any(character.isspace() for character in subject):
        return "A NATS subject may not contain white space."
    if "*" in subject or ">" in subject:
        return "A NATS subject to publish to may not contain the wildcards * or >."
    if "" in subject.split("."):
        return (
            "A NATS subject is made of tokens separated by single dots: it may not "
            "start or end with '.' or contain '..'."
        )
    return None


def _mqtt_topic_problem(topic):
    if not topic:
        return "An MQTT topic may not be empty."
    if _MQTT_UNSAFE.search(topic):
        return (
            "An MQTT topic to publish to may not contain the wildcards + or # or a "
            "NUL character."
        )
    if topic.startswith("$"):
        return "An MQTT topic starting with '$' is reserved for the broker."
    if len(topic.encode("utf-8", "surrogatepass")) > _MQTT_MAX_TOPIC_BYTES:
        return "An MQTT topic is at most 65535 bytes long."
    return None


def _destination_problem(kind, destination):
    """Why a routing key, topic or subject is not valid for the kind, or ``None``."""
    if not isinstance(destination, str):
        return "A destination is a text."
    if kind == "nats":
        return _nats_subject_problem(destination)
    if kind == "mqtt":
        return _mqtt_topic_problem(destination)
    if len(destination.encode("utf-8", "surrogatepass")) > _AMQP_MAX_NAME_BYTES:
        return "An AMQP routing key is at most 255 bytes long (UTF-8)."
    return None


def _template_parts(template):
    """Split a template into its literal text and its placeholder names."""
    try:
        items = list(string.Formatter().parse(template))
    except ValueError:
        raise ValueError(
            "The destination template is malformed: write a placeholder as {type}, "
            "{source}, {subject} or {id}, and a literal brace as {{ or }}."
        ) from None
    literal = []
    names = []
    for text, name, spec, conversion in items:
        literal.append(text)
        if name is None:
            continue
        if name not in PLACEHOLDERS:
            raise ValueError(
                f"Unknown placeholder {{{name[:40]}}} in the destination template; "
                "use {type}, {source}, {subject} or {id}."
            )
        if spec or conversion:
            raise ValueError(
                f"The placeholder {{{name}}} takes no conversion or format: write "
                f"{{{name}}}."
            )
        names.append(name)
    return "".join(literal), names


def check_destination_template(kind, template):
    """Check the destination template of a broker endpoint.

    Placeholders are ``{type}``, ``{source}``, ``{subject}`` and ``{id}`` (of the
    CloudEvent); ``{{`` and ``}}`` stand for literal braces. The literal parts must
    be valid for the kind: no ``+``, ``#`` or NUL in an MQTT topic (nor a leading
    ``$``); no white space, ``*`` or ``>`` in a NATS subject, whose tokens may not
    be empty (no ``..``, no leading or trailing ``.``); at most 255 bytes (UTF-8)
    for an AMQP routing key.

    :param kind: ``"amqp"``, ``"mqtt"`` or ``"nats"``
    :param template: e.g. ``mfg/{type}``, ``mfg.{type}``
    :raise ValueError: for an empty or malformed template, an unknown placeholder,
        or literal text the kind does not allow
    """
    _check_kind(kind)
    if not isinstance(template, str) or not template:
        raise ValueError("A destination template may not be empty.")
    literal, _names = _template_parts(template)
    if kind == "amqp":
        problem = _destination_problem(kind, literal)
    else:
        # every literal character, and the structure (dots, slashes), with a
        # harmless value in each placeholder
        sample = template.format(**dict.fromkeys(PLACEHOLDERS, "x"))
        problem = _destination_problem(kind, sample)
    if problem:
        raise ValueError(problem)


def _safe_value(kind, name, value):
    if kind == "nats":
        pattern = _NATS_TYPE_UNSAFE if name == "type" else _NATS_UNSAFE
        return pattern.sub("_", value) or "_"
    if kind == "mqtt":
        return _MQTT_UNSAFE.sub("_", value)
    return value


def render_destination(kind, template, event):
    """Fill a destination template with the attributes of one CloudEvent.

    Values are made safe for the kind: for NATS every character outside
    ``[A-Za-z0-9_-]`` becomes ``_``, except the dots of ``{type}``
    (``mfg.{type}`` gives ``mfg.nonconformance.opened``), and an empty value
    becomes ``_``; for MQTT ``+``, ``#`` and NUL become ``_`` (``mfg/{type}``
    gives ``mfg/nonconformance.opened``); AMQP values are kept as they are.

    :param kind: ``"amqp"``, ``"mqtt"`` or ``"nats"``
    :param template: the destination template (see
        :func:`check_destination_template`)
    :param event: the CloudEvent as a dict; a missing ``subject`` counts as ``""``
    :return: the routing key, topic or subject
    :raise ValueError: when the template is invalid, or the result is not a valid
        destination (e.g. an AMQP routing key longer than 255 bytes)
    """
    check_destination_template(kind, template)
    values = {}
    for name in PLACEHOLDERS:
        value = event.get(name) if isinstance(event, dict) else None
        values[name] = _safe_value(kind, name, "" if value is None else str(value))
    destination = template.format(**values)
    problem = _destination_problem(kind, destination)
    if problem:
        raise ValueError(problem)
    return destination


# -- shared plumbing ----------------------------------------------------------


class _Failure(Exception):
    """A failed broker operation, already judged.

    :param error_class: one of :data:`ERROR_CLASSES`
    :param cause: a short cause without secrets, e.g. "the connection was refused"
    :param healthy: the connection is still usable (the broker answered)
    """

    def __init__(self, error_class, cause, healthy=False):
        super().__init__(cause)
        self.error_class = error_class
        self.cause = cause
        self.healthy = healthy


def _restricted_failure(exc):
    return _Failure(
        ERROR_RESTRICTED,
        f"{exc.address} is {exc.reason}, which deliveries may not reach; an "
        "administrator can allow it in the system parameter "
        "mfg_integration.outbound_allowed_networks",
    )


def _check_timeout(timeout):
    if isinstance(timeout, bool) or not isinstance(timeout, int | float):
        raise ValueError("The timeout is a number of seconds.")
    if not 0 < timeout < math.inf:
        raise ValueError("The timeout is a positive number of seconds.")
    return float(timeout)


def _split_credential(kind, credential):
    """Return ``(user, password, token)`` of a credential (each may be ``None``)."""
    if credential is None or credential == "":
        return None, None, None
    if not isinstance(credential, str):
        raise ValueError("A broker credential is a text.")
    if _CONTROL.search(credential):
        raise ValueError(
            "The broker credential contains a line break or a control character; it "
            "was refused."
        )
    user, colon, password = credential.partition(":")
    if colon and user:
        return user, password, None
    if kind == "nats" and not colon:
        return None, None, credential
    raise ValueError(
        "A broker credential is written 'user:password'"
        + (" (or, for NATS, a token without ':')." if kind == "nats" else ".")
    )


def _judged_hosts(address, guard):
    """The hosts to connect to: the name itself without a guard, else the IP
    addresses it resolves to that the guard allows (so a name cannot resolve to an
    allowed address for the check and to another one for the connection).

    :raise _Failure: the name does not resolve, or every address is refused
    """
    if guard is None:
        return [address.host]
    try:
        infos = socket.getaddrinfo(address.host, address.port, 0, socket.SOCK_STREAM)
    except OSError:
        raise _Failure(
            ERROR_CONNECTION, "the host name could not be resolved"
        ) from None
    hosts = []
    refused = None
    for *_info, sockaddr in infos:
        ip = sockaddr[0]
        reason = restricted_reason(ip, guard.allowed)
        if reason:
            refused = refused or RestrictedAddress(ip, reason)
        elif ip not in hosts:
            hosts.append(ip)
    if not hosts:
        if refused is not None:
            raise _restricted_failure(refused)
        raise _Failure(ERROR_CONNECTION, "the host name resolved to no address")
    return hosts


def _os_failure(exc, timeout):
    """Judge an :class:`OSError` (socket, TLS) raised while talking to a broker."""
    if isinstance(exc, RestrictedAddress):
        return _restricted_failure(exc)
    if isinstance(exc, TimeoutError | socket.timeout):
        return _Failure(ERROR_TIMEOUT, f"no answer within {timeout:g} s")
    return _Failure(ERROR_CONNECTION, _failure_reason(exc))


def _elapsed_ms(start):
    return max(0, int(round((time.monotonic() - start) * 1000)))


def _digest_id(prefix, *parts):
    data = b"\0".join(
        part if isinstance(part, bytes) else str(part).encode("utf-8", "replace")
        for part in parts
    )
    return f"{prefix}-{hashlib.sha256(data).hexdigest()[:40]}"


def _valid_msg_id(value):
    return isinstance(value, str) and MSG_ID_PATTERN.fullmatch(value) is not None


def _text(value):
    if isinstance(value, bytes | bytearray):
        return bytes(value).decode("utf-8", "replace")
    return value if isinstance(value, str) else str(value)


def _check_headers(headers):
    if headers is None:
        return {}
    if not isinstance(headers, dict):
        raise ValueError("The message headers are a dict of texts.")
    for name, value in headers.items():
        if not isinstance(name, str) or not isinstance(value, str) or not name:
            raise ValueError("The message headers are a dict of texts.")
        if _CONTROL.search(name) or _CONTROL.search(value) or ":" in name:
            raise ValueError(
                "A message header contains a line break, a control character or "
                "(in its name) a ':'."
            )
    return headers


# -- AMQP -------------------------------------------------------------------

_pika_quieted = False


def _quiet_pika():
    """Raise the ``pika`` logger to CRITICAL unless the application set its level:
    pika logs every failed connection attempt as several ERROR lines and a
    traceback, which this module reports itself."""
    global _pika_quieted
    if not _pika_quieted:
        _pika_quieted = True
        pika_logger = logging.getLogger("pika")
        if pika_logger.level == logging.NOTSET:
            pika_logger.setLevel(logging.CRITICAL)


def _find_cause(exc, depth=0):
    """An :class:`OSError` or a connector timeout wrapped in a pika exception."""
    if isinstance(exc, OSError) or type(exc).__name__ == "AMQPConnectorStackTimeout":
        return exc
    if depth > 4 or not isinstance(exc, BaseException):
        return None
    inner_exceptions = (
        getattr(exc, "exception", None),  # pika's connector phase errors
        *getattr(exc, "exceptions", ()),  # pika's connection workflow failure
        *exc.args,
        exc.__cause__,
        exc.__context__,
    )
    for inner in inner_exceptions:
        found = _find_cause(inner, depth + 1)
        if found is not None:
            return found
    return None


def _amqp_closed_failure(exc):
    code = exc.reply_code
    if isinstance(exc, pika.exceptions.ChannelClosedByBroker):
        if code == 404:
            return _Failure(ERROR_UNROUTABLE, "the exchange or queue does not exist")
        if code == 403:
            return _Failure(ERROR_REFUSED, "the broker refused the access (AMQP 403)")
        return _Failure(ERROR_NACK, f"the broker closed the channel (AMQP {code})")
    if code in (403, 530):
        return _Failure(ERROR_REFUSED, f"the broker refused the access (AMQP {code})")
    return _Failure(ERROR_CONNECTION, f"the broker closed the connection (AMQP {code})")


def _amqp_failure(exc, timeout):
    """Judge an exception raised by pika."""
    errors = pika.exceptions
    if isinstance(exc, errors.UnroutableError):
        return _Failure(
            ERROR_UNROUTABLE,
            "the broker returned the message: no queue is bound to its routing key",
            healthy=True,
        )
    if isinstance(exc, errors.NackError):
        return _Failure(ERROR_NACK, "the broker declined the message", healthy=True)
    if isinstance(exc, errors.ChannelClosedByBroker | errors.ConnectionClosedByBroker):
        return _amqp_closed_failure(exc)
    if isinstance(exc, errors.ProbableAuthenticationError | errors.AuthenticationError):
        return _Failure(ERROR_REFUSED, "the broker refused the credentials")
    if isinstance(exc, errors.ProbableAccessDeniedError):
        return _Failure(ERROR_REFUSED, "the broker refused the access to the vhost")
    if isinstance(exc, errors.ConnectionBlockedTimeout):
        return _Failure(
            ERROR_TIMEOUT,
            f"the broker blocked publishing for more than {timeout:g} s "
            "(a resource alarm)",
        )
    if isinstance(exc, errors.AMQPHeartbeatTimeout):
        return _Failure(ERROR_TIMEOUT, "the broker stopped answering")
    if isinstance(exc, errors.IncompatibleProtocolError):
        return _Failure(ERROR_CONNECTION, "the server did not answer as AMQP 0-9-1")
    cause = _find_cause(exc)
    if cause is not None and not isinstance(cause, OSError):
        return _Failure(ERROR_TIMEOUT, f"no answer within {timeout:g} s")
    if cause is not None:
        return _os_failure(cause, timeout)
    if isinstance(exc, errors.AMQPError):
        return _Failure(ERROR_CONNECTION, "the connection was lost")
    return None


class _AmqpLink:
    """One pika BlockingConnection with one channel."""

    def __init__(self, address, credential, timeout, guard, heartbeat, name):
        _quiet_pika()
        user, password, _token = credential
        options = {
            "port": address.port,
            "virtual_host": address.vhost,
            "connection_attempts": 1,
            "socket_timeout": timeout,
            "stack_timeout": timeout,
            "blocked_connection_timeout": timeout,
            "client_properties": {"connection_name": name},
        }
        if heartbeat is not None:
            options["heartbeat"] = heartbeat
        if user is not None:
            options["credentials"] = pika.PlainCredentials(user, password)
        if address.tls:
            options["ssl_options"] = pika.SSLOptions(
                _tls_context(), server_hostname=address.host
            )
        parameters = [
            pika.ConnectionParameters(host=host, **options)
            for host in _judged_hosts(address, guard)
        ]
        self.connection = pika.BlockingConnection(parameters)
        try:
            self.channel = self.connection.channel()
            self.setup()
        except BaseException:
            self.close()
            raise

    def setup(self):
        """Prepare the channel (the connection is closed if this fails)."""

    def usable(self):
        """Whether the connection is still open (reads what the broker sent)."""
        try:
            self.connection.process_data_events(time_limit=0)
        except Exception:  # noqa: BLE001 - any failure means: reconnect
            return False
        return self.connection.is_open and self.channel.is_open

    def close(self):
        try:
            if self.connection.is_open:
                self.connection.close()
        except Exception:  # noqa: BLE001,S110 - closing a broken connection
            pass


class _AmqpPublisherLink(_AmqpLink):
    def __init__(self, address, credential, timeout, guard, exchange):
        heartbeat = max(2, int(math.ceil(timeout)))
        name = "mfg-integration publisher"
        self.exchange = exchange
        super().__init__(address, credential, timeout, guard, heartbeat, name)

    def setup(self):
        self.channel.confirm_delivery()

    def publish(self, destination, body, headers, msg_id):
        properties = pika.BasicProperties(
            content_type=CONTENT_TYPE,
            delivery_mode=pika.DeliveryMode.Persistent,
            message_id=msg_id,
            headers=dict(headers),
        )
        self.channel.basic_publish(
            self.exchange, destination, body, properties, mandatory=True
        )
        return ""


# -- MQTT -------------------------------------------------------------------


class _GuardedMqttClient(mqtt.Client):
    """A paho client whose TCP connection goes through an AddressGuard; the host
    name stays the one TLS certificates are checked against."""

    address_guard = None

    def _create_socket_connection(self):
        if self.address_guard is None:
            return super()._create_socket_connection()
        return self.address_guard.create_connection(
            (self._host, self._port), self._connect_timeout
        )


def _mqtt_reason_failure(reason_code, what):
    value = reason_code.value
    label = f"MQTT reason 0x{value:02X} {reason_code.getName()}"
    if value in (0x85, 0x86, 0x87, 0x8A, 0x8C):
        return _Failure(ERROR_REFUSED, f"the broker refused {what} ({label})")
    if what == "the message":
        return _Failure(ERROR_NACK, f"the broker declined the message ({label})", True)
    return _Failure(ERROR_CONNECTION, f"the broker refused {what} ({label})")


class _MqttLink:
    """One MQTT 5 connection driven by this thread (no paho thread): paho's
    external event loop API (``socket``, ``loop_read``, ``loop_write``,
    ``loop_misc``) is called while waiting for an answer."""

    def __init__(self, address, credential, timeout, guard, client_id, **session):
        self.timeout = timeout
        self.connack = None
        self.acks = {}
        self.subacks = {}
        self.inbox = collections.deque()
        self.disconnect_reason = None
        client = _GuardedMqttClient(
            mqtt.CallbackAPIVersion.VERSION2,
            client_id=client_id,
            protocol=mqtt.MQTTv5,
            reconnect_on_failure=False,
            manual_ack=session.get("manual_ack", False),
        )
        client.address_guard = guard
        client.connect_timeout = timeout
        user, password, _token = credential
        if user is not None:
            client.username_pw_set(user, password)
        if address.tls:
            client.tls_set_context(_tls_context())
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_publish = self._on_publish
        client.on_subscribe = self._on_subscribe
        client.on_message = self._on_message
        self.client = client
        properties = Properties(PacketTypes.CONNECT)
        if session.get("expiry"):
            properties.SessionExpiryInterval = session["expiry"]
        if session.get("receive_maximum"):
            properties.ReceiveMaximum = session["receive_maximum"]
        try:
            client.connect(
                address.host,
                address.port,
                keepalive=_MQTT_KEEPALIVE,
                clean_start=session.get("clean_start", True),
                properties=properties,
            )
            self.wait_for(lambda: self.connack is not None, "the connection")
        except BaseException:
            self.close()
            raise
        if self.connack.is_failure:
            failure = _mqtt_reason_failure(self.connack, "the connection")
            self.close()
            raise failure

    # callbacks (called by paho inside pump())
    def _on_connect(self, _client, _userdata, flags, reason_code, _properties):
        self.session_present = bool(getattr(flags, "session_present", False))
        self.connack = reason_code

    def _on_disconnect(self, _client, _userdata, _flags, reason_code, _properties):
        self.disconnect_reason = reason_code

    def _on_publish(self, _client, _userdata, mid, reason_code, _properties):
        self.acks[mid] = reason_code

    def _on_subscribe(self, _client, _userdata, mid, reason_codes, _properties):
        self.subacks[mid] = reason_codes

    def _on_message(self, _client, _userdata, message):
        self.inbox.append(message)

    def connected(self):
        return self.client.socket() is not None and self.client.is_connected()

    def pump(self, wait):
        """Exchange data with the broker for up to ``wait`` seconds."""
        client = self.client
        sock = client.socket()
        if sock is None:
            return
        pending = sock.pending() if hasattr(sock, "pending") else 0
        try:
            readable, writable, _x = select.select(
                [sock],
                [sock] if client.want_write() else [],
                [],
                0 if pending else wait,
            )
        except (OSError, ValueError):
            readable, writable = [sock], []
        if readable or pending:
            client.loop_read()
        if writable and client.socket() is not None:
            client.loop_write()
        if client.socket() is not None:
            client.loop_misc()

    def lost_failure(self):
        reason = self.disconnect_reason
        if reason is not None and getattr(reason, "is_failure", False):
            return _Failure(
                ERROR_CONNECTION,
                f"the broker closed the connection (MQTT reason 0x{reason.value:02X} "
                f"{reason.getName()})",
            )
        return _Failure(ERROR_CONNECTION, "the connection was lost")

    def wait_for(self, done, what):
        deadline = time.monotonic() + self.timeout
        while not done():
            if self.client.socket() is None:
                raise self.lost_failure()
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise _Failure(
                    ERROR_TIMEOUT,
                    f"the broker did not answer {what} within {self.timeout:g} s",
                )
            self.pump(min(remaining, 0.25))

    def usable(self):
        self.pump(0)
        return self.connected()

    def subscribe(self, topic_filter):
        options = SubscribeOptions(
            qos=1, retainHandling=SubscribeOptions.RETAIN_SEND_IF_NEW_SUB
        )
        result, mid = self.client.subscribe(topic_filter, options=options)
        if result != mqtt.MQTT_ERR_SUCCESS:
            raise self.lost_failure()
        self.wait_for(lambda: mid in self.subacks, "the subscription")
        for reason_code in self.subacks.pop(mid):
            if reason_code.is_failure:
                raise _mqtt_reason_failure(reason_code, "the subscription")

    def publish(self, destination, body, headers, _msg_id):
        properties = Properties(PacketTypes.PUBLISH)
        properties.ContentType = CONTENT_TYPE
        if headers:
            properties.UserProperty = list(headers.items())
        info = self.client.publish(
            destination, body, qos=1, retain=False, properties=properties
        )
        if info.rc != mqtt.MQTT_ERR_SUCCESS:
            raise self.lost_failure()
        self.wait_for(lambda: info.mid in self.acks, "the message")
        reason_code = self.acks.pop(info.mid)
        if reason_code.is_failure:  # 0x10 "no matching subscribers" is a success
            raise _mqtt_reason_failure(reason_code, "the message")
        return ""

    def close(self):
        client = self.client
        try:
            if client.socket() is not None:
                client.disconnect()
                self.pump(0)
        except Exception:  # noqa: BLE001,S110 - closing a broken connection
            pass
        finally:
            sock = client.socket()
            if sock is not None:
                sock.close()


def _mqtt_failure(exc, timeout):
    if isinstance(exc, OSError):
        return _os_failure(exc, timeout)
    return None


# -- NATS -------------------------------------------------------------------


class _EventLoop:
    """A private asyncio event loop run by its own thread, so that nats-py (which
    is asynchronous) answers the server's pings and notices a lost connection
    between calls, while the API of this module stays synchronous."""

    def __init__(self, name):
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self._run, name=name, daemon=True)
        self.thread.start()

    def _run(self):
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def call(self, coroutine, timeout):
        """Run a coroutine on the loop and return its result.

        :raise TimeoutError: it did not end within ``timeout`` seconds (it is
            cancelled)
        """
        future = asyncio.run_coroutine_threadsafe(coroutine, self.loop)
        try:
            return future.result(timeout)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise TimeoutError("no answer in time") from None

    def stop(self, timeout):
        """Cancel what still runs, stop the loop and its thread."""

        async def cancel_all():
            current = asyncio.current_task()
            tasks = [task for task in asyncio.all_tasks() if task is not current]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        try:
            self.call(cancel_all(), timeout)
        except Exception:  # noqa: BLE001,S110 - stopping anyway
            pass
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout)
        if not self.thread.is_alive():
            self.loop.close()


def _nats_failure(exc, timeout):
    """Judge an exception raised by nats-py."""
    if isinstance(
        exc, nats.js.errors.NoStreamResponseError | nats.errors.NoRespondersError
    ):
        return _Failure(ERROR_NO_STREAM, "no stream takes the subject", healthy=True)
    if isinstance(exc, nats.js.errors.NotFoundError):
        return _Failure(ERROR_NO_STREAM, "the stream or consumer does not exist")
    if isinstance(exc, nats.js.errors.APIError):
        return _Failure(
            ERROR_NACK,
            f"JetStream declined the message (error {exc.err_code or exc.code})",
            healthy=True,
        )
    if isinstance(exc, nats.errors.MaxPayloadError):
        return _Failure(
            ERROR_NACK, "the message exceeds the server's max payload", True
        )
    if isinstance(exc, nats.errors.AuthorizationError):
        return _Failure(ERROR_REFUSED, "the server refused the credentials")
    if isinstance(exc, asyncio.TimeoutError | TimeoutError):
        return _Failure(ERROR_TIMEOUT, f"no answer within {timeout:g} s")
    if isinstance(exc, OSError):
        return _os_failure(exc, timeout)
    if isinstance(exc, nats.errors.Error):
        return _Failure(ERROR_CONNECTION, "the connection failed or was lost")
    return None


class _NatsLink:
    """One nats-py connection, on a private event loop thread."""

    def __init__(self, address, credential, timeout, guard):
        self.timeout = timeout
        self.last_error = None
        hosts = _judged_hosts(address, guard)
        scheme = "tls" if address.tls else "nats"
        servers = [
            f"{scheme}://[{host}]:{address.port}"
            if ":" in host
            else f"{scheme}://{host}:{address.port}"
            for host in hosts
        ]
        user, password, token = credential
        options = {
            "servers": servers,
            "name": "mfg-integration",
            "connect_timeout": timeout,
            # this module reconnects by itself; nats-py gives up at once
            "allow_reconnect": False,
            "max_reconnect_attempts": 1,
            "reconnect_time_wait": 0.1,
            "dont_randomize": True,
            "error_cb": self._on_error,
            "disconnected_cb": self._on_event,
            "closed_cb": self._on_event,
            "user": user,
            "password": password,
            "token": token,
        }
        if address.tls:
            options["tls"] = _tls_context()
            options["tls_hostname"] = address.host
        self.runner = _EventLoop(f"mfg-nats {address.origin}")
        self.client = NatsClient()
        try:
            self.call(self.client.connect(**options))
        except nats.errors.NoServersError:
            self.close()
            raise self.last_error or nats.errors.NoServersError() from None
        except BaseException:
            self.close()
            raise
        self.js = self.client.jetstream(timeout=timeout)

    async def _on_error(self, exc):
        self.last_error = exc

    async def _on_event(self):
        return None

    def call(self, coroutine, extra=0.0):
        return self.runner.call(coroutine, self.timeout * 2 + extra + 1)

    def usable(self):
        return self.client.is_connected

    def publish(self, destination, body, headers, msg_id):
        all_headers = dict(headers)
        all_headers["Nats-Msg-Id"] = msg_id
        all_headers["Content-Type"] = CONTENT_TYPE
        ack = self.call(
            self.js.publish(
                destination, body, timeout=self.timeout, headers=all_headers
            )
        )
        return f"stream {ack.stream} seq {ack.seq}" + (
            " duplicate" if ack.duplicate else ""
        )

    def close(self):
        async def close_client():
            if not self.client.is_closed:
                await asyncio.wait_for(self.client.close(), self.timeout)

        try:
            self.runner.call(close_client(), self.timeout + 1)
        except Exception:  # noqa: BLE001,S110 - closing a broken connection
            pass
        self.runner.stop(self.timeout + 1)


# -- publishing -------------------------------------------------------------

_FAILURE_JUDGES = {"amqp": _amqp_failure, "mqtt": _mqtt_failure, "nats": _nats_failure}


def _judge(kind, exc, timeout):
    """Turn any exception met while talking to a broker into a :class:`_Failure`."""
    if isinstance(exc, _Failure):
        return exc
    if isinstance(exc, RestrictedAddress):
        return _restricted_failure(exc)
    failure = _FAILURE_JUDGES[kind](exc, timeout)
    if failure is None:
        failure = _Failure(ERROR_CONNECTION, f"unexpected {type(exc).__name__}")
    return failure


class _BrokerClient:
    """What a :class:`Publisher` and a :class:`Consumer` share: the broker's
    ``origin`` and use as a context manager (closed on exit)."""

    address = None

    @property
    def origin(self):
        """``scheme://host:port`` of the broker."""
        return self.address.origin

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()

    def close(self):
        raise NotImplementedError


class Publisher(_BrokerClient):
    """One connection to a broker, used by one thread, that publishes messages and
    waits for the broker's acknowledgement of each.

    It connects on the first :meth:`publish` and, after a failure, connects again
    on the next one. Use it as a context manager, or call :meth:`close`.

    * AMQP 0-9-1 (pika): publisher confirms; each message goes to ``exchange``
      with the destination as routing key, ``mandatory`` (a message no queue takes
      is returned: ``broker.unroutable``), persistent, with the content type
      :data:`CONTENT_TYPE`, the ``msg_id`` as ``message_id`` and the headers as
      AMQP headers.
    * MQTT 5 (paho-mqtt): QoS 1, not retained, a unique client id and a clean
      start; the headers become user properties, the content type the
      ``Content Type`` property. A ``PUBACK`` reason "no matching subscribers" is
      a success.
    * NATS JetStream (nats-py): the headers plus ``Nats-Msg-Id`` (the ``msg_id``,
      so JetStream drops a message sent twice within its duplicate window) and
      ``Content-Type``; a message no stream takes is ``broker.no-stream``. The
      connection runs on a private event loop thread, stopped by :meth:`close`.

    :param url: the broker URL (see :func:`parse_broker_url`)
    :param credential: ``None``, ``"user:password"`` or, for NATS only, a token
        (a text without ``:``)
    :param timeout: seconds allowed to connect and to wait for an acknowledgement
    :param guard: an :class:`~.transport.AddressGuard`, or ``None``: with one, the
        host name is resolved and only addresses the guard allows are connected to
        (TLS certificates are still checked against the host name); a refused
        host gives ``broker.restricted``
    :param exchange: the AMQP exchange (``""`` is the default exchange, which
        routes to the queue named by the routing key); ignored by MQTT and NATS
    :raise ValueError: for an invalid URL, credential, timeout or exchange (the
        messages never repeat the credential)
    """

    def __init__(self, url, credential=None, timeout=10.0, guard=None, exchange=""):
        self.address = parse_broker_url(url)
        self.timeout = _check_timeout(timeout)
        self._credential = _split_credential(self.address.kind, credential)
        self.guard = guard
        if not isinstance(exchange, str) or len(exchange.encode("utf-8")) > 255:
            raise ValueError("The AMQP exchange is a name of at most 255 bytes.")
        self.exchange = exchange
        self._link = None

    def _connect(self):
        address, timeout = self.address, self.timeout
        if address.kind == "amqp":
            return _AmqpPublisherLink(
                address, self._credential, timeout, self.guard, self.exchange
            )
        if address.kind == "mqtt":
            client_id = "mfgpub" + uuid.uuid4().hex[:17]
            return _MqttLink(address, self._credential, timeout, self.guard, client_id)
        return _NatsLink(address, self._credential, timeout, self.guard)

    def publish(self, destination, body, headers, msg_id):
        """Publish one message and wait for the broker's acknowledgement.

        Never raises for a network or broker failure: it is reported in the result.

        :param destination: the routing key, topic or subject (see
            :func:`render_destination`)
        :param body: the message body (bytes)
        :param headers: headers sent with the message (texts; e.g. the
            ``webhook-id``, ``webhook-timestamp`` and ``webhook-signature`` of the
            signed body)
        :param msg_id: the message id, the same on every attempt of the message
        :return: a :class:`~.transport.DeliveryResult`: :data:`~.transport.SUCCESS`
            when the broker acknowledged the message (the excerpt may name the
            JetStream stream and sequence), else :data:`~.transport.RETRY` with
            ``status_code`` ``None``, an error class of :data:`ERROR_CLASSES` and a
            message naming only the broker's ``scheme://host:port`` and the cause
        :raise ValueError: for an invalid destination, body, headers or msg_id
        """
        problem = _destination_problem(self.address.kind, destination)
        if problem:
            raise ValueError(problem)
        if not isinstance(body, bytes | bytearray):
            raise ValueError("The message body is bytes.")
        headers = _check_headers(headers)
        if not isinstance(msg_id, str) or not msg_id or _CONTROL.search(msg_id):
            raise ValueError("The message id is a non-empty text.")
        start = time.monotonic()
        try:
            if self._link is not None and not self._link.usable():
                self.close()
            if self._link is None:
                self._link = self._connect()
            excerpt = self._link.publish(destination, bytes(body), headers, msg_id)
        except Exception as exc:  # noqa: BLE001 - every failure becomes a result
            failure = _judge(self.address.kind, exc, self.timeout)
            if not failure.healthy:
                self.close()
            return DeliveryResult(
                outcome=RETRY,
                status_code=None,
                duration_ms=_elapsed_ms(start),
                error_class=failure.error_class,
                error_message=f"Could not publish to {self.origin}: {failure.cause}.",
            )
        return DeliveryResult(
            outcome=SUCCESS,
            status_code=None,
            duration_ms=_elapsed_ms(start),
            response_excerpt=excerpt,
        )

    def close(self):
        """Close the connection (a later :meth:`publish` opens a new one); calling
        it again does nothing."""
        link, self._link = self._link, None
        if link is not None:
            link.close()


# -- consuming --------------------------------------------------------------


@dataclass
class BrokerMessage:
    """One message received by a :class:`Consumer`.

    ``msg_id`` is the same on every redelivery of the same broker message and
    matches :data:`MSG_ID_PATTERN` (it can serve as a Standard Webhooks
    ``webhook-id``):

    * AMQP: the ``message_id`` property when it matches the pattern; another
      ``message_id`` gives ``"amqp-"`` and the first 40 hex digits of its SHA-256;
      without one, ``"amqp-"`` + SHA-256 of ``exchange NUL routing key NUL body``
      (40 hex digits).
    * MQTT: the user property ``webhook-id``, else ``ce-id``, when it matches the
      pattern; else ``"mqtt-"`` + SHA-256 of ``topic NUL payload`` (40 hex
      digits), so a QoS 1 duplicate gets the same id.
    * NATS: the ``Nats-Msg-Id`` header when it matches the pattern, else
      ``nats-<stream>-<stream sequence>``.

    :param body: the message body
    :param destination: the routing key, topic or subject it was published to
    :param msg_id: see above
    :param redelivered: the broker says it delivered the message before (AMQP
        ``redelivered``, MQTT ``DUP``, NATS delivery count above 1)
    :param properties: texts: the AMQP headers, MQTT user properties or NATS
        headers
    """

    body: bytes
    destination: str
    msg_id: str
    redelivered: bool
    properties: dict = field(default_factory=dict)


def _amqp_msg_id(message_id, exchange, routing_key, body):
    if message_id:
        if _valid_msg_id(message_id):
            return message_id
        return _digest_id("amqp", message_id)
    return _digest_id("amqp", exchange, routing_key, body)


def _mqtt_msg_id(topic, payload, properties):
    for name in ("webhook-id", "ce-id"):
        if _valid_msg_id(properties.get(name)):
            return properties[name]
    return _digest_id("mqtt", topic, payload)


def _nats_msg_id(headers, stream, sequence):
    value = headers.get("Nats-Msg-Id")
    if _valid_msg_id(value):
        return value
    msg_id = f"nats-{_NATS_UNSAFE.sub('_', stream)}-{sequence}"
    if len(msg_id) > 128:
        return _digest_id("nats", stream, sequence)
    return msg_id


class _AmqpSession(_AmqpLink):
    def __init__(self, consumer):
        self.consumer = consumer
        super().__init__(
            consumer.address,
            consumer._credential,
            consumer.timeout,
            consumer.guard,
            None,
            "mfg-integration consumer",
        )

    def setup(self):
        consumer = self.consumer
        queue = consumer.source
        try:
            self.channel.queue_declare(queue, passive=True)
        except pika.exceptions.ChannelClosedByBroker as exc:
            if exc.reply_code != 404:
                raise
            self.channel = self.connection.channel()
            self.channel.queue_declare(queue, durable=True)
        if consumer.bind:
            exchange, routing_key = consumer.bind
            self.channel.queue_bind(queue, exchange, routing_key)
        self.channel.basic_qos(prefetch_count=consumer.prefetch)
        self.messages = self.channel.consume(
            queue, auto_ack=False, inactivity_timeout=_POLL_SECONDS
        )

    def next(self):
        method, properties, body = next(self.messages)
        if method is None:
            return None
        headers = {
            str(name): _text(value)
            for name, value in (properties.headers or {}).items()
            if value is not None
        }
        message = BrokerMessage(
            body=body,
            destination=method.routing_key,
            msg_id=_amqp_msg_id(
                properties.message_id, method.exchange, method.routing_key, body
            ),
            redelivered=bool(method.redelivered),
            properties=headers,
        )
        return message, method.delivery_tag

    def settle(self, delivery_tag, decision, stop):
        if decision == ACK:
            self.channel.basic_ack(delivery_tag)
        elif decision == REJECT:
            self.channel.basic_nack(delivery_tag, requeue=False)
        else:
            stop.wait(RETRY_DELAY)
            self.channel.basic_nack(delivery_tag, requeue=True)
        return True


class _MqttSession(_MqttLink):
    def __init__(self, consumer):
        super().__init__(
            consumer.address,
            consumer._credential,
            consumer.timeout,
            consumer.guard,
            consumer.client_id,
            manual_ack=True,
            clean_start=False,
            expiry=MQTT_SESSION_EXPIRY,
            receive_maximum=consumer.prefetch,
        )
        topic_filter = consumer.source
        if consumer.group:
            topic_filter = f"$share/{consumer.group}/{topic_filter}"
        try:
            self.subscribe(topic_filter)
        except BaseException:
            self.close()
            raise

    def next(self):
        if not self.inbox:
            self.pump(_POLL_SECONDS)
            if not self.connected():
                raise self.lost_failure()
        if not self.inbox:
            return None
        message = self.inbox.popleft()
        properties = {}
        for name, value in getattr(message.properties, "UserProperty", None) or ():
            properties[_text(name)] = _text(value)
        payload = bytes(message.payload)
        topic = message.topic
        return (
            BrokerMessage(
                body=payload,
                destination=topic,
                msg_id=_mqtt_msg_id(topic, payload, properties),
                redelivered=bool(message.dup),
                properties=properties,
            ),
            message,
        )

    def settle(self, message, decision, _stop):
        if decision == RETRY:
            # not acknowledged: the broker sends it again when the session resumes
            return False
        if message.qos > 0:
            if self.client.ack(message.mid, message.qos) != mqtt.MQTT_ERR_SUCCESS:
                raise self.lost_failure()
            self.pump(0)
        return True


class _NatsSession(_NatsLink):
    def __init__(self, consumer):
        super().__init__(
            consumer.address, consumer._credential, consumer.timeout, consumer.guard
        )
        self.batch = consumer.prefetch
        self.buffer = collections.deque()
        try:
            self.subscription = self.call(self._bind(consumer))
        except BaseException:
            self.close()
            raise

    async def _bind(self, consumer):
        stream, durable = consumer.source.split(":", 1)
        try:
            await self.js.consumer_info(stream, durable)
        except nats.js.errors.NotFoundError:
            config = nats.js.api.ConsumerConfig(
                durable_name=durable,
                ack_policy=nats.js.api.AckPolicy.EXPLICIT,
                ack_wait=consumer.ack_wait,
                filter_subject=consumer.bind,
            )
            await self.js.add_consumer(stream, config)
        return await self.js.pull_subscribe_bind(durable=durable, stream=stream)

    def next(self):
        if not self.buffer:
            try:
                fetched = self.call(
                    self.subscription.fetch(self.batch, timeout=_POLL_SECONDS),
                    _POLL_SECONDS,
                )
            except (TimeoutError, asyncio.TimeoutError):
                if not self.client.is_connected:
                    raise _Failure(
                        ERROR_CONNECTION, "the connection was lost"
                    ) from None
                return None
            self.buffer.extend(fetched)
        msg = self.buffer.popleft()
        metadata = msg.metadata
        headers = {
            str(name): _text(value) for name, value in (msg.headers or {}).items()
        }
        message = BrokerMessage(
            body=bytes(msg.data),
            destination=msg.subject,
            msg_id=_nats_msg_id(headers, metadata.stream, metadata.sequence.stream),
            redelivered=metadata.num_delivered > 1,
            properties=headers,
        )
        return message, msg

    async def _answer(self, msg, decision):
        if decision == ACK:
            await msg.ack_sync(timeout=self.timeout)
            return
        if decision == REJECT:
            await msg.term()
        else:
            await msg.nak(delay=RETRY_DELAY)
        await self.client.flush(timeout=self.timeout)

    def settle(self, msg, decision, _stop):
        self.call(self._answer(msg, decision))
        return True

    def close(self):
        async def give_back(messages):
            for msg in messages:
                await msg.nak()
            await self.client.flush(timeout=self.timeout)

        buffered, self.buffer = list(getattr(self, "buffer", ())), collections.deque()
        if buffered and self.client.is_connected:
            try:
                self.call(give_back(buffered))
            except Exception:  # noqa: BLE001,S110 - they come back after ack_wait
                pass
        super().close()


_SESSIONS = {"amqp": _AmqpSession, "mqtt": _MqttSession, "nats": _NatsSession}


def _check_mqtt_filter(topic_filter):
    if not isinstance(topic_filter, str) or not topic_filter or "\0" in topic_filter:
        raise ValueError("An MQTT topic filter is a non-empty text without NUL.")
    levels = topic_filter.split("/")
    for index, level in enumerate(levels):
        if "#" in level and (level != "#" or index != len(levels) - 1):
            raise ValueError("In an MQTT topic filter, '#' is only the last level.")
        if "+" in level and level != "+":
            raise ValueError("In an MQTT topic filter, '+' is a whole level.")
    if topic_filter.startswith("$share/"):
        raise ValueError("Give the shared subscription's group as group=.")


def _check_nats_source(source, bind):
    stream, colon, durable = (source if isinstance(source, str) else "").partition(":")
    if (
        not colon
        or not _NATS_NAME.fullmatch(stream)
        or not _NATS_NAME.fullmatch(durable)
    ):
        raise ValueError(
            "The source of a NATS consumer is STREAM:DURABLE (names without white "
            "space, '.', '*', '>', '/' or '\\')."
        )
    if bind is not None:
        if not isinstance(bind, str) or not bind:
            raise ValueError("The filter subject of a NATS consumer is a text.")
        tokens = bind.split(".")
        if any(not token or any(c.isspace() for c in token) for token in tokens):
            raise ValueError("The filter subject of a NATS consumer is not valid.")


def _check_amqp_source(source, bind):
    if not isinstance(source, str) or not source or len(source.encode()) > 255:
        raise ValueError(
            "The source of an AMQP consumer is a queue name (1-255 bytes)."
        )
    if bind is not None:
        if (
            not isinstance(bind, tuple | list)
            or len(bind) != 2
            or not all(isinstance(part, str) for part in bind)
            or not bind[0]
        ):
            raise ValueError(
                "The binding of an AMQP consumer is (exchange, routing key) with a "
                "named exchange."
            )


def _where(exc):
    """The type of an exception and where it was raised, without its message."""
    frames = traceback.extract_tb(exc.__traceback__)
    if not frames:
        return type(exc).__name__
    last = frames[-1]
    return f"{type(exc).__name__} at {last.filename}:{last.lineno}"


class Consumer(_BrokerClient):
    """Reads messages from a broker and hands each to a callback (see :meth:`run`).

    * AMQP: ``source`` is a queue; it is declared (durable) when it does not exist,
      and bound to ``bind = (exchange, routing_key)`` when given (the exchange must
      exist). At most ``prefetch`` unacknowledged messages are delivered at once.
    * MQTT 5: ``source`` is a topic filter, subscribed with QoS 1 in a persistent
      session (no clean start, a session expiry of 7 days) with manual
      acknowledgements: messages published while the consumer is away, and those
      it did not acknowledge, arrive when it comes back. The client id is
      ``client_id`` or one derived from ``group`` and ``source``, so a restarted
      consumer resumes its session. With ``group``, the subscription is the shared
      subscription ``$share/<group>/<source>``: the broker spreads the messages over
      the group's consumers, which must then have distinct ``client_id`` values.
    * NATS JetStream: ``source`` is ``STREAM:DURABLE``, a durable pull consumer with
      explicit acknowledgements; it is created when missing, with ``ack_wait`` and
      the filter subject ``bind``.

    ``group`` is used by MQTT only (an AMQP queue and a JetStream durable consumer
    are shared by everyone reading them).

    :param url: the broker URL (see :func:`parse_broker_url`)
    :param source: the queue, topic filter or ``STREAM:DURABLE``
    :param credential: ``None``, ``"user:password"`` or, for NATS, a token
    :param timeout: seconds allowed to connect and for each exchange with the broker
    :param group: MQTT: the shared subscription group
    :param bind: AMQP: ``(exchange, routing_key)``; NATS: the filter subject of a new
        durable consumer
    :param prefetch: the most messages delivered and not yet acknowledged
    :param guard: an :class:`~.transport.AddressGuard`, or ``None`` (see
        :class:`Publisher`)
    :param ack_wait: NATS: seconds before a message that was not acknowledged is
        delivered again (for a durable consumer created here)
    :param client_id: MQTT: the client id (default: derived from group and source)
    :raise ValueError: for an invalid URL, source, credential or setting
    """

    def __init__(
        self,
        url,
        source,
        credential=None,
        timeout=10.0,
        group=None,
        bind=None,
        prefetch=16,
        guard=None,
        ack_wait=30.0,
        client_id=None,
    ):
        self.address = parse_broker_url(url)
        kind = self.address.kind
        self.timeout = _check_timeout(timeout)
        self._credential = _split_credential(kind, credential)
        if isinstance(prefetch, bool) or not isinstance(prefetch, int):
            raise ValueError("The prefetch is a whole number from 1 to 65535.")
        if not 1 <= prefetch <= 65535:
            raise ValueError("The prefetch is a whole number from 1 to 65535.")
        self.ack_wait = _check_timeout(ack_wait)
        if kind == "amqp":
            _check_amqp_source(source, bind)
        elif kind == "nats":
            _check_nats_source(source, bind)
        else:
            _check_mqtt_filter(source)
            if group is not None and (
                not isinstance(group, str)
                or not group
                or any(character in group for character in "/+#\0")
            ):
                raise ValueError("An MQTT share group is a name without / + # or NUL.")
        self.source = source
        self.group = group or None
        self.bind = tuple(bind) if kind == "amqp" and bind else bind
        self.prefetch = prefetch
        self.guard = guard
        if client_id is None:
            digest = hashlib.sha256(f"{group or ''}\0{source}".encode()).hexdigest()
            client_id = "mfg" + digest[:20]
        elif not isinstance(client_id, str) or not client_id:
            raise ValueError("The MQTT client id is a non-empty text.")
        self.client_id = client_id
        #: set while the consumer is connected (and, for MQTT, subscribed)
        self.connected = threading.Event()
        self._session = None

    def _decide(self, handle, message):
        try:
            decision = handle(message)
        except Exception as exc:  # noqa: BLE001 - the message comes back later
            _logger.warning(
                "The handler failed on message %s from %s (%s); it will be retried.",
                message.msg_id,
                self.origin,
                _where(exc),
            )
            return RETRY
        if decision not in DECISIONS:
            _logger.warning(
                "The handler returned %r for message %s, not one of %s; it will be "
                "retried.",
                decision,
                message.msg_id,
                ", ".join(DECISIONS),
            )
            return RETRY
        return decision

    def _serve(self, handle, stop):
        """Handle messages until stop is set (``True``) or a message is to be
        redelivered after a new connection (``False``)."""
        session = self._session
        while not stop.is_set():
            received = session.next()
            if received is None:
                continue
            message, token = received
            decision = self._decide(handle, message)
            if not session.settle(token, decision, stop):
                return False
        return True

    def _backoff(self, stop, failure, delay, what):
        _logger.warning(
            "%s %s: %s; trying again in %g s.", what, self.origin, failure.cause, delay
        )
        stop.wait(delay)
        return min(delay * 2, MAX_BACKOFF)

    def run(self, handle, stop):
        """Receive messages and hand each to ``handle`` until ``stop`` is set.

        ``handle(message)`` gets a :class:`BrokerMessage` and returns :data:`ACK`
        (acknowledge it), :data:`REJECT` (dead-letter it: AMQP ``basic_nack``
        without requeue, NATS ``term``; MQTT has no dead-letter path, the message is
        acknowledged and the caller logs it) or :data:`RETRY` (have it delivered
        again: AMQP ``basic_nack`` with requeue after :data:`RETRY_DELAY`, NATS
        ``nak`` with that delay, MQTT: not acknowledged, the consumer reconnects
        after that delay and the broker sends it again). An exception raised by
        ``handle`` counts as :data:`RETRY` and is logged without the message body.

        When the broker is unreachable or the connection is lost, one line is
        logged (no credential), and the consumer connects again after a pause that
        doubles from 1 s to 30 s; broker errors never end the loop. It returns
        within about a second (or ``timeout``, while connecting) after ``stop`` is
        set, and closes its connection. Call it from one thread at a time.

        :param handle: the callback
        :param stop: a :class:`threading.Event`
        """
        delay = FIRST_BACKOFF
        while not stop.is_set():
            try:
                self._session = _SESSIONS[self.address.kind](self)
            except Exception as exc:  # noqa: BLE001 - logged, then tried again
                failure = _judge(self.address.kind, exc, self.timeout)
                delay = self._backoff(stop, failure, delay, "Could not connect to")
                continue
            opened = time.monotonic()
            self.connected.set()
            _logger.info("Consuming %s from %s.", self.source, self.origin)
            try:
                redeliver = not self._serve(handle, stop)
            except Exception as exc:  # noqa: BLE001 - logged, then reconnected
                if time.monotonic() - opened >= MAX_BACKOFF:
                    delay = FIRST_BACKOFF
                failure = _judge(self.address.kind, exc, self.timeout)
                delay = self._backoff(stop, failure, delay, "Lost the connection to")
                continue
            finally:
                self.connected.clear()
                self._close_session()
            delay = FIRST_BACKOFF
            if redeliver:
                stop.wait(RETRY_DELAY)

    def _close_session(self):
        session, self._session = self._session, None
        if session is not None:
            session.close()

    def close(self):
        """Close the connection, if :meth:`run` left one open; calling it again
        does nothing. Call it once :meth:`run` returned (or raised)."""
        self.connected.clear()
        self._close_session()
