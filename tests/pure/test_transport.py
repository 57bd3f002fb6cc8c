import base64
import json
import tracemalloc

import pytest
import requests
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from mfg_integration import __version__, transport
from mfg_integration.errors import InvalidSecret
from mfg_integration.simulators import Answer, StubServer, closed_port_url
from mfg_integration.transport import GONE, RETRY, SUCCESS
from mfg_integration.webhooks import generate_webhook_secret, verify_webhook

SECRET_TOKEN = "s3cr3t-query-token"
CREDENTIAL = "tok-5f2c9a"


@pytest.fixture
def server():
    with StubServer() as stub:
        yield stub


@pytest.fixture
def other_server():
    with StubServer() as stub:
        yield stub


# -- classify ---------------------------------------------------------------


@pytest.mark.parametrize("status", [200, 201, 202, 204, 299])
def test_classify_2xx_is_success(status):
    assert transport.classify(status, {}) == (SUCCESS, None)


@pytest.mark.parametrize("status", [300, 301, 302, 303, 307, 308])
def test_classify_3xx_is_retried(status):
    assert transport.classify(status, {"Location": "http://127.0.0.1/x"}) == (
        RETRY,
        None,
    )


def test_classify_410_is_gone():
    assert transport.classify(410, {"Retry-After": "5"}) == (GONE, None)


@pytest.mark.parametrize("status", [429, 503])
def test_classify_honours_retry_after_on_429_and_503(status):
    assert transport.classify(status, {"Retry-After": "120"}) == (RETRY, 120)
    assert transport.classify(status, {"retry-after": "7"}) == (RETRY, 7)
    assert transport.classify(status, {}) == (RETRY, None)
    assert transport.classify(status, {"Retry-After": "soon"}) == (RETRY, None)


def test_classify_retry_after_http_date_in_the_past_is_zero():
    headers = {"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}
    assert transport.classify(503, headers) == (RETRY, 0)


@pytest.mark.parametrize("status", [400, 401, 404, 408, 422, 500, 501, 502, 504, 599])
def test_classify_everything_else_is_retried(status):
    assert transport.classify(status, {"Retry-After": "30"}) == (RETRY, None)


def test_classify_accepts_requests_headers_and_none():
    headers = requests.structures.CaseInsensitiveDict({"RETRY-AFTER": "3"})
    assert transport.classify(429, headers) == (RETRY, 3)
    assert transport.classify(429, None) == (RETRY, None)


@pytest.mark.parametrize("bad", [None, "200", 200.0, True])
def test_classify_refuses_non_integer_status(bad):
    with pytest.raises(ValueError):
        transport.classify(bad, {})


# -- deliver ----------------------------------------------------------------


def _deliver(url, body=b'{"a":1}', headers=None, timeout=5.0, session=None):
    headers = headers or {"Content-Type": "application/json", "X-Auth": CREDENTIAL}
    return transport.deliver(url, body, headers, timeout, session=session)


def _assert_safe(result):
    for text in (result.error_message or "", result.error_class or ""):
        assert SECRET_TOKEN not in text
        assert CREDENTIAL not in text


def test_deliver_200(server):
    server.reply(200, {"received": True})
    result = _deliver(server.url(f"/hook?token={SECRET_TOKEN}"))
    assert result.outcome == SUCCESS and result.ok
    assert result.status_code == 200
    assert result.error_class is None and result.error_message is None
    assert result.retry_after is None
    assert json.loads(result.response_excerpt) == {"received": True}
    assert isinstance(result.duration_ms, int) and result.duration_ms >= 0
    [received] = server.requests
    assert received.method == "POST"
    assert received.path == f"/hook?token={SECRET_TOKEN}"
    assert received.body == b'{"a":1}'
    assert received.headers["X-Auth"] == CREDENTIAL


def test_deliver_500(server):
    server.reply(500, "boom")
    result = _deliver(server.url(f"/hook?token={SECRET_TOKEN}"))
    assert result.outcome == RETRY
    assert result.status_code == 500
    assert result.error_class == "http.500"
    assert "500" in result.error_message
    assert result.response_excerpt == "boom"
    _assert_safe(result)


def test_deliver_410_is_gone(server):
    server.reply(410, "endpoint removed")
    result = _deliver(server.url("/hook"))
    assert result.outcome == GONE
    assert result.status_code == 410
    assert result.error_class == "http.410"


@pytest.mark.parametrize("status", [429, 503])
def test_deliver_retry_after(server, status):
    server.reply(status, "slow down", headers={"Retry-After": "30"})
    result = _deliver(server.url("/hook"))
    assert result.outcome == RETRY
    assert result.retry_after == 30
    assert result.error_class == f"http.{status}"


def test_deliver_does_not_follow_redirects(server, other_server):
    target = other_server.url("/elsewhere")
    server.reply(301, headers={"Location": target})
    result = _deliver(server.url(f"/hook?token={SECRET_TOKEN}"))
    assert result.outcome == RETRY
    assert result.status_code == 301
    assert result.error_class == "redirect"
    assert target not in result.error_message
    assert len(server.requests) == 1
    assert other_server.requests == []
    _assert_safe(result)


def test_deliver_timeout(server):
    server.reply(200, {"late": True}, delay=2)
    result = _deliver(server.url(f"/slow?token={SECRET_TOKEN}"), timeout=0.5)
    assert result.outcome == RETRY
    assert result.status_code is None
    assert result.error_class == "timeout"
    assert server.base_url in result.error_message
    assert "/slow" not in result.error_message
    _assert_safe(result)


def test_deliver_closed_port():
    url = closed_port_url(f"/hook?token={SECRET_TOKEN}")
    result = _deliver(url, timeout=2)
    assert result.outcome == RETRY
    assert result.status_code is None
    assert result.error_class == "connection"
    assert "refused" in result.error_message
    _assert_safe(result)


def test_deliver_never_shows_userinfo():
    url = closed_port_url("/hook").replace("http://", "http://admin:hunter2@")
    result = _deliver(url, timeout=2)
    assert result.error_class == "connection"
    assert "hunter2" not in result.error_message
    assert "admin" not in result.error_message


def test_deliver_invalid_url_is_a_request_error():
    result = _deliver("http://", timeout=2)
    assert result.outcome == RETRY
    assert result.error_class == "request"


def test_deliver_huge_answer_is_capped_without_reading_it_all(server):
    big = b"x" * (1024 * 1024)
    server.script(Answer(200, {"Content-Type": "text/plain"}, big))
    tracemalloc.start()
    try:
        result = _deliver(server.url("/hook"))
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert result.outcome == SUCCESS
    assert result.response_excerpt == "x" * transport.MAX_EXCERPT_CHARS
    # Reading the whole megabyte would need at least that much memory.
    assert peak < 512 * 1024


def test_deliver_decodes_leniently(server):
    server.reply(500, b"caf\xe9 \xff", headers={"Content-Type": "text/plain"})
    assert _deliver(server.url("/a")).response_excerpt == "caf\ufffd \ufffd"
    server.reply(
        500, "café".encode("latin-1"), {"Content-Type": "text/plain; charset=latin-1"}
    )
    assert _deliver(server.url("/b")).response_excerpt == "café"
    server.reply(500, "café".encode(), {"Content-Type": "text/plain; charset=nope"})
    assert _deliver(server.url("/c")).response_excerpt == "café"


class _RecordingSession(requests.Session):
    closed = 0

    def close(self):
        self.closed += 1
        super().close()


def test_deliver_reuses_a_given_session_and_leaves_it_open(server):
    server.reply(204).reply(202)
    with _RecordingSession() as session:
        first = _deliver(server.url("/one"), session=session)
        second = _deliver(server.url("/two"), session=session)
        assert session.closed == 0
    assert (first.outcome, second.outcome) == (SUCCESS, SUCCESS)
    assert [r.path for r in server.requests] == ["/one", "/two"]


def test_result_is_frozen():
    result = transport.DeliveryResult(SUCCESS, 200, 3)
    with pytest.raises(AttributeError):
        result.outcome = RETRY


def test_safe_origin():
    assert transport.safe_origin("https://u:p@h.example:8443/p?q=1#f") == (
        "https://h.example:8443"
    )
    assert transport.safe_origin("http://[::1]:80/x") == "http://[::1]:80"
    assert transport.safe_origin("not a url") == "the endpoint"
    assert transport.safe_origin("http://h:99999/") == "the endpoint"


# -- build_request ----------------------------------------------------------

EVENT = {
    "specversion": "1.0",
    "id": "evt-1",
    "source": "urn:odoo:hub",
    "type": "production_order.released",
    "data": {"order": "MO/0001", "product": "Bœuf", "quantity": 2.5},
}


def test_build_request_body_and_headers():
    secret = generate_webhook_secret()
    body, headers = transport.build_request(
        EVENT, [secret], "none", None, None, "msg_1", timestamp=1_700_000_000
    )
    assert body == json.dumps(EVENT, separators=(",", ":"), ensure_ascii=False).encode()
    assert "Bœuf".encode() in body
    assert b": " not in body and b", " not in body
    assert headers["Content-Type"] == "application/json"
    assert headers["User-Agent"] == f"mfg-integration/{__version__}"
    assert headers["webhook-id"] == "msg_1"
    assert headers["webhook-timestamp"] == "1700000000"
    assert "Authorization" not in headers
    assert verify_webhook(secret, headers, body, now=1_700_000_000) == "msg_1"


def test_build_request_signatures_verify_with_the_reference_library():
    current, previous = generate_webhook_secret(), generate_webhook_secret(48)
    body, headers = transport.build_request(
        EVENT, [current, previous], "none", None, None, "msg_2p"
    )
    assert len(headers["webhook-signature"].split()) == 2
    for secret in (current, previous):
        assert Webhook(secret).verify(body, headers) == EVENT
    with pytest.raises(WebhookVerificationError):
        Webhook(generate_webhook_secret()).verify(body, headers)


def test_signed_delivery_verifies_at_the_receiver(server):
    secret = generate_webhook_secret()
    body, headers = transport.build_request(
        EVENT, secret, "bearer", CREDENTIAL, None, "msg_e2e"
    )
    result = transport.deliver(server.url("/hook"), body, headers, 5.0)
    assert result.ok
    [received] = server.requests
    assert received.body == body
    assert Webhook(secret).verify(received.body, dict(received.headers.items())) == (
        EVENT
    )
    assert received.headers["Authorization"] == f"Bearer {CREDENTIAL}"
    assert received.headers["Content-Type"] == "application/json"


def test_auth_kinds():
    secret = generate_webhook_secret()

    def auth(kind, credential=None, name=None):
        _body, headers = transport.build_request(
            EVENT, [secret], kind, credential, name, "m1"
        )
        return {k: v for k, v in headers.items() if k in ("Authorization", name)}

    assert auth("none", "ignored") == {}
    assert auth("bearer", CREDENTIAL) == {"Authorization": f"Bearer {CREDENTIAL}"}
    basic = auth("basic", "user:pa:ss é")["Authorization"]
    assert basic.startswith("Basic ")
    assert base64.b64decode(basic[6:]).decode() == "user:pa:ss é"
    assert auth("header", CREDENTIAL, "X-Api-Key") == {"X-Api-Key": CREDENTIAL}


@pytest.mark.parametrize(
    "name", ["", None, "X Api", "X-Api:", "X-Api\r\nEvil", "Clé", "webhook-id", "Host"]
)
def test_header_kind_refuses_bad_or_reserved_names(name):
    with pytest.raises(ValueError):
        transport.build_request(
            EVENT, [generate_webhook_secret()], "header", CREDENTIAL, name, "m1"
        )


@pytest.mark.parametrize("kind", ["bearer", "basic", "header"])
@pytest.mark.parametrize(
    "injected", ["\r\nX-Evil: 1", "\nX-Evil: 1", "\rX-Evil: 1", "\x00"]
)
def test_credentials_with_line_breaks_are_refused_silently(kind, injected):
    credential = "user:" + CREDENTIAL + injected
    with pytest.raises(ValueError) as caught:
        transport.build_request(
            EVENT, [generate_webhook_secret()], kind, credential, "X-Api-Key", "m1"
        )
    assert CREDENTIAL not in str(caught.value)
    assert "X-Evil" not in str(caught.value)


@pytest.mark.parametrize(
    ("kind", "credential"),
    [("oauth", "x"), ("bearer", None), ("bearer", ""), ("basic", "nocolon")],
)
def test_bad_auth_settings_are_refused(kind, credential):
    with pytest.raises(ValueError):
        transport.build_request(
            EVENT, [generate_webhook_secret()], kind, credential, None, "m1"
        )


def test_build_request_refusals():
    secret = generate_webhook_secret()
    with pytest.raises(ValueError):
        transport.build_request(EVENT, [], "none", None, None, "m1")
    with pytest.raises(ValueError):
        transport.build_request(EVENT, [secret], "none", None, None, "m.1")
    with pytest.raises(ValueError):
        transport.build_request(EVENT, [secret], "none", None, None, "")
    with pytest.raises(ValueError):
        transport.build_request({"x": float("nan")}, [secret], "none", None, None, "m")
    with pytest.raises(InvalidSecret):
        transport.build_request(EVENT, ["whsec_short"], "none", None, None, "m1")
