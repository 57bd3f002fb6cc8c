"""Outbound HTTP delivery of the hub: build, sign, POST and classify one attempt.

The hub calls :func:`build_request` to turn a canonical event into the exact body
bytes and headers of one delivery attempt (Standard Webhooks signatures, a
``User-Agent`` and the endpoint's authentication), then :func:`deliver` to POST
them, and stores the :class:`DeliveryResult`. Status codes are judged by
:func:`classify`, following the Standard Webhooks specification: 2xx is a
success, ``410 Gone`` means the receiver wants no more messages (the hub disables
the endpoint), and everything else, redirects included, is retried. Deciding when
the retry schedule is exhausted is the hub's business, not this module's.

Nothing returned here ever contains a credential, a signing secret, a header value
or the query string of the target URL: error messages name the scheme, host and
port of the target only.
"""

import base64
import codecs
import json
import re
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

import requests

from . import __version__
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
_READ_CHUNK = 4096

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
    """Name the cause of a connection failure without quoting its message."""
    if isinstance(exc, requests.exceptions.SSLError):
        return "the TLS handshake failed"
    if isinstance(exc, requests.exceptions.ProxyError):
        return "the proxy refused or failed"
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
    """Turn a :mod:`requests` exception into an error class and a safe message.

    The exception's own text is never copied (it quotes the full URL); only the
    origin of ``url`` and a generic cause are named.

    :param exc: a :class:`requests.RequestException`
    :param url: the URL that was requested
    :param timeout: the timeout used, in seconds, to mention in the message
    :return: ``(error_class, error_message)``; ``error_class`` is ``"timeout"``,
        ``"connection"`` or ``"request"``
    """
    origin = safe_origin(url)
    if isinstance(exc, requests.Timeout):
        within = f" within {timeout:g} s" if isinstance(timeout, int | float) else ""
        return "timeout", f"No answer from {origin}{within}."
    if isinstance(exc, requests.ConnectionError):
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
    """Read at most :data:`MAX_READ_BYTES` of a streamed body and decode it.

    :param response: a streamed :class:`requests.Response`
    :param budget: seconds allowed for reading the body, in total
    :return: the decoded excerpt (at most :data:`MAX_EXCERPT_CHARS` characters)
    """
    if isinstance(budget, tuple):  # requests' (connect, read) form
        budget = budget[-1]
    deadline = None if budget is None else time.monotonic() + budget
    chunks = []
    size = 0
    try:
        for chunk in response.iter_content(_READ_CHUNK):
            chunks.append(chunk)
            size += len(chunk)
            if size >= MAX_READ_BYTES:
                break
            if deadline is not None and time.monotonic() > deadline:
                break
    except (requests.RequestException, OSError):
        pass  # keep what arrived: the status already tells the outcome
    data = b"".join(chunks)[:MAX_READ_BYTES]
    encoding = _charset(response.headers.get("Content-Type"))
    return data.decode(encoding, errors="replace")[:MAX_EXCERPT_CHARS]


def _elapsed_ms(start):
    return max(0, int(round((time.monotonic() - start) * 1000)))


def deliver(url, body, headers, timeout, session=None):
    """POST one delivery attempt and report its outcome; never raises for HTTP.

    Redirects are not followed. At most 64 KiB of the answer are read, so a huge
    answer cannot exhaust memory; the connection is released afterwards.

    :param url: the endpoint URL
    :param body: the exact body bytes (as signed by :func:`build_request`)
    :param headers: the request headers
    :param timeout: seconds allowed to connect, for each read, and for reading the
        answer's body
    :param session: a :class:`requests.Session` to reuse connections (keep-alive);
        without one, a short-lived session is used and closed (sessions are not
        shared between threads)
    :return: a :class:`DeliveryResult`
    """
    own_session = session is None
    if own_session:
        session = requests.Session()
    start = time.monotonic()
    try:
        try:
            response = session.post(
                url,
                data=body,
                headers=headers,
                timeout=timeout,
                allow_redirects=False,
                stream=True,
            )
        except requests.RequestException as exc:
            error_class, message = describe_request_exception(exc, url, timeout)
            return DeliveryResult(
                outcome=RETRY,
                status_code=None,
                duration_ms=_elapsed_ms(start),
                error_class=error_class,
                error_message=message,
            )
        try:
            excerpt = _read_excerpt(response, timeout)
        finally:
            response.close()
    finally:
        if own_session:
            session.close()
    status = response.status_code
    outcome, retry_after = classify(status, response.headers)
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
