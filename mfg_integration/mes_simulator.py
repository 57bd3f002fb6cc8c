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

import math
from dataclasses import dataclass

from .cloudevents import format_time

# MAX_BODY and SimulatorStopped moved to .simulation; still importable from here.
from .simulation import (  # noqa: F401
    DEFAULT_SPEED,
    MAX_BODY,
    Entry,
    SimulatorStopped,
    WebhookSimulator,
    check_now,
    check_speed,
    correlation_id,
    date_entries,
)
from .simulation import is_number as _is_number

RELEASED = "production_order.released"
CANCELLED = "production_order.cancelled"
PROGRESS = "work_order.progress_reported"
CONSUMED = "material.consumed"
COMPLETED = "production_order.completed"
ACKNOWLEDGED = "production_order.release_acknowledged"
#: how the simulator answers a release: not at all (no release gate in Odoo),
#: accepting it (routing confirmed) before running the order, or refusing it
ACKNOWLEDGE_MODES = ("no", "accept", "refuse")

DEFAULT_SOURCE = "urn:mfg-integration:simulator:mes"
DEFAULT_PATH = "/odoo/events"
DEFAULT_SCRAP_RATE = 0.02
REMAINING_ACTIONS = ("backorder", "close")
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
    check_speed(speed)
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
            Entry(offset, PROGRESS, data, stamps={"reported_at": offset}, shift=True)
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
        entries.append(Entry(offset, CONSUMED, data, stamps={"consumed_at": offset}))
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
    return Entry(end, COMPLETED, data, stamps=stamps)


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
    check_now(now)
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
    return date_entries(entries, now, speed)


def _consumer(component, operations):
    for operation in operations:
        if operation.sequence == component.sequence:
            return operation
    return operations[0]


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


class MesSimulator(WebhookSimulator):
    """A simulated MES: receives released orders from the hub and runs them.

    :param client: a :class:`~mfg_integration.client.Client` (or any object with
        its ``send_event``) for the hub; only the worker thread uses it
    :param secret: the ``whsec_`` signing secret of the hub's outbound endpoint, or
        a list of them during a rotation
    :param scrap_rate: the expected share of scrapped parts per work order
    :param remaining: ``remaining_quantity_action`` of completions
    :param acknowledge: ``no`` (default), ``accept`` or ``refuse``: whether each
        release is first answered with ``production_order.release_acknowledged``
        (Odoo's release gate waits for it); a refused order is not run
    :param options: ``listen`` (default ``("127.0.0.1", 0)``), ``path`` (default
        :data:`DEFAULT_PATH`), ``speed`` (default :data:`DEFAULT_SPEED`), ``seed``,
        ``source`` (default :data:`DEFAULT_SOURCE`), ``clock``, ``sleep``, ``log``
        and ``on_report`` (called with each completed order's report, see
        :func:`order_report`): see
        :class:`~mfg_integration.simulation.WebhookSimulator`
    :raise ValueError: for a setting out of range
    :raise InvalidSecret: for a secret that is not a ``whsec_`` secret

    It runs with :meth:`start` and :meth:`stop` (or ``with``) and has :attr:`url`,
    :meth:`pause`, :meth:`wait_completed`, :meth:`wait_idle`, :meth:`idle_for`,
    :attr:`reports` (the reports of the completed orders, oldest first),
    :attr:`failures` (the orders that could not be run: ``production_order``,
    ``event_type`` (``None`` when the release itself was unusable), ``status``,
    ``detail``, ``errors`` (JSON pointers), ``correlation_id``) and :attr:`counts`:
    ``deliveries`` (accepted requests), ``bad_signatures``, ``malformed``,
    ``duplicates``, ``ignored`` (other event types), ``cancelled`` (cancellations
    received), ``completed``, ``failed`` (orders) and ``rejected_events``.
    """

    system = "MES"
    unit = "order"
    reference_key = "production_order"
    time_fields = ("reported_at", "consumed_at", "completed_at")
    trigger = RELEASED
    trigger_name = "release"
    counters = (*WebhookSimulator.counters, "cancelled")
    default_path = DEFAULT_PATH
    default_source = DEFAULT_SOURCE

    def __init__(
        self,
        client,
        secret,
        *,
        scrap_rate=DEFAULT_SCRAP_RATE,
        remaining="close",
        acknowledge="no",
        **options,
    ):
        check_settings(options.get("speed", DEFAULT_SPEED), scrap_rate, remaining)
        if acknowledge not in ACKNOWLEDGE_MODES:
            raise ValueError(
                f"acknowledge is one of {', '.join(ACKNOWLEDGE_MODES)}, not "
                f"{acknowledge!r}."
            )
        super().__init__(client, secret, **options)
        self.scrap_rate = float(scrap_rate)
        self.remaining = remaining
        self.acknowledge = acknowledge
        self._cancelled = set()

    def _run(self, event, reference):
        if self.acknowledge == "no" or self._acknowledge(event, reference):
            super()._run(event, reference)

    def _acknowledge(self, event, reference):
        """Answer a release as an MES behind Odoo's release gate: accepted, with the
        work orders whose routing it confirms, or refused with a reason; return
        whether the order runs."""
        accepted = self.acknowledge == "accept"
        data = {
            "production_order": reference,
            "accepted": accepted,
            "acknowledged_at": format_time(self._clock()),
            "acknowledged_by": "MES simulator",
        }
        if accepted:
            references = [
                work_order["reference"]
                for work_order in event.data.get("work_orders") or ()
                if isinstance(work_order, dict)
                and isinstance(work_order.get("reference"), str)
            ]
            if references:
                data["routing_confirmed"] = references
        else:
            data["reason"] = "Refused by the MES simulator (acknowledge: refuse)."
        sent = self._play(
            [(0.0, ACKNOWLEDGED, data)],
            reference,
            subject=reference,
            correlation_id=correlation_id(self.system.lower(), reference),
        )
        self._log(
            f"{reference}: release {'accepted' if accepted else 'refused'}"
            + ("" if sent else " (the hub refused the answer)")
        )
        return accepted and sent

    def _noted(self, events):
        # Seen at once, so that a running order stops before its next event.
        self._cancelled.update(
            event.data.get("production_order")
            for event in events
            if event.type == CANCELLED
            and isinstance(event.data, dict)
            and isinstance(event.data.get("production_order"), str)
        )

    def _handle_other(self, event):
        if event.type != CANCELLED:
            return False
        self._count("cancelled")
        order = event.data.get("production_order")
        self._log(f"{order}: cancelled by the hub; nothing more is reported on it")
        return True

    def _is_cancelled(self, order):
        with self._condition:
            return order in self._cancelled

    def _may_run(self, order):
        if self._is_cancelled(order):
            self._log(f"{order}: cancelled before it ran; ignored the release")
            return False
        return True

    def _interrupted(self, order):
        if self._is_cancelled(order):
            self._log(f"{order}: stopped, the order was cancelled")
            return True
        return False

    def _plan(self, event):
        return plan_order(
            event.data,
            self._rng,
            self._clock(),
            self.speed,
            scrap_rate=self.scrap_rate,
            remaining=self.remaining,
        )

    def _report(self, plan, event):
        return order_report(plan, release_id=event.id)
