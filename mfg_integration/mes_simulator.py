"""An MES simulator that plays a shift against a running hub.

:class:`MesSimulator` listens for the hub's outbound deliveries (Standard Webhooks
signed POSTs whose body is one CloudEvent, or a JSON array of CloudEvents), checks
every signature, answers at once and runs each ``production_order.released`` order
on a worker thread: for every work order it reports progress
(``work_order.progress_reported``: started, in progress, finished), books the
components (``material.consumed``) and, at the end, closes the order
(``production_order.completed``), sending each event through the
:class:`~mfg_integration.client.Client` SDK with simulated shop-floor timing,
``speed`` times faster than real time.

:func:`plan_order` computes what is reported for one release, with its timing,
without any I/O, and :func:`order_report` sums a plan up as one JSON-serialisable
report (what ``mfg-integration simulate mes --json`` prints per order).

Timestamps in the events follow the simulated shop-floor clock. It is anchored so
that the completion carries the moment it is sent and earlier events are dated back
proportionally: no timestamp is ever later than the moment its event is sent, and
with ``speed`` 1 they are real time.

A ``production_order.cancelled`` delivery stops the order it names before its next
event (or keeps it from running); other event types are acknowledged and ignored.

The receiver acknowledges a delivery (``202``) before the order runs: an order still
queued when the simulator stops is not run (the hub considers it delivered).
"""

import logging
import math
import queue
import random
import socket
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

from .cloudevents import decode_json, format_time, parse_batch, parse_event
from .errors import AuthenticationFailed, IntegrationError
from .transport import encode_json
from .webhooks import decode_webhook_secret, verify_webhook

RELEASED = "production_order.released"
CANCELLED = "production_order.cancelled"
PROGRESS = "work_order.progress_reported"
CONSUMED = "material.consumed"
COMPLETED = "production_order.completed"

DEFAULT_SOURCE = "urn:mfg-integration:simulator:mes"
DEFAULT_PATH = "/odoo/events"
DEFAULT_SPEED = 60.0
DEFAULT_SCRAP_RATE = 0.02
REMAINING_ACTIONS = ("backorder", "close")
#: the largest delivery body accepted, in bytes
MAX_BODY = 10 * 1024 * 1024
#: the duration of a work order whose release gives none, in minutes
DEFAULT_OPERATION_MINUTES = 30.0
#: units of measure counted in whole pieces (compared without case)
COUNT_UNITS = frozenset(
    {"unit", "units", "unit(s)", "pc", "pcs", "piece", "pieces", "ea", "each"}
)
SCRAP_REASONS = (
    "material_defect",
    "machine_fault",
    "setup",
    "operator_error",
    "dimension_out_of_tolerance",
    "other",
)
_PRODUCT_KEYS = ("default_code", "name")

_logger = logging.getLogger(__name__)


class SimulatorStopped(Exception):
    """Raised by :meth:`MesSimulator.pause` when the simulator stops meanwhile."""


# -- planning (pure) ------------------------------------------------------------


@dataclass
class _Operation:
    reference: str
    sequence: int
    work_center: str
    minutes: float | None


@dataclass
class _Component:
    product: dict
    value: float
    uom: str
    lot: str | None
    sequence: int | None
    source_location: str | None


@dataclass
class _Release:
    production_order: str
    product: dict
    value: float
    uom: str
    lot: str | None
    operations: list
    components: list


@dataclass
class _Entry:
    """One planned event: ``stamps`` maps timestamp fields to simulated offsets."""

    offset: float
    type: str
    data: dict
    stamps: dict = field(default_factory=dict)
    shift: bool = False


def _is_number(value):
    return isinstance(value, int | float) and not isinstance(value, bool)


def _text(value, pointer):
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"The release has no usable text at {pointer}.")
    return value


def _product(value, pointer):
    if not isinstance(value, dict):
        raise ValueError(f"The release has no product object at {pointer}.")
    _text(value.get("default_code"), pointer + "/default_code")
    return {key: value[key] for key in _PRODUCT_KEYS if isinstance(value.get(key), str)}


def _quantity(value, pointer, strictly_positive=True):
    if not isinstance(value, dict) or not _is_number(value.get("value")):
        raise ValueError(f"The release has no quantity value at {pointer}/value.")
    amount = float(value["value"])
    if not math.isfinite(amount) or amount < 0 or (strictly_positive and amount == 0):
        raise ValueError(f"The quantity at {pointer}/value must be more than 0.")
    return amount, _text(value.get("uom"), pointer + "/uom")


def _optional_text(value, pointer):
    return None if value is None else _text(value, pointer)


def _operations(value):
    if not isinstance(value, list) or not value:
        raise ValueError("The release has no work orders at /work_orders.")
    operations = []
    for index, item in enumerate(value):
        pointer = f"/work_orders/{index}"
        if not isinstance(item, dict):
            raise ValueError(f"The work order at {pointer} is not an object.")
        sequence = item.get("sequence")
        if not isinstance(sequence, int) or isinstance(sequence, bool):
            raise ValueError(f"The release has no whole number at {pointer}/sequence.")
        minutes = item.get("planned_duration_minutes")
        operations.append(
            _Operation(
                reference=_text(item.get("reference"), pointer + "/reference"),
                sequence=sequence,
                work_center=_text(item.get("work_center"), pointer + "/work_center"),
                minutes=float(minutes) if _is_number(minutes) else None,
            )
        )
    operations.sort(key=lambda operation: operation.sequence)
    return operations


def _components(value):
    if value is None:
        return []
    if not isinstance(value, list):
        raise ValueError("The components at /components are not a list.")
    components = []
    for index, item in enumerate(value):
        pointer = f"/components/{index}"
        if not isinstance(item, dict):
            raise ValueError(f"The component at {pointer} is not an object.")
        amount, uom = _quantity(item.get("quantity"), pointer + "/quantity")
        sequence = item.get("operation_sequence")
        components.append(
            _Component(
                product=_product(item.get("product"), pointer + "/product"),
                value=amount,
                uom=uom,
                lot=_optional_text(item.get("lot"), pointer + "/lot"),
                sequence=sequence if isinstance(sequence, int) else None,
                source_location=_optional_text(
                    item.get("source_location"), pointer + "/source_location"
                ),
            )
        )
    return components


def _read_release(data):
    if not isinstance(data, dict):
        raise ValueError("The release data is not a JSON object.")
    amount, uom = _quantity(data.get("quantity"), "/quantity")
    return _Release(
        production_order=_text(data.get("production_order"), "/production_order"),
        product=_product(data.get("product"), "/product"),
        value=amount,
        uom=uom,
        lot=_optional_text(data.get("lot"), "/lot"),
        operations=_operations(data.get("work_orders")),
        components=_components(data.get("components")),
    )


def check_settings(speed, scrap_rate, remaining):
    """Check the simulation settings.

    :param speed: how many times faster than real time, more than 0
    :param scrap_rate: the expected share of scrapped parts per work order, 0 to 1
    :param remaining: ``backorder`` or ``close``
    :raise ValueError: naming the setting that is out of range
    """
    if not _is_number(speed) or not math.isfinite(speed) or speed <= 0:
        raise ValueError("The speed must be a finite number more than 0.")
    if not _is_number(scrap_rate) or not 0 <= scrap_rate <= 1:
        raise ValueError("The scrap rate must be a number from 0 to 1.")
    if remaining not in REMAINING_ACTIONS:
        raise ValueError("The remaining quantity action is 'backorder' or 'close'.")


def is_count_unit(uom):
    """Whether a unit of measure counts whole pieces (``Units``, ``pcs``…)."""
    return uom.strip().lower() in COUNT_UNITS


def _amount(value, whole):
    """A quantity as sent: a whole number, or a float rounded to 3 decimals."""
    return int(round(value)) if whole else round(value, 3)


def _share(total, fraction, whole):
    """The part of a cumulative ``total`` reached at ``fraction`` (0 to 1)."""
    if fraction >= 1:
        return total
    if whole:
        return int(math.floor(total * fraction + 1e-9))
    return round(total * fraction, 3)


def _draw_scrap(started, scrap_rate, whole, rng):
    """Scrap of a work order that started ``started`` parts: a share drawn around
    ``scrap_rate`` (its mean), none at rate 0 and everything at rate 1."""
    if 0 < scrap_rate < 1:
        share = rng.betavariate(scrap_rate * 50, (1 - scrap_rate) * 50)
    else:
        share = scrap_rate
    return min(started, _amount(started * share, whole))


def _shift_of(moment):
    hour = moment.astimezone(timezone.utc).hour
    if 6 <= hour < 14:
        return "A"
    if 14 <= hour < 22:
        return "B"
    return "C"


def _quantity_of(value, uom):
    return {"value": value, "uom": uom}


@dataclass
class _Run:
    """What happens on one work order."""

    operation: _Operation
    started: float
    good: float
    scrap: float
    minutes: float
    start: float
    operator: str
    reason: str | None


def _plan_run(operation, started, whole, scrap_rate, rng, start):
    planned = operation.minutes
    minutes = DEFAULT_OPERATION_MINUTES if planned is None else max(planned, 1.0)
    minutes = round(minutes * rng.uniform(0.9, 1.2), 1)
    scrap = _draw_scrap(started, scrap_rate, whole, rng)
    operator = f"OP-{rng.randint(100, 999):04d}"
    reason = rng.choice(SCRAP_REASONS) if scrap > 0 else None
    return _Run(
        operation=operation,
        started=started,
        good=_amount(started - scrap, whole),
        scrap=scrap,
        minutes=minutes,
        start=start,
        operator=operator,
        reason=reason,
    )


def _progress_entries(run, release, whole):
    steps = max(1, min(4, int(run.minutes // 60)))
    fractions = [i / (steps + 1) for i in range(steps + 2)]
    entries = []
    for index, fraction in enumerate(fractions):
        if index == 0:
            status = "started"
        elif index == len(fractions) - 1:
            status = "finished"
        else:
            status = "in_progress"
        offset = run.start + run.minutes * 60 * fraction
        data = {
            "production_order": release.production_order,
            "work_order": run.operation.reference,
            "work_center": run.operation.work_center,
            "status": status,
            "reported_at": None,
            "quantity_good": _quantity_of(
                _share(run.good, fraction, whole), release.uom
            ),
        }
        scrap = _share(run.scrap, fraction, whole)
        if scrap > 0:
            data["quantity_scrap"] = _quantity_of(scrap, release.uom)
            data["scrap_reason"] = run.reason
        data["duration_minutes"] = round(run.minutes * fraction, 1)
        data["operator_id"] = run.operator
        data["shift"] = None
        entries.append(
            _Entry(offset, PROGRESS, data, stamps={"reported_at": offset}, shift=True)
        )
    return entries


def _bookings(component, run, release, rng):
    """The quantities booked for a component: its planned quantity scaled by the
    parts started at the consuming work order, in one or two bookings."""
    whole = is_count_unit(component.uom) and component.value.is_integer()
    total = component.value * run.started / release.value
    total = math.ceil(round(total, 6)) if whole else round(total, 3)
    split = rng.random() < 0.5
    if total <= 0:
        return []
    if split and (total >= 2 if whole else total >= 0.002):
        first = total // 2 if whole else round(total / 2, 3)
        return [first, _amount(total - first, whole)]
    return [total]


def _consumption_entries(component, run, release, rng):
    seconds = run.minutes * 60
    offsets = (run.start + min(60.0, seconds / 10), run.start + seconds / 2)
    entries = []
    for amount, offset in zip(
        _bookings(component, run, release, rng), offsets, strict=False
    ):
        data = {
            "production_order": release.production_order,
            "work_order": run.operation.reference,
            "product": dict(component.product),
            "quantity": _quantity_of(amount, component.uom),
        }
        if component.lot is not None:
            data["lot"] = component.lot
        data["consumption_type"] = "planned"
        if component.source_location is not None:
            data["source_location"] = component.source_location
        data["work_center"] = run.operation.work_center
        data["consumed_at"] = None
        data["operator_id"] = run.operator
        entries.append(_Entry(offset, CONSUMED, data, stamps={"consumed_at": offset}))
    return entries


def _completion_entry(runs, release, whole, remaining):
    last = runs[-1]
    produced = last.good
    data = {
        "production_order": release.production_order,
        "product": dict(release.product),
        "quantity_produced": _quantity_of(produced, release.uom),
        "quantity_scrapped": _quantity_of(
            _amount(sum(run.scrap for run in runs), whole), release.uom
        ),
    }
    if release.lot is not None and produced > 0:
        data["produced_lots"] = [
            {"lot": release.lot, "quantity": _quantity_of(produced, release.uom)}
        ]
    data["remaining_quantity_action"] = remaining
    data["started_at"] = None
    data["completed_at"] = None
    data["operator_id"] = last.operator
    end = last.start + last.minutes * 60
    stamps = {"started_at": runs[0].start, "completed_at": end}
    return _Entry(end, COMPLETED, data, stamps=stamps)


def plan_order(
    release_data,
    rng,
    now,
    speed,
    *,
    scrap_rate=DEFAULT_SCRAP_RATE,
    remaining="close",
):
    """Plan what the MES reports for one released production order.

    Work orders run one after the other in ``sequence`` order; the parts started on
    one are the good parts of the previous one. Each reports ``started``, one to
    four ``in_progress`` and ``finished`` with cumulative quantities and duration.
    Each component is booked once or twice at its work order (the one whose
    ``sequence`` is its ``operation_sequence``; the first one when absent or
    unknown), in total its planned quantity scaled by the parts started there
    ÷ the order quantity; the order is completed with the good quantity of the last
    work order.

    :param release_data: the ``data`` of a ``production_order.released`` event
    :param rng: a :class:`random.Random` (scrap, durations, operators, bookings)
    :param now: an aware datetime: when the order is picked up
    :param speed: how many times faster than real time the plan is sent
    :param scrap_rate: the expected share of scrapped parts per work order
    :param remaining: ``remaining_quantity_action`` of the completion
    :return: a list of ``(delay_seconds, event_type, data)`` sorted by delay, where
        ``delay_seconds`` counts from the start of the order
    :raise ValueError: when the release lacks what is needed (the message names the
        JSON pointer), a setting is out of range or ``now`` is naive
    """
    check_settings(speed, scrap_rate, remaining)
    if not isinstance(now, datetime) or now.utcoffset() is None:
        raise ValueError("now must be a timezone-aware datetime.")
    release = _read_release(release_data)
    whole = is_count_unit(release.uom) and release.value.is_integer()
    offset = rng.uniform(1.0, 5.0) * 60  # staging before the first operation
    started = _amount(release.value, whole)
    runs = []
    entries = []
    for operation in release.operations:
        if runs:
            offset += rng.uniform(2.0, 10.0) * 60  # transport and set-up
        run = _plan_run(operation, started, whole, scrap_rate, rng, offset)
        runs.append(run)
        progress = _progress_entries(run, release, whole)
        entries.append(progress[0])
        for component in release.components:
            if _consumer(component, release.operations) is operation:
                entries.extend(_consumption_entries(component, run, release, rng))
        entries.extend(progress[1:])
        offset = run.start + run.minutes * 60
        started = run.good
    entries.append(_completion_entry(runs, release, whole, remaining))
    return _finish(entries, now, speed)


def _consumer(component, operations):
    for operation in operations:
        if operation.sequence == component.sequence:
            return operation
    return operations[0]


def _finish(entries, now, speed):
    """Date the entries and turn them into ``(delay, type, data)``."""
    entries.sort(key=lambda entry: entry.offset)  # stable: ties keep their order
    total = entries[-1].offset
    origin = now - timedelta(seconds=max(0.0, total - total / speed))
    plan = []
    for entry in entries:
        for name, offset in entry.stamps.items():
            entry.data[name] = format_time(origin + timedelta(seconds=offset))
        if entry.shift:
            entry.data["shift"] = _shift_of(origin + timedelta(seconds=entry.offset))
        plan.append((entry.offset / speed, entry.type, entry.data))
    return plan


def _total(values):
    total = sum(values)
    return total if isinstance(total, int) else round(total, 3)


def order_report(plan, release_id=None):
    """Sum a plan up: what the MES reported for the order.

    :param plan: a plan made by :func:`plan_order` (and sent)
    :param release_id: the CloudEvent id of the release, if known
    :return: a JSON-serialisable dict: ``production_order``, ``release_id``,
        ``product`` (default code), ``uom``, ``work_orders`` (per work order:
        ``work_order``, ``work_center``, cumulative ``quantity_good``,
        ``quantity_scrap``, ``duration_minutes``), ``consumption`` (per product,
        lot and unit: ``product``, ``lot`` or ``None``, ``quantity``, ``uom``),
        ``quantity_produced``, ``quantity_scrapped``, ``produced_lots``
        (``[{"lot", "quantity"}]``, possibly empty), ``remaining_quantity_action``,
        ``started_at``, ``completed_at`` and ``events`` (how many were sent)
    """
    work_orders = {}
    consumption = {}
    completion = None
    for _delay, event_type, data in plan:
        if event_type == PROGRESS:
            work_orders[data["work_order"]] = {
                "work_order": data["work_order"],
                "work_center": data["work_center"],
                "quantity_good": data["quantity_good"]["value"],
                "quantity_scrap": data.get("quantity_scrap", {}).get("value", 0),
                "duration_minutes": data.get("duration_minutes", 0),
            }
        elif event_type == CONSUMED:
            key = (
                data["product"]["default_code"],
                data.get("lot"),
                data["quantity"]["uom"],
            )
            consumption.setdefault(key, []).append(data["quantity"]["value"])
        elif event_type == COMPLETED:
            completion = data
    if completion is None:
        raise ValueError("The plan has no production_order.completed event.")
    return {
        "production_order": completion["production_order"],
        "release_id": release_id,
        "product": completion["product"]["default_code"],
        "uom": completion["quantity_produced"]["uom"],
        "work_orders": list(work_orders.values()),
        "consumption": [
            {"product": product, "lot": lot, "quantity": _total(values), "uom": uom}
            for (product, lot, uom), values in consumption.items()
        ],
        "quantity_produced": completion["quantity_produced"]["value"],
        "quantity_scrapped": completion["quantity_scrapped"]["value"],
        "produced_lots": [
            {"lot": entry["lot"], "quantity": entry["quantity"]["value"]}
            for entry in completion.get("produced_lots", [])
        ],
        "remaining_quantity_action": completion["remaining_quantity_action"],
        "started_at": completion["started_at"],
        "completed_at": completion["completed_at"],
        "events": len(plan),
    }


def _number_text(value):
    if isinstance(value, int):
        return str(value)
    return f"{value:.3f}".rstrip("0").rstrip(".")


def describe_report(report):
    """One human-readable line for a report made by :func:`order_report`."""
    uom = report["uom"]
    operations = ", ".join(
        f"{wo['work_order']} {_number_text(wo['quantity_good'])} good"
        f" / {_number_text(wo['quantity_scrap'])} scrap"
        f" in {_number_text(wo['duration_minutes'])} min"
        for wo in report["work_orders"]
    )
    lots = ", ".join(lot["lot"] for lot in report["produced_lots"])
    return (
        f"{report['production_order']} completed: "
        f"{_number_text(report['quantity_produced'])} {uom} produced"
        + (f" (lot {lots})" if lots else "")
        + f", {_number_text(report['quantity_scrapped'])} {uom} scrapped; "
        f"{operations}; {len(report['consumption'])} material line(s); "
        f"{report['events']} events sent"
    )


# -- receiver -------------------------------------------------------------------


class _Server(ThreadingHTTPServer):
    daemon_threads = False
    block_on_close = True  # server_close() joins the handler threads

    def handle_error(self, request, client_address):
        pass  # a client that went away mid-request


class _Server6(_Server):
    address_family = socket.AF_INET6


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "mfg-integration-mes-simulator"
    timeout = 10  # an idle keep-alive connection is closed after this
    # Headers and body go out in two writes: without this, each answer waits for
    # the client's delayed acknowledgement (about 40 ms).
    disable_nagle_algorithm = True

    def setup(self):
        super().setup()
        self.server.simulator._track(self.connection, True)

    def finish(self):
        try:
            super().finish()
        finally:
            self.server.simulator._track(self.connection, False)

    def _answer(self, status, document, headers=None):
        body = encode_json(document)
        try:
            self.send_response(status)
            content_type = "application/json"
            if status >= 400:
                content_type = "application/problem+json"
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)
        except OSError:
            self.close_connection = True

    def _read_body(self):
        """The body, or ``None`` after answering an error."""
        if self.headers.get("Transfer-Encoding"):
            self.close_connection = True
            self._answer(411, _problem(411, "Send the body with a Content-Length."))
            return None
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if length < 0:
            self.close_connection = True
            self._answer(400, _problem(400, "The Content-Length is not valid."))
            return None
        if length > MAX_BODY:
            self.close_connection = True
            self._answer(
                413, _problem(413, f"A delivery holds at most {MAX_BODY} bytes.")
            )
            return None
        return self.rfile.read(length) if length else b""

    def do_POST(self):
        simulator = self.server.simulator
        body = self._read_body()
        if body is None:
            return
        if urlsplit(self.path).path != simulator.path:
            self._answer(404, _problem(404, "Deliveries go to " + simulator.path))
            return
        self._answer(*simulator._receive(self.headers, body))

    def _not_post(self):
        path = self.server.simulator.path
        if urlsplit(self.path).path != path:
            self._answer(404, _problem(404, "Deliveries go to " + path))
        else:
            self._answer(
                405, _problem(405, "Deliveries are POSTed."), headers={"Allow": "POST"}
            )

    do_GET = do_PUT = do_PATCH = do_DELETE = do_HEAD = _not_post

    def log_message(self, format, *args):
        pass


_TITLES = {
    400: "Malformed request",
    401: "Authentication failed",
    404: "Not found",
    405: "Method not allowed",
    411: "Length required",
    413: "Payload too large",
    503: "Service unavailable",
}


def _problem(status, detail, title=None):
    title = title or _TITLES.get(status, "Error")
    return {"title": title, "status": status, "detail": detail}


def _events_of(body):
    """The CloudEvents of a delivery body: one event, or a JSON array of them."""
    document = decode_json(body)
    if isinstance(document, list):
        items = parse_batch(document)
        return [parse_event(item, base=f"/{i}") for i, item in enumerate(items)]
    return [parse_event(document)]


def _parse_listen(listen):
    host, port = listen
    if not isinstance(port, int) or not 0 <= port <= 65535:
        raise ValueError("The listen port is a whole number from 0 to 65535.")
    return str(host), port


class MesSimulator:
    """A simulated MES: receives released orders from the hub and runs them.

    :param client: a :class:`~mfg_integration.client.Client` (or any object with
        its ``send_event``) for the hub; only the worker thread uses it
    :param secret: the ``whsec_`` signing secret of the hub's outbound endpoint, or
        a list of them during a rotation
    :param listen: ``(host, port)`` to listen on; port 0 picks a free one
    :param path: the path the hub posts to; other paths answer 404
    :param speed: how many times faster than real time orders run
    :param scrap_rate: the expected share of scrapped parts per work order
    :param seed: the seed of the simulation's :class:`random.Random` (``None``:
        unseeded)
    :param source: the CloudEvents ``source`` of the events sent
    :param remaining: ``remaining_quantity_action`` of completions
    :param clock: returns the current aware datetime (the timestamps' origin)
    :param sleep: waits a number of seconds between two events (default:
        :meth:`pause`, cut short by :meth:`stop`)
    :param log: called with one line of text per notable happening (default: the
        module's logger, level INFO)
    :param on_report: called with each completed order's report (see
        :func:`order_report`), before :meth:`wait_completed` counts it
    :raise ValueError: for a setting out of range
    :raise InvalidSecret: for a secret that is not a ``whsec_`` secret
    """

    def __init__(
        self,
        client,
        secret,
        *,
        listen=("127.0.0.1", 0),
        path=DEFAULT_PATH,
        speed=DEFAULT_SPEED,
        scrap_rate=DEFAULT_SCRAP_RATE,
        seed=None,
        source=DEFAULT_SOURCE,
        remaining="close",
        clock=None,
        sleep=None,
        log=None,
        on_report=None,
    ):
        check_settings(speed, scrap_rate, remaining)
        secrets = [secret] if isinstance(secret, str) else list(secret or [])
        if not secrets:
            raise ValueError("A webhook signing secret is needed to verify deliveries.")
        for value in secrets:
            decode_webhook_secret(value)
        if not isinstance(path, str) or not path.startswith("/"):
            raise ValueError("The path starts with '/'.")
        if not isinstance(source, str) or not source:
            raise ValueError("The CloudEvents source is a non-empty string.")
        self._client = client
        self._secrets = secrets
        self._listen = _parse_listen(listen)
        self.path = path
        self.speed = float(speed)
        self.scrap_rate = float(scrap_rate)
        self.source = source
        self.remaining = remaining
        self._rng = random.Random(seed)
        self._clock = clock or (lambda: datetime.now(timezone.utc))
        self._sleep = sleep or self.pause
        self._log = log or _logger.info
        self._on_report = on_report
        self._condition = threading.Condition()
        self._queue = queue.Queue()
        self._stopping = threading.Event()
        self._connections = set()
        self._server = None
        self._threads = []
        self._pending = 0
        self._last_activity = time.monotonic()
        self._seen_ids = set()
        self._orders = set()
        self._cancelled = set()
        self._reports = []
        self._failures = []
        self._counts = dict.fromkeys(
            (
                "deliveries",
                "bad_signatures",
                "malformed",
                "duplicates",
                "ignored",
                "cancelled",
                "completed",
                "failed",
                "rejected_events",
            ),
            0,
        )

    # -- lifecycle --------------------------------------------------------------

    def start(self):
        """Listen, then serve and run orders in background threads.

        :return: the simulator itself
        :raise OSError: when the address cannot be listened on
        """
        if self._server is not None:
            return self
        host, port = self._listen
        server_class = _Server6 if ":" in host else _Server
        self._server = server_class((host, port), _Handler)
        self._server.simulator = self
        self._stopping.clear()
        self._last_activity = time.monotonic()
        self._threads = [
            threading.Thread(
                target=self._server.serve_forever,
                kwargs={"poll_interval": 0.05},
                name="mes-simulator-receiver",
                daemon=True,
            ),
            threading.Thread(
                target=self._work, name="mes-simulator-worker", daemon=True
            ),
        ]
        for thread in self._threads:
            thread.start()
        return self

    def stop(self):
        """Stop receiving, close connections, abandon queued orders and join every
        thread; an event being sent finishes first (bounded by the client's
        timeout)."""
        if self._server is None:
            return
        self._stopping.set()
        self._server.shutdown()
        with self._condition:
            connections = list(self._connections)
        for connection in connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self._server.server_close()
        self._queue.put(None)
        for thread in self._threads:
            thread.join()
        self._threads = []
        self._server = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc_info):
        self.stop()

    def pause(self, seconds):
        """Wait ``seconds``, or less when the simulator stops.

        Hand it to the client as ``Client(..., sleep=simulator.pause)`` so that
        waits between retries end on :meth:`stop` too.

        :raise SimulatorStopped: when the simulator stops
        """
        if self._stopping.wait(max(0.0, seconds)):
            raise SimulatorStopped("The MES simulator stopped.")

    # -- state ------------------------------------------------------------------

    @property
    def url(self):
        """The URL to set as the hub's outbound endpoint (once started)."""
        if self._server is None:
            raise RuntimeError("The simulator is not started.")
        host, port = self._server.server_address[:2]
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{port}{self.path}"

    @property
    def reports(self):
        """The reports of the completed orders, oldest first (a copy)."""
        with self._condition:
            return list(self._reports)

    @property
    def failures(self):
        """The orders that could not be run: ``production_order``, ``event_type``
        (``None`` when the release itself was unusable), ``status``, ``detail``,
        ``errors`` (JSON pointers), ``correlation_id``."""
        with self._condition:
            return list(self._failures)

    @property
    def counts(self):
        """Counters: ``deliveries`` (accepted requests), ``bad_signatures``,
        ``malformed``, ``duplicates``, ``ignored`` (other event types),
        ``cancelled`` (cancellations received), ``completed``, ``failed`` (orders)
        and ``rejected_events``."""
        with self._condition:
            return dict(self._counts)

    def wait_completed(self, count, timeout=None):
        """Wait until ``count`` orders were completed.

        :return: whether they were, within ``timeout`` seconds (``None``: no limit)
        """
        with self._condition:
            return self._condition.wait_for(
                lambda: self._counts["completed"] >= count, timeout
            )

    def wait_idle(self, timeout=None):
        """Wait until every received event was handled (no order running or queued).

        :return: whether it happened within ``timeout`` seconds
        """
        with self._condition:
            return self._condition.wait_for(lambda: self._pending == 0, timeout)

    def idle_for(self):
        """Seconds since the last release arrived or the last event was handled;
        0 while events are queued or an order runs."""
        with self._condition:
            if self._pending:
                return 0.0
            return time.monotonic() - self._last_activity

    # -- receiving (HTTP threads) -----------------------------------------------

    def _track(self, connection, is_open):
        with self._condition:
            if is_open:
                self._connections.add(connection)
            else:
                self._connections.discard(connection)
        if is_open and self._stopping.is_set():
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def _count(self, name, amount=1):
        with self._condition:
            self._counts[name] += amount

    def _receive(self, headers, body):
        """Verify and queue one delivery; return ``(status, document)``."""
        if self._stopping.is_set():
            return 503, _problem(503, "The MES simulator is stopping.")
        try:
            verify_webhook(self._secrets, headers, body)
        except AuthenticationFailed as exc:
            self._count("bad_signatures")
            self._log(f"refused a delivery (401): {exc.detail}")
            return 401, _problem(401, exc.detail)
        try:
            events = _events_of(body)
        except IntegrationError as exc:
            self._count("malformed")
            self._log(f"refused a signed delivery ({exc.status}): {exc.detail}")
            document = _problem(exc.status, exc.detail, exc.title)
            if exc.errors:
                document["errors"] = exc.errors
            return exc.status, document
        with self._condition:
            self._counts["deliveries"] += 1
            self._pending += len(events)
            if any(event.type == RELEASED for event in events):
                self._last_activity = time.monotonic()
            # Seen at once, so that a running order stops before its next event.
            self._cancelled.update(
                event.data.get("production_order")
                for event in events
                if event.type == CANCELLED
                and isinstance(event.data.get("production_order"), str)
            )
        for event in events:
            self._queue.put(event)
        return 202, {"status": "received", "events": len(events)}

    # -- running (worker thread) ------------------------------------------------

    def _work(self):
        while True:
            event = self._queue.get()
            if event is None:
                return
            try:
                if not self._stopping.is_set():
                    self._handle(event)
            except SimulatorStopped:
                pass
            except Exception:  # keep the simulator alive; say what happened
                _logger.exception("The MES simulator failed on event %s", event.id)
                self._log(f"unexpected error on event {event.id}: see the log")
                self._count("failed")
            finally:
                with self._condition:
                    self._pending -= 1
                    self._last_activity = time.monotonic()
                    self._condition.notify_all()

    def _handle(self, event):
        if event.id in self._seen_ids:
            self._count("duplicates")
            self._log(f"ignored a repeated delivery of event {event.id}")
            return
        self._seen_ids.add(event.id)
        if event.type == CANCELLED:
            self._count("cancelled")
            order = event.data.get("production_order")
            self._log(f"{order}: cancelled by the hub; nothing more is reported on it")
            return
        if event.type != RELEASED:
            self._count("ignored")
            self._log(f"ignored event {event.id} of type {event.type}")
            return
        order = event.data.get("production_order")
        if not isinstance(order, str) or not order:
            self._fail(None, None, ValueError("The release has no production_order."))
            return
        if order in self._orders:
            self._count("duplicates")
            self._log(f"{order}: already run; ignored the release {event.id}")
            return
        self._orders.add(order)
        if self._is_cancelled(order):
            self._log(f"{order}: cancelled before it ran; ignored the release")
            return
        self._run(event, order)

    def _fail(self, order, event_type, error):
        failure = {
            "production_order": order,
            "event_type": event_type,
            # only an answer of the hub has a status (not a network failure)
            "status": getattr(error, "status", None)
            if getattr(error, "problem", None) is not None
            else None,
            "detail": getattr(error, "detail", str(error)),
            "errors": list(getattr(error, "errors", [])),
            "correlation_id": getattr(error, "correlation_id", None),
        }
        with self._condition:
            self._failures.append(failure)
            self._counts["failed"] += 1
            if event_type is not None:
                self._counts["rejected_events"] += 1
        if event_type is None:
            line = f"{order}: cannot run the order: {failure['detail']}"
        else:
            status = f"HTTP {failure['status']}" if failure["status"] else "no answer"
            line = (
                f"{order}: the hub refused {event_type} ({status}): {failure['detail']}"
            )
        for entry in failure["errors"]:
            line += f"\n  {entry.get('pointer') or '/'}: {entry.get('message', '')}"
        self._log(line + "\n  going on with the next order")

    def _run(self, event, order):
        try:
            plan = plan_order(
                event.data,
                self._rng,
                self._clock(),
                self.speed,
                scrap_rate=self.scrap_rate,
                remaining=self.remaining,
            )
        except ValueError as exc:
            self._fail(order, None, exc)
            return
        self._log(f"{order}: running {len(plan)} events (release {event.id})")
        try:
            if not self._play(plan, order):
                return
        except SimulatorStopped:
            self._log(f"{order}: interrupted, the simulator stops")
            return
        report = order_report(plan, release_id=event.id)
        if self._on_report is not None:
            self._on_report(report)
        with self._condition:
            self._reports.append(report)
            self._counts["completed"] += 1
            self._condition.notify_all()

    def _play(self, plan, order):
        """Send the plan's events on time; return whether all of them were sent.

        :raise SimulatorStopped: when the simulator stops meanwhile
        """
        correlation_id = _correlation_id(order)
        began = time.monotonic()
        for delay, event_type, data in plan:
            wait = began + delay - time.monotonic()
            if wait > 0:
                self._sleep(wait)
            if self._stopping.is_set():
                raise SimulatorStopped("The MES simulator stopped.")
            if self._is_cancelled(order):
                self._log(f"{order}: stopped, the order was cancelled")
                return False
            try:
                self._client.send_event(
                    event_type,
                    data,
                    source=self.source,
                    subject=order,
                    time=_time_of(data),
                    correlation_id=correlation_id,
                )
            except IntegrationError as error:
                self._fail(order, event_type, error)
                return False
        return True

    def _is_cancelled(self, order):
        with self._condition:
            return order in self._cancelled


def _time_of(data):
    for name in ("reported_at", "consumed_at", "completed_at"):
        if data.get(name):
            return data[name]
    return None


def _correlation_id(order):
    """``mes:<order>`` with only the characters a correlation id may hold."""
    allowed = set(
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._:/+=@-"
    )
    cleaned = "".join(char if char in allowed else "-" for char in str(order))
    return ("mes:" + cleaned)[:128]
