"""Client SDK for external systems (MES, QMS, CMMS…) that send events to the hub.

:class:`Client` speaks the hub's HTTP contract v1 (``/api/mfg/v1``): it sends one
CloudEvent or a batch with the system's API key, follows a message, and reads the
health and OpenAPI documents. Sending is safe to retry, and the client retries by
itself: an event keeps its CloudEvent ``id`` and a batch keeps its
``Idempotency-Key`` on every attempt, so the hub never processes anything twice.

Retries happen on network failures, timeouts, ``408``, ``429`` and ``503`` (after the
``Retry-After`` the hub gave, never more than 15 minutes) and ``500``/``502``/``504``
(exponential backoff with jitter). Any other error answer is raised at once as the
matching :mod:`mfg_integration.errors` class, rebuilt from the RFC 9457 problem
document by :func:`error_from_problem`.

A client holds a :class:`requests.Session`: use one client per thread.
"""

import inspect
import json
import random
import time
import uuid
from urllib.parse import quote, urlsplit

import requests

from .cloudevents import new_event
from .errors import (
    PROBLEM_BASE_URI,
    AuthenticationFailed,
    ConfigurationError,
    Forbidden,
    IntegrationError,
    MalformedRequest,
    MethodNotAllowed,
    NotFound,
    PayloadTooLarge,
    RateLimited,
    ServiceUnavailable,
    TransientError,
    UnsupportedMediaType,
    ValidationFailed,
)
from .retry import backoff_delay, parse_retry_after
from .transport import (
    USER_AGENT,
    check_header_value,
    classify,
    describe_request_exception,
    encode_json,
    header_value,
    safe_origin,
)

API_PREFIX = "/api/mfg/v1"
EVENT_CONTENT_TYPE = "application/cloudevents+json"
BATCH_CONTENT_TYPE = "application/cloudevents-batch+json"
PROBLEM_CONTENT_TYPE = "application/problem+json"
#: statuses retried by the client (any other error answer is raised at once)
RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
#: the longest single wait between two attempts, even when Retry-After asks more
MAX_SLEEP = 15 * 60
#: the most characters of a non-JSON error body quoted in an error's detail
MAX_BODY_IN_DETAIL = 200

# Fallback when a problem document has no known type: the class of each status.
_STATUS_CLASSES = {
    400: MalformedRequest,
    401: AuthenticationFailed,
    403: Forbidden,
    404: NotFound,
    405: MethodNotAllowed,
    408: TransientError,
    413: PayloadTooLarge,
    415: UnsupportedMediaType,
    422: ValidationFailed,
    429: RateLimited,
    500: TransientError,
    502: TransientError,
    503: ServiceUnavailable,
    504: TransientError,
}
# requests errors that no retry can fix: the client is misconfigured.
_CONFIGURATION_ERRORS = (
    requests.exceptions.InvalidURL,
    requests.exceptions.MissingSchema,
    requests.exceptions.InvalidSchema,
    requests.exceptions.InvalidHeader,
    requests.exceptions.URLRequired,
)


def _classes_by_slug():
    """Map each problem slug to its class, walking the whole error hierarchy.

    Built on each call so that subclasses defined later are found too. A class that
    does not define its own ``slug`` shares its parent's and is skipped.
    """
    found = {}
    pending = [IntegrationError]
    seen = set()
    while pending:
        cls = pending.pop(0)
        if cls in seen:
            continue
        seen.add(cls)
        slug = cls.__dict__.get("slug")
        if isinstance(slug, str):
            found.setdefault(slug, cls)
        pending.extend(cls.__subclasses__())
    return found


def _class_for(problem_type, status):
    if isinstance(problem_type, str) and problem_type.startswith(PROBLEM_BASE_URI):
        cls = _classes_by_slug().get(problem_type[len(PROBLEM_BASE_URI) :])
        if cls is not None:
            return cls
    return _STATUS_CLASSES.get(status, IntegrationError)


def _construct(cls, detail, errors, retry_after, allowed):
    """Instantiate an error class whatever the extra arguments it takes."""
    try:
        params = inspect.signature(cls).parameters
    except (TypeError, ValueError):  # pragma: no cover - exotic constructors
        params = {}
    kwargs = {}
    if "errors" in params:
        kwargs["errors"] = errors
    if "retry_after" in params and retry_after is not None:
        kwargs["retry_after"] = retry_after
    if "allowed" in params:
        kwargs["allowed"] = allowed
    try:
        error = cls(detail, **kwargs)
    except TypeError:  # pragma: no cover - a constructor with other needs
        error = cls.__new__(cls)
        IntegrationError.__init__(error, detail)
    error.errors = list(errors)
    return error


def _pointer_list(value):
    if not isinstance(value, list):
        return []
    return [entry for entry in value if isinstance(entry, dict)]


def error_from_problem(problem, status, *, headers=None):
    """Turn the hub's RFC 9457 problem document back into an error of the suite.

    The class is chosen by the slug of the problem ``type``
    (``urn:mfg-integration:problem:<slug>``), among every subclass of
    :class:`~mfg_integration.errors.IntegrationError`; an unknown or foreign type
    falls back to the class of the HTTP status.

    :param problem: the decoded problem document (a dict; anything else counts as
        an empty one)
    :param status: the HTTP status of the answer
    :param headers: the answer's headers, for ``X-Correlation-ID``,
        ``Retry-After`` and ``Allow``
    :return: the error, with ``detail``, ``errors`` (the pointer list) and the
        attributes ``status`` (the HTTP status), ``correlation_id`` (or ``None``),
        ``retry_after`` (seconds, or ``None``) and ``problem`` (the document)
    """
    if not isinstance(problem, dict):
        problem = {}
    if isinstance(status, bool) or not isinstance(status, int):
        status = problem.get("status") if isinstance(problem.get("status"), int) else 0
    detail = problem.get("detail") if isinstance(problem.get("detail"), str) else ""
    retry_after = parse_retry_after(header_value(headers, "Retry-After"))
    if retry_after is None:
        retry_after = parse_retry_after(problem.get("retry_after"))
    allow = header_value(headers, "Allow") or ""
    allowed = tuple(m.strip().upper() for m in allow.split(",") if m.strip())
    cls = _class_for(problem.get("type"), status)
    error = _construct(
        cls, detail, _pointer_list(problem.get("errors")), retry_after, allowed
    )
    if status:
        error.status = status
    correlation_id = problem.get("correlation_id")
    if not isinstance(correlation_id, str) or not correlation_id:
        correlation_id = header_value(headers, "X-Correlation-ID")
    error.correlation_id = correlation_id
    if not hasattr(error, "retry_after"):
        error.retry_after = retry_after
    error.problem = dict(problem)
    return error


def _looks_like_problem(document, content_type):
    if not isinstance(document, dict):
        return False
    media_type = (content_type or "").split(";", 1)[0].strip().lower()
    if media_type == PROBLEM_CONTENT_TYPE:
        return True
    return any(name in document for name in ("type", "title", "detail"))


class Client:
    """Send events to the hub and read its answers.

    :param base_url: the hub's address, e.g. ``https://erp.example.com`` (a trailing
        ``/api/mfg/v1`` is accepted too)
    :param api_key: the system's API key (``mfgk_…``), sent as a bearer token
    :param timeout: seconds allowed to connect and for each read
    :param max_attempts: attempts per call, the first included
    :param backoff_base: seconds before the first retry (doubling after each one)
    :param backoff_cap: the longest backoff delay, in seconds (``Retry-After`` may
        ask for more, up to 15 minutes)
    :param session: a :class:`requests.Session` to use (not closed by the client);
        by default the client opens its own
    :param user_agent: the ``User-Agent`` header (default
        ``mfg-integration/<version>``)
    :param sleep: the function that waits between attempts (inject one in tests)
    :param rng: the randomness of the jitter (:mod:`random` or a
        :class:`random.Random`)
    :raise ValueError: when the URL is not http(s), the key is empty or unsafe in a
        header, or a number is out of range; the key is never repeated
    """

    def __init__(
        self,
        base_url,
        api_key,
        *,
        timeout=15,
        max_attempts=5,
        backoff_base=1.0,
        backoff_cap=60,
        session=None,
        user_agent=None,
        sleep=time.sleep,
        rng=random,
    ):
        self.base_url = self._check_base_url(base_url)
        if not api_key:
            raise ValueError("An API key is needed to call the hub.")
        self._api_key = check_header_value(api_key, "API key")
        if isinstance(max_attempts, bool) or not isinstance(max_attempts, int):
            raise ValueError("max_attempts is a whole number from 1.")
        if max_attempts < 1:
            raise ValueError("max_attempts is a whole number from 1.")
        if not timeout or timeout <= 0:
            raise ValueError("The timeout must be more than 0 seconds.")
        if backoff_base <= 0 or backoff_cap <= 0:
            raise ValueError("backoff_base and backoff_cap must be more than 0.")
        self.timeout = timeout
        self.max_attempts = max_attempts
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self.user_agent = check_header_value(user_agent or USER_AGENT, "user agent")
        self._own_session = session is None
        self._session = requests.Session() if session is None else session
        self._sleep = sleep
        self._rng = rng

    @staticmethod
    def _check_base_url(base_url):
        try:
            parts = urlsplit(str(base_url))
            _port = parts.port  # raises ValueError for a bad port
        except ValueError:
            raise ValueError("The hub URL is not a valid URL.") from None
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("The hub URL must be an http:// or https:// URL.")
        if parts.query or parts.fragment or parts.username or parts.password:
            raise ValueError(
                "The hub URL must not carry a user, a password, a query or a fragment."
            )
        url = str(base_url).rstrip("/")
        if url.endswith(API_PREFIX):
            url = url[: -len(API_PREFIX)]
        return url

    def __repr__(self):
        return f"{type(self).__name__}({self.base_url!r})"

    def close(self):
        """Close the session, when the client opened it itself."""
        if self._own_session:
            self._session.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()

    # -- public API -----------------------------------------------------------

    def send_event(
        self,
        type,  # the CloudEvents attribute name
        data,
        *,
        source,
        id=None,  # the CloudEvents attribute name
        subject=None,
        time=None,
        correlation_id=None,
    ):
        """Send one CloudEvent; resending it (same ``id``) is harmless.

        The event is built once, so every retry carries the same ``id``.

        :param type: the event type code, e.g. ``inspection.failed``
        :param data: the event data (a JSON object matching the type's schema)
        :param source: the sender's source URI-reference, e.g. ``urn:mes:line1``
        :param id: the event id (default: a new UUID)
        :param subject: optional subject (an order, a lot…)
        :param time: an aware datetime or RFC 3339 string (default: now)
        :param correlation_id: sent as ``X-Correlation-ID``
        :return: the hub's answer: ``{"id", "status": "accepted", "correlation_id"}``
            or, for a resent event, the original answer with ``"duplicate": true``
        :raise ValidationFailed: locally, when the envelope is not a valid CloudEvent
        :raise IntegrationError: the error class of the hub's problem answer
        :raise TransientError: when the hub stayed unreachable on every attempt
        """
        event = new_event(type, data, source, subject=subject, time=time, id=id)
        return self._call(
            "POST",
            "/events",
            body=encode_json(event),
            content_type=EVENT_CONTENT_TYPE,
            headers=self._correlation(correlation_id),
        )

    def send_batch(self, events, *, idempotency_key=None, correlation_id=None):
        """Send a batch of CloudEvents in one request.

        :param events: the CloudEvents (dicts), at most 1,000
        :param idempotency_key: sent as ``Idempotency-Key``; by default a new UUID,
            the same on every retry of this call
        :param correlation_id: sent as ``X-Correlation-ID``
        :return: the hub's answer: counts of ``accepted``, ``duplicates`` and
            ``rejected`` events and one entry per event in ``results``
        :raise ValueError: when ``events`` is not a non-empty list
        :raise IntegrationError: the error class of the hub's problem answer
        :raise TransientError: when the hub stayed unreachable on every attempt
        """
        if not isinstance(events, list | tuple) or not events:
            raise ValueError("A batch is a non-empty list of CloudEvents.")
        if idempotency_key is None:
            idempotency_key = str(uuid.uuid4())
        headers = self._correlation(correlation_id)
        headers["Idempotency-Key"] = check_header_value(
            str(idempotency_key), "idempotency key"
        )
        return self._call(
            "POST",
            "/events",
            body=encode_json(list(events)),
            content_type=BATCH_CONTENT_TYPE,
            headers=headers,
        )

    def message_status(self, message_id):
        """Return the processing state of a message sent with this key.

        :param message_id: the ``id`` the hub answered when accepting the event
        :return: the message's state document
        :raise NotFound: when the hub knows no such message for this key
        :raise IntegrationError: the error class of any other problem answer
        """
        return self._call("GET", "/messages/" + quote(str(message_id), safe=""))

    def health(self):
        """Return the hub's health report, healthy (200) or not (503).

        A probe: one attempt, no retry, no API key sent.

        :return: the health document
        :raise IntegrationError: for any other answer
        :raise TransientError: when the hub cannot be reached
        """
        return self._call(
            "GET", "/health", auth=False, max_attempts=1, also_ok=frozenset({503})
        )

    def openapi(self):
        """Return the hub's OpenAPI 3.1 document (no API key sent).

        :return: the OpenAPI document
        :raise IntegrationError: the error class of a problem answer
        """
        return self._call("GET", "/openapi.json", auth=False)

    # -- internals ------------------------------------------------------------

    @staticmethod
    def _correlation(correlation_id):
        if correlation_id is None:
            return {}
        return {
            "X-Correlation-ID": check_header_value(correlation_id, "correlation id")
        }

    def _delay(self, retry_number, retry_after):
        """Seconds to wait before retry number ``retry_number`` (1 for the first)."""
        if retry_after is not None:
            return float(min(retry_after, MAX_SLEEP))
        delay = backoff_delay(
            retry_number, base=self.backoff_base, cap=self.backoff_cap, rng=self._rng
        )
        return min(delay, MAX_SLEEP)

    def _headers(self, content_type, extra, auth):
        headers = {
            "User-Agent": self.user_agent,
            "Accept": "application/json, " + PROBLEM_CONTENT_TYPE,
        }
        if content_type:
            headers["Content-Type"] = content_type
        if auth:
            headers["Authorization"] = "Bearer " + self._api_key
        headers.update(extra or {})
        return headers

    def _excerpt(self, content):
        text = content[: MAX_BODY_IN_DETAIL * 4].decode("utf-8", errors="replace")
        text = " ".join(text.split())[:MAX_BODY_IN_DETAIL]
        return text.replace(self._api_key, "***")

    def _decode(self, response):
        """Return the decoded JSON of a successful answer."""
        if not response.content.strip():
            return {}
        try:
            return json.loads(response.content.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            error = IntegrationError(
                f"The hub answered HTTP {response.status_code} with a body that is "
                f"not JSON: {self._excerpt(response.content)}"
            )
            error.status = response.status_code
            error.correlation_id = header_value(response.headers, "X-Correlation-ID")
            error.retry_after = None
            error.problem = {}
            raise error from None

    def _error(self, response):
        """Return the error matching an answer that is not a success."""
        status = response.status_code
        content_type = response.headers.get("Content-Type", "")
        try:
            document = json.loads(response.content.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            document = None
        if _looks_like_problem(document, content_type):
            return error_from_problem(document, status, headers=response.headers)
        excerpt = self._excerpt(response.content)
        if 300 <= status <= 399:
            detail = (
                f"The hub answered HTTP {status} (a redirect, not followed): check "
                "the hub URL."
            )
        elif excerpt:
            detail = f"The hub answered HTTP {status}: {excerpt}"
        else:
            detail = f"The hub answered HTTP {status} with an empty body."
        return error_from_problem({"detail": detail}, status, headers=response.headers)

    def _call(
        self,
        method,
        route,
        *,
        body=None,
        content_type=None,
        headers=None,
        auth=True,
        max_attempts=None,
        also_ok=frozenset(),
    ):
        """Make one API call with the retry policy; see the module documentation."""
        url = self.base_url + API_PREFIX + route
        request_headers = self._headers(content_type, headers, auth)
        attempts = max_attempts or self.max_attempts
        for attempt in range(1, attempts + 1):
            try:
                response = self._session.request(
                    method,
                    url,
                    data=body,
                    headers=request_headers,
                    timeout=self.timeout,
                    allow_redirects=False,
                )
            except _CONFIGURATION_ERRORS as exc:
                raise ConfigurationError(
                    f"The request to {safe_origin(url)} cannot be made "
                    f"({type(exc).__name__}): check the hub URL."
                ) from exc
            except requests.RequestException as exc:
                _kind, message = describe_request_exception(exc, url, self.timeout)
                if attempt >= attempts:
                    raise TransientError(
                        f"{message} Gave up after {attempts} attempt(s)."
                    ) from exc
                self._sleep(self._delay(attempt, None))
                continue
            status = response.status_code
            if 200 <= status <= 299 or status in also_ok:
                return self._decode(response)
            error = self._error(response)
            if status not in RETRY_STATUSES or attempt >= attempts:
                raise error
            _outcome, retry_after = classify(status, response.headers)
            self._sleep(self._delay(attempt, retry_after))
        raise AssertionError("unreachable")  # pragma: no cover
