import base64
import datetime
import json
import ssl
import tracemalloc
from concurrent.futures import ThreadPoolExecutor
from ipaddress import ip_address

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from mfg_integration import __version__, transport
from mfg_integration.errors import InvalidSecret
from mfg_integration.networks import parse_networks
from mfg_integration.simulators import HOST, Answer, StubServer, closed_port_url
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


def _deliver(url, body=b'{"a":1}', headers=None, timeout=5.0, pool=None):
    headers = headers or {"Content-Type": "application/json", "X-Auth": CREDENTIAL}
    return transport.deliver(url, body, headers, timeout, pool=pool)


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


def test_deliver_refuses_credentials_in_the_url_without_showing_them(server):
    url = server.url("/hook").replace("http://", "http://admin:hunter2@")
    result = _deliver(url, timeout=2)
    assert result.outcome == RETRY
    assert result.error_class == "request"
    assert "hunter2" not in result.error_message
    assert "admin" not in result.error_message
    assert server.requests == [], "nothing is sent"


@pytest.mark.parametrize(
    "url", ["http://", "ftp://127.0.0.1/x", "http://127.0.0.1:99999/x", "/relative"]
)
def test_deliver_invalid_url_is_a_request_error(url):
    result = _deliver(url, timeout=2)
    assert result.outcome == RETRY
    assert result.status_code is None
    assert result.error_class == "request"


def test_deliver_header_injection_is_a_request_error(server):
    result = _deliver(server.url("/hook"), headers={"X-Auth": "a\r\nX-Evil: 1"})
    assert result.error_class == "request"
    assert server.requests == []


def test_deliver_percent_encodes_the_path_and_keeps_escapes(server):
    result = _deliver(server.url("/hooks/prüfstand 1/%41?q=a b&token=x%2Fy"))
    assert result.ok
    [received] = server.requests
    assert received.path == "/hooks/pr%C3%BCfstand%201/%41?q=a%20b&token=x%2Fy"


def test_deliver_root_path_when_the_url_has_none(server):
    assert _deliver(server.base_url).ok
    assert server.requests[0].path == "/"


def test_deliver_answer_without_response(server):
    server.script(Answer(drop=True))
    result = _deliver(server.url(f"/hook?token={SECRET_TOKEN}"))
    assert result.outcome == RETRY
    assert result.error_class == "connection"
    assert "closed without an answer" in result.error_message
    assert len(server.requests) == 1, "a new connection is not tried twice"
    _assert_safe(result)


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


# -- connection pool --------------------------------------------------------


def test_pool_keeps_the_connection_alive(server):
    server.reply(204).reply(202).reply(200)
    with transport.ConnectionPool() as pool:
        results = [_deliver(server.url(f"/{n}"), pool=pool) for n in range(3)]
    assert [r.status_code for r in results] == [204, 202, 200]
    assert [r.path for r in server.requests] == ["/0", "/1", "/2"]
    assert len({r.client for r in server.requests}) == 1, "one connection"


def test_without_a_pool_every_attempt_has_its_own_connection(server):
    assert _deliver(server.url("/a")).ok and _deliver(server.url("/b")).ok
    assert len({r.client for r in server.requests}) == 2


def test_pool_keeps_one_connection_per_origin(server, other_server):
    with transport.ConnectionPool() as pool:
        for _round in range(2):
            assert _deliver(server.url("/s"), pool=pool).ok
            assert _deliver(other_server.url("/o"), pool=pool).ok
    assert len({r.client for r in server.requests}) == 1
    assert len({r.client for r in other_server.requests}) == 1


def test_pool_notices_a_connection_the_receiver_closed(server):
    # The receiver closes the connection after answering, without saying so (its
    # keep-alive timeout); the next attempt must succeed on a new connection.
    server.script(Answer(200, close=True))
    with transport.ConnectionPool() as pool:
        first = _deliver(server.url("/one"), pool=pool)
        second = _deliver(server.url("/two"), pool=pool)
    assert first.ok and second.ok
    assert [r.path for r in server.requests] == ["/one", "/two"]
    assert server.requests[0].client != server.requests[1].client


def test_pool_sends_again_once_when_a_reused_connection_drops(server):
    # The receiver takes the request on the kept connection, then drops it without
    # an answer (the race of a keep-alive timeout): sent once more, on a new one.
    server.script(Answer(200), Answer(drop=True))
    with transport.ConnectionPool() as pool:
        assert _deliver(server.url("/one"), pool=pool).ok
        result = _deliver(server.url("/two"), pool=pool)
    assert result.ok
    paths = [r.path for r in server.requests]
    assert paths == ["/one", "/two", "/two"]
    assert server.requests[1].client != server.requests[2].client


def test_pool_closes_a_connection_whose_answer_was_not_read_in_full(server):
    server.script(Answer(200, {"Content-Type": "text/plain"}, b"x" * (1024 * 1024)))
    with transport.ConnectionPool() as pool:
        assert _deliver(server.url("/big"), pool=pool).ok
        assert _deliver(server.url("/next"), pool=pool).ok
    assert server.requests[0].client != server.requests[1].client


def test_pool_honours_connection_close(server):
    server.reply(200, headers={"Connection": "close"})
    with transport.ConnectionPool() as pool:
        assert _deliver(server.url("/one"), pool=pool).ok
        assert _deliver(server.url("/two"), pool=pool).ok
    assert server.requests[0].client != server.requests[1].client


def test_pool_shared_by_threads(server):
    with transport.ConnectionPool() as pool, ThreadPoolExecutor(4) as threads:
        results = list(
            threads.map(lambda n: _deliver(server.url(f"/{n}"), pool=pool), range(60))
        )
    assert all(result.ok for result in results)
    assert sorted(r.path for r in server.requests) == sorted(f"/{n}" for n in range(60))
    assert len({r.client for r in server.requests}) <= 4


def test_a_closed_pool_keeps_nothing(server):
    pool = transport.ConnectionPool()
    assert _deliver(server.url("/a"), pool=pool).ok
    pool.close()
    assert _deliver(server.url("/b"), pool=pool).ok, "still usable"
    assert _deliver(server.url("/c"), pool=pool).ok
    assert len({r.client for r in server.requests}) == 3


# -- TLS --------------------------------------------------------------------


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory):
    """A certificate authority and a server certificate for 127.0.0.1."""
    folder = tmp_path_factory.mktemp("tls")
    now = datetime.datetime.now(datetime.UTC)

    def certificate(subject, issuer, public_key, signing_key, extensions):
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(issuer)
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
        )
        for extension, critical in extensions:
            builder = builder.add_extension(extension, critical=critical)
        return builder.sign(signing_key, hashes.SHA256())

    def name(text):
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, text)])

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = certificate(
        name("Test CA"),
        name("Test CA"),
        ca_key.public_key(),
        ca_key,
        [(x509.BasicConstraints(ca=True, path_length=None), True)],
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = certificate(
        name("receiver"),
        name("Test CA"),
        key.public_key(),
        ca_key,
        [
            (x509.SubjectAlternativeName([x509.IPAddress(ip_address(HOST))]), False),
            (x509.BasicConstraints(ca=False, path_length=None), True),
        ],
    )
    pem = serialization.Encoding.PEM
    (folder / "ca.pem").write_bytes(ca.public_bytes(pem))
    (folder / "cert.pem").write_bytes(cert.public_bytes(pem))
    (folder / "key.pem").write_bytes(
        key.private_bytes(
            pem,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return folder


@pytest.fixture
def tls_server(tls_files):
    """The stub server behind TLS, with the test CA's certificate for 127.0.0.1."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tls_files / "cert.pem", tls_files / "key.pem")
    with StubServer() as stub:
        listener = stub._server.socket
        stub._server.socket = context.wrap_socket(listener, server_side=True)
        yield stub


def test_https_checks_the_certificate(tls_server):
    url = tls_server.url(f"/hook?token={SECRET_TOKEN}").replace("http:", "https:")
    result = _deliver(url, timeout=2)
    assert result.outcome == RETRY
    assert result.error_class == "connection"
    assert "TLS" in result.error_message
    assert tls_server.requests == []
    _assert_safe(result)


def test_https_delivery_with_a_trusted_ca(tls_server, tls_files, monkeypatch):
    trusting = ssl.create_default_context(cafile=str(tls_files / "ca.pem"))
    monkeypatch.setattr(transport, "_tls_context", lambda: trusting)
    url = tls_server.url("/hook").replace("http:", "https:")
    with transport.ConnectionPool() as pool:
        assert _deliver(url, pool=pool).ok
        assert _deliver(url, pool=pool).ok
    assert [r.path for r in tls_server.requests] == ["/hook", "/hook"]
    assert len({r.client for r in tls_server.requests}) == 1


def test_default_tls_context_verifies_host_names():
    context = transport._tls_context()
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert context.check_hostname


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


def test_a_receiver_comes_back_at_the_address_it_had():
    url = closed_port_url("/events")
    port = int(url.split(":")[2].split("/")[0])
    assert _deliver(url).outcome == RETRY  # nothing listens: refused
    with StubServer(port=port) as receiver:
        assert receiver.url("/events") == url
        assert _deliver(url).outcome == SUCCESS
        assert len(receiver.requests) == 1


# -- server-side request forgery guard ------------------------------------------


def test_guard_refuses_a_loopback_target_before_sending(server):
    url = server.url(f"/hook?token={SECRET_TOKEN}")
    with transport.ConnectionPool(guard=transport.AddressGuard()) as pool:
        result = _deliver(url, pool=pool)
    assert result.outcome == RETRY
    assert result.error_class == "address"
    assert "loopback" in result.error_message
    assert "mfg_integration.outbound_allowed_networks" in result.error_message
    assert server.requests == []
    _assert_safe(result)


def test_guard_judges_the_addresses_a_name_resolves_to(server):
    # "localhost" is a name: it is resolved, and the address is refused
    url = f"http://localhost:{server.port}/hook"
    with transport.ConnectionPool(guard=transport.AddressGuard()) as pool:
        result = _deliver(url, pool=pool)
    assert result.error_class == "address"
    assert server.requests == []


def test_guard_connects_to_an_allowed_address_only(server):
    # localhost may resolve to ::1 as well: that one stays refused, and the
    # connection goes to 127.0.0.1, which the allow-list opens
    guard = transport.AddressGuard(parse_networks("127.0.0.0/8"))
    with transport.ConnectionPool(guard=guard) as pool:
        assert _deliver(f"http://localhost:{server.port}/hook", pool=pool).ok
        assert _deliver(server.url("/hook"), pool=pool).ok
    assert len(server.requests) == 2


def test_guarded_https_still_checks_the_host_name(tls_server, tls_files, monkeypatch):
    trusting = ssl.create_default_context(cafile=str(tls_files / "ca.pem"))
    monkeypatch.setattr(transport, "_tls_context", lambda: trusting)
    url = tls_server.url("/hook").replace("http:", "https:")
    guard = transport.AddressGuard(parse_networks("127.0.0.0/8"))
    with transport.ConnectionPool(guard=guard) as pool:
        assert _deliver(url, pool=pool).ok
        # the certificate names 127.0.0.1, not localhost: refused by TLS
        wrong_name = _deliver(f"https://localhost:{tls_server.port}/hook", pool=pool)
    assert wrong_name.error_class == "connection"
    assert "TLS" in wrong_name.error_message
    assert len(tls_server.requests) == 1


def test_guard_reports_the_connection_error_of_an_allowed_address():
    url = closed_port_url("/hook")
    guard = transport.AddressGuard(parse_networks("127.0.0.0/8"))
    with transport.ConnectionPool(guard=guard) as pool:
        result = _deliver(url, pool=pool)
    assert result.error_class == "connection"
    assert "refused" in result.error_message
