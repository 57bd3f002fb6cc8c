import subprocess
import sys

from cryptography.fernet import Fernet

from mfg_integration import cli
from mfg_integration.errors import AuthenticationFailed, ValidationFailed
from mfg_integration.webhooks import decode_webhook_secret


def test_keygen_prints_a_usable_key(capsys):
    assert cli.main(["keygen"]) == 0
    key = capsys.readouterr().out.strip()
    Fernet(key.encode())


def test_webhook_secret_command(capsys):
    assert cli.main(["webhook-secret", "--bytes", "48"]) == 0
    assert len(decode_webhook_secret(capsys.readouterr().out.strip())) == 48


def test_console_script_entry_point_runs():
    out = subprocess.run(
        [sys.executable, "-m", "mfg_integration.cli", "keygen"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert len(out.strip()) == 44


def test_problem_document_shape():
    err = ValidationFailed(
        "1 value(s) do not match the schema.",
        errors=[{"pointer": "/data/order", "message": "is required"}],
    )
    problem = err.to_problem(instance="/api/mfg/v1/events")
    assert problem == {
        "type": "urn:mfg-integration:problem:validation-failed",
        "title": "Validation failed",
        "status": 422,
        "detail": "1 value(s) do not match the schema.",
        "instance": "/api/mfg/v1/events",
        "errors": [{"pointer": "/data/order", "message": "is required"}],
    }
    assert "errors" not in AuthenticationFailed().to_problem()
    assert AuthenticationFailed().detail == "Authentication failed"
