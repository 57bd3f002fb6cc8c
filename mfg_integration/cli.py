"""``mfg-integration``: command-line tools of the protocol kit.

``mfg-integration keygen`` prints a new encryption key for the ``secret_keys`` option of
the ``[mfg_integration]`` section of the Odoo configuration file.
``mfg-integration webhook-secret`` prints a new Standard Webhooks ``whsec_`` secret.
``mfg-integration send`` sends one CloudEvent, or a batch, to the hub and prints its
answer. ``mfg-integration verify`` checks the Standard Webhooks signature of a request
the hub sent (or any signed request) and prints its ``webhook-id``.

``mfg-integration consume`` feeds a system's broker messages (an AMQP queue, an MQTT
topic filter, a JetStream durable consumer) to the hub, acknowledging each one only
once the hub stored it (see :mod:`mfg_integration.feeds`).
``mfg-integration simulate mes`` plays an MES against a running hub: it receives the
released production orders and reports their progress, material consumption and
completion (see :mod:`mfg_integration.mes_simulator`). ``simulate cmms`` plays a
CMMS: it receives the maintenance work orders and reports the spare parts consumed
and the completion; ``simulate machine`` raises and clears machine downtime (see
:mod:`mfg_integration.maintenance_simulators`). ``simulate qms`` plays a QMS: it
records inspections of lots and approves the disposition of each nonconformance
it receives (see :mod:`mfg_integration.quality_simulator`).

Exit status: 0 on success, 1 when the hub refused (``send``, ``simulate machine``,
``simulate qms --no-receiver``), the signature does not verify (``verify``) or no
release, work order or nonconformance came in time (``simulate mes``, ``simulate
cmms``, ``simulate qms``), 2 on a usage error.
API keys and secrets are never printed, not even in error messages; prefer passing
them through environment variables (``--key-env``, ``--secret-env``), since
command-line arguments are visible to other local users.
"""

import argparse
import json
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass

from .brokers import Consumer, broker_kind, parse_broker_url
from .client import Client
from .errors import AuthenticationFailed, IntegrationError, InvalidSecret
from .feeds import ACK, REJECT, RETRY, FeedForwarder
from .maintenance_simulators import (
    CMMS_PATH,
    CMMS_SOURCE,
    CREATED,
    DEFAULT_MEAN_DOWNTIME,
    DEFAULT_MEAN_UPTIME,
    DEFAULT_OUTCOME,
    DEFAULT_REASON_CATEGORY,
    DEFAULT_UOM,
    JOB_PREFIX,
    MACHINE_SOURCE,
    OUTCOMES,
    REASON_CATEGORIES,
    CmmsSimulator,
    MachineSimulator,
    describe_downtime,
    describe_job,
)
from .mes_simulator import (
    ACKNOWLEDGE_MODES,
    DEFAULT_PATH,
    DEFAULT_SCRAP_RATE,
    DEFAULT_SOURCE,
    DEFAULT_SPEED,
    RELEASED,
    REMAINING_ACTIONS,
    MesSimulator,
    describe_report,
)
from .quality_simulator import (
    DEFAULT_DISPOSITION,
    DEFAULT_FAIL_RATE,
    DEFAULT_INSPECTION_TYPE,
    DEFAULT_QUANTITY,
    DEFAULT_SEVERITY,
    DISPOSITIONS,
    INSPECTION_TYPES,
    NONCONFORMANCE,
    QMS_PATH,
    QMS_SOURCE,
    SEVERITIES,
    QmsSimulator,
    describe_qms_report,
)
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
DEFAULT_BROKER_CREDENTIAL_ENV = "MFG_INTEGRATION_BROKER_CREDENTIAL"
DEFAULT_LISTEN = "127.0.0.1:8090"
CMMS_LISTEN = "127.0.0.1:8091"
QMS_LISTEN = "127.0.0.1:8092"
# How often the command checks for completed orders and for its --timeout.
POLL_SECONDS = 0.2
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
    _add_consume(commands)
    _add_simulate(commands)
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
    _add_secret_options(verify)
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


def _add_secret_options(parser):
    parser.add_argument(
        "--secret",
        action="append",
        default=[],
        help="a whsec_ secret; repeat during a rotation (visible in the process "
        "list: prefer --secret-env)",
    )
    parser.add_argument(
        "--secret-env",
        action="append",
        default=[],
        metavar="VAR",
        help="environment variable holding one or more whsec_ secrets separated by "
        f"spaces; repeatable (default when no secret is given: {DEFAULT_SECRET_ENV})",
    )


def _add_consume(commands):
    consume = commands.add_parser(
        "consume",
        help="feed a system's broker messages to the hub (AMQP, MQTT, JetStream)",
        description="Read an AMQP queue, an MQTT topic filter or a JetStream durable "
        "consumer and hand each message to the hub's feed endpoint, signed with its "
        "secret; a message is acknowledged only once the hub stored it. Runs until "
        "SIGTERM or Ctrl-C. Exit status: 0 stopped, 2 usage error.",
    )
    consume.add_argument(
        "broker",
        help="the broker: amqp(s)://host:port/vhost, mqtt(s)://host:port, "
        "nats://host:port or tls://host:port (no credentials in the URL)",
    )
    consume.add_argument(
        "--source",
        required=True,
        help="an AMQP queue (declared durable if missing), an MQTT topic filter, or "
        "STREAM:DURABLE of a JetStream consumer (created if missing)",
    )
    consume.add_argument(
        "--bind",
        metavar="BINDING",
        help="AMQP: EXCHANGE:ROUTING_KEY to bind the queue to; NATS: the filter "
        "subject of a new durable consumer",
    )
    consume.add_argument(
        "--group",
        help="consumers sharing a group share the messages (MQTT: a shared "
        "subscription; AMQP and JetStream consumers of one queue or durable always "
        "share them)",
    )
    consume.add_argument(
        "--client-id",
        help="MQTT: this consumer's client id, kept across restarts so that its "
        "session (and what was published meanwhile) resumes; each consumer of a "
        "--group needs its own (default: derived from the group and the source)",
    )
    consume.add_argument(
        "--url", required=True, help="the hub's address, e.g. https://erp.example.com"
    )
    consume.add_argument(
        "--endpoint", required=True, help="the code of the feed's inbound endpoint"
    )
    _add_secret_options(consume)
    consume.add_argument(
        "--credential-env",
        metavar="VAR",
        default=DEFAULT_BROKER_CREDENTIAL_ENV,
        help="environment variable holding the broker's user:password (or a NATS "
        f"token); default: {DEFAULT_BROKER_CREDENTIAL_ENV}, none when unset",
    )
    consume.add_argument(
        "--timeout", type=float, default=15, help="seconds per request (default: 15)"
    )
    consume.add_argument(
        "--verbose", action="store_true", help="print a line for every message"
    )


def _cmd_consume(args):
    secrets = _verify_secrets(args)
    # the consumer reports lost connections and back-off through logging
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(message)s",
    )
    credential = os.environ.get(args.credential_env) or None
    hidden = secrets + ([credential] if credential else [])
    printer = _Printer(hidden)
    bind = args.bind
    try:
        kind = broker_kind(args.broker)
        if kind is None:
            raise ValueError(
                "The broker URL must start with amqp://, amqps://, mqtt://, mqtts://, "
                "nats:// or tls://."
            )
        parse_broker_url(args.broker)
        if kind == "amqp" and bind:
            exchange, sep, routing_key = bind.partition(":")
            if not sep or not exchange:
                raise ValueError("--bind takes EXCHANGE:ROUTING_KEY for AMQP.")
            bind = (exchange, routing_key)
        forwarder = FeedForwarder(
            args.url, args.endpoint, secrets, timeout=args.timeout
        )
        consumer = Consumer(
            args.broker,
            args.source,
            credential=credential,
            timeout=args.timeout,
            group=args.group,
            bind=bind,
            client_id=args.client_id,
        )
    except ValueError as exc:
        raise UsageError(_scrub(str(exc), hidden)) from None
    counts = dict.fromkeys(("stored", "duplicate", REJECT, RETRY), 0)
    stop = threading.Event()

    def handle(message):
        decision, detail = forwarder.forward(message)
        counts[detail if decision == ACK else decision] += 1
        if decision == REJECT:
            printer.err(
                f"rejected {message.msg_id} from {message.destination}: {detail} "
                "(sent to the broker's dead-letter path)"
            )
        elif decision == RETRY:
            printer.err(f"kept {message.msg_id} in the broker, will retry: {detail}")
        elif args.verbose:
            printer.out(f"{detail} {message.msg_id} from {message.destination}")
        return decision

    printer.err(
        f"consuming {args.source} on {kind} for endpoint {args.endpoint} (hub "
        f"{forwarder.url.split('/api/')[0]})"
    )
    try:
        with _on_sigterm(stop.set):
            try:
                consumer.run(handle, stop)
            except KeyboardInterrupt:
                stop.set()
    finally:
        consumer.close()
        forwarder.close()
    printer.err(
        f"consumer stopped: {counts['stored']} stored, {counts['duplicate']} "
        f"duplicates dropped by the hub, {counts[REJECT]} rejected, {counts[RETRY]} "
        "kept for a retry"
    )
    return 0


def _add_simulate(commands):
    simulate = commands.add_parser(
        "simulate",
        help="play an external system against a running hub",
        description="Play an external system against a running hub.",
    )
    systems = simulate.add_subparsers(dest="system", required=True, metavar="SYSTEM")
    mes = systems.add_parser(
        "mes",
        help="an MES: run the released production orders and report them",
        description="Receive the hub's signed deliveries, run each "
        "production_order.released order (work order progress, material "
        "consumption, completion, sent with the API key) at --speed times real "
        "time, and print one line per completed order. Runs until --orders "
        "orders are completed, or until Ctrl-C or SIGTERM. Exit status: 0 done or "
        "stopped, 1 no release within --timeout or cannot listen, 2 usage error.",
    )
    _add_sender_options(mes, "MES", DEFAULT_SOURCE, DEFAULT_SPEED)
    _add_receiver_options(mes, DEFAULT_LISTEN, DEFAULT_PATH)
    mes.add_argument(
        "--scrap-rate",
        type=float,
        default=DEFAULT_SCRAP_RATE,
        help="expected share of scrapped parts per work order, 0 to 1 (default: "
        f"{DEFAULT_SCRAP_RATE:g})",
    )
    mes.add_argument(
        "--remaining",
        choices=REMAINING_ACTIONS,
        default="close",
        help="remaining_quantity_action of the completions (default: close)",
    )
    mes.add_argument(
        "--acknowledge",
        choices=ACKNOWLEDGE_MODES,
        default="no",
        help="answer each release with production_order.release_acknowledged "
        "first, as Odoo's release gate expects: accept (then run the order) or "
        "refuse (and not run it); default: no answer",
    )
    _add_run_options(mes, "--orders", "orders are completed", "release")
    _add_cmms(systems)
    _add_machine(systems)
    _add_qms(systems)


def _add_sender_options(parser, system, source, speed):
    """--hub, --key/--key-env, --source, --speed, --seed and --json."""
    parser.add_argument(
        "--hub",
        required=True,
        metavar="URL",
        help="the hub's (Odoo's) address, e.g. http://127.0.0.1:8069",
    )
    keys = parser.add_mutually_exclusive_group()
    keys.add_argument(
        "--key",
        help=f"the API key of the {system} system (visible in the process list: "
        "prefer --key-env)",
    )
    keys.add_argument(
        "--key-env",
        metavar="VAR",
        default=DEFAULT_KEY_ENV,
        help=f"environment variable holding the API key (default: {DEFAULT_KEY_ENV})",
    )
    parser.add_argument(
        "--source",
        default=source,
        help=f"CloudEvents source of the events sent (default: {source})",
    )
    parser.add_argument(
        "--speed",
        type=float,
        default=speed,
        help="how many times faster than real time; 600 plays 60 simulated minutes "
        f"in 6 s (default: {speed:g})",
    )
    parser.add_argument(
        "--seed", type=int, help="seed of the simulation (default: unseeded)"
    )
    parser.add_argument(
        "--json",
        action="store_true",
        help="print one JSON object per report on standard output (other messages "
        "go to standard error)",
    )


def _add_receiver_options(parser, listen, path):
    """--secret/--secret-env, --listen and --path."""
    parser.add_argument(
        "--secret",
        action="append",
        default=[],
        help="the whsec_ signing secret of the hub's outbound endpoint; repeat "
        "during a rotation (visible in the process list: prefer --secret-env)",
    )
    parser.add_argument(
        "--secret-env",
        action="append",
        default=[],
        metavar="VAR",
        help="environment variable holding one or more whsec_ secrets separated by "
        "spaces; repeatable (default when no secret is given: "
        f"{DEFAULT_SECRET_ENV})",
    )
    parser.add_argument(
        "--listen",
        default=listen,
        metavar="HOST:PORT",
        help=f"address of the webhook receiver; port 0 picks a free one (default: "
        f"{listen})",
    )
    parser.add_argument(
        "--path",
        default=path,
        help=f"path the hub posts to; others answer 404 (default: {path})",
    )


def _add_run_options(parser, option, done, awaited):
    """The option saying when to exit (--orders, --jobs) and --timeout."""
    parser.add_argument(
        option,
        dest="count",
        type=int,
        metavar="N",
        help=f"exit (status 0) once N {done} (default: run until stopped)",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        metavar="SECONDS",
        help=f"exit with status 1 when no {awaited} arrives for this long while "
        "nothing runs (default: wait forever)",
    )


def _add_cmms(systems):
    cmms = systems.add_parser(
        "cmms",
        help="a CMMS: do the maintenance work orders and report them",
        description="Receive the hub's signed deliveries of "
        "maintenance.work_order_created and do each job at --speed times real time: "
        "after a response time, book the --part spare parts (spare_part.consumed) "
        "and close the job (maintenance.work_order_completed), sent with the API "
        "key; print one line per completed job. Runs until --jobs jobs are "
        "completed, or until Ctrl-C or SIGTERM. Exit status: 0 done or stopped, 1 "
        "no work order within --timeout or cannot listen, 2 usage error.",
    )
    _add_sender_options(cmms, "CMMS", CMMS_SOURCE, DEFAULT_SPEED)
    _add_receiver_options(cmms, CMMS_LISTEN, CMMS_PATH)
    cmms.add_argument(
        "--part",
        action="append",
        default=[],
        metavar="CODE=QTY[:UOM][@LOT]",
        help="a spare part booked on every job, by product internal reference, e.g. "
        f"SP-HOSE-DN12-1000=1 or SP-OIL-ISO68=4.5:L@OIL-24-1187 (unit default: "
        f"{DEFAULT_UOM}); repeatable (default: none)",
    )
    cmms.add_argument(
        "--outcome",
        choices=OUTCOMES,
        default=DEFAULT_OUTCOME,
        help=f"outcome of every job (default: {DEFAULT_OUTCOME})",
    )
    cmms.add_argument(
        "--equipment-unavailable",
        action="store_true",
        help="report the equipment as not available for production (default: "
        "available)",
    )
    cmms.add_argument(
        "--job-prefix",
        metavar="PREFIX",
        help="what the CMMS work order numbers start with: PREFIX1, PREFIX2… "
        f"(default: {JOB_PREFIX}<start time as YYMMDDHHMMSS>-, new on every run: "
        "the hub binds a CMMS work order to one request for good)",
    )
    _add_run_options(cmms, "--jobs", "jobs are completed", "work order")


def _add_machine(systems):
    machine = systems.add_parser(
        "machine",
        help="a machine: raise and clear downtime on a schedule",
        description="Send machine.downtime_started then machine.downtime_ended "
        "(same downtime_id) --downtimes times for each --equipment, with random "
        "uptimes and downtimes around --mean-uptime and --mean-downtime at --speed "
        "times real time, with the API key; print one line per downtime. Exit "
        "status: 0 every event accepted (or stopped by Ctrl-C or SIGTERM), 1 the "
        "hub refused an event or is unreachable, 2 usage error.",
    )
    _add_sender_options(machine, "machine", MACHINE_SOURCE, DEFAULT_SPEED)
    machine.add_argument(
        "--equipment",
        action="append",
        required=True,
        metavar="CODE",
        help="equipment code (equipment.code of the events), e.g. PRESS-07; "
        "repeatable (the machines run side by side)",
    )
    machine.add_argument(
        "--work-center", metavar="CODE", help="work center code sent with each stop"
    )
    machine.add_argument(
        "--downtimes",
        type=int,
        default=1,
        metavar="N",
        help="stop/start cycles of each machine (default: 1)",
    )
    machine.add_argument(
        "--reason-category",
        choices=REASON_CATEGORIES,
        default=DEFAULT_REASON_CATEGORY,
        help=f"reason category of the stops (default: {DEFAULT_REASON_CATEGORY})",
    )
    machine.add_argument(
        "--reason-code", metavar="CODE", help="detailed reason code, e.g. HYD-LEAK"
    )
    machine.add_argument(
        "--mean-uptime",
        type=float,
        default=DEFAULT_MEAN_UPTIME,
        metavar="MIN",
        help=f"mean running time before a stop, in minutes (default: "
        f"{DEFAULT_MEAN_UPTIME:g})",
    )
    machine.add_argument(
        "--mean-downtime",
        type=float,
        default=DEFAULT_MEAN_DOWNTIME,
        metavar="MIN",
        help=f"mean length of a stop, in minutes (default: {DEFAULT_MEAN_DOWNTIME:g})",
    )


def _add_qms(systems):
    qms = systems.add_parser(
        "qms",
        help="a QMS: record inspections and approve the dispositions of "
        "nonconformances",
        description="Send one inspection per --lot (inspection.result_recorded; "
        "a failing one also inspection.failed), then receive the hub's signed "
        "deliveries and, for each nonconformance.opened, approve after a review "
        "time one batch.disposition_approved per lot of the nonconformance, at "
        "--speed times real time, with the API key; print one line per inspection "
        "and per disposition. Runs until --dispositions dispositions are "
        "accepted, or until Ctrl-C or SIGTERM. Exit status: 0 done or stopped, 1 "
        "no nonconformance within --timeout, cannot listen or (--no-receiver) the "
        "hub refused an inspection, 2 usage error.",
    )
    _add_sender_options(qms, "QMS", QMS_SOURCE, DEFAULT_SPEED)
    _add_receiver_options(qms, QMS_LISTEN, QMS_PATH)
    qms.add_argument(
        "--lot",
        action="append",
        default=[],
        metavar="PRODUCT_CODE@LOT",
        help="a lot to inspect, by product internal reference and lot name, e.g. "
        "RM-AL-CAST-200@LOT-2025-0311-A; repeatable, inspected in turn (default: "
        "none, only answer nonconformances)",
    )
    qms.add_argument(
        "--receipt", metavar="REF", help="the Odoo receipt inspected, e.g. WH/IN/00012"
    )
    qms.add_argument(
        "--supplier",
        metavar="CODE",
        help="the supplier's reference in Odoo, sent with failed inspections and "
        "returned to when a nonconformance names none, e.g. SUP-0042",
    )
    qms.add_argument(
        "--inspection-type",
        choices=INSPECTION_TYPES,
        default=DEFAULT_INSPECTION_TYPE,
        help=f"kind of the inspections (default: {DEFAULT_INSPECTION_TYPE})",
    )
    qms.add_argument(
        "--fail-rate",
        type=float,
        default=DEFAULT_FAIL_RATE,
        metavar="RATE",
        help="chance that an inspection fails, 0 to 1 (default: "
        f"{DEFAULT_FAIL_RATE:g})",
    )
    qms.add_argument(
        "--fail",
        action="append",
        default=[],
        metavar="LOT",
        help="a lot whose inspection fails whatever the rate; repeatable",
    )
    qms.add_argument(
        "--severity",
        choices=SEVERITIES,
        default=DEFAULT_SEVERITY,
        help=f"severity of failed inspections (default: {DEFAULT_SEVERITY})",
    )
    qms.add_argument(
        "--no-hold",
        action="store_true",
        help="do not ask Odoo to hold the lots of failed inspections (default: ask)",
    )
    qms.add_argument(
        "--quantity",
        type=float,
        default=DEFAULT_QUANTITY,
        metavar="QTY",
        help=f"quantity each inspection covers (default: {DEFAULT_QUANTITY})",
    )
    qms.add_argument(
        "--uom",
        default=DEFAULT_UOM,
        help=f"unit of the quantity, as named in Odoo (default: {DEFAULT_UOM})",
    )
    qms.add_argument(
        "--disposition",
        choices=DISPOSITIONS,
        default=DEFAULT_DISPOSITION,
        help=f"decision on the lots of each nonconformance (default: "
        f"{DEFAULT_DISPOSITION})",
    )
    qms.add_argument(
        "--affected-only",
        action="store_true",
        help="dispose of the nonconformance's quantity_affected only (one-lot "
        "nonconformances; default: the whole lot)",
    )
    qms.add_argument(
        "--no-receiver",
        action="store_true",
        help="only send the inspections and exit (no secret needed)",
    )
    _add_run_options(
        qms, "--dispositions", "dispositions are accepted", "nonconformance"
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


def _api_key(args, default_env=DEFAULT_KEY_ENV):
    """The API key from --key, or from the environment variable of --key-env."""
    if args.key is not None:
        return args.key
    name = args.key_env or default_env
    key = os.environ.get(name, "")
    if not key:
        raise UsageError(
            f"No API key: pass --key or set the environment variable {name}."
        )
    return key


def _cmd_send(args):
    key = _api_key(args)
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


def _verify_secrets(args, default_env=DEFAULT_SECRET_ENV):
    """The signing secrets from --secret and --secret-env (or ``default_env``)."""
    secrets = list(args.secret)
    names = list(args.secret_env)
    if not secrets and not names:
        names = [default_env]
    for name in names:
        secrets.extend(os.environ.get(name, "").split())
    if not secrets:
        raise UsageError(
            "No signing secret: pass --secret or --secret-env, or set the "
            f"environment variable {default_env}."
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


def _parse_listen(text):
    host, sep, port = text.rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    try:
        number = int(port)
    except ValueError:
        number = -1
    if not sep or not host or not 0 <= number <= 65535:
        raise UsageError("--listen is HOST:PORT, e.g. 127.0.0.1:8090.")
    return host, number


def _check_simulate_numbers(args):
    if args.count is not None and args.count < 1:
        option = _RECEIVERS[args.system].count_option
        raise UsageError(f"{option} is a whole number from 1.")
    if args.timeout is not None and not 0 < args.timeout < float("inf"):
        raise UsageError("--timeout is a number of seconds more than 0.")


class _Printer:
    """Thread-safe output lines with every secret masked."""

    def __init__(self, hidden):
        self._hidden = hidden
        self._lock = threading.Lock()

    def out(self, text):
        self._write(sys.stdout, text)

    def err(self, text):
        self._write(sys.stderr, text)

    def _write(self, stream, text):
        with self._lock:
            stream.write(_scrub(text, self._hidden) + "\n")
            stream.flush()


@dataclass(frozen=True)
class _Receiver:
    """What ``simulate mes`` and ``simulate cmms`` say about their system."""

    name: str
    unit: str
    count_option: str
    awaited: str
    trigger: str
    describe: Callable


_RECEIVERS = {
    "mes": _Receiver(
        "MES",
        "order",
        "--orders",
        "production order released",
        RELEASED,
        describe_report,
    ),
    "cmms": _Receiver(
        "CMMS",
        "job",
        "--jobs",
        "maintenance work order created",
        CREATED,
        describe_job,
    ),
    "qms": _Receiver(
        "QMS",
        "disposition",
        "--dispositions",
        "nonconformance opened",
        NONCONFORMANCE,
        describe_qms_report,
    ),
}


def _hub_client(args, key, secrets, pause):
    try:
        return Client(args.hub, key, sleep=pause)
    except ValueError as exc:
        raise UsageError(_scrub(str(exc), [key, *secrets])) from None


def _reporter(args, printer, describe):
    def on_report(report):
        if args.json:
            printer.out(json.dumps(report, ensure_ascii=False))
        else:
            printer.out(describe(report))

    return on_report


def _build_simulator(args, key, secrets, printer):
    """Return ``(client, simulator)``; a bad setting is a usage error."""
    listen = _parse_listen(args.listen)
    _check_simulate_numbers(args)
    simulator = None

    def pause(seconds):  # waits between the client's retries end on stop
        simulator.pause(seconds)

    client = _hub_client(args, key, secrets, pause)
    common = {
        "listen": listen,
        "path": args.path,
        "speed": args.speed,
        "seed": args.seed,
        "source": args.source,
        "log": printer.err,
        "on_report": _reporter(args, printer, _RECEIVERS[args.system].describe),
    }
    try:
        if args.system == "mes":
            simulator = MesSimulator(
                client,
                secrets,
                scrap_rate=args.scrap_rate,
                remaining=args.remaining,
                acknowledge=args.acknowledge,
                **common,
            )
        elif args.system == "qms":
            simulator = QmsSimulator(
                client,
                secrets or None,
                lots=args.lot,
                fail_rate=args.fail_rate,
                forced_failures=args.fail,
                severity=args.severity,
                hold=not args.no_hold,
                disposition=args.disposition,
                quantity=args.quantity,
                uom=args.uom,
                inspection_type=args.inspection_type,
                receipt=args.receipt,
                supplier=args.supplier,
                affected_only=args.affected_only,
                **common,
            )
        else:
            simulator = CmmsSimulator(
                client,
                secrets,
                parts=args.part,
                outcome=args.outcome,
                equipment_available=not args.equipment_unavailable,
                job_prefix=args.job_prefix,
                **common,
            )
    except ValueError as exc:
        client.close()
        raise UsageError(str(exc)) from None
    return client, simulator


def _wait_for_reports(simulator, args, stop_requested):
    """0 when --orders/--jobs reports are made or a signal asks to stop; 1 when no
    trigger event came within --timeout."""
    receiver = _RECEIVERS[args.system]
    while not stop_requested.is_set():
        if args.count is not None:
            if simulator.wait_completed(args.count, POLL_SECONDS):
                return 0
        else:
            stop_requested.wait(POLL_SECONDS)
        if args.timeout is not None and simulator.idle_for() >= args.timeout:
            done = simulator.counts["completed"]
            target = f" of {args.count}" if args.count is not None else ""
            sys.stderr.write(
                f"error: no {receiver.awaited} for {args.timeout:g} s ({done}{target} "
                f"{receiver.unit}(s) completed): check that the hub has an outbound "
                f"endpoint posting to {simulator.url} with this signing secret, "
                f"subscribed to {receiver.trigger}.\n"
            )
            return 1
    return 0


@contextmanager
def _on_sigterm(callback):
    """Call ``callback`` on SIGTERM meanwhile (in the main thread only)."""
    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, lambda *_: callback())
    try:
        yield
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _summary(receiver, counts):
    line = (
        f"{receiver.name} simulator stopped: {counts['completed']} "
        f"{receiver.unit}(s) completed, {counts['failed']} failed "
        f"({counts['rejected_events']} event(s) refused by the hub), "
        f"{counts['bad_signatures']} delivery(ies) with a bad signature, "
        f"{counts['duplicates']} duplicate(s)"
    )
    if "cancelled" in counts:
        line += f", {counts['cancelled']} cancellation(s)"
    if "inspections" in counts:
        line += (
            f", {counts['inspections']} inspection(s) recorded "
            f"({counts['inspections_failed']} failed), "
            f"{counts['corrective_actions']} corrective action request(s)"
        )
    return line + f", {counts['ignored']} other event(s) ignored"


def _check_qms(args):
    """--no-receiver only sends inspections: it needs lots and waits for nothing."""
    if not args.no_receiver:
        return
    if not args.lot:
        raise UsageError("--no-receiver needs at least one --lot to inspect.")
    if args.count is not None or args.timeout is not None:
        raise UsageError("--dispositions and --timeout need the receiver.")


def _record_inspections(simulator, args, client, announce, stop_requested):
    """Send the inspections of ``simulate qms``; return the exit status when the
    command ends there (``--no-receiver`` or stopped), else ``None``."""
    if args.no_receiver:
        announce(
            f"QMS simulator: {len(simulator.lots)} lot(s) to inspect (hub "
            f"{client.base_url}, speed {simulator.speed:g}x)"
        )
    simulator.record_inspections()
    if stop_requested.is_set():
        return 0
    if args.no_receiver:
        return 1 if simulator.counts["failed"] else 0
    return None


def _cmd_simulate(args):
    if args.system == "machine":
        return _cmd_simulate_machine(args)
    qms = args.system == "qms"
    if qms:
        _check_qms(args)
    receiving = not (qms and args.no_receiver)
    key = _api_key(args, DEFAULT_KEY_ENV)
    secrets = _verify_secrets(args, DEFAULT_SECRET_ENV) if receiving else []
    printer = _Printer([key, *secrets])
    client, simulator = _build_simulator(args, key, secrets, printer)
    receiver = _RECEIVERS[args.system]
    stop_requested = threading.Event()

    def halt():  # only what is safe in a signal handler
        stop_requested.set()
        if qms:  # inspections are sent in this thread: end their waits
            simulator.interrupt()

    try:
        with _on_sigterm(halt):
            try:
                if receiving:
                    simulator.start()
            except OSError as exc:
                sys.stderr.write(
                    f"error: cannot listen on {args.listen}: {exc.strerror}\n"
                )
                return 1
            try:
                announce = printer.err if args.json else printer.out
                if receiving:
                    announce(
                        f"{receiver.name} simulator listening on {simulator.url} "
                        f"(hub {client.base_url}, speed {simulator.speed:g}x)"
                    )
                if qms:
                    status = _record_inspections(
                        simulator, args, client, announce, stop_requested
                    )
                    if status is not None:
                        return status
                return _wait_for_reports(simulator, args, stop_requested)
            except KeyboardInterrupt:
                return 0
            finally:
                simulator.stop()
                printer.err(_summary(receiver, simulator.counts))
    finally:
        client.close()


def _cmd_simulate_machine(args):
    key = _api_key(args, DEFAULT_KEY_ENV)
    printer = _Printer([key])
    simulator = None

    def pause(seconds):  # waits between the client's retries end on stop
        simulator.pause(seconds)

    client = _hub_client(args, key, [], pause)
    try:
        try:
            simulator = MachineSimulator(
                client,
                args.equipment,
                downtimes=args.downtimes,
                work_center=args.work_center,
                reason_category=args.reason_category,
                reason_code=args.reason_code,
                mean_uptime=args.mean_uptime,
                mean_downtime=args.mean_downtime,
                speed=args.speed,
                seed=args.seed,
                source=args.source,
                log=printer.err,
                on_report=_reporter(args, printer, describe_downtime),
            )
        except ValueError as exc:
            raise UsageError(str(exc)) from None
        announce = printer.err if args.json else printer.out
        announce(
            f"machine simulator: {len(simulator.equipment)} machine(s) (hub "
            f"{client.base_url}, speed {simulator.speed:g}x)"
        )
        with _on_sigterm(simulator.stop):
            try:
                simulator.run()
            except KeyboardInterrupt:
                simulator.stop()
    finally:
        client.close()
    counts = simulator.counts
    printer.err(
        f"machine simulator stopped: {counts['completed']} downtime(s) completed, "
        f"{counts['sent']} event(s) accepted, {counts['rejected_events']} refused by "
        "the hub"
    )
    return 1 if counts["failed"] else 0


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
        elif args.command == "consume":
            return _cmd_consume(args)
        elif args.command == "simulate":
            return _cmd_simulate(args)
    except UsageError as exc:
        usage_parser = exc.args[1] if len(exc.args) > 1 else parser
        message = _scrub(_safe_usage_message(str(exc.args[0])), _secrets_in(argv))
        usage_parser.print_usage(sys.stderr)
        sys.stderr.write(f"{usage_parser.prog}: error: {message}\n")
        return 2
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
