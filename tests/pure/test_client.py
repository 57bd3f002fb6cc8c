import random
import uuid

import pytest
import requests

from mfg_integration import errors
from mfg_integration.client import (
    BATCH_CONTENT_TYPE,
    EVENT_CONTENT_TYPE,
    MAX_SLEEP,
    Client,
    error_from_problem,
)
from mfg_integration.simulators import StubServer, closed_port_url

API_KEY = "mfgk_test_0123456789abcdef"
EVENTS = "/api/mfg/v1/events"
DATA = {"work_order": "WO/0042", "quantity": {"value": 5, "unit": "Units"}}
PROBLEM = "application/problem+json"


@pytest.fixture
def server():
    with StubServer() as stub:
        yield stub


class SleepRecorder:
    def __init__(self):
        self.durations = []

    def __call__(self, seconds):
        self.durations.append(seconds)


@pytest.fixture
def sleeps():
    return SleepRecorder()


@pytest.fixture
def client(server, sleeps):
    with Client(
        server.base_url, API_KEY, timeout=5, sleep=sleeps, rng=random.Random(7)
    ) as hub:
        yield hub


def accepted(message_id=17, correlation_id="corr-1"):
    return {"id": message_id, "status": "accepted", "correlation_id": correlation_id}


def problem(slug, status, detail="", **extra):
    document = {
        "type": errors.PROBLEM_BASE_URI + slug,
        "title": slug.replace("-", " ").capitalize(),
        "status": status,
        "detail": detail,
    }
    document.update(extra)
    return document


def send(client, **kwargs):
    return client.send_event(
        "work_order.progress_reported", DATA, source="urn:mes:line1", **kwargs
    )


def test_send_event_accepted(server, client, sleeps):
    server.reply(202, accepted(correlation_id="shift-2"))
    answer = send(client, subject="WO/0042", correlation_id="shift-2")
    assert answer == accepted(correlation_id="shift-2")
    [request] = server.requests
    assert request.method == "POST"
    assert request.path == EVENTS
    assert request.headers["Content-Type"] == EVENT_CONTENT_TYPE
    assert request.headers["Authorization"] == f"Bearer {API_KEY}"
    assert request.headers["X-Correlation-ID"] == "shift-2"
    event = request.json()
    assert event["specversion"] == "1.0"
    assert event["type"] == "work_order.progress_reported"
    assert event["source"] == "urn:mes:line1"
    assert event["subject"] == "WO/0042"
    assert event["data"] == DATA
    uuid.UUID(event["id"])
    assert sleeps.durations == []


def test_duplicate_answer_is_a_success(server, client):
    server.reply(200, {"id": 17, "status": "accepted", "duplicate": True})
    assert send(client, id="evt-1")["duplicate"] is True
    assert server.requests[0].json()["id"] == "evt-1"


def test_retries_resend_the_same_event_id(server, client, sleeps):
    server.reply(500).reply(503).reply(502, "bad gateway").reply(202, accepted())
    assert send(client) == accepted()
    bodies = [request.body for request in server.requests]
    assert len(bodies) == 4
    assert len(set(bodies)) == 1  # same id, same time, same bytes
    assert len(sleeps.durations) == 3


def test_batch_retries_keep_the_idempotency_key(server, client):
    server.reply(504).reply(200, {"accepted": 2, "duplicates": 0, "rejected": 0})
    batch = [
        {"specversion": "1.0", "id": f"e{i}", "source": "urn:mes:line1"}
        for i in range(2)
    ]
    answer = client.send_batch(batch, correlation_id="b-1")
    assert answer["accepted"] == 2
    first, second = server.requests
    assert first.headers["Content-Type"] == BATCH_CONTENT_TYPE
    key = first.headers["Idempotency-Key"]
    uuid.UUID(key)
    assert second.headers["Idempotency-Key"] == key
    assert first.body == second.body
    assert first.json() == batch
    assert second.headers["X-Correlation-ID"] == "b-1"


def test_batch_uses_the_given_idempotency_key(server, client):
    server.reply(200, {"accepted": 1})
    client.send_batch([{"id": "x"}], idempotency_key="line1-batch-42")
    assert server.requests[0].headers["Idempotency-Key"] == "line1-batch-42"


def test_a_new_idempotency_key_per_call(server, client):
    client.send_batch([{"id": "x"}])
    client.send_batch([{"id": "x"}])
    first, second = (r.headers["Idempotency-Key"] for r in server.requests)
    assert first != second


def test_batch_must_be_a_non_empty_list(client):
    for bad in ([], None, {"id": "x"}):
        with pytest.raises(ValueError):
            client.send_batch(bad)


def test_503_retry_after_is_honoured(server, client, sleeps):
    server.reply(
        503,
        problem("service-unavailable", 503),
        headers={"Retry-After": "1", "Content-Type": PROBLEM},
    )
    server.reply(202, accepted())
    assert send(client) == accepted()
    assert sleeps.durations == [1.0]


def test_429_retry_after_is_honoured_beyond_the_backoff_cap(server, sleeps):
    server.reply(429, problem("rate-limited", 429), headers={"Retry-After": "120"})
    server.reply(429, problem("rate-limited", 429), headers={"Retry-After": "7200"})
    server.reply(202, accepted())
    hub = Client(server.base_url, API_KEY, backoff_cap=60, sleep=sleeps)
    assert send(hub) == accepted()
    assert sleeps.durations == [120.0, float(MAX_SLEEP)]


def test_500_twice_then_accepted_uses_jittered_backoff(server, client, sleeps):
    server.reply(500).reply(500).reply(202, accepted())
    assert send(client) == accepted()
    first, second = sleeps.durations
    assert 0.8 <= first <= 1.2  # backoff_base 1 s, ±20 % jitter
    assert 1.6 <= second <= 2.4


def test_408_is_retried(server, client, sleeps):
    server.reply(408).reply(202, accepted())
    assert send(client) == accepted()
    assert len(sleeps.durations) == 1


def test_422_problem_raises_validation_failed_without_retry(server, client, sleeps):
    pointers = [
        {"pointer": "/data/quantity/value", "message": "must be >= 0"},
        {"pointer": "/data/work_order", "message": "is required"},
    ]
    server.reply(
        422,
        problem("validation-failed", 422, "2 value(s) do not match.", errors=pointers),
        headers={"Content-Type": PROBLEM, "X-Correlation-ID": "corr-422"},
    )
    with pytest.raises(errors.ValidationFailed) as caught:
        send(client)
    error = caught.value
    assert error.errors == pointers
    assert error.detail == "2 value(s) do not match."
    assert error.status == 422
    assert error.correlation_id == "corr-422"
    assert len(server.requests) == 1
    assert sleeps.durations == []


def test_401_raises_authentication_failed(server, client, sleeps):
    server.reply(
        401,
        problem("unauthenticated", 401, "Unknown API key.", correlation_id="c-401"),
        headers={"Content-Type": PROBLEM, "WWW-Authenticate": "Bearer"},
    )
    with pytest.raises(errors.AuthenticationFailed) as caught:
        send(client)
    assert caught.value.correlation_id == "c-401"
    assert API_KEY not in str(caught.value)
    assert len(server.requests) == 1
    assert sleeps.durations == []


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, errors.MalformedRequest),
        (403, errors.Forbidden),
        (404, errors.NotFound),
        (413, errors.PayloadTooLarge),
        (415, errors.UnsupportedMediaType),
        (409, errors.IntegrationError),
        (501, errors.IntegrationError),
    ],
)
def test_other_errors_are_not_retried(server, client, sleeps, status, cls):
    server.reply(status, {"title": "Nope", "status": status, "detail": "no"})
    with pytest.raises(cls) as caught:
        send(client)
    assert type(caught.value) is cls
    assert caught.value.status == status
    assert len(server.requests) == 1
    assert sleeps.durations == []


def test_max_attempts_exhausted_raises_the_last_error(server, sleeps):
    for _ in range(3):
        server.reply(503, problem("service-unavailable", 503, "Down for upgrade."))
    hub = Client(server.base_url, API_KEY, max_attempts=3, sleep=sleeps)
    with pytest.raises(errors.ServiceUnavailable) as caught:
        send(hub)
    assert caught.value.detail == "Down for upgrade."
    assert len(server.requests) == 3
    assert len(sleeps.durations) == 2
    assert server.pending == 0


def test_rate_limited_error_carries_retry_after(server, sleeps):
    server.reply(429, problem("rate-limited", 429), headers={"Retry-After": "42"})
    hub = Client(server.base_url, API_KEY, max_attempts=1, sleep=sleeps)
    with pytest.raises(errors.RateLimited) as caught:
        send(hub)
    assert caught.value.retry_after == 42
    assert sleeps.durations == []


def test_closed_port_raises_transient_error(sleeps):
    hub = Client(closed_port_url(), API_KEY, timeout=2, max_attempts=3, sleep=sleeps)
    with pytest.raises(errors.TransientError) as caught:
        send(hub)
    assert isinstance(caught.value.__cause__, requests.ConnectionError)
    assert "3 attempt(s)" in caught.value.detail
    assert API_KEY not in caught.value.detail
    assert len(sleeps.durations) == 2


def test_timeouts_are_retried(server, sleeps):
    server.reply(202, accepted(), delay=2).reply(202, accepted())
    hub = Client(server.base_url, API_KEY, timeout=0.5, sleep=sleeps)
    assert send(hub) == accepted()
    assert len(server.requests) == 2
    assert len(sleeps.durations) == 1


def test_non_json_error_body_is_quoted_in_part(server, client):
    server.reply(400, "<html>" + "x" * 1000 + "</html>")
    with pytest.raises(errors.MalformedRequest) as caught:
        send(client)
    assert "x" * 150 in caught.value.detail
    assert "x" * 201 not in caught.value.detail
    assert caught.value.status == 400


def test_non_json_error_body_never_shows_the_key(server, client):
    server.reply(403, f"echo: Bearer {API_KEY}")
    with pytest.raises(errors.Forbidden) as caught:
        send(client)
    assert API_KEY not in caught.value.detail


def test_non_json_success_raises(server, client):
    server.reply(202, "<html>proxy login</html>")
    with pytest.raises(errors.IntegrationError) as caught:
        send(client)
    assert "proxy login" in caught.value.detail


def test_redirects_are_not_followed(server, client):
    with StubServer() as elsewhere:
        server.reply(301, headers={"Location": elsewhere.url(EVENTS)})
        with pytest.raises(errors.IntegrationError) as caught:
            send(client)
        assert elsewhere.requests == []
    assert caught.value.status == 301
    assert len(server.requests) == 1


def test_message_status_health_openapi(server, client):
    server.reply(200, {"id": 17, "state": "done"})
    server.reply(503, {"status": "degraded", "backlog": 12})
    server.reply(200, {"openapi": "3.1.0"})
    assert client.message_status(17) == {"id": 17, "state": "done"}
    assert client.health() == {"status": "degraded", "backlog": 12}
    assert client.openapi() == {"openapi": "3.1.0"}
    status, health, openapi = server.requests
    assert (status.method, status.path) == ("GET", "/api/mfg/v1/messages/17")
    assert status.headers["Authorization"] == f"Bearer {API_KEY}"
    assert health.path == "/api/mfg/v1/health"
    assert openapi.path == "/api/mfg/v1/openapi.json"
    assert health.headers["Authorization"] is None
    assert openapi.headers["Authorization"] is None


def test_message_status_not_found(server, client):
    server.reply(404, problem("not-found", 404), headers={"Content-Type": PROBLEM})
    with pytest.raises(errors.NotFound):
        client.message_status("a/b")
    assert server.requests[0].path == "/api/mfg/v1/messages/a%2Fb"


def test_base_url_forms(server, client):
    for base in (server.base_url + "/", server.base_url + "/api/mfg/v1/"):
        hub = Client(base, API_KEY)
        assert hub.base_url == server.base_url
        hub.close()
    assert API_KEY not in repr(client)


@pytest.mark.parametrize(
    "url", ["ftp://h", "127.0.0.1:8069", "http://u:p@h", "http://h/?q=1", "http://h:x"]
)
def test_bad_base_url(url):
    with pytest.raises(ValueError):
        Client(url, API_KEY)


def test_bad_key_is_refused_without_echo():
    for key in ("", None):
        with pytest.raises(ValueError):
            Client("http://127.0.0.1:1", key)
    with pytest.raises(ValueError) as caught:
        Client("http://127.0.0.1:1", API_KEY + "\r\nX-Evil: 1")
    assert API_KEY not in str(caught.value)


def test_envelope_errors_are_raised_before_sending(server, client):
    with pytest.raises(errors.ValidationFailed):
        client.send_event("x.y", [1, 2], source="urn:mes:line1")
    assert server.requests == []


# -- error_from_problem -----------------------------------------------------


def _all_classes():
    found, pending = [], [errors.IntegrationError]
    while pending:
        cls = pending.pop()
        found.append(cls)
        pending.extend(cls.__subclasses__())
    return found


@pytest.mark.parametrize(
    "cls",
    [c for c in _all_classes() if c.__module__ == errors.__name__],
    ids=lambda c: c.__name__,
)
def test_every_error_class_round_trips(cls):
    original = cls("Something precise.")
    original.errors = [{"pointer": "/data", "message": "bad"}]
    rebuilt = error_from_problem(original.to_problem(), cls.status)
    assert type(rebuilt) is cls
    assert rebuilt.detail == "Something precise."
    assert rebuilt.errors == [{"pointer": "/data", "message": "bad"}]
    assert rebuilt.status == cls.status
    assert rebuilt.correlation_id is None


def test_new_subclasses_are_found_automatically():
    class LotBlocked(errors.PermanentError):
        slug = "lot-blocked-for-test"
        title = "Lot blocked"

    rebuilt = error_from_problem(problem("lot-blocked-for-test", 422, "Lot L1."), 422)
    assert type(rebuilt) is LotBlocked
    assert rebuilt.detail == "Lot L1."


def test_unknown_or_foreign_types_fall_back_to_the_status():
    assert type(error_from_problem(problem("no-such-slug", 404), 404)) is (
        errors.NotFound
    )
    assert type(error_from_problem({"type": "about:blank"}, 429)) is errors.RateLimited
    assert type(error_from_problem({}, 418)) is errors.IntegrationError
    assert type(error_from_problem("not a dict", 502)) is errors.TransientError


def test_problem_attributes_from_headers():
    headers = {"X-Correlation-ID": "hdr", "Retry-After": "9", "Allow": "GET, post"}
    limited = error_from_problem(problem("rate-limited", 429), 429, headers=headers)
    assert limited.retry_after == 9
    assert limited.correlation_id == "hdr"
    method = error_from_problem(
        problem("method-not-allowed", 405, correlation_id="body"), 405, headers=headers
    )
    assert method.allowed == ("GET", "POST")
    assert method.correlation_id == "body"
    plain = error_from_problem(problem("forbidden", 403), 403)
    assert plain.retry_after is None
    assert plain.problem["type"].endswith(":forbidden")
