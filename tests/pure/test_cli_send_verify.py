import io
import json
import time

import pytest

from mfg_integration import cli
from mfg_integration.errors import PROBLEM_BASE_URI
from mfg_integration.simulators import StubServer, closed_port_url
from mfg_integration.webhooks import generate_webhook_secret, sign_headers

API_KEY = "mfgk_cli_secret_0123456789"
DATA = '{"work_order": "WO/1", "quantity": {"value": 1, "unit": "Units"}}'


@pytest.fixture
def server():
    with StubServer() as stub:
        yield stub


@pytest.fixture(autouse=True)
def no_key_in_environment(monkeypatch):
    monkeypatch.delenv(cli.DEFAULT_KEY_ENV, raising=False)
    monkeypatch.delenv(cli.DEFAULT_SECRET_ENV, raising=False)


def run(capsys, argv, *secrets):
    """Run the CLI; check that no secret reached stdout or stderr."""
    code = cli.main(argv)
    out, err = capsys.readouterr()
    for secret in (API_KEY, *secrets):
        assert secret not in out
        assert secret not in err
    return code, out, err


def send_args(server, *extra):
    return [
        "send",
        "--url",
        server.base_url,
        "--type",
        "work_order.progress_reported",
        "--source",
        "urn:mes:line1",
        *extra,
    ]


# -- send -------------------------------------------------------------------


def test_send_one_event(server, capsys):
    server.reply(202, {"id": 5, "status": "accepted", "correlation_id": "c-1"})
    code, out, _err = run(
        capsys,
        send_args(
            server,
            "--key",
            API_KEY,
            "--data",
            DATA,
            "--id",
            "evt-9",
            "--subject",
            "WO/1",
            "--correlation-id",
            "c-1",
        ),
    )
    assert code == 0
    assert json.loads(out) == {"id": 5, "status": "accepted", "correlation_id": "c-1"}
    [request] = server.requests
    assert request.headers["Authorization"] == f"Bearer {API_KEY}"
    assert request.headers["X-Correlation-ID"] == "c-1"
    event = request.json()
    assert (event["id"], event["subject"]) == ("evt-9", "WO/1")
    assert event["data"] == json.loads(DATA)


def test_send_key_from_the_default_environment_variable(server, capsys, monkeypatch):
    monkeypatch.setenv(cli.DEFAULT_KEY_ENV, API_KEY)
    code, _out, _err = run(capsys, send_args(server, "--data", DATA))
    assert code == 0
    assert server.requests[0].headers["Authorization"] == f"Bearer {API_KEY}"


def test_send_key_from_a_named_variable_and_data_file(
    server, capsys, monkeypatch, tmp_path
):
    monkeypatch.setenv("LINE1_KEY", API_KEY)
    data_file = tmp_path / "data.json"
    data_file.write_text(DATA, encoding="utf-8")
    code, _out, _err = run(
        capsys,
        send_args(server, "--key-env", "LINE1_KEY", "--data-file", str(data_file)),
    )
    assert code == 0
    assert server.requests[0].json()["data"] == json.loads(DATA)


def test_send_batch_file(server, capsys, tmp_path):
    batch = [
        {"specversion": "1.0", "id": "b1", "source": "urn:mes:line1", "type": "t.x"}
    ]
    batch_file = tmp_path / "events.json"
    batch_file.write_text(json.dumps(batch), encoding="utf-8")
    server.reply(200, {"accepted": 1, "duplicates": 0, "rejected": 0})
    code, out, _err = run(
        capsys,
        [
            "send",
            "--url",
            server.base_url,
            "--key",
            API_KEY,
            "--batch-file",
            str(batch_file),
            "--idempotency-key",
            "batch-7",
        ],
    )
    assert code == 0
    assert json.loads(out)["accepted"] == 1
    [request] = server.requests
    assert request.headers["Content-Type"] == "application/cloudevents-batch+json"
    assert request.headers["Idempotency-Key"] == "batch-7"
    assert request.json() == batch


def test_send_hub_refusal_prints_the_problem(server, capsys):
    server.reply(
        422,
        {
            "type": PROBLEM_BASE_URI + "validation-failed",
            "title": "Validation failed",
            "status": 422,
            "detail": "2 value(s) do not match the schema.",
            "errors": [
                {"pointer": "/data/quantity/value", "message": "must be >= 0"},
                {"pointer": "/data/work_order", "message": "is required"},
            ],
        },
        headers={
            "Content-Type": "application/problem+json",
            "X-Correlation-ID": "corr-9",
        },
    )
    code, out, err = run(capsys, send_args(server, "--key", API_KEY, "--data", DATA))
    assert code == 1
    assert out == ""
    assert "Validation failed (HTTP 422)" in err
    assert "2 value(s) do not match the schema." in err
    assert "/data/quantity/value: must be >= 0" in err
    assert "/data/work_order: is required" in err
    assert "corr-9" in err


def test_send_unauthenticated(server, capsys):
    server.reply(401, {"type": PROBLEM_BASE_URI + "unauthenticated", "status": 401})
    code, _out, err = run(capsys, send_args(server, "--key", API_KEY, "--data", DATA))
    assert code == 1
    assert "Authentication failed" in err


def test_send_unreachable_hub(capsys):
    url = closed_port_url().rstrip("/")
    code, _out, err = run(
        capsys,
        [
            "send",
            "--url",
            url,
            "--key",
            API_KEY,
            "--type",
            "a.b",
            "--source",
            "urn:x",
            "--data",
            "{}",
            "--max-attempts",
            "1",
        ],
    )
    assert code == 1
    assert "Could not reach" in err


@pytest.mark.parametrize(
    "extra",
    [
        [],  # no key at all
        ["--key", API_KEY, "--data", "{not json"],
        ["--key", API_KEY, "--data", "[1, 2]"],
        ["--key", API_KEY, "--data", DATA, "--batch-file", "x.json"],
        ["--key", API_KEY, "--key-env", "VAR", "--data", DATA],
        ["--key", API_KEY, "--data", DATA, "--idempotency-key", "k"],
        ["--key", API_KEY, "--data-file", "/nonexistent/data.json"],
        ["--key", API_KEY, "--data", DATA, "--unknown", API_KEY],
        ["--key", API_KEY],
    ],
)
def test_send_usage_errors(server, capsys, extra):
    code, out, err = run(capsys, send_args(server, *extra))
    assert code == 2
    assert out == ""
    assert "error:" in err
    assert server.requests == []


def test_send_needs_type_and_source(server, capsys):
    argv = ["send", "--url", server.base_url, "--key", API_KEY, "--data", DATA]
    code, _out, err = run(capsys, argv)
    assert code == 2
    assert "--type and --source" in err


def test_batch_refuses_single_event_options(server, capsys, tmp_path):
    batch_file = tmp_path / "events.json"
    batch_file.write_text("[{}]", encoding="utf-8")
    code, _out, err = run(
        capsys, send_args(server, "--key", API_KEY, "--batch-file", str(batch_file))
    )
    assert code == 2
    assert "--type" in err


def test_mistyped_key_option_never_echoes_the_key(capsys):
    argv = ["send", "--url", "http://127.0.0.1:1", "--kye", API_KEY, "--data", "{}"]
    code, _out, err = run(capsys, argv)
    assert code == 2
    assert "--kye" in err


def test_bad_url_is_a_usage_error(capsys):
    argv = ["send", "--url", "ftp://x", "--key", API_KEY, "--data", "{}"]
    argv += ["--type", "a.b", "--source", "urn:x"]
    code, _out, _err = run(capsys, argv)
    assert code == 2


# -- verify -----------------------------------------------------------------

BODY = b'{"type":"machine.downtime_started","timestamp":"2026-11-24T08:15:00Z"}'


def signed(secrets, msg_id="msg_cli_1", timestamp=None):
    headers = sign_headers(secrets, msg_id, BODY, timestamp)
    return [
        arg
        for name, value in headers.items()
        for arg in ("--header", f"{name}: {value}")
    ]


@pytest.fixture
def body_file(tmp_path):
    path = tmp_path / "body.json"
    path.write_bytes(BODY)
    return str(path)


def test_verify_valid_request(capsys, body_file):
    secret = generate_webhook_secret()
    argv = ["verify", "--secret", secret, *signed(secret), "--body-file", body_file]
    code, out, _err = run(capsys, argv, secret)
    assert code == 0
    assert out.strip() == "msg_cli_1"


def test_verify_during_rotation(capsys, body_file):
    old, new = generate_webhook_secret(), generate_webhook_secret()
    argv = ["verify", "--secret", new, "--secret", old, *signed(old)]
    code, out, _err = run(capsys, [*argv, "--body-file", body_file], old, new)
    assert code == 0
    assert out.strip() == "msg_cli_1"


def test_verify_wrong_secret(capsys, body_file):
    good, wrong = generate_webhook_secret(), generate_webhook_secret()
    argv = ["verify", "--secret", wrong, *signed(good), "--body-file", body_file]
    code, out, err = run(capsys, argv, good, wrong)
    assert code == 1
    assert out == ""
    assert "No webhook signature matches" in err


def test_verify_stale_timestamp(capsys, body_file):
    secret = generate_webhook_secret()
    stale = int(time.time()) - 3600
    argv = ["verify", "--secret", secret, *signed(secret, timestamp=stale)]
    code, _out, err = run(capsys, [*argv, "--body-file", body_file], secret)
    assert code == 1
    assert "too old" in err
    # The same request passes with a wider tolerance.
    code, _out, _err = run(
        capsys, [*argv, "--body-file", body_file, "--tolerance", "7200"], secret
    )
    assert code == 0


def test_verify_tampered_body(capsys, tmp_path):
    secret = generate_webhook_secret()
    path = tmp_path / "tampered.json"
    path.write_bytes(BODY.replace(b"started", b"ended"))
    argv = ["verify", "--secret", secret, *signed(secret), "--body-file", str(path)]
    code, _out, _err = run(capsys, argv, secret)
    assert code == 1


def test_verify_secrets_from_environment_and_stdin(capsys, monkeypatch):
    old, new = generate_webhook_secret(), generate_webhook_secret()
    monkeypatch.setenv("ENDPOINT_SECRETS", f"{new} {old}")
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(BODY)))
    argv = ["verify", "--secret-env", "ENDPOINT_SECRETS", *signed(old)]
    code, out, _err = run(capsys, [*argv, "--body-file", "-"], old, new)
    assert code == 0
    assert out.strip() == "msg_cli_1"


def test_verify_default_secret_variable(capsys, monkeypatch, body_file):
    secret = generate_webhook_secret()
    monkeypatch.setenv(cli.DEFAULT_SECRET_ENV, secret)
    code, _out, _err = run(
        capsys, ["verify", *signed(secret), "--body-file", body_file], secret
    )
    assert code == 0


def test_verify_missing_header(capsys, body_file):
    secret = generate_webhook_secret()
    argv = ["verify", "--secret", secret, *signed(secret)[:4], "--body-file", body_file]
    code, _out, err = run(capsys, argv, secret)
    assert code == 1
    assert "webhook-signature" in err


@pytest.mark.parametrize(
    "argv",
    [
        ["verify", "--header", "webhook-id: m", "--body-file", "-"],  # no secret
        ["verify", "--secret", "whsec_tooshort", "--header", "webhook-id: m"],
        ["verify", "--secret", "{secret}", "--header", "no colon", "--body-file", "-"],
        ["verify", "--secret", "{secret}", "--header", "bad name: v"],
        ["verify", "--secret", "{secret}", "--header", "a: b", "--body-file", "/no/f"],
        ["verify", "--secret", "{secret}", "--header", "a: b", "--tolerance", "-1"],
    ],
)
def test_verify_usage_errors(capsys, monkeypatch, argv):
    secret = generate_webhook_secret()
    argv = [arg.replace("{secret}", secret) for arg in argv]
    if "--body-file" not in argv:
        argv += ["--body-file", "-"]
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(BODY)))
    code, _out, err = run(capsys, argv, secret, "whsec_tooshort")
    assert code == 2
    assert "error:" in err


def test_existing_commands_still_work(capsys):
    assert cli.main(["webhook-secret"]) == 0
    assert capsys.readouterr().out.startswith("whsec_")
    assert cli.main(["webhook-secret", "--bytes", "8"]) == 2
