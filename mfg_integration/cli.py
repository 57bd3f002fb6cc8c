"""``mfg-integration``: command-line tools of the protocol kit.

``mfg-integration keygen`` prints a new encryption key for the ``secret_keys`` option of
the ``[mfg_integration]`` section of the Odoo configuration file.
``mfg-integration webhook-secret`` prints a new Standard Webhooks ``whsec_`` secret.
``mfg-integration send`` sends one CloudEvent, or a batch, to the hub and prints its
answer. ``mfg-integration verify`` checks the Standard Webhooks signature of a request
the hub sent (or any signed request) and prints its ``webhook-id``.

Exit status: 0 on success, 1 when the hub refused (``send``) or the signature does not
verify (``verify``), 2 on a usage error. API keys and secrets are never printed, not
even in error messages; prefer passing them through environment variables
(``--key-env``, ``--secret-env``), since command-line arguments are visible to other
local users.
"""

import argparse
import json
import os
import sys

from .client import Client
from .errors import AuthenticationFailed, IntegrationError, InvalidSecret
from .secretbox import generate_key
from .transport import check_header_name
from .webhooks import (
    TIMESTAMP_TOLERANCE,
    decode_webhook_secret,
    generate_webhook_secret,
    verify_webhook,
)

DEFAULT_KEY_ENV = "MFG_INTEGRATION_API_KEY"
DEFAULT_SECRET_ENV = "MFG_INTEGRATION_WEBHOOK_SECRET"
# Options whose value is a secret: never shown, even in usage errors.
_SECRET_OPTIONS = ("--key", "--secret")
MASK = "***"


class UsageError(Exception):
    """A command line that cannot be run as given (exit status 2)."""


class _Parser(argparse.ArgumentParser):
    """An argument parser that raises :class:`UsageError` instead of exiting."""

    def error(self, message):
        raise UsageError(message, self)


def _secrets_in(argv):
    """Return the values given to secret options in a raw command line."""
    found = []
    argv = list(argv)
    for index, token in enumerate(argv):
        name, sep, value = token.partition("=")
        if name not in _SECRET_OPTIONS:
            continue
        if sep:
            found.append(value)
        elif index + 1 < len(argv):
            found.append(argv[index + 1])
    return [value for value in found if value]


def _scrub(text, secrets):
    """Replace every secret found in ``text`` by :data:`MASK`."""
    for secret in sorted(set(secrets), key=len, reverse=True):
        if secret:
            text = text.replace(secret, MASK)
    return text


def _safe_usage_message(message):
    """Drop the values argparse quotes from unrecognised arguments."""
    prefix = "unrecognized arguments: "
    if not message.startswith(prefix):
        return message
    names = [
        token.partition("=")[0]
        for token in message[len(prefix) :].split()
        if token.startswith("-")
    ]
    shown = " ".join(names) if names else "(values not shown)"
    return prefix + shown


def build_parser():
    """Return the argument parser of ``mfg-integration``.

    :return: an :class:`argparse.ArgumentParser` whose errors raise
        :class:`UsageError`
    """
    parser = _Parser(
        prog="mfg-integration",
        description="Tools of the mfg_integration protocol kit.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser(
        "keygen",
        help="print a new encryption key for stored secrets ([mfg_integration] "
        "secret_keys)",
    )
    secret = commands.add_parser(
        "webhook-secret", help="print a new Standard Webhooks signing secret (whsec_…)"
    )
    secret.add_argument(
        "--bytes",
        type=int,
        default=32,
        help="number of random bytes, 24 to 64 (default: 32)",
    )
    _add_send(commands)
    _add_verify(commands)
    return parser


def _add_send(commands):
    send = commands.add_parser(
        "send",
        help="send a CloudEvent (or a batch) to the hub and print its answer",
        description="Send one CloudEvent, or a batch, to POST /api/mfg/v1/events. "
        "Exit status: 0 accepted (or duplicate), 1 refused by the hub or "
        "unreachable, 2 usage error.",
    )
    send.add_argument(
        "--url", required=True, help="the hub's address, e.g. https://erp.example.com"
    )
    keys = send.add_mutually_exclusive_group()
    keys.add_argument(
        "--key",
        help="the API key (visible in the process list: prefer --key-env)",
    )
    keys.add_argument(
        "--key-env",
        metavar="VAR",
        default=DEFAULT_KEY_ENV,
        help=f"environment variable holding the API key (default: {DEFAULT_KEY_ENV})",
    )
    send.add_argument("--type", help="the event type code, e.g. inspection.failed")
    send.add_argument("--source", help="the source URI-reference, e.g. urn:mes:line1")
    payload = send.add_mutually_exclusive_group(required=True)
    payload.add_argument("--data", metavar="JSON", help="the event data as JSON")
    payload.add_argument(
        "--data-file", metavar="PATH", help="file with the event data ('-': stdin)"
    )
    payload.add_argument(
        "--batch-file",
        metavar="PATH",
        help="file with a JSON array of complete CloudEvents ('-': stdin)",
    )
    send.add_argument("--subject", help="the event subject (an order, a lot…)")
    send.add_argument("--id", help="the event id (default: a new UUID)")
    send.add_argument("--correlation-id", help="sent as X-Correlation-ID")
    send.add_argument(
        "--idempotency-key",
        help="Idempotency-Key of a batch (default: a new UUID, kept on retries)",
    )
    send.add_argument(
        "--timeout", type=float, default=15, help="seconds per request (default: 15)"
    )
    send.add_argument(
        "--max-attempts",
        type=int,
        default=5,
        help="attempts before giving up, the first included (default: 5)",
    )


def _add_verify(commands):
    verify = commands.add_parser(
        "verify",
        help="verify the Standard Webhooks signature of a received request",
        description="Verify a Standard Webhooks request and print its webhook-id. "
        "Exit status: 0 valid, 1 not valid, 2 usage error.",
    )
    verify.add_argument(
        "--secret",
        action="append",
        default=[],
        help="a whsec_ secret; repeat during a rotation (visible in the process "
        "list: prefer --secret-env)",
    )
    verify.add_argument(
        "--secret-env",
        action="append",
        default=[],
        metavar="VAR",
        help="environment variable holding one or more whsec_ secrets separated by "
        f"spaces; repeatable (default when no secret is given: {DEFAULT_SECRET_ENV})",
    )
    verify.add_argument(
        "--header",
        action="append",
        default=[],
        required=True,
        metavar="'NAME: VALUE'",
        help="a request header, e.g. 'webhook-id: msg_1'; repeat for each header",
    )
    verify.add_argument(
        "--body-file", required=True, metavar="PATH", help="the raw body ('-': stdin)"
    )
    verify.add_argument(
        "--tolerance",
        type=int,
        default=TIMESTAMP_TOLERANCE,
        help="accepted clock difference in seconds (default: 300)",
    )


def _read_bytes(path, option):
    if path == "-":
        return sys.stdin.buffer.read()
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except OSError as exc:
        raise UsageError(f"{option}: cannot read {path}: {exc.strerror}.") from None


def _load_json(text, option):
    try:
        if isinstance(text, bytes):
            text = text.decode("utf-8")
        return json.loads(text)
    except UnicodeDecodeError:
        raise UsageError(f"{option}: not UTF-8 text.") from None
    except json.JSONDecodeError as exc:
        raise UsageError(
            f"{option}: not valid JSON ({exc.msg} at line {exc.lineno}, column "
            f"{exc.colno})."
        ) from None


def _send_payload(args):
    """Return ``(events, data)``: a batch list, or the data of one event."""
    if args.batch_file is not None:
        events = _load_json(
            _read_bytes(args.batch_file, "--batch-file"), "--batch-file"
        )
        if not isinstance(events, list) or not events:
            raise UsageError("--batch-file: a non-empty JSON array of CloudEvents.")
        single = [
            option
            for option, value in (
                ("--type", args.type),
                ("--source", args.source),
                ("--subject", args.subject),
                ("--id", args.id),
            )
            if value is not None
        ]
        if single:
            raise UsageError(
                ", ".join(single) + " only apply to one event, not to --batch-file."
            )
        return events, None
    if args.data is not None:
        data = _load_json(args.data, "--data")
    else:
        data = _load_json(_read_bytes(args.data_file, "--data-file"), "--data-file")
    if not isinstance(data, dict):
        raise UsageError("The event data must be a JSON object.")
    if not args.type or not args.source:
        raise UsageError("--type and --source are required to send one event.")
    if args.idempotency_key is not None:
        raise UsageError(
            "--idempotency-key applies to --batch-file; one event is made "
            "idempotent by its --id."
        )
    return None, data


def _print_hub_error(error, secrets):
    problem = getattr(error, "problem", None)
    title = (problem or {}).get("title") or error.title
    status = getattr(error, "status", None) if problem is not None else None
    head = f"error: {title}"
    if status:
        head += f" (HTTP {status})"
    lines = [f"{head}: {error.detail}"]
    for entry in error.errors:
        pointer = entry.get("pointer") or "/"
        lines.append(f"  {pointer}: {entry.get('message', '')}")
    correlation_id = getattr(error, "correlation_id", None)
    if correlation_id:
        lines.append(f"correlation id: {correlation_id}")
    sys.stderr.write(_scrub("\n".join(lines), secrets) + "\n")


def _cmd_send(args):
    key = args.key
    if key is None:
        key = os.environ.get(args.key_env or DEFAULT_KEY_ENV, "")
        if not key:
            raise UsageError(
                f"No API key: pass --key or set the environment variable "
                f"{args.key_env or DEFAULT_KEY_ENV}."
            )
    events, data = _send_payload(args)
    try:
        client = Client(
            args.url, key, timeout=args.timeout, max_attempts=args.max_attempts
        )
    except ValueError as exc:
        raise UsageError(_scrub(str(exc), [key])) from None
    try:
        with client:
            if events is not None:
                answer = client.send_batch(
                    events,
                    idempotency_key=args.idempotency_key,
                    correlation_id=args.correlation_id,
                )
            else:
                answer = client.send_event(
                    args.type,
                    data,
                    source=args.source,
                    id=args.id,
                    subject=args.subject,
                    correlation_id=args.correlation_id,
                )
    except IntegrationError as error:
        _print_hub_error(error, [key])
        return 1
    except ValueError as exc:
        raise UsageError(_scrub(str(exc), [key])) from None
    text = json.dumps(answer, indent=2, ensure_ascii=False)
    sys.stdout.write(_scrub(text, [key]) + "\n")
    return 0


def _verify_secrets(args):
    secrets = list(args.secret)
    names = list(args.secret_env)
    if not secrets and not names:
        names = [DEFAULT_SECRET_ENV]
    for name in names:
        secrets.extend(os.environ.get(name, "").split())
    if not secrets:
        raise UsageError(
            "No signing secret: pass --secret or --secret-env, or set the "
            f"environment variable {DEFAULT_SECRET_ENV}."
        )
    for position, secret in enumerate(secrets, start=1):
        try:
            decode_webhook_secret(secret)
        except InvalidSecret as exc:
            raise UsageError(f"Secret {position}: {exc.detail}") from None
    return secrets


def _parse_headers(raw_headers):
    headers = {}
    for raw in raw_headers:
        name, sep, value = raw.partition(":")
        name = name.strip()
        try:
            check_header_name(name)
        except ValueError:
            sep = ""
        if not sep:
            raise UsageError(
                "--header is written 'name: value' with a header name made of "
                "letters, digits and -."
            )
        headers[name.lower()] = value.strip()
    return headers


def _cmd_verify(args):
    secrets = _verify_secrets(args)
    if args.tolerance < 0:
        raise UsageError("--tolerance is a number of seconds, 0 or more.")
    headers = _parse_headers(args.header)
    body = _read_bytes(args.body_file, "--body-file")
    try:
        msg_id = verify_webhook(secrets, headers, body, tolerance=args.tolerance)
    except AuthenticationFailed as exc:
        sys.stderr.write(_scrub(f"verification failed: {exc.detail}", secrets) + "\n")
        return 1
    sys.stdout.write(msg_id + "\n")
    return 0


def main(argv=None):
    """Run ``mfg-integration`` with ``argv`` (default: the process's arguments).

    :param argv: the arguments, without the program name
    :return: the exit status: 0 success, 1 refused or not verified, 2 usage error
    """
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        if args.command == "keygen":
            sys.stdout.write(generate_key() + "\n")
        elif args.command == "webhook-secret":
            try:
                secret = generate_webhook_secret(args.bytes)
            except InvalidSecret as exc:
                raise UsageError(f"--bytes: {exc.detail}") from None
            sys.stdout.write(secret + "\n")
        elif args.command == "send":
            return _cmd_send(args)
        elif args.command == "verify":
            return _cmd_verify(args)
    except UsageError as exc:
        usage_parser = exc.args[1] if len(exc.args) > 1 else parser
        message = _scrub(_safe_usage_message(str(exc.args[0])), _secrets_in(argv))
        usage_parser.print_usage(sys.stderr)
        sys.stderr.write(f"{usage_parser.prog}: error: {message}\n")
        return 2
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
