"""Outbound HTTP delivery of the hub: build, sign, POST and classify one attempt.

The hub calls :func:`build_request` to turn a canonical event into the exact body
bytes and headers of one delivery attempt (Standard Webhooks signatures, a
``User-Agent`` and the endpoint's authentication), then :func:`deliver` to POST
them, and stores the :class:`DeliveryResult`. Status codes are judged by
:func:`classify`, following the Standard Webhooks specification: 2xx is a
success, ``410 Gone`` means the receiver wants no more messages (the hub disables
the endpoint), and everything else, redirects included, is retried. Deciding when
the retry schedule is exhausted is the hub's business, not this module's.

Deliveries go through a :class:`ConnectionPool` of keep-alive HTTP/1.1
connections (the standard library's :mod:`http.client`, with TLS certificates
checked against the system's CAs and certifi's bundle), shared by the threads of one
delivery job. No proxy, ``.netrc`` or environment setting is consulted: endpoints are
URLs configured in the hub.

Nothing returned here ever contains a credential, a signing secret, a header value
or the query string of the target URL: error messages name the scheme, host and
port of the target only.
"""

import base64
import codecs
import functools
import http.client
import json
import re
import select
import socket
import ssl
import threading
import time
from dataclasses import dataclass
from urllib.parse import quote, urlsplit

import requests

try:  # requests' CA bundle: installed with requests, added to the system's CAs
    import certifi
except ImportError:  # pragma: no cover - requests depends on certifi
    certifi = None

from . import __version__
from .networks import restricted_reason
from .retry import parse_retry_after
from .webhooks import sign_headers

#: the receiver took the message (2xx)
SUCCESS = "success"
#: the attempt failed; try again later, following the retry schedule
RETRY = "retry"
#: the receiver answered ``410 Gone``: disable the endpoint, stop delivering
GONE = "gone"
#: every outcome :func:`classify` and :func:`deliver` may return
OUTCOMES = (SUCCESS, RETRY, GONE)

#: statuses whose ``Retry-After`` header is honoured
RETRY_AFTER_STATUSES = frozenset({429, 503})
#: the most response bytes :func:`deliver` reads (the rest is dropped unread)
MAX_READ_BYTES = 64 * 1024
#: the most characters of the response kept in :attr:`DeliveryResult.response_excerpt`
MAX_EXCERPT_CHARS = 2000
_READ_CHUNK = 16 * 1024
#: idle keep-alive connections a :class:`ConnectionPool` keeps per origin
MAX_IDLE_PER_ORIGIN = 32
# Characters left as they are when a URL's path and query are percent-encoded
# (RFC 3986 reserved and unreserved characters, and existing escapes).
_URL_SAFE = "/%:@!$&'()*+,;=-._~?"
# Failures of a reused keep-alive connection that the receiver had already closed:
# the request is sent once more on a new connection.
_STALE_CONNECTION_ERRORS = (
    http.client.RemoteDisconnected,
    ConnectionResetError,
    ConnectionAbortedError,
    BrokenPipeError,
)

USER_AGENT = f"mfg-integration/{__version__}"
JSON_CONTENT_TYPE = "application/json"
AUTH_KINDS = ("none", "bearer", "basic", "header")

# RFC 7230 section 3.2.6: token = 1*tchar
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
# Control characters other than horizontal tab are never valid in a header value.
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
# Headers that build_request sets itself and an endpoint may not replace.
_RESERVED_HEADERS = frozenset(
    {
        "content-type",
        "content-length",
        "content-encoding",
        "transfer-encoding",
        "host",
        "connection",
        "user-agent",
        "webhook-id",
        "webhook-timestamp",
        "webhook-signature",
    }
)


@dataclass(frozen=True)
class DeliveryResult:
    """What happened to one delivery attempt.

    :param outcome: :data:`SUCCESS`, :data:`RETRY` or :data:`GONE`
    :param status_code: the HTTP status received, or ``None`` without an answer
    :param duration_ms: the time the attempt took, in milliseconds
    :param retry_after: the seconds the receiver asked to wait (``Retry-After`` of a
        429 or 503), or ``None``
    :param response_excerpt: up to 2000 characters of the response body (UTF-8, or
        the declared charset, invalid bytes replaced)
    :param error_class: ``None`` on success, else ``"timeout"``, ``"connection"``,
        ``"request"``, ``"redirect"`` or ``"http.<status>"``
    :param error_message: a human readable explanation, or ``None`` on success; it
        never contains a query string, a header value or a secret
    """

    outcome: str
    status_code: int | None
    duration_ms: int
    retry_after: int | None = None
    response_excerpt: str = ""
    error_class: str | None = None
    error_message: str | None = None

    @property
    def ok(self):
        """Whether the receiver took the message."""
        return self.outcome == SUCCESS


def header_value(headers, name):
    """Return a header of a mapping, matching the name without regard to case.

    :param headers: any mapping of header names to values, or ``None``
    :param name: the header name
    :return: the value, or ``None`` when the header is absent
    """
    if not headers:
        return None
    getter = getattr(headers, "get", None)
    if getter is not None:
        value = getter(name)
        if value is not None:
            return value
    wanted = name.lower()
    for key, value in dict(headers).items():
        if str(key).lower() == wanted:
            return value
    return None


def classify(status_code, headers=None):
    """Judge an HTTP status the way Standard Webhooks senders must.

    2xx is a success; 3xx is a failure to retry (redirects are never followed);
    410 means the endpoint must be disabled; 429 and 503 are retried after the
    ``Retry-After`` the receiver gave, when it gave one; every other status is
    retried on the normal schedule.

    :param status_code: the HTTP status of the answer
    :param headers: the answer's headers (any mapping; names without case)
    :return: ``(outcome, retry_after)`` where ``retry_after`` is in seconds, or
        ``None`` when the status does not honour it or no usable value was given
    :raise ValueError: when ``status_code`` is not an integer
    """
    if isinstance(status_code, bool) or not isinstance(status_code, int):
        raise ValueError("An HTTP status code is an integer.")
    if 200 <= status_code <= 299:
        return SUCCESS, None
    if status_code == 410:
        return GONE, None
    if status_code in RETRY_AFTER_STATUSES:
        return RETRY, parse_retry_after(header_value(headers, "Retry-After"))
    return RETRY, None


def _error_of_status(status_code):
    """Return ``(error_class, error_message)`` for an answer that is not 2xx."""
    if 300 <= status_code <= 399:
        return (
            "redirect",
            f"The receiver answered HTTP {status_code} (a redirect); redirects are "
            "not followed: update the endpoint URL.",
        )
    if status_code == 410:
        return (
            "http.410",
            "The receiver answered HTTP 410 Gone: it wants no more messages on "
            "this endpoint.",
        )
    return f"http.{status_code}", f"The receiver answered HTTP {status_code}."


def safe_origin(url):
    """Return the scheme, host and port of a URL, without user, path or query.

    :param url: any URL
    :return: e.g. ``https://mes.example.com:8443``, or ``"the endpoint"`` when the
        URL cannot be read
    """
    try:
        parts = urlsplit(str(url))
        host = parts.hostname
        port = parts.port
    except ValueError:
        return "the endpoint"
    if not parts.scheme or not host:
        return "the endpoint"
    if ":" in host:
        host = f"[{host}]"
    return f"{parts.scheme}://{host}" + (f":{port}" if port else "")


def _failure_reason(exc):
    """Name the cause of a connection failure without quoting its message.

    :param exc: a :mod:`requests` exception, or an :class:`OSError` or
        :class:`http.client.HTTPException` of the standard library
    """
    if isinstance(exc, requests.exceptions.SSLError | ssl.SSLError):
        return "the TLS handshake failed"
    if isinstance(exc, requests.exceptions.ProxyError):
        return "the proxy refused or failed"
    if isinstance(exc, ConnectionRefusedError):
        return "the connection was refused"
    if isinstance(exc, http.client.RemoteDisconnected):
        return "the connection was closed without an answer"
    if isinstance(exc, ConnectionResetError | ConnectionAbortedError | BrokenPipeError):
        return "the connection was reset"
    if isinstance(exc, socket.gaierror):
        return "the host name could not be resolved"
    if isinstance(exc, http.client.HTTPException):
        return "the answer was not valid HTTP"
    text = str(exc).lower()
    if "refused" in text:
        return "the connection was refused"
    if "reset" in text or "aborted" in text or "broken pipe" in text:
        return "the connection was reset"
    if "name or service not known" in text or "resolve" in text:
        return "the host name could not be resolved"
    if "remotedisconnected" in text or "without response" in text:
        return "the connection was closed without an answer"
    return "the connection failed"


def describe_request_exception(exc, url, timeout=None):
    """Turn a failed request into an error class and a safe message.

    The exception's own text is never copied (it may quote the full URL); only the
    origin of ``url`` and a generic cause are named.

    :param exc: a :class:`requests.RequestException`, or an :class:`OSError` or
        :class:`http.client.HTTPException` raised by :mod:`http.client`
    :param url: the URL that was requested
    :param timeout: the timeout used, in seconds, to mention in the message
    :return: ``(error_class, error_message)``; ``error_class`` is ``"timeout"``,
        ``"connection"``, ``"address"`` (refused by an :class:`AddressGuard`) or
        ``"request"``
    """
    origin = safe_origin(url)
    if isinstance(exc, RestrictedAddress):
        return "address", (
            f"Refused to send to {origin}: {exc}, which deliveries may not reach. "
            "An administrator can allow it in the system parameter "
            "mfg_integration.outbound_allowed_networks."
        )
    if isinstance(exc, requests.Timeout | TimeoutError):
        within = f" within {timeout:g} s" if isinstance(timeout, int | float) else ""
        return "timeout", f"No answer from {origin}{within}."
    if isinstance(
        exc, requests.ConnectionError | OSError | http.client.HTTPException
    ) and not isinstance(exc, http.client.InvalidURL):
        return "connection", f"Could not reach {origin}: {_failure_reason(exc)}."
    return (
        "request",
        f"The request to {origin} could not be made ({type(exc).__name__}).",
    )


def _charset(content_type):
    """Return a usable codec name declared in a Content-Type, else UTF-8."""
    for param in (content_type or "").split(";")[1:]:
        name, _sep, value = param.partition("=")
        if name.strip().lower() == "charset":
            value = value.strip().strip('"')
            try:
                return codecs.lookup(value).name
            except (LookupError, ValueError):
                break
    return "utf-8"


def _read_excerpt(response, budget):
    """Read at most :data:`MAX_READ_BYTES` of an answer's body and decode it.

    :param response: an :class:`http.client.HTTPResponse`
    :param budget: seconds allowed for reading the body, in total
    :return: ``(excerpt, complete)``: the decoded excerpt (at most
        :data:`MAX_EXCERPT_CHARS` characters) and whether the whole body was read
        (only then may the connection carry another request)
    """
    deadline = None if budget is None else time.monotonic() + budget
    chunks = []
    size = 0
    complete = False
    try:
        while size < MAX_READ_BYTES:
            chunk = response.read1(min(_READ_CHUNK, MAX_READ_BYTES - size))
            if not chunk:
                complete = True
                response.close()  # as http.client does at the end of a body
                break
            chunks.append(chunk)
            size += len(chunk)
            if deadline is not None and time.monotonic() > deadline:
                break
        else:
            complete = response.isclosed()
    except (OSError, http.client.HTTPException):
        pass  # keep what arrived: the status already tells the outcome
    data = b"".join(chunks)
    encoding = _charset(response.getheader("Content-Type"))
    return data.decode(encoding, errors="replace")[:MAX_EXCERPT_CHARS], complete


def _elapsed_ms(start):
    return max(0, int(round((time.monotonic() - start) * 1000)))


@functools.cache
def _tls_context():
    """The TLS settings of deliveries: certificates and host names are checked
    against the system's CAs and, when installed, certifi's bundle (the one
    :mod:`requests` uses), so public and company-internal CAs both work."""
    context = ssl.create_default_context()
    if certifi is not None:
        context.load_verify_locations(certifi.where())
    return context


class _Target:
    """The parts of a delivery URL that :mod:`http.client` needs."""

    __slots__ = ("origin", "scheme", "host", "port", "target")

    def __init__(self, url):
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise http.client.InvalidURL("not an http(s) URL")
        if parts.username is not None or parts.password is not None:
            raise http.client.InvalidURL("credentials in the URL")
        self.scheme = parts.scheme
        self.host = parts.hostname
        default_port = 443 if parts.scheme == "https" else 80
        self.port = parts.port or default_port  # ValueError for a bad port
        self.origin = (self.scheme, self.host, self.port)
        path = quote(parts.path or "/", safe=_URL_SAFE)
        query = quote(parts.query, safe=_URL_SAFE)
        self.target = path + ("?" + query if query else "")


@functools.lru_cache(maxsize=256)
def _target_of(url):
    """The parsed target of a URL: an endpoint's URL is the same for every message
    of a delivery job, so it is parsed and encoded once."""
    return _Target(url)


class RestrictedAddress(ConnectionError):
    """The target resolves only to addresses deliveries may not reach (see
    :func:`mfg_integration.networks.restricted_reason`)."""

    def __init__(self, address, reason):
        super().__init__(f"{address} is {reason}")
        self.address = address
        self.reason = reason


class AddressGuard:
    """Connects only to addresses that deliveries may reach (server-side request
    forgery, OWASP API7).

    The host name is resolved once, every address it resolves to is judged, and the
    connection goes to an address that was judged: a name cannot resolve to an
    allowed address for the check and to a forbidden one for the connection (DNS
    rebinding).

    :param allowed: networks an administrator opened, as
        :func:`mfg_integration.networks.parse_networks` returns them
    """

    def __init__(self, allowed=()):
        self.allowed = tuple(allowed)

    def create_connection(self, address, timeout, source_address=None):
        """Drop-in for :func:`socket.create_connection`, as :mod:`http.client` calls
        it.

        :raise RestrictedAddress: every address of the host is refused
        :raise OSError: no allowed address could be connected to
        """
        host, port = address
        refused = None
        error = None
        for family, kind, proto, _name, sockaddr in socket.getaddrinfo(
            host, port, 0, socket.SOCK_STREAM
        ):
            reason = restricted_reason(sockaddr[0], self.allowed)
            if reason:
                refused = refused or RestrictedAddress(sockaddr[0], reason)
                continue
            sock = socket.socket(family, kind, proto)
            try:
                if isinstance(timeout, int | float):  # else: the default timeout
                    sock.settimeout(timeout)
                if source_address:
                    sock.bind(source_address)
                sock.connect(sockaddr)
            except OSError as exc:
                sock.close()
                error = exc
                continue
            return sock
        raise error or refused or OSError(f"{host} resolved to no address")


class ConnectionPool:
    """Keep-alive HTTP/1.1 connections to delivery targets, reused between requests.

    Safe to share between threads: each request takes an idle connection to its
    origin (or opens one) and gives it back once the answer was read in full. A
    connection that the receiver closed while idle is noticed before it is used, and
    a request that fails on a reused connection before any answer is sent once more
    on a new one. Use it as a context manager, or call :meth:`close`.

    :param max_idle: the most idle connections kept per origin
    :param guard: an :class:`AddressGuard` that new connections go through (the hub
        always gives one); ``None`` connects anywhere
    """

    def __init__(self, max_idle=MAX_IDLE_PER_ORIGIN, guard=None):
        self.max_idle = max_idle
        self.guard = guard
        self._idle = {}
        self._lock = threading.Lock()
        self._closed = False

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()

    def close(self):
        """Close every idle connection; connections in use are closed when given
        back."""
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, {}
        for connections in idle.values():
            for connection in connections:
                connection.close()

    def _take(self, target, timeout):
        """An idle connection to the target's origin, or a new one (not connected
        yet); and whether it was used before."""
        with self._lock:
            connections = self._idle.get(target.origin)
            while connections:
                connection = connections.pop()
                if _still_open(connection):
                    connection.timeout = timeout
                    if connection.sock is not None:
                        connection.sock.settimeout(timeout)
                    return connection, True
                connection.close()
        if target.scheme == "https":
            connection = http.client.HTTPSConnection(
                target.host, target.port, timeout=timeout, context=_tls_context()
            )
        else:
            connection = http.client.HTTPConnection(
                target.host, target.port, timeout=timeout
            )
        if self.guard is not None:
            connection._create_connection = self.guard.create_connection
        return connection, False

    def _give_back(self, target, connection):
        with self._lock:
            if not self._closed and connection.sock is not None:
                connections = self._idle.setdefault(target.origin, [])
                if len(connections) < self.max_idle:
                    connections.append(connection)
                    return
        connection.close()

    def post(self, target, body, headers, timeout):
        """POST and read the answer; return ``(status, headers, excerpt)``.

        :raise OSError: or :class:`http.client.HTTPException`, when no answer came
        """
        connection, reused = self._take(target, timeout)
        try:
            try:
                response = _exchange(connection, target, body, headers)
            except _STALE_CONNECTION_ERRORS:
                if not reused:
                    raise
                connection.close()  # the receiver closed it while it was idle
                response = _exchange(connection, target, body, headers)
            excerpt, complete = _read_excerpt(response, timeout)
        except BaseException:
            connection.close()
            raise
        if complete and not response.will_close:
            self._give_back(target, connection)
        else:
            connection.close()
        return response.status, response.headers, excerpt


def _exchange(connection, target, body, headers):
    connection.request("POST", target.target, body=body, headers=headers)
    return connection.getresponse()


def _still_open(connection):
    """Whether an idle connection can carry a request: it must not be readable
    (readable while idle means the receiver closed it, or sent unasked data)."""
    sock = connection.sock
    if sock is None:
        return False
    try:
        if hasattr(select, "poll"):  # no descriptor limit, unlike select()
            poller = select.poll()
            poller.register(sock, select.POLLIN)
            return not poller.poll(0)
        readable, _w, _x = select.select([sock], [], [], 0)
    except (OSError, ValueError):
        return False
    return not readable


def deliver(url, body, headers, timeout, pool=None):
    """POST one delivery attempt and report its outcome; never raises for HTTP.

    Redirects are not followed. At most 64 KiB of the answer are read, so a huge
    answer cannot exhaust memory; a connection whose answer was not read in full is
    closed, the others are kept for the next request.

    :param url: the endpoint URL (``http`` or ``https``, no credentials in it)
    :param body: the exact body bytes (as signed by :func:`build_request`)
    :param headers: the request headers
    :param timeout: seconds allowed to connect, for each read, and for reading the
        answer's body
    :param pool: a :class:`ConnectionPool` to reuse connections (keep-alive);
        without one, the connection is closed after the attempt
    :return: a :class:`DeliveryResult`
    """
    start = time.monotonic()
    own_pool = pool is None
    if own_pool:
        pool = ConnectionPool(max_idle=0)
    try:
        target = _target_of(url)
        status, response_headers, excerpt = pool.post(target, body, headers, timeout)
    except (OSError, http.client.HTTPException, ValueError) as exc:
        error_class, message = describe_request_exception(exc, url, timeout)
        return DeliveryResult(
            outcome=RETRY,
            status_code=None,
            duration_ms=_elapsed_ms(start),
            error_class=error_class,
            error_message=message,
        )
    finally:
        if own_pool:
            pool.close()
    outcome, retry_after = classify(status, response_headers)
    error_class = error_message = None
    if outcome != SUCCESS:
        error_class, error_message = _error_of_status(status)
    return DeliveryResult(
        outcome=outcome,
        status_code=status,
        duration_ms=_elapsed_ms(start),
        retry_after=retry_after,
        response_excerpt=excerpt,
        error_class=error_class,
        error_message=error_message,
    )


def check_header_name(name):
    """Refuse a header name that is not an RFC 7230 token.

    :param name: the header name
    :return: the name
    :raise ValueError: when it is empty or holds a character outside the token set
    """
    if not isinstance(name, str) or not _TOKEN.fullmatch(name):
        raise ValueError(
            "A header name is one or more letters, digits or !#$%&'*+-.^_`|~ "
            "(an RFC 7230 token)."
        )
    return name


def check_header_value(value, what="credential"):
    """Refuse a header value that could inject headers or cannot be sent.

    :param value: the value
    :param what: what the value is, for the message (the value is never echoed)
    :return: the value
    :raise ValueError: when the value is not a string, holds a line break or another
        control character, or a character that HTTP headers cannot carry (beyond
        Latin-1)
    """
    if not isinstance(value, str):
        raise ValueError(f"The {what} must be a string.")
    if _CONTROL.search(value):
        raise ValueError(
            f"The {what} contains a line break or a control character; it was refused."
        )
    try:
        value.encode("latin-1")
    except UnicodeEncodeError:
        raise ValueError(
            f"The {what} contains characters an HTTP header cannot carry."
        ) from None
    return value


def auth_headers(auth_kind, credential=None, header_name=None):
    """Return the authentication header of an outbound endpoint.

    :param auth_kind: ``none``, ``bearer`` (``Authorization: Bearer <credential>``),
        ``basic`` (credential ``user:password``, sent base64-encoded) or ``header``
        (``<header_name>: <credential>``)
    :param credential: the clear credential (ignored for ``none``)
    :param header_name: the header name for ``header``
    :return: a dict with zero or one header
    :raise ValueError: for an unknown kind, a missing or unsafe credential, or a
        header name that is not a token or is set by the hub itself; messages never
        repeat the credential
    """
    if auth_kind not in AUTH_KINDS:
        raise ValueError(
            "The authentication kind must be one of " + ", ".join(AUTH_KINDS) + "."
        )
    if auth_kind == "none":
        return {}
    if not credential:
        raise ValueError(f"The authentication kind '{auth_kind}' needs a credential.")
    if auth_kind == "basic":
        if not isinstance(credential, str) or ":" not in credential:
            raise ValueError("A basic credential is written 'user:password'.")
        if _CONTROL.search(credential):
            raise ValueError(
                "The credential contains a line break or a control character; it "
                "was refused."
            )
        token = base64.b64encode(credential.encode("utf-8")).decode("ascii")
        return {"Authorization": "Basic " + token}
    check_header_value(credential)
    if auth_kind == "bearer":
        return {"Authorization": "Bearer " + credential}
    check_header_name(header_name)
    if header_name.lower() in _RESERVED_HEADERS:
        raise ValueError(
            f"The header {header_name} is set by the hub; choose another name."
        )
    return {header_name: credential}


def encode_json(value):
    """Serialise JSON compactly as UTF-8 bytes (non-ASCII kept as is).

    :param value: a JSON-serialisable value
    :return: the body bytes
    :raise ValueError: for NaN or infinite numbers, which JSON cannot carry
    :raise TypeError: for values that are not JSON-serialisable
    """
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return text.encode("utf-8")


def build_request(
    event,
    secrets,
    auth_kind,
    credential,
    header_name,
    msg_id,
    timestamp=None,
):
    """Build the body and headers of one signed delivery attempt.

    :param event: the event to send (a CloudEvent dict, or the mapped payload)
    :param secrets: the endpoint's ``whsec_`` secrets: the current one and, during a
        rotation, the previous one; the request carries one signature per secret
    :param auth_kind: ``none``, ``bearer``, ``basic`` or ``header``
        (see :func:`auth_headers`)
    :param credential: the clear credential for the authentication kind, or ``None``
    :param header_name: the header name of the ``header`` kind, or ``None``
    :param msg_id: the ``webhook-id``, the same on every attempt of the message
    :param timestamp: the ``webhook-timestamp`` of this attempt in Unix seconds;
        defaults to now
    :return: ``(body, headers)`` with ``body`` as bytes
    :raise ValueError: when no secret is given, ``msg_id`` is empty or contains
        ``.``, the event is not JSON, or the authentication settings are unsafe
    :raise InvalidSecret: when a secret is not a valid ``whsec_`` secret
    """
    if isinstance(secrets, str):
        secrets = [secrets]
    secrets = [secret for secret in (secrets or []) if secret]
    if not secrets:
        raise ValueError("At least one webhook signing secret is needed to sign.")
    if not isinstance(msg_id, str) or not msg_id or "." in msg_id:
        raise ValueError("The webhook-id is a non-empty string without '.'.")
    check_header_value(msg_id, "webhook-id")
    extra = auth_headers(auth_kind, credential, header_name)
    body = encode_json(event)
    headers = {"Content-Type": JSON_CONTENT_TYPE, "User-Agent": USER_AGENT}
    headers.update(sign_headers(secrets, msg_id, body, timestamp))
    headers.update(extra)
    return body, headers
