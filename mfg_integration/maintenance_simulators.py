"""Simulators of the maintenance flows: a CMMS and a machine (or its IoT gateway).

:class:`CmmsSimulator` receives the hub's signed deliveries of
``maintenance.work_order_created`` (see :class:`~mfg_integration.simulation.\
WebhookSimulator`: 401 for a bad signature, each event id and each maintenance
request run once) and plays each job: after a response time that depends on the
request's priority, a technician books the configured spare parts
(``spare_part.consumed``) and the job is closed
(``maintenance.work_order_completed``) with its outcome, labour, technicians and
failure, cause and remedy codes. The job is a work order of the CMMS numbered
``CMMS-WO-<n>``; every event quotes the Odoo ``maintenance_request`` and carries
the equipment of the request. :func:`plan_job` computes one job without any I/O.

:class:`MachineSimulator` raises and clears downtime: for each machine,
``downtimes`` cycles of running (a random uptime around ``mean_uptime`` minutes),
``machine.downtime_started``, a random stop around ``mean_downtime`` minutes and
``machine.downtime_ended`` with the same ``downtime_id``, ``started_at`` repeated
and ``duration_seconds`` equal to ``ended_at`` - ``started_at``. Machines run side
by side. :func:`plan_downtimes` computes the whole schedule without any I/O.

Both send through the :class:`~mfg_integration.client.Client` SDK at ``speed``
times real time; timestamps follow the simulated clock, anchored so that no event
is dated later than the moment it is sent.
"""

import math
import re
import time
from dataclasses import dataclass, fields
from datetime import datetime

from .simulation import (
    Entry,
    EventPlayer,
    SimulatorStopped,
    WebhookSimulator,
    check_now,
    check_speed,
    correlation_id,
    date_entries,
    is_number,
)

CREATED = "maintenance.work_order_created"
COMPLETED = "maintenance.work_order_completed"
SPARE_PART = "spare_part.consumed"
DOWNTIME_STARTED = "machine.downtime_started"
DOWNTIME_ENDED = "machine.downtime_ended"

CMMS_SOURCE = "urn:mfg-integration:simulator:cmms"
CMMS_PATH = "/cmms/events"
MACHINE_SOURCE = "urn:mfg-integration:simulator:machine"
#: CMMS work orders are numbered ``<prefix><n>`` from 1; by default the prefix is
#: ``CMMS-WO-<start time as YYMMDDHHMMSS>-``, new for each simulator, since the hub
#: binds a CMMS work order to one maintenance request for good
JOB_PREFIX = "CMMS-WO-"
#: ``outcome`` of maintenance.work_order_completed (its schema's enum)
OUTCOMES = ("repaired", "temporary_fix", "serviced", "no_fault_found", "not_repairable")
DEFAULT_OUTCOME = "repaired"
#: ``reason_category`` of the downtime events (their schemas' enum)
REASON_CATEGORIES = (
    "breakdown",
    "changeover",
    "planned_maintenance",
    "material_shortage",
    "quality_hold",
    "no_operator",
    "other",
)
DEFAULT_REASON_CATEGORY = "breakdown"
DETECTIONS = ("automatic", "manual")
#: mean running time between two downtimes, in minutes
DEFAULT_MEAN_UPTIME = 120.0
#: mean length of a downtime, in minutes
DEFAULT_MEAN_DOWNTIME = 15.0
#: the unit of a spare part given without one
DEFAULT_UOM = "Units"

#: the schemas' ``code`` (equipment, work center, reason code)
_CODE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_./-]{0,63}")
#: the schemas' references and other trimmed texts
_TRIMMED = re.compile(r"\S(?:.*\S)?")
#: minutes from the request to the start of the job, by priority
_RESPONSE_MINUTES = {
    "very_high": (2.0, 10.0),
    "high": (5.0, 20.0),
    "normal": (10.0, 45.0),
    "low": (15.0, 60.0),
}
#: failure, cause and remedy codes with what the technician writes on a repair
_FAULTS = (
    ("LEAK", "HOSE-WEAR", "REPLACE", "Worn hydraulic hose replaced, pressure test OK."),
    (
        "OVERHEAT",
        "FILTER-CLOGGED",
        "CLEAN",
        "Clogged cooling filter cleaned, temperature back to normal.",
    ),
    ("NOISE", "BEARING-WEAR", "REPLACE", "Worn bearing replaced, vibration in limits."),
    ("NO-START", "SENSOR-FAULT", "ADJUST", "Proximity sensor realigned, cycle runs."),
    ("TRIP", "LOOSE-CONNECTION", "TIGHTEN", "Loose terminal tightened, insulation OK."),
)
_SERVICE_NOTE = "Preventive service done: lubrication, filters, safety checks."
_COMPLETED_EQUIPMENT = ("code", "serial_no", "name")
_PART_EQUIPMENT = ("code", "serial_no")


# -- the CMMS: planning (pure) --------------------------------------------------


def parse_part(text):
    """Read a spare part given as ``CODE=QTY[:UOM][@LOT]``.

    :param text: e.g. ``SP-HOSE-DN12-1000=1``, ``SP-OIL-ISO68=4.5:L@OIL-24-1187``
    :return: ``{"product": {"default_code"}, "quantity": {"value", "uom"}}`` and
        ``"lot"`` when given; the unit defaults to :data:`DEFAULT_UOM`
    :raise ValueError: when a part is missing or the quantity is not more than 0
    """
    code, sep, rest = str(text).partition("=")
    rest, at, lot = rest.partition("@")
    amount, colon, uom = rest.partition(":")
    if not sep or not _TRIMMED.fullmatch(code) or len(code) > 64:
        raise ValueError(f"A spare part is CODE=QTY[:UOM][@LOT], not {text!r}.")
    try:
        value = float(amount)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"The quantity of spare part {code} must be more than 0.")
    uom = uom if colon else DEFAULT_UOM
    if not _TRIMMED.fullmatch(uom) or len(uom) > 32:
        raise ValueError(f"The unit of spare part {code} is not a usable unit name.")
    part = {
        "product": {"default_code": code},
        "quantity": {"value": int(value) if value.is_integer() else value, "uom": uom},
    }
    if at:
        if not _TRIMMED.fullmatch(lot) or len(lot) > 64:
            raise ValueError(f"The lot of spare part {code} is not a usable lot name.")
        part["lot"] = lot
    return part


def check_job_settings(outcome, equipment_available):
    """Check the CMMS settings.

    :raise ValueError: for an outcome that is not one of :data:`OUTCOMES` or an
        ``equipment_available`` that is not a bool
    """
    if outcome not in OUTCOMES:
        raise ValueError("The outcome is one of " + ", ".join(OUTCOMES) + ".")
    if not isinstance(equipment_available, bool):
        raise ValueError("equipment_available is True or False.")


def _read_request(data):
    """``(maintenance_request, equipment, priority, planned hours or None)``."""
    if not isinstance(data, dict):
        raise ValueError("The work order data is not a JSON object.")
    request = data.get("maintenance_request")
    if not isinstance(request, str) or not _TRIMMED.fullmatch(request):
        raise ValueError("The work order has no usable text at /maintenance_request.")
    equipment = data.get("equipment")
    if not isinstance(equipment, dict) or not isinstance(equipment.get("code"), str):
        raise ValueError("The work order has no equipment code at /equipment/code.")
    hours = data.get("planned_duration_hours")
    if not is_number(hours) or not math.isfinite(hours) or hours <= 0:
        hours = None
    priority = data.get("priority")
    if priority not in _RESPONSE_MINUTES:
        priority = "normal"
    return request, equipment, priority, hours


def _equipment(equipment, keys):
    return {key: equipment[key] for key in keys if isinstance(equipment.get(key), str)}


def _closing(outcome, fault, equipment_available):
    """The codes and notes of a completion."""
    failure, cause, remedy, repair_note = fault
    if outcome == "serviced":
        codes, notes = {}, _SERVICE_NOTE
    elif outcome == "repaired":
        codes = {"failure_code": failure, "cause_code": cause, "remedy_code": remedy}
        notes = repair_note
    elif outcome == "temporary_fix":
        codes = {"failure_code": failure, "cause_code": cause, "remedy_code": "TEMP"}
        notes = f"Temporary fix for {failure} ({cause}); a follow-up job is needed."
    elif outcome == "no_fault_found":
        codes = {"failure_code": failure}
        notes = f"No fault found for the reported {failure}; test run under load OK."
    else:
        codes = {"failure_code": failure, "cause_code": cause}
        notes = f"Not repairable on site ({cause}); replacement must be ordered."
    if not equipment_available:
        notes += " The equipment is not released to production."
    return codes, notes


def plan_job(
    created_data,
    rng,
    now,
    speed,
    *,
    job_id,
    parts=(),
    outcome=DEFAULT_OUTCOME,
    equipment_available=True,
):
    """Plan what the CMMS reports for one ``maintenance.work_order_created``.

    The job starts after a response time drawn by priority (``very_high`` 2-10
    minutes … ``low`` 15-60), lasts its ``planned_duration_hours`` (0.8 to 1.25
    times) or 0.5 to 2.5 hours, by one or two technicians; the parts are booked
    one after the other in the first 60 % of the job and the job is closed at its
    end. ``scheduled_start`` is not waited for.

    :param created_data: the ``data`` of a ``maintenance.work_order_created`` event
    :param rng: a :class:`random.Random` (times, technicians, fault codes)
    :param now: an aware datetime: when the request is picked up
    :param speed: how many times faster than real time the plan is sent
    :param job_id: the CMMS work order id, e.g. ``CMMS-WO-1``
    :param parts: the spare parts booked, as :func:`parse_part` returns them
    :param outcome: the ``outcome`` of the completion, one of :data:`OUTCOMES`
    :param equipment_available: ``equipment_available`` of the completion
    :return: a list of ``(delay_seconds, event_type, data)`` sorted by delay, where
        ``delay_seconds`` counts from the pick-up: one ``spare_part.consumed`` per
        part, then ``maintenance.work_order_completed``
    :raise ValueError: when the request lacks what is needed (the message names the
        JSON pointer), a setting is out of range or ``now`` is naive
    """
    check_speed(speed)
    check_now(now)
    check_job_settings(outcome, equipment_available)
    if not isinstance(job_id, str) or not _TRIMMED.fullmatch(job_id):
        raise ValueError("The CMMS work order id is a non-empty text.")
    request, equipment, priority, hours = _read_request(created_data)
    start = rng.uniform(*_RESPONSE_MINUTES[priority]) * 60
    hours = rng.uniform(0.5, 2.5) if hours is None else hours * rng.uniform(0.8, 1.25)
    seconds = max(5, round(hours * 60)) * 60.0
    technicians = [
        f"MT-{number:04d}"
        for number in sorted(rng.sample(range(1, 41), 2 if rng.random() < 0.4 else 1))
    ]
    fault = rng.choice(_FAULTS)
    entries = []
    booked = sorted(rng.uniform(0.1, 0.6) for _part in parts)
    for part, share in zip(parts, booked, strict=True):
        offset = start + seconds * share
        data = {
            "cmms_work_order": job_id,
            "maintenance_request": request,
            "equipment": _equipment(equipment, _PART_EQUIPMENT),
            "product": dict(part["product"]),
            "quantity": dict(part["quantity"]),
        }
        if part.get("lot"):
            data["lot"] = part["lot"]
        data["consumed_at"] = None
        data["technician"] = rng.choice(technicians)
        entries.append(Entry(offset, SPARE_PART, data, {"consumed_at": offset}))
    codes, notes = _closing(outcome, fault, equipment_available)
    end = start + seconds
    completion = {
        "cmms_work_order": job_id,
        "maintenance_request": request,
        "equipment": _equipment(equipment, _COMPLETED_EQUIPMENT),
        "outcome": outcome,
        "equipment_available": equipment_available,
        "started_at": None,
        "completed_at": None,
        "labour_hours": round(seconds / 3600 * len(technicians), 2),
        "technicians": technicians,
        **codes,
        "notes": notes,
    }
    stamps = {"started_at": start, "completed_at": end}
    entries.append(Entry(end, COMPLETED, completion, stamps))
    return date_entries(entries, now, speed)


def job_report(plan, created_id=None):
    """Sum a job's plan up: what the CMMS reported.

    :param plan: a plan made by :func:`plan_job` (and sent)
    :param created_id: the CloudEvent id of the ``maintenance.work_order_created``
    :return: a JSON-serialisable dict: ``cmms_work_order``, ``maintenance_request``,
        ``created_id``, ``equipment`` (code), ``outcome``, ``equipment_available``,
        ``started_at``, ``completed_at``, ``labour_hours``, ``technicians``,
        ``spare_parts`` (``product``, ``quantity``, ``uom``, ``lot`` or ``None``) and
        ``events``: every event sent, as ``{"type", "data"}``
    """
    completion = None
    parts = []
    for _delay, event_type, data in plan:
        if event_type == SPARE_PART:
            parts.append(
                {
                    "product": data["product"]["default_code"],
                    "quantity": data["quantity"]["value"],
                    "uom": data["quantity"]["uom"],
                    "lot": data.get("lot"),
                }
            )
        elif event_type == COMPLETED:
            completion = data
    if completion is None:
        raise ValueError("The plan has no maintenance.work_order_completed event.")
    report = {"created_id": created_id}
    for name in (
        "cmms_work_order",
        "maintenance_request",
        "outcome",
        "equipment_available",
        "started_at",
        "completed_at",
        "labour_hours",
        "technicians",
    ):
        report[name] = completion.get(name)
    report["equipment"] = completion["equipment"]["code"]
    report["spare_parts"] = parts
    report["events"] = [{"type": kind, "data": data} for _d, kind, data in plan]
    return report


def describe_job(report):
    """One human-readable line for a report made by :func:`job_report`."""
    available = "available" if report["equipment_available"] else "not available"
    return (
        f"{report['cmms_work_order']} for {report['maintenance_request']} on "
        f"{report['equipment']} completed: {report['outcome']}, equipment "
        f"{available}; {len(report['spare_parts'])} spare part line(s); "
        f"{report['labour_hours']:g} labour hour(s) by "
        f"{', '.join(report['technicians'])}; {len(report['events'])} events sent"
    )


# -- the CMMS: receiving and running --------------------------------------------


class CmmsSimulator(WebhookSimulator):
    """A simulated CMMS: receives maintenance work orders from the hub and does them.

    :param client: a :class:`~mfg_integration.client.Client` (or any object with
        its ``send_event``) for the hub; only the worker thread uses it
    :param secret: the ``whsec_`` signing secret of the hub's outbound endpoint, or
        a list of them during a rotation
    :param parts: the spare parts booked on every job: ``CODE=QTY[:UOM][@LOT]``
        texts or what :func:`parse_part` returns
    :param outcome: the ``outcome`` of every job, one of :data:`OUTCOMES`
    :param equipment_available: ``equipment_available`` of every job
    :param job_prefix: what the CMMS work order numbers start with (``<prefix>1``,
        ``<prefix>2``…; default: ``CMMS-WO-<start time as YYMMDDHHMMSS>-``)
    :param options: ``listen`` (default ``("127.0.0.1", 0)``), ``path`` (default
        :data:`CMMS_PATH`), ``speed`` (default :data:`DEFAULT_SPEED`), ``seed``,
        ``source`` (default :data:`CMMS_SOURCE`), ``clock``, ``sleep``, ``log``
        and ``on_report`` (called with each completed job's report, see
        :func:`job_report`): see :class:`~mfg_integration.simulation.WebhookSimulator`
    :raise ValueError: for a setting out of range
    :raise InvalidSecret: for a secret that is not a ``whsec_`` secret

    It runs with :meth:`start` and :meth:`stop` (or ``with``) and has :attr:`url`,
    :meth:`wait_completed`, :meth:`wait_idle`, :meth:`idle_for`, :attr:`reports`
    (the completed jobs), :attr:`failures` (keyed by ``maintenance_request``) and
    :attr:`counts`: ``deliveries``, ``bad_signatures``, ``malformed``,
    ``duplicates``, ``ignored`` (other event types), ``completed``, ``failed``
    (jobs) and ``rejected_events``.
    """

    system = "CMMS"
    unit = "job"
    reference_key = "maintenance_request"
    time_fields = ("consumed_at", "completed_at")
    trigger = CREATED
    trigger_name = "work order"
    default_path = CMMS_PATH
    default_source = CMMS_SOURCE

    def __init__(
        self,
        client,
        secret,
        *,
        parts=(),
        outcome=DEFAULT_OUTCOME,
        equipment_available=True,
        job_prefix=None,
        **options,
    ):
        check_job_settings(outcome, equipment_available)
        super().__init__(client, secret, **options)
        if job_prefix is None:
            job_prefix = f"{JOB_PREFIX}{self._clock():%y%m%d%H%M%S}-"
        if not isinstance(job_prefix, str) or not re.fullmatch(r"\S{1,48}", job_prefix):
            raise ValueError("The job prefix is 1 to 48 characters without spaces.")
        self.job_prefix = job_prefix
        self.parts = [
            parse_part(part) if isinstance(part, str) else part for part in parts
        ]
        self.outcome = outcome
        self.equipment_available = equipment_available
        self._next_job = 1

    def _plan(self, event):
        plan = plan_job(
            event.data,
            self._rng,
            self._clock(),
            self.speed,
            job_id=f"{self.job_prefix}{self._next_job}",
            parts=self.parts,
            outcome=self.outcome,
            equipment_available=self.equipment_available,
        )
        self._next_job += 1
        return plan

    def _report(self, plan, event):
        return job_report(plan, created_id=event.id)


# -- the machine: planning (pure) -----------------------------------------------


def check_equipment(equipment):
    """The equipment codes of ``equipment`` (a code or a list of them), as a list.

    :raise ValueError: for none, one that is not a code or one given twice
    """
    codes = [equipment] if isinstance(equipment, str) else list(equipment)
    if not codes:
        raise ValueError("At least one equipment reference is needed.")
    for code in codes:
        _check_code(code, "equipment code")
    if len(set(codes)) != len(codes):
        raise ValueError("An equipment reference is given twice.")
    return codes


def _check_code(value, what):
    if not isinstance(value, str) or not _CODE.fullmatch(value):
        raise ValueError(
            f"The {what} {value!r} is not a code: letters, digits, '_', '.', '/', "
            "'-', starting with a letter or digit, at most 64 characters."
        )


@dataclass(frozen=True)
class DowntimeSettings:
    """The settings of a downtime schedule, checked when made.

    :param downtimes: the number of stop/start cycles of each machine, from 1
    :param work_center: the ``work_center`` code sent with each start
    :param reason_category: the ``reason_category`` of every downtime, one of
        :data:`REASON_CATEGORIES`
    :param reason_code: the ``reason_code`` of every downtime, if any
    :param mean_uptime: mean running time before a stop, in minutes, 0 or more
    :param mean_downtime: mean length of a stop, in minutes, more than 0
    :param detection: ``automatic`` or ``manual``
    :raise ValueError: naming the setting that is out of range
    """

    downtimes: int = 1
    work_center: str | None = None
    reason_category: str = DEFAULT_REASON_CATEGORY
    reason_code: str | None = None
    mean_uptime: float = DEFAULT_MEAN_UPTIME
    mean_downtime: float = DEFAULT_MEAN_DOWNTIME
    detection: str = "automatic"

    def __post_init__(self):
        downtimes = self.downtimes
        if isinstance(downtimes, bool) or not isinstance(downtimes, int):
            raise ValueError("The number of downtimes is a whole number from 1.")
        if downtimes < 1:
            raise ValueError("The number of downtimes is a whole number from 1.")
        if self.work_center is not None:
            _check_code(self.work_center, "work center code")
        if self.reason_category not in REASON_CATEGORIES:
            raise ValueError(
                "The reason category is one of " + ", ".join(REASON_CATEGORIES) + "."
            )
        if self.reason_code is not None:
            _check_code(self.reason_code, "reason code")
        if not is_number(self.mean_uptime) or not 0 <= self.mean_uptime < math.inf:
            raise ValueError("The mean uptime is a number of minutes, 0 or more.")
        if not is_number(self.mean_downtime) or not 0 < self.mean_downtime < math.inf:
            raise ValueError("The mean downtime is a number of minutes more than 0.")
        if self.detection not in DETECTIONS:
            raise ValueError("The detection is 'automatic' or 'manual'.")


def _draw_seconds(rng, mean_minutes, least):
    """A duration drawn from an exponential law of mean ``mean_minutes``, in whole
    seconds, at least ``least``."""
    if mean_minutes <= 0:
        return float(least)
    return float(max(least, round(rng.expovariate(1 / mean_minutes) * 60)))


def _when(text):
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def plan_downtimes(equipment, rng, now, speed, **settings):
    """Plan the downtimes of one or more machines.

    Each machine runs ``downtimes`` cycles one after the other: it runs for an
    uptime drawn around ``mean_uptime`` minutes (exponential law), stops
    (``machine.downtime_started``) for a downtime drawn around ``mean_downtime``
    minutes (at least 1 s) and runs again (``machine.downtime_ended``). Machines run
    side by side. A downtime's id is ``<equipment code>-<started_at as digits>``,
    e.g. ``PRESS-07-20251114T091203000Z``: new on every run.

    :param equipment: an equipment code (the schemas' ``equipment.code``, e.g.
        ``PRESS-07``) or a list of them
    :param rng: a :class:`random.Random` (uptimes and downtimes)
    :param now: an aware datetime: when the schedule starts
    :param speed: how many times faster than real time the plan is sent
    :param settings: ``downtimes``, ``work_center``, ``reason_category``,
        ``reason_code``, ``mean_uptime``, ``mean_downtime``, ``detection``: see
        :class:`DowntimeSettings`
    :return: a list of ``(delay_seconds, event_type, data)`` sorted by delay
    :raise ValueError: for a setting out of range or a naive ``now``
    """
    codes = check_equipment(equipment)
    return _plan_downtimes(codes, DowntimeSettings(**settings), rng, now, speed)


def _downtime(code, settings):
    """The started and ended data of one downtime (ids and times still unset)."""
    reason = {"reason_category": settings.reason_category}
    if settings.reason_code is not None:
        reason["reason_code"] = settings.reason_code
    started = {"downtime_id": None, "equipment": {"code": code}}
    if settings.work_center is not None:
        started["work_center"] = settings.work_center
    started.update(started_at=None, **reason, detection=settings.detection)
    ended = {
        "downtime_id": None,
        "equipment": {"code": code},
        "started_at": None,
        "ended_at": None,
        "duration_seconds": None,
        **reason,
    }
    return started, ended


def _plan_downtimes(codes, settings, rng, now, speed):
    check_speed(speed)
    check_now(now)
    entries = []
    pairs = []
    for code in codes:
        offset = 0.0
        for _cycle in range(settings.downtimes):
            start = offset + _draw_seconds(rng, settings.mean_uptime, 0)
            offset = start + _draw_seconds(rng, settings.mean_downtime, 1)
            started, ended = _downtime(code, settings)
            entries.append(
                Entry(start, DOWNTIME_STARTED, started, {"started_at": start}, True)
            )
            stamps = {"started_at": start, "ended_at": offset}
            entries.append(Entry(offset, DOWNTIME_ENDED, ended, stamps))
            pairs.append((started, ended))
    plan = date_entries(entries, now, speed)
    for started, ended in pairs:  # the ids and lengths follow the dates
        code = started["equipment"]["code"]
        downtime_id = f"{code}-" + re.sub(r"[^0-9TZ]", "", started["started_at"])
        started["downtime_id"] = ended["downtime_id"] = downtime_id
        length = (_when(ended["ended_at"]) - _when(ended["started_at"])).total_seconds()
        ended["duration_seconds"] = int(length) if length.is_integer() else length
    return plan


def downtime_report(started, ended, events):
    """What was sent for one downtime, JSON-serialisable: ``downtime_id``,
    ``equipment`` (code), ``reason_category``, ``reason_code`` (or ``None``),
    ``started_at``, ``ended_at``, ``duration_seconds`` and ``events``
    (``{"type", "data"}`` of each event the hub accepted)."""
    return {
        "downtime_id": ended["downtime_id"],
        "equipment": ended["equipment"]["code"],
        "reason_category": ended["reason_category"],
        "reason_code": ended.get("reason_code"),
        "started_at": started["started_at"],
        "ended_at": ended["ended_at"],
        "duration_seconds": ended["duration_seconds"],
        "events": events,
    }


def describe_downtime(report):
    """One human-readable line for a report made by :func:`downtime_report`."""
    reason = report["reason_category"]
    if report["reason_code"]:
        reason += " " + report["reason_code"]
    return (
        f"{report['equipment']} down {report['duration_seconds'] / 60:.1f} min "
        f"({reason}) from {report['started_at']} to {report['ended_at']}: downtime "
        f"{report['downtime_id']}, {len(report['events'])} events sent"
    )


# -- the machine: running -------------------------------------------------------


class MachineSimulator(EventPlayer):
    """A simulated machine (or IoT gateway) that raises and clears downtime.

    :param client: a :class:`~mfg_integration.client.Client` (or any object with
        its ``send_event``) for the hub
    :param equipment: an equipment code or a list of them
    :param options: the settings of :func:`plan_downtimes` (``downtimes``,
        ``work_center``, ``reason_category``, ``reason_code``, ``mean_uptime``,
        ``mean_downtime``, ``detection``) and ``speed`` (default
        :data:`DEFAULT_SPEED`), ``seed``, ``source`` (default
        :data:`MACHINE_SOURCE`), ``clock``, ``sleep``, ``log`` (one line per event
        sent or refused) and ``on_report`` (called with the report of each
        downtime whose two events were accepted, see :func:`downtime_report`): see
        :class:`~mfg_integration.simulation.EventPlayer`
    :raise ValueError: for a setting out of range

    :meth:`run` sends the schedule and returns; :meth:`stop` (from another thread or
    a signal handler) ends it before its next event. A refused event is recorded in
    :attr:`failures` (keyed by ``downtime_id``) and the schedule goes on. The
    :attr:`counts` are ``sent`` (events accepted), ``completed`` (downtimes with
    both events accepted), ``failed`` and ``rejected_events`` (refused events).
    """

    system = "machine"
    unit = "event"
    reference_key = "downtime_id"
    time_fields = ("ended_at", "started_at")
    counters = ("sent", *EventPlayer.counters)
    default_source = MACHINE_SOURCE

    def __init__(self, client, equipment, **options):
        names = [item.name for item in fields(DowntimeSettings)]
        settings = {name: options.pop(name) for name in names if name in options}
        super().__init__(client, **options)
        self.equipment = check_equipment(equipment)
        self.settings = DowntimeSettings(**settings)

    def stop(self):
        """Stop the schedule before its next event (an event being sent finishes
        first, bounded by the client's timeout)."""
        self._stopping.set()

    def run(self):
        """Send the schedule on time, in the calling thread.

        :return: the reports of the downtimes whose two events were accepted
        """
        plan = _plan_downtimes(
            self.equipment, self.settings, self._rng, self._clock(), self.speed
        )
        self._log(
            f"{len(plan) // 2} downtime(s) on {', '.join(self.equipment)} within "
            f"{plan[-1][0]:.1f} s ({self.speed:g}x real time)"
        )
        began = time.monotonic()
        accepted = {}
        starts = {}
        try:
            for delay, event_type, data in plan:
                downtime_id = data["downtime_id"]
                if event_type == DOWNTIME_STARTED:
                    starts[downtime_id] = data
                sent = accepted.setdefault(downtime_id, [])
                if self._send(delay, event_type, data, began):
                    sent.append({"type": event_type, "data": data})
                if event_type == DOWNTIME_ENDED and len(sent) == 2:
                    self._complete(downtime_report(starts[downtime_id], data, sent))
        except SimulatorStopped:
            self._log("interrupted, the simulator stops")
        return self.reports

    def _send(self, delay, event_type, data, began):
        """Send one event of the plan on time; return whether the hub accepted it."""
        downtime_id = data["downtime_id"]
        code = data["equipment"]["code"]
        if not self._play(
            [(delay, event_type, data)],
            downtime_id,
            subject=code,
            correlation_id=correlation_id("machine", downtime_id),
            began=began,
        ):
            return False
        self._count("sent")
        self._log(f"{code}: {event_type} {downtime_id}")
        return True
