"""A QMS simulator: it records inspections and approves the dispositions of the
nonconformances the hub opens.

:class:`QmsSimulator` plays a quality management system against the hub:

* :meth:`QmsSimulator.record_inspections` sends one inspection per lot
  (``PRODUCT_CODE@LOT``) with five characteristics (three variable ones, measured
  against a nominal and tolerances, and two attribute ones, counted). A passing
  inspection is ``inspection.result_recorded`` with result ``pass``; a failing one
  is ``inspection.result_recorded`` with result ``fail`` followed by
  ``inspection.failed`` (the schemas say a failed inspection is sent as both),
  whose failed characteristics are really out of tolerance, with the severity,
  the hold request and the quantity presumed defective.
* It receives the hub's signed deliveries (see :class:`~mfg_integration.\
  simulation.WebhookSimulator`: 401 for a bad signature, each event id and each
  nonconformance run once). For a ``nonconformance.opened`` it approves, after a
  review time that depends on the severity, one ``batch.disposition_approved`` per
  lot of the nonconformance, quoting the nonconformance as received, its product,
  its inspection and, when the decision needs them, the supplier (return) or a
  concession (use as is). ``supplier_corrective_action.opened`` is acknowledged
  and counted; other event types are acknowledged and ignored.

:func:`plan_inspection` and :func:`plan_disposition` compute what is sent, with its
timing, without any I/O. Inspection and disposition ids carry the start time of
the simulator to the millisecond (``INSP-<YYMMDDHHMMSSmmm>-<n>``,
``DISP-<YYMMDDHHMMSSmmm>-<n>``), so that a new run never collides with the records
of an earlier one.
"""

import math
import random
import re
import threading
import time
from dataclasses import dataclass, fields

from .mes_simulator import is_count_unit
from .simulation import (
    Entry,
    SimulatorStopped,
    WebhookSimulator,
    check_now,
    check_speed,
    correlation_id,
    date_entries,
    is_number,
)

RESULT_RECORDED = "inspection.result_recorded"
FAILED = "inspection.failed"
NONCONFORMANCE = "nonconformance.opened"
CORRECTIVE_ACTION = "supplier_corrective_action.opened"
DISPOSITION = "batch.disposition_approved"

QMS_SOURCE = "urn:mfg-integration:simulator:qms"
QMS_PATH = "/qms/events"
#: ``inspection_type`` of the inspection events (their schemas' enum)
INSPECTION_TYPES = ("incoming", "in_process", "final", "first_article", "periodic")
DEFAULT_INSPECTION_TYPE = "incoming"
#: ``severity`` of inspection.failed and nonconformance.opened (their schemas' enum)
SEVERITIES = ("minor", "major", "critical")
DEFAULT_SEVERITY = "major"
#: ``disposition`` of batch.disposition_approved (its schema's enum)
DISPOSITIONS = ("release", "rework", "scrap", "return_to_supplier", "use_as_is")
DEFAULT_DISPOSITION = "release"
#: the share of inspections that fail by default
DEFAULT_FAIL_RATE = 0.3
#: the quantity each inspection covers by default, in :data:`DEFAULT_UOM`
DEFAULT_QUANTITY = 10
DEFAULT_UOM = "Units"

#: the schemas' references, lots and other trimmed texts
_TRIMMED = re.compile(r"\S(?:.*\S)?")
#: the schemas' codes (supplier, characteristic, defect)
_CODE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_./-]{0,63}")
#: pieces measured per inspection (capped by the quantity in counted units)
_SAMPLE_SIZES = (5, 8, 13, 20, 32)
#: minutes of quality review before a disposition is approved, by severity
_REVIEW_MINUTES = {
    "minor": (15.0, 60.0),
    "major": (30.0, 240.0),
    "critical": (120.0, 480.0),
}
_PRODUCT_KEYS = ("default_code", "name", "barcode")


@dataclass(frozen=True)
class _Variable:
    """A characteristic measured against ``nominal``; no ``lower`` tolerance: the
    measure cannot go below the nominal (a leak rate)."""

    code: str
    name: str
    nominal: float
    lower: float | None
    upper: float
    uom: str
    decimals: int
    below: str | None = "UNDERSIZE"
    above: str = "OVERSIZE"

    def limits(self):
        return self.nominal + (self.lower or 0.0), self.nominal + self.upper


@dataclass(frozen=True)
class _Attribute:
    """A characteristic checked good or bad on each piece of the sample."""

    code: str
    name: str
    defect: str


_CHARACTERISTICS = (
    _Variable("WALL-THK", "Wall thickness", 4.0, -0.2, 0.3, "mm", 2),
    _Variable("BORE-DIA", "Bore diameter", 42.0, 0.0, 0.025, "mm", 3),
    _Variable(
        "LEAK-RATE", "Leak rate at 6 bar", 0.0, None, 2.0, "mbar.l/s", 2, None, "LEAK"
    ),
    _Attribute("VISUAL", "Surface finish", "SURFACE-DEFECT"),
    _Attribute("POROSITY", "Porosity (X-ray)", "POROSITY"),
)


# -- settings ---------------------------------------------------------------------


def _usable(value, pattern=_TRIMMED, longest=64):
    """Whether ``value`` is a text of the schemas' ``pattern``, at most ``longest``
    characters."""
    return (
        isinstance(value, str)
        and len(value) <= longest
        and bool(pattern.fullmatch(value))
    )


def _check_text(value, what, longest=64):
    if not _usable(value, longest=longest):
        raise ValueError(
            f"The {what} {value!r} is not usable: 1 to {longest} characters without "
            "leading or trailing spaces."
        )
    return value


def _check_code(value, what):
    if not _usable(value, _CODE):
        raise ValueError(
            f"The {what} {value!r} is not a code: letters, digits, '_', '.', '/', "
            "'-', starting with a letter or digit, at most 64 characters."
        )


def parse_lot(text):
    """Read a lot given as ``PRODUCT_CODE@LOT``, e.g.
    ``RM-AL-CAST-200@LOT-2025-0311-A``.

    :return: ``{"product": {"default_code"}, "lot"}``
    :raise ValueError: when the product or the lot is missing or not usable
    """
    code, at, lot = str(text).partition("@")
    if not at or not code or not lot:
        raise ValueError(f"A lot is PRODUCT_CODE@LOT, not {text!r}.")
    return _lot(code, lot)


def _lot(code, lot):
    return {
        "product": {"default_code": _check_text(code, "product code")},
        "lot": _check_text(lot, "lot"),
    }


def check_lots(lots):
    """The lots of ``lots`` (``PRODUCT_CODE@LOT`` texts or what :func:`parse_lot`
    returns), as a list of :func:`parse_lot` results.

    :raise ValueError: for an unusable lot or one given twice
    """
    parsed = [parse_lot(lot) if isinstance(lot, str) else _lot_of(lot) for lot in lots]
    keys = [(lot["product"]["default_code"], lot["lot"]) for lot in parsed]
    if len(set(keys)) != len(keys):
        raise ValueError("A lot is given twice.")
    return parsed


def _lot_of(value):
    if not isinstance(value, dict) or not isinstance(value.get("product"), dict):
        raise ValueError(f"A lot is PRODUCT_CODE@LOT, not {value!r}.")
    return _lot(value["product"].get("default_code"), value.get("lot"))


def _check_choice(value, choices, what):
    if value not in choices:
        raise ValueError(f"The {what} is one of " + ", ".join(choices) + ".")


def _check_rate(value):
    if not is_number(value) or not 0 <= value <= 1:
        raise ValueError("The fail rate is a number from 0 to 1.")


@dataclass(frozen=True)
class InspectionSettings:
    """The settings of the inspections, checked when made.

    :param inspection_type: one of :data:`INSPECTION_TYPES`
    :param severity: the ``severity`` of failed inspections, one of
        :data:`SEVERITIES`
    :param hold: ``hold_requested`` of failed inspections
    :param quantity: the quantity each inspection covers, more than 0
    :param uom: its unit of measure, as named in Odoo
    :param receipt: the Odoo receipt (``receipt``) of the inspected goods, if any
    :param supplier: the supplier's reference in Odoo (``supplier.code`` of
        inspection.failed), if any
    :raise ValueError: naming the setting that is out of range
    """

    inspection_type: str = DEFAULT_INSPECTION_TYPE
    severity: str = DEFAULT_SEVERITY
    hold: bool = True
    quantity: float = DEFAULT_QUANTITY
    uom: str = DEFAULT_UOM
    receipt: str | None = None
    supplier: str | None = None

    def __post_init__(self):
        _check_choice(self.inspection_type, INSPECTION_TYPES, "inspection type")
        _check_choice(self.severity, SEVERITIES, "severity")
        if not isinstance(self.hold, bool):
            raise ValueError("hold is True or False.")
        quantity = self.quantity
        if not is_number(quantity) or not 0 < quantity < math.inf:
            raise ValueError("The quantity inspected must be a number more than 0.")
        _check_text(self.uom, "unit of measure", longest=32)
        if self.receipt is not None:
            _check_text(self.receipt, "receipt")
        if self.supplier is not None:
            _check_code(self.supplier, "supplier code")


# -- inspections: planning (pure) -------------------------------------------------


def _whole(value):
    """A float that is a whole number as an int (JSON ``10``, not ``10.0``)."""
    return int(value) if float(value).is_integer() else value


def _measure(spec, failing, sample, rng):
    """``(characteristic, failed characteristic or None)`` of one check."""
    defects = rng.randint(1, max(1, sample // 4)) if failing else 0
    if isinstance(spec, _Attribute):
        checked = {"code": spec.code, "name": spec.name, "kind": "attribute"}
        checked["defects_found"] = defects
        if not failing:
            return dict(checked, result="pass"), None
        found = {"code": spec.code, "name": spec.name, "defects_found": defects}
        found["defect_code"] = spec.defect
        return dict(checked, defect_code=spec.defect, result="fail"), found
    low, high = spec.limits()
    band = high - low
    if failing:  # beyond a limit by 10 to 80 % of the band: out after rounding
        below = spec.below is not None and rng.random() < 0.5
        excess = band * rng.uniform(0.1, 0.8)
        value = low - excess if below else high + excess
    else:  # within the inner 80 % of the band: in after rounding
        below = False
        value = rng.uniform(low + band * 0.1, high - band * 0.1)
    measure = {"measured_value": round(value, spec.decimals), "nominal": spec.nominal}
    if spec.lower is not None:
        measure["lower_tolerance"] = spec.lower
    measure["upper_tolerance"] = spec.upper
    measure["uom"] = spec.uom
    checked = {"code": spec.code, "name": spec.name, "kind": "variable", **measure}
    if not failing:
        return dict(checked, result="pass"), None
    defect = spec.below if below else spec.above
    found = {"code": spec.code, "name": spec.name, **measure, "defects_found": defects}
    found["defect_code"] = defect
    return dict(checked, defect_code=defect, result="fail"), found


def _finding(found, sample):
    """One sentence of the inspector about a failed characteristic."""
    text = f"{found['defects_found']} of {sample} sampled out on {found['code']}"
    if "measured_value" not in found:
        return f"{text} ({found['defect_code']})."
    high = found["nominal"] + found["upper_tolerance"]
    limits = f"at most {high:g}"
    if "lower_tolerance" in found:
        limits = f"limits {found['nominal'] + found['lower_tolerance']:g} to {high:g}"
    return (
        f"{text}: worst {found['measured_value']:g} {found['uom']}, {limits} "
        f"{found['uom']} ({found['defect_code']})."
    )


def _rejected(settings, sample, found):
    """The quantity presumed defective: the worst failed characteristic's share of
    the sample, applied to the quantity inspected (rounded up in whole pieces)."""
    share = max(item["defects_found"] for item in found) / sample
    if is_count_unit(settings.uom) and float(settings.quantity).is_integer():
        return min(
            int(settings.quantity), math.ceil(round(settings.quantity * share, 6))
        )
    return min(_whole(settings.quantity), round(settings.quantity * share, 3))


def plan_inspection(lot, rng, now, speed, *, inspection_id, failed=False, **settings):
    """Plan what the QMS sends for the inspection of one lot.

    The inspection takes 5 to 30 minutes and measures a sample of 5 to 32 pieces
    (at most the quantity, in counted units) on five characteristics. When it
    fails, one or two of them are out of tolerance (a measure beyond a limit, or
    defective pieces) and the others pass; when it passes, every measure is within
    the inner 80 % of its tolerance band and no defect is found.

    :param lot: ``PRODUCT_CODE@LOT`` or what :func:`parse_lot` returns
    :param rng: a :class:`random.Random` (times, sample, measures, inspector)
    :param now: an aware datetime: when the inspection starts
    :param speed: how many times faster than real time the plan is sent
    :param inspection_id: the QMS inspection id, e.g. ``INSP-251114091203000-1``
    :param failed: whether the inspection fails
    :param settings: ``inspection_type``, ``severity``, ``hold``, ``quantity``,
        ``uom``, ``receipt``, ``supplier``: see :class:`InspectionSettings`
    :return: a list of ``(delay_seconds, event_type, data)``: one
        ``inspection.result_recorded`` (result ``pass`` or ``fail``), then for a
        failure ``inspection.failed``, both dated when the inspection completes
    :raise ValueError: for an unusable lot or id, a setting out of range or a naive
        ``now``
    """
    [lot] = check_lots([lot])
    _check_text(inspection_id, "inspection id")
    return _plan_inspection(
        lot, InspectionSettings(**settings), rng, now, speed, inspection_id, failed
    )


def _plan_inspection(lot, settings, rng, now, speed, inspection_id, failed):
    check_speed(speed)
    check_now(now)
    if not isinstance(failed, bool):
        raise ValueError("failed is True or False.")
    offset = round(rng.uniform(5.0, 30.0) * 60)
    sample = rng.choice(_SAMPLE_SIZES)
    if is_count_unit(settings.uom):
        sample = max(1, min(sample, int(settings.quantity)))
    inspector = f"QA-{rng.randint(1, 40):04d}"
    failing = set()
    if failed:
        failing = set(rng.sample(range(len(_CHARACTERISTICS)), rng.randint(1, 2)))
    checks = [
        _measure(spec, index in failing, sample, rng)
        for index, spec in enumerate(_CHARACTERISTICS)
    ]
    head = {
        "inspection_id": inspection_id,
        "inspection_type": settings.inspection_type,
        "product": dict(lot["product"]),
        "lot": lot["lot"],
    }
    if settings.receipt is not None:
        head["receipt"] = settings.receipt
    inspected = {"value": _whole(settings.quantity), "uom": settings.uom}
    recorded = {
        **head,
        "quantity_inspected": inspected,
        "sample_size": sample,
        "result": "fail" if failed else "pass",
        "inspected_at": None,
        "inspector_id": inspector,
        "characteristics": [checked for checked, _found in checks],
    }
    entries = [Entry(offset, RESULT_RECORDED, recorded, {"inspected_at": offset})]
    found = [item for _checked, item in checks if item is not None]
    if failed:
        comment = " ".join(_finding(item, sample) for item in found)
        recorded["comment"] = comment
        data = dict(head)
        if settings.supplier is not None:
            data["supplier"] = {"code": settings.supplier}
        data["quantity_inspected"] = dict(inspected)
        data["quantity_rejected"] = {
            "value": _rejected(settings, sample, found),
            "uom": settings.uom,
        }
        data["severity"] = settings.severity
        data["hold_requested"] = settings.hold
        data["failed_characteristics"] = found
        data["inspected_at"] = None
        data["inspector_id"] = inspector
        data["comment"] = comment
        entries.append(Entry(offset, FAILED, data, {"inspected_at": offset}))
    return date_entries(entries, now, speed)


def inspection_report(plan):
    """Sum an inspection's plan up: what the QMS reported.

    :param plan: a plan made by :func:`plan_inspection` (and sent)
    :return: a JSON-serialisable dict: ``report`` (``"inspection"``),
        ``inspection_id``, ``inspection_type``, ``product`` (default code), ``lot``,
        ``result`` (``pass`` or ``fail``), ``severity`` and ``hold_requested``
        (``None`` for a pass), ``quantity_inspected``, ``quantity_rejected`` (0 for
        a pass), ``uom``, ``sample_size``, ``failed_characteristics`` (codes),
        ``inspected_at`` and ``events``: every event sent, as ``{"type", "data"}``
    """
    recorded = failure = None
    for _delay, event_type, data in plan:
        if event_type == RESULT_RECORDED:
            recorded = data
        elif event_type == FAILED:
            failure = data
    if recorded is None:
        raise ValueError("The plan has no inspection.result_recorded event.")
    failure = failure or {}
    report = {
        "report": "inspection",
        "inspection_id": recorded["inspection_id"],
        "inspection_type": recorded.get("inspection_type"),
        "product": recorded["product"]["default_code"],
        "lot": recorded.get("lot"),
        "result": recorded["result"],
    }
    report["severity"] = failure.get("severity")
    report["hold_requested"] = failure.get("hold_requested")
    report["quantity_inspected"] = recorded["quantity_inspected"]["value"]
    report["quantity_rejected"] = failure.get("quantity_rejected", {}).get("value", 0)
    report["uom"] = recorded["quantity_inspected"]["uom"]
    report["sample_size"] = recorded["sample_size"]
    report["failed_characteristics"] = [
        item["code"] for item in failure.get("failed_characteristics", [])
    ]
    report["inspected_at"] = recorded["inspected_at"]
    report["events"] = [{"type": kind, "data": data} for _d, kind, data in plan]
    return report


# -- dispositions: planning (pure) ------------------------------------------------


@dataclass
class _Nonconformance:
    reference: str
    title: str
    severity: str
    lots: list
    product: dict | None
    quantity: dict | None
    inspection_id: str | None
    supplier: dict | None


def _read_nonconformance(data):
    if not isinstance(data, dict):
        raise ValueError("The nonconformance data is not a JSON object.")
    reference = data.get("nonconformance")
    if not _usable(reference):
        raise ValueError("The nonconformance has no usable text at /nonconformance.")
    lots = data.get("lots") or []
    if not isinstance(lots, list):
        raise ValueError("The lots at /lots are not a list.")
    for index, lot in enumerate(lots):
        if not _usable(lot):
            raise ValueError(f"The nonconformance has no usable lot at /lots/{index}.")
    product = data.get("product")
    if lots and not (
        isinstance(product, dict) and _usable(product.get("default_code"))
    ):
        raise ValueError("The nonconformance has no product at /product/default_code.")
    quantity = data.get("quantity_affected")
    if not (
        isinstance(quantity, dict)
        and is_number(quantity.get("value"))
        and 0 < quantity["value"] < math.inf
        and _usable(quantity.get("uom"), longest=32)
    ):
        quantity = None
    supplier = data.get("supplier")
    if isinstance(supplier, dict) and _usable(supplier.get("code"), _CODE):
        supplier = {"code": supplier["code"], "name": supplier.get("name")}
        if not _usable(supplier["name"], longest=256):
            del supplier["name"]
    else:
        supplier = None
    if isinstance(product, dict):
        product = {key: product[key] for key in _PRODUCT_KEYS if key in product}
    title, severity = data.get("title"), data.get("severity")
    return _Nonconformance(
        reference=reference,
        title=title if _usable(title, longest=256) else reference,
        severity=severity if severity in SEVERITIES else DEFAULT_SEVERITY,
        lots=list(lots),
        product=product,
        quantity=quantity and {"value": quantity["value"], "uom": quantity["uom"]},
        inspection_id=data.get("inspection_id")
        if _usable(data.get("inspection_id"))
        else None,
        supplier=supplier,
    )


def _decision(data, nonconformance, disposition, lot):
    """The fields that follow the decision, and the approver's comment."""
    reference = f"{nonconformance.reference} ({nonconformance.title})"
    if disposition == "release":
        comment = f"{reference}: lot {lot} conforms on review; released."
    elif disposition == "rework":
        data["rework_instructions"] = (
            f"Rework lot {lot} to specification ({nonconformance.title}), then "
            "inspect every piece again before release."
        )
        comment = f"{reference}: lot {lot} can be brought back to specification."
    elif disposition == "scrap":
        comment = f"{reference}: lot {lot} cannot be brought back to specification."
    elif disposition == "return_to_supplier":
        comment = f"{reference}: lot {lot} goes back to {data['supplier']['code']}."
    else:
        data["concession"] = f"CONC-{data['disposition_id']}"
        comment = f"{reference}: lot {lot} used as is under {data['concession']}."
    data["comment"] = comment[:2000]


def plan_disposition(
    nonconformance_data,
    rng,
    now,
    speed,
    *,
    disposition_id,
    disposition=DEFAULT_DISPOSITION,
    supplier=None,
    affected_only=False,
):
    """Plan the dispositions the QMS approves for one ``nonconformance.opened``.

    Quality assurance reviews the nonconformance (15-60 minutes for a minor one,
    30-240 for a major one, 2-8 hours for a critical one), then one approver signs
    one ``batch.disposition_approved`` per lot, a few minutes apart. Each quotes the
    ``nonconformance`` as received, its product and its ``inspection_id``; a return
    to the supplier names the nonconformance's supplier (else ``supplier``), a use
    as is a concession ``CONC-<disposition id>``, a rework its instructions.

    :param nonconformance_data: the ``data`` of a ``nonconformance.opened`` event
    :param rng: a :class:`random.Random` (review time, approver)
    :param now: an aware datetime: when the nonconformance is picked up
    :param speed: how many times faster than real time the plan is sent
    :param disposition_id: the id of the decision, e.g.
        ``DISP-251114091203000-1``, at most 48 characters; with several lots, each
        gets ``<disposition_id>-<k>`` (k from 1)
    :param disposition: the decision, one of :data:`DISPOSITIONS`
    :param supplier: the supplier code returned to when the nonconformance names
        none
    :param affected_only: quote the nonconformance's ``quantity_affected`` as the
        ``quantity`` disposed of, when it names one lot (default: no quantity, the
        whole lot)
    :return: a list of ``(delay_seconds, event_type, data)`` sorted by delay, where
        ``delay_seconds`` counts from the pick-up; empty when the nonconformance
        names no lot
    :raise ValueError: when the nonconformance lacks what is needed (the message
        names the JSON pointer), a setting is out of range or ``now`` is naive
    """
    check_speed(speed)
    check_now(now)
    _check_choice(disposition, DISPOSITIONS, "disposition")
    _check_text(disposition_id, "disposition id", longest=48)
    if supplier is not None:
        _check_code(supplier, "supplier code")
    nonconformance = _read_nonconformance(nonconformance_data)
    if not nonconformance.lots:
        return []
    returned_to = nonconformance.supplier or (supplier and {"code": supplier})
    if disposition == "return_to_supplier" and not returned_to:
        raise ValueError(
            "The nonconformance names no supplier at /supplier/code to return "
            "the goods to, and no supplier is configured."
        )
    offset = rng.uniform(*_REVIEW_MINUTES[nonconformance.severity]) * 60
    approver = f"QA-{rng.randint(1, 40):04d}"
    several = len(nonconformance.lots) > 1
    entries = []
    for index, lot in enumerate(nonconformance.lots, start=1):
        if index > 1:
            offset += rng.uniform(1.0, 5.0) * 60
        data = {
            "disposition_id": f"{disposition_id}-{index}"
            if several
            else disposition_id,
            "product": dict(nonconformance.product),
            "lot": lot,
            "disposition": disposition,
        }
        if affected_only and nonconformance.quantity and not several:
            data["quantity"] = dict(nonconformance.quantity)
        data["approved_at"] = None
        data["approved_by"] = approver
        data["nonconformance"] = nonconformance.reference
        if nonconformance.inspection_id is not None:
            data["inspection_id"] = nonconformance.inspection_id
        if disposition == "return_to_supplier":
            data["supplier"] = dict(returned_to)
        _decision(data, nonconformance, disposition, lot)
        entries.append(Entry(offset, DISPOSITION, data, {"approved_at": offset}))
    return date_entries(entries, now, speed)


def disposition_report(data, nonconformance_id=None):
    """What was sent for one disposition, JSON-serialisable: ``report``
    (``"disposition"``), ``disposition_id``, ``nonconformance``,
    ``nonconformance_id`` (the CloudEvent id of the nonconformance.opened),
    ``product`` (default code), ``lot``, ``disposition``, ``quantity`` and ``uom``
    (``None``: the whole lot), ``approved_at``, ``approved_by`` and ``events``
    (``{"type", "data"}`` of the event sent)."""
    quantity = data.get("quantity") or {}
    return {
        "report": "disposition",
        "disposition_id": data["disposition_id"],
        "nonconformance": data.get("nonconformance"),
        "nonconformance_id": nonconformance_id,
        "product": data["product"]["default_code"],
        "lot": data["lot"],
        "disposition": data["disposition"],
        "quantity": quantity.get("value"),
        "uom": quantity.get("uom"),
        "approved_at": data["approved_at"],
        "approved_by": data["approved_by"],
        "events": [{"type": DISPOSITION, "data": data}],
    }


def describe_inspection(report):
    """One human-readable line for a report made by :func:`inspection_report`."""
    head = (
        f"{report['inspection_id']} {report['inspection_type']} inspection of "
        f"{report['product']} lot {report['lot']}"
    )
    events = f"{len(report['events'])} event(s) sent"
    if report["result"] == "pass":
        return f"{head}: pass on a sample of {report['sample_size']}; {events}"
    hold = "hold requested" if report["hold_requested"] else "no hold"
    return (
        f"{head}: FAIL ({report['severity']}) on "
        f"{', '.join(report['failed_characteristics'])}; "
        f"{report['quantity_rejected']:g} of {report['quantity_inspected']:g} "
        f"{report['uom']} presumed defective; {hold}; {events}"
    )


def describe_disposition(report):
    """One human-readable line for a report made by :func:`disposition_report`."""
    quantity = "whole lot"
    if report["quantity"] is not None:
        quantity = f"{report['quantity']:g} {report['uom']}"
    return (
        f"{report['disposition_id']} for {report['nonconformance']}: "
        f"{report['disposition']} {report['product']} lot {report['lot']} "
        f"({quantity}), approved by {report['approved_by']} at {report['approved_at']}"
    )


def describe_qms_report(report):
    """One human-readable line for an inspection or a disposition report."""
    if report.get("report") == "inspection":
        return describe_inspection(report)
    return describe_disposition(report)


def describe_corrective_action(data):
    """One human-readable line for the data of a supplier_corrective_action.opened."""
    data = data if isinstance(data, dict) else {}
    supplier = data.get("supplier") if isinstance(data.get("supplier"), dict) else {}
    line = (
        f"{data.get('corrective_action')}: corrective action requested from supplier "
        f"{supplier.get('code')}"
    )
    if data.get("nonconformance"):
        line += f" for {data['nonconformance']}"
    line += f": {data.get('title')} ({data.get('severity')}"
    if data.get("methodology"):
        line += f", {data['methodology']}"
    return line + f", response due {data.get('response_due')})"


# -- the QMS: sending and receiving -----------------------------------------------


class _OneAtATime:
    """A client shared by the calling thread (inspections) and the worker thread
    (dispositions): one request at a time, since a client holds a session."""

    def __init__(self, client):
        self._client = client
        self._lock = threading.Lock()

    def send_event(self, *args, **kwargs):
        with self._lock:
            return self._client.send_event(*args, **kwargs)


class QmsSimulator(WebhookSimulator):
    """A simulated QMS: records inspections and approves the dispositions of the
    nonconformances the hub opens.

    :param client: a :class:`~mfg_integration.client.Client` (or any object with
        its ``send_event``) for the hub; the calling thread (inspections) and the
        worker thread (dispositions) take turns with it
    :param secret: the ``whsec_`` signing secret of the hub's outbound endpoint, or
        a list of them during a rotation; ``None`` to only record inspections
        (:meth:`start` then refuses)
    :param lots: the lots inspected by :meth:`record_inspections`, in order:
        ``PRODUCT_CODE@LOT`` texts or what :func:`parse_lot` returns
    :param fail_rate: the chance that an inspection fails, 0 to 1
    :param forced_failures: lot names whose inspection fails whatever the rate
    :param severity: ``severity`` of failed inspections, one of :data:`SEVERITIES`
    :param hold: ``hold_requested`` of failed inspections
    :param disposition: the decision on every lot of a nonconformance, one of
        :data:`DISPOSITIONS`
    :param quantity: the quantity each inspection covers, more than 0
    :param uom: its unit of measure
    :param options: ``inspection_type``, ``receipt`` and ``supplier`` (see
        :class:`InspectionSettings`; the supplier is also the one returned to
        when a nonconformance names none), ``affected_only`` (see
        :func:`plan_disposition`), ``listen`` (default ``("127.0.0.1", 0)``),
        ``path`` (default :data:`QMS_PATH`), ``speed``, ``seed``, ``source``
        (default :data:`QMS_SOURCE`), ``clock``, ``sleep``, ``log`` and
        ``on_report`` (called with each inspection and disposition report, see
        :func:`inspection_report` and :func:`disposition_report`): see
        :class:`~mfg_integration.simulation.WebhookSimulator`
    :raise ValueError: for a setting out of range
    :raise InvalidSecret: for a secret that is not a ``whsec_`` secret

    It runs with :meth:`start` and :meth:`stop` (or ``with``) and has :attr:`url`,
    :meth:`record_inspections`, :meth:`wait_completed` (dispositions),
    :meth:`wait_idle`, :meth:`idle_for`, :attr:`reports` (inspections and
    dispositions, told apart by their ``report``), :attr:`failures` (keyed by
    ``inspection_id`` or ``nonconformance``) and :attr:`counts`: ``deliveries``,
    ``bad_signatures``, ``malformed``, ``duplicates``, ``ignored`` (other event
    types, nonconformances without lots), ``completed`` (dispositions accepted),
    ``failed``, ``rejected_events``, ``inspections`` (accepted),
    ``inspections_failed`` (of those, the failing ones) and
    ``corrective_actions`` (received).
    """

    system = "QMS"
    unit = "disposition"
    reference_key = "nonconformance"
    time_fields = ("approved_at", "inspected_at")
    trigger = NONCONFORMANCE
    trigger_name = "nonconformance.opened"
    counters = (
        *WebhookSimulator.counters,
        "inspections",
        "inspections_failed",
        "corrective_actions",
    )
    default_path = QMS_PATH
    default_source = QMS_SOURCE
    secret_optional = True

    def __init__(
        self,
        client,
        secret,
        *,
        lots=(),
        fail_rate=DEFAULT_FAIL_RATE,
        forced_failures=(),
        severity=DEFAULT_SEVERITY,
        hold=True,
        disposition=DEFAULT_DISPOSITION,
        quantity=DEFAULT_QUANTITY,
        uom=DEFAULT_UOM,
        **options,
    ):
        names = [item.name for item in fields(InspectionSettings)]
        settings = {name: options.pop(name) for name in names if name in options}
        affected_only = options.pop("affected_only", False)
        self.settings = InspectionSettings(
            severity=severity, hold=hold, quantity=quantity, uom=uom, **settings
        )
        self.lots = check_lots(lots)
        _check_rate(fail_rate)
        _check_choice(disposition, DISPOSITIONS, "disposition")
        if not isinstance(affected_only, bool):
            raise ValueError("affected_only is True or False.")
        self.forced_failures = frozenset(forced_failures)
        unknown = sorted(self.forced_failures - {lot["lot"] for lot in self.lots})
        if unknown:
            raise ValueError(f"Lot {unknown[0]} is to fail but is not inspected.")
        seed = options.get("seed")
        super().__init__(client, secret, **options)
        self._client = _OneAtATime(client)
        # Inspections draw from their own generator: dispositions, drawn by the
        # worker meanwhile, never change them.
        self._inspection_rng = random.Random(
            None if seed is None else f"inspections:{seed}"
        )
        self.fail_rate = float(fail_rate)
        self.disposition = disposition
        self.affected_only = affected_only
        started = self._clock()
        self.run_id = f"{started:%y%m%d%H%M%S}{started.microsecond // 1000:03d}"
        self._next_inspection = 1
        self._next_disposition = 1

    def stop(self):
        """Stop receiving and sending (see :meth:`WebhookSimulator.stop`); an
        inspection being sent finishes first, the next ones are not sent."""
        self.interrupt()  # also when only sending, never started
        super().stop()

    def _failure_subject(self, event_type):
        if event_type in (RESULT_RECORDED, FAILED):
            return "inspection_id", "inspection"
        return self.reference_key, self.unit

    # -- inspections (calling thread) -------------------------------------------------

    def record_inspections(self):
        """Send the inspection of each lot, one after the other, on time, in the
        calling thread; a refused event is recorded in :attr:`failures` and the
        next lot goes on; :meth:`stop` ends it before the next event.

        :return: the reports of the inspections the hub accepted entirely
        """
        reports = []
        try:
            for lot in self.lots:
                report = self._inspect(lot)
                if report is not None:
                    reports.append(report)
        except SimulatorStopped:
            self._log("interrupted, the simulator stops")
        with self._condition:  # --timeout counts from the last inspection
            self._last_activity = time.monotonic()
        return reports

    def _inspect(self, lot):
        rng = self._inspection_rng
        failed = lot["lot"] in self.forced_failures or rng.random() < self.fail_rate
        inspection_id = f"INSP-{self.run_id}-{self._next_inspection}"
        self._next_inspection += 1
        plan = _plan_inspection(
            lot, self.settings, rng, self._clock(), self.speed, inspection_id, failed
        )
        if not self._play(
            plan,
            inspection_id,
            subject=lot["lot"],
            correlation_id=correlation_id("qms", inspection_id),
        ):
            return None
        if failed:
            self._count("inspections_failed")
        report = inspection_report(plan)
        self._complete(report, "inspections")
        return report

    # -- dispositions (worker thread) -------------------------------------------------

    def _handle_other(self, event):
        if event.type != CORRECTIVE_ACTION:
            return False
        self._count("corrective_actions")
        self._log(describe_corrective_action(event.data))
        return True

    def _run(self, event, reference):
        try:
            plan = plan_disposition(
                event.data,
                self._rng,
                self._clock(),
                self.speed,
                disposition_id=f"DISP-{self.run_id}-{self._next_disposition}",
                disposition=self.disposition,
                supplier=self.settings.supplier,
                affected_only=self.affected_only,
            )
        except ValueError as exc:
            self._fail(reference, None, exc)
            return
        if not plan:
            self._count("ignored")
            self._log(f"{reference}: names no lot; no disposition to approve")
            return
        self._next_disposition += 1
        self._log(
            f"{reference}: {self.disposition} of {len(plan)} lot(s) after review "
            f"({self.trigger_name} {event.id})"
        )
        began = time.monotonic()
        try:
            for step in plan:
                data = step[2]
                if self._play(
                    [step],
                    reference,
                    subject=data["lot"],
                    correlation_id=correlation_id("qms", reference),
                    began=began,
                ):
                    self._complete(disposition_report(data, event.id))
        except SimulatorStopped:
            self._log(f"{reference}: interrupted, the simulator stops")
