"""The QMS simulator: inspection and disposition plans (pure), the simulator over
real HTTP on 127.0.0.1 with a stub standing in for the hub, and ``mfg-integration
simulate qms``.

The helpers that sign and post deliveries and run the command line are those of the
maintenance simulators' tests (same key and secret).
"""

import copy
import json
import random
import re
import threading
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from test_maintenance_simulators import (
    ACCEPTED,
    API_KEY,
    SECRET,
    WAIT,
    deliver_when_listening,
    free_port,
    post,
    run_cli,
    sent_events,
)

from mfg_integration import cli
from mfg_integration.client import Client
from mfg_integration.cloudevents import new_event
from mfg_integration.errors import InvalidSecret
from mfg_integration.quality_simulator import (
    CORRECTIVE_ACTION,
    DEFAULT_DISPOSITION,
    DEFAULT_INSPECTION_TYPE,
    DEFAULT_SEVERITY,
    DISPOSITION,
    DISPOSITIONS,
    FAILED,
    INSPECTION_TYPES,
    NONCONFORMANCE,
    QMS_SOURCE,
    RESULT_RECORDED,
    SEVERITIES,
    QmsSimulator,
    describe_disposition,
    describe_inspection,
    disposition_report,
    inspection_report,
    parse_lot,
    plan_disposition,
    plan_inspection,
)
from mfg_integration.schemas import validate
from mfg_integration.simulators import Answer, StubServer
from mfg_integration.webhooks import generate_webhook_secret

SCHEMAS = (
    Path(__file__).resolve().parents[2] / "addons/mfg_integration_quality/data/schemas"
)
NOW = datetime(2026, 11, 24, 8, 0, tzinfo=timezone.utc)
# The ids of a simulator started at NOW.
RUN = "261124080000000"
LOT = "RM-AL-CAST-200@LOT-2025-0311-A"
LOTS = (LOT, "RM-AL-CAST-200@LOT-2025-0311-B", "SA-ADHESIVE-BASE@B250315-01")
PROBLEM = {"title": "Validation failed", "status": 422, "detail": "no"}


def schema(code):
    return json.loads((SCHEMAS / f"{code}.v1.json").read_text(encoding="utf-8"))


def example_nonconformance(index=0):
    return copy.deepcopy(schema(NONCONFORMANCE)["examples"][index])


def when(text):
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def inspection(lot=LOT, seed=7, speed=600, **settings):
    settings.setdefault("inspection_id", "INSP-1")
    return plan_inspection(lot, random.Random(seed), NOW, speed, **settings)


def disposition(data=None, seed=7, speed=600, **options):
    options.setdefault("disposition_id", "DISP-1")
    data = example_nonconformance() if data is None else data
    return plan_disposition(data, random.Random(seed), NOW, speed, **options)


def assert_valid(plan):
    for _delay, event_type, data in plan:
        assert validate(schema(event_type), data) == [], (event_type, data)


def limits(item):
    return (
        item["nominal"] + item.get("lower_tolerance", 0),
        item["nominal"] + item["upper_tolerance"],
    )


def in_tolerance(item):
    """Whether a characteristic of either schema conforms."""
    if "measured_value" in item:
        low, high = limits(item)
        return low <= item["measured_value"] <= high
    return item["defects_found"] == 0


# -- the contract -----------------------------------------------------------------


def test_choices_are_the_schemas_enums():
    recorded, failed = schema(RESULT_RECORDED), schema(FAILED)
    for document in (recorded, failed):
        assert (
            list(INSPECTION_TYPES) == document["properties"]["inspection_type"]["enum"]
        )
    for code in (FAILED, NONCONFORMANCE, CORRECTIVE_ACTION):
        assert list(SEVERITIES) == schema(code)["properties"]["severity"]["enum"]
    assert (
        list(DISPOSITIONS) == schema(DISPOSITION)["properties"]["disposition"]["enum"]
    )
    assert (DEFAULT_INSPECTION_TYPE, DEFAULT_SEVERITY) == ("incoming", "major")
    assert DEFAULT_DISPOSITION == "release"


# -- lots -------------------------------------------------------------------------


def test_a_lot_is_product_code_at_lot():
    assert parse_lot(LOT) == {
        "product": {"default_code": "RM-AL-CAST-200"},
        "lot": "LOT-2025-0311-A",
    }
    assert parse_lot("P@L@2") == {"product": {"default_code": "P"}, "lot": "L@2"}
    given = {"product": {"default_code": "A@B", "name": "Casting"}, "lot": "L1"}
    assert QmsSimulator(None, SECRET, lots=[given, LOT]).lots == [
        {"product": {"default_code": "A@B"}, "lot": "L1"},
        parse_lot(LOT),
    ]


@pytest.mark.parametrize(
    "text", ["RM-AL", "@LOT", "RM@", " RM@L", "RM@L ", "P@" + "L" * 65]
)
def test_an_unusable_lot_is_refused(text):
    with pytest.raises(ValueError):
        parse_lot(text)


# -- inspections ------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("failed", [False, True])
@pytest.mark.parametrize(
    "settings",
    [
        {},
        {"receipt": "WH/IN/00012", "supplier": "SUP-0042", "severity": "critical"},
        {"inspection_type": "final", "quantity": 12.5, "uom": "kg", "hold": False},
    ],
)
def test_every_planned_inspection_validates_against_its_schema(seed, failed, settings):
    assert_valid(inspection(seed=seed, failed=failed, **settings))


@pytest.mark.parametrize("seed", range(20))
def test_a_passing_inspection_is_one_result_all_in_tolerance(seed):
    [(_delay, event_type, data)] = inspection(seed=seed)
    assert event_type == RESULT_RECORDED
    assert data["result"] == "pass"
    kinds = [item["kind"] for item in data["characteristics"]]
    assert kinds.count("variable") >= 1 and kinds.count("attribute") >= 1
    for item in data["characteristics"]:
        assert item["result"] == "pass"
        assert in_tolerance(item), item
        assert "defect_code" not in item


@pytest.mark.parametrize("seed", range(20))
def test_a_failing_inspection_is_recorded_then_sent_as_failed(seed):
    [(first, recorded_type, recorded), (second, failed_type, failed)] = inspection(
        seed=seed, failed=True
    )
    assert (recorded_type, failed_type) == (RESULT_RECORDED, FAILED)
    assert first == second
    assert recorded["result"] == "fail"
    for name in ("inspection_id", "inspection_type", "product", "lot", "inspected_at"):
        assert failed[name] == recorded[name]
    assert failed["inspector_id"] == recorded["inspector_id"]
    out = {
        item["code"] for item in recorded["characteristics"] if item["result"] == "fail"
    }
    assert 1 <= len(out) <= 2
    assert [item["code"] for item in failed["failed_characteristics"]] == [
        item["code"] for item in recorded["characteristics"] if item["code"] in out
    ]
    for item in recorded["characteristics"]:
        assert in_tolerance(item) == (item["code"] not in out), item
    sample = recorded["sample_size"]
    for item in failed["failed_characteristics"]:
        assert not in_tolerance(item), item
        assert 1 <= item["defects_found"] <= sample
        assert item["defect_code"]
        [checked] = [
            c for c in recorded["characteristics"] if c["code"] == item["code"]
        ]
        assert checked["defect_code"] == item["defect_code"]
        if "measured_value" in item:
            low, high = limits(item)
            expected = "UNDERSIZE" if item["measured_value"] < low else "OVERSIZE"
            if item["code"] == "LEAK-RATE":
                expected = "LEAK"
            assert item["defect_code"] == expected
            assert item["measured_value"] == checked["measured_value"]
    assert failed["comment"] == recorded["comment"]
    assert all(
        item["code"] in failed["comment"] for item in failed["failed_characteristics"]
    )


def test_a_failure_carries_its_settings_and_the_presumed_defective_quantity():
    for seed in range(20):
        [(_d, _t, recorded), (_d2, _t2, failed)] = inspection(
            seed=seed,
            failed=True,
            quantity=400,
            severity="critical",
            hold=False,
            receipt="WH/IN/00012",
            supplier="SUP-0042",
        )
        assert failed["severity"] == "critical"
        assert failed["hold_requested"] is False
        assert failed["receipt"] == recorded["receipt"] == "WH/IN/00012"
        assert failed["supplier"] == {"code": "SUP-0042"}
        assert "supplier" not in recorded  # not a field of inspection.result_recorded
        assert failed["quantity_inspected"] == recorded["quantity_inspected"]
        assert recorded["quantity_inspected"] == {"value": 400, "uom": "Units"}
        worst = max(item["defects_found"] for item in failed["failed_characteristics"])
        rejected = failed["quantity_rejected"]
        assert rejected["uom"] == "Units"
        assert rejected["value"] == -(-400 * worst // recorded["sample_size"])


def test_a_sample_counted_in_pieces_is_at_most_the_quantity():
    for seed in range(20):
        [(_d, _t, recorded)] = inspection(seed=seed, quantity=3)
        assert 1 <= recorded["sample_size"] <= 3
        [(_d, _t, measured)] = inspection(seed=seed, quantity=0.5, uom="kg")
        assert measured["sample_size"] >= 5
        assert measured["quantity_inspected"] == {"value": 0.5, "uom": "kg"}


def test_the_inspection_plan_is_seeded_and_follows_the_speed():
    assert inspection(seed=3, failed=True) == inspection(seed=3, failed=True)
    assert inspection(seed=3) != inspection(seed=4)
    slow, fast = inspection(speed=60), inspection(speed=6000)
    assert slow[0][0] == pytest.approx(fast[0][0] * 100)
    for speed in (1, 60, 6000):
        plan = inspection(speed=speed, failed=True)
        for delay, _type, data in plan:
            sent_at = NOW + timedelta(seconds=delay)
            assert abs(when(data["inspected_at"]) - sent_at) <= timedelta(
                milliseconds=1
            )
        assert (
            timedelta(minutes=5)
            <= timedelta(seconds=plan[0][0] * speed)
            <= timedelta(minutes=30)
        )


@pytest.mark.parametrize(
    "options",
    [
        {"lot": "RM-AL"},
        {"inspection_id": " "},
        {"failed": "yes"},
        {"speed": 0},
        {"inspection_type": "visual"},
        {"severity": "fatal"},
        {"hold": "no"},
        {"quantity": 0},
        {"quantity": float("inf")},
        {"uom": ""},
        {"receipt": ""},
        {"supplier": "SUP 42"},
    ],
)
def test_inspection_settings_out_of_range_are_refused(options):
    arguments = {"inspection_id": "INSP-1", **options}
    lot = arguments.pop("lot", LOT)
    speed = arguments.pop("speed", 60)
    with pytest.raises(ValueError):
        plan_inspection(lot, random.Random(1), NOW, speed, **arguments)


def test_the_inspection_report_sums_the_plan_up():
    plan = inspection(failed=True, quantity=400)
    report = inspection_report(plan)
    recorded, failed = plan[0][2], plan[1][2]
    assert report["report"] == "inspection"
    assert (report["inspection_id"], report["product"], report["lot"]) == (
        "INSP-1",
        "RM-AL-CAST-200",
        "LOT-2025-0311-A",
    )
    assert (report["result"], report["severity"], report["hold_requested"]) == (
        "fail",
        "major",
        True,
    )
    assert report["quantity_rejected"] == failed["quantity_rejected"]["value"]
    assert report["failed_characteristics"] == [
        item["code"] for item in failed["failed_characteristics"]
    ]
    assert report["inspected_at"] == recorded["inspected_at"]
    assert report["events"] == [{"type": t, "data": d} for _delay, t, d in plan]
    json.dumps(report)
    assert " FAIL (major) on " in describe_inspection(report)
    passed = inspection_report(inspection())
    assert (passed["result"], passed["severity"], passed["quantity_rejected"]) == (
        "pass",
        None,
        0,
    )
    assert describe_inspection(passed).startswith(
        "INSP-1 incoming inspection of RM-AL-CAST-200 lot LOT-2025-0311-A: pass"
    )


# -- dispositions -----------------------------------------------------------------


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("decision", DISPOSITIONS)
def test_every_planned_disposition_validates_against_its_schema(seed, decision):
    several = example_nonconformance()
    several["lots"] = ["LOT-2025-0311-B", "LOT-2025-0311-C"]
    for data in (example_nonconformance(), several):
        assert_valid(disposition(data, seed, disposition=decision))


def test_a_disposition_quotes_the_nonconformance_it_answers():
    nonconformance = example_nonconformance()
    [(delay, event_type, data)] = disposition(nonconformance)
    assert event_type == DISPOSITION
    assert data["disposition_id"] == "DISP-1"
    assert data["nonconformance"] == nonconformance["nonconformance"]
    assert data["product"] == nonconformance["product"]
    assert [data["lot"]] == nonconformance["lots"]
    assert data["inspection_id"] == nonconformance["inspection_id"]
    assert data["disposition"] == "release"
    assert "quantity" not in data  # the whole lot
    assert re.fullmatch(r"QA-\d{4}", data["approved_by"])
    assert abs(when(data["approved_at"]) - (NOW + timedelta(seconds=delay))) <= (
        timedelta(milliseconds=1)
    )
    assert nonconformance["nonconformance"] in data["comment"]
    assert {"supplier", "concession", "rework_instructions"}.isdisjoint(data)


@pytest.mark.parametrize(
    ("decision", "field", "value"),
    [
        (
            "return_to_supplier",
            "supplier",
            {"code": "SUP-0042", "name": "Gießerei Nord GmbH"},
        ),
        ("use_as_is", "concession", "CONC-DISP-1"),
    ],
)
def test_a_decision_carries_what_it_needs(decision, field, value):
    [(_d, _t, data)] = disposition(disposition=decision)
    assert data[field] == value


def test_rework_comes_with_instructions():
    [(_d, _t, data)] = disposition(disposition="rework")
    assert "LOT-2025-0311-B" in data["rework_instructions"]


def test_a_return_goes_to_the_configured_supplier_when_none_is_named():
    nonconformance = example_nonconformance()
    del nonconformance["supplier"]
    [(_d, _t, data)] = disposition(
        nonconformance, disposition="return_to_supplier", supplier="SUP-0007"
    )
    assert data["supplier"] == {"code": "SUP-0007"}
    with pytest.raises(ValueError, match="/supplier/code"):
        disposition(nonconformance, disposition="return_to_supplier")


def test_each_lot_gets_its_disposition_and_only_one_lot_its_quantity():
    several = example_nonconformance()
    several["lots"] = ["LOT-A", "LOT-B", "LOT-C"]
    plan = disposition(several, affected_only=True)
    assert [data["lot"] for _d, _t, data in plan] == ["LOT-A", "LOT-B", "LOT-C"]
    assert [data["disposition_id"] for _d, _t, data in plan] == [
        "DISP-1-1",
        "DISP-1-2",
        "DISP-1-3",
    ]
    assert len({data["approved_by"] for _d, _t, data in plan}) == 1
    assert all("quantity" not in data for _d, _t, data in plan)
    [(_d, _t, single)] = disposition(affected_only=True)
    assert single["quantity"] == {"value": 400, "uom": "Units"}


def test_the_review_time_follows_the_severity():
    for seed in range(10):
        for severity, least, most in (("minor", 15, 60), ("critical", 120, 480)):
            nonconformance = dict(example_nonconformance(), severity=severity)
            [(delay, _t, _data)] = disposition(nonconformance, seed, speed=60)
            assert least <= delay <= most  # minutes at 60 times real time


def test_a_nonconformance_without_lots_gets_no_disposition():
    assert disposition(example_nonconformance(1)) == []


def test_the_disposition_plan_is_seeded():
    assert disposition(seed=2) == disposition(seed=2)
    assert disposition(seed=2) != disposition(seed=3)


@pytest.mark.parametrize(
    ("change", "pointer"),
    [
        ({"nonconformance": ""}, "/nonconformance"),
        ({"lots": "LOT-1"}, "/lots"),
        ({"lots": ["LOT-1", " "]}, "/lots/1"),
        ({"product": None}, "/product/default_code"),
        ({"product": {"name": "Casting"}}, "/product/default_code"),
    ],
)
def test_an_unusable_nonconformance_names_its_pointer(change, pointer):
    nonconformance = example_nonconformance()
    nonconformance.update(change)
    with pytest.raises(ValueError, match=pointer):
        disposition(nonconformance)


@pytest.mark.parametrize(
    "options",
    [
        {"disposition": "keep"},
        {"disposition_id": ""},
        {"disposition_id": "D" * 49},
        {"supplier": "SUP 7"},
        {"speed": -1},
    ],
)
def test_disposition_settings_out_of_range_are_refused(options):
    with pytest.raises(ValueError):
        disposition(**options)


def test_the_disposition_report_sums_it_up():
    [(_d, _t, data)] = disposition(affected_only=True)
    report = disposition_report(data, "evt-1")
    assert report["report"] == "disposition"
    assert (report["nonconformance"], report["nonconformance_id"]) == (
        "NC/2025/0007",
        "evt-1",
    )
    assert (report["quantity"], report["uom"]) == (400, "Units")
    assert report["events"] == [{"type": DISPOSITION, "data": data}]
    json.dumps(report)
    assert describe_disposition(report).startswith(
        "DISP-1 for NC/2025/0007: release RM-AL-CAST-200 lot LOT-2025-0311-B "
        "(400 Units), approved by QA-"
    )


# -- the simulator over HTTP ------------------------------------------------------


@pytest.fixture
def hub():
    accepted = Answer(202, {"Content-Type": "application/json"}, ACCEPTED.encode())
    with StubServer(default=accepted) as stub:
        yield stub


def simulator(client, secret=SECRET, **options):
    logged = []
    options.setdefault("speed", 1e7)
    options.setdefault("seed", 5)
    sim = QmsSimulator(client, secret, log=logged.append, clock=lambda: NOW, **options)
    sim.logged = logged
    return sim


@pytest.fixture
def qms(hub):
    with Client(hub.base_url, API_KEY, sleep=lambda _s: None) as client:
        with simulator(client) as sim:
            yield sim


def nonconformance_event(data=None, event_type=NONCONFORMANCE, event_id=None):
    return new_event(
        event_type,
        example_nonconformance() if data is None else data,
        "urn:mfg-integration:odoo:test",
        id=event_id or str(uuid.uuid4()),
    )


def test_inspections_are_sent_in_turn_through_the_sdk(hub):
    with Client(hub.base_url, API_KEY, sleep=lambda _s: None) as client:
        sim = simulator(client, lots=LOTS, forced_failures=["B250315-01"], fail_rate=0)
        reports = sim.record_inspections()
    sent = sent_events(hub)
    assert [e["type"] for e in sent] == [RESULT_RECORDED, RESULT_RECORDED] + [
        RESULT_RECORDED,
        FAILED,
    ]
    assert [r["inspection_id"] for r in reports] == [
        f"INSP-{RUN}-{n}" for n in (1, 2, 3)
    ]
    assert [r["result"] for r in reports] == ["pass", "pass", "fail"]
    assert sim.reports == reports
    for request, document in zip(hub.requests, sent, strict=True):
        data = document["data"]
        assert request.headers["Authorization"] == f"Bearer {API_KEY}"
        assert request.headers["X-Correlation-ID"] == f"qms:{data['inspection_id']}"
        assert document["source"] == QMS_SOURCE
        assert document["subject"] == data["lot"]
        assert document["time"] == data["inspected_at"]
        assert validate(schema(document["type"]), data) == []
    assert [e["data"] for e in sent] == [
        event["data"] for report in reports for event in report["events"]
    ]
    counts = sim.counts
    assert (counts["inspections"], counts["inspections_failed"]) == (3, 1)
    assert counts["completed"] == 0  # dispositions only


def test_which_inspections_fail_follows_the_seed(hub):
    lots = [f"P-{n}@L-{n}" for n in range(12)]

    def results(seed):
        with Client(hub.base_url, API_KEY, sleep=lambda _s: None) as client:
            reports = simulator(client, lots=lots, seed=seed).record_inspections()
        return [(r["result"], r["events"]) for r in reports]

    assert results(11) == results(11)
    assert results(11) != results(12)
    outcomes = [result for result, _events in results(11)]
    assert {"pass", "fail"} == set(outcomes)


def test_a_refused_inspection_is_a_failure_and_the_next_lot_goes_on(hub):
    hub.reply(422, PROBLEM, headers={"Content-Type": "application/problem+json"})
    with Client(hub.base_url, API_KEY, sleep=lambda _s: None) as client:
        sim = simulator(client, lots=LOTS[:2], fail_rate=0)
        reports = sim.record_inspections()
    [failure] = sim.failures
    assert failure["inspection_id"] == f"INSP-{RUN}-1"
    assert (failure["event_type"], failure["status"]) == (RESULT_RECORDED, 422)
    assert [r["inspection_id"] for r in reports] == [f"INSP-{RUN}-2"]
    assert "going on with the next inspection" in "\n".join(sim.logged)


def test_a_signed_nonconformance_gets_its_disposition_once(hub, qms):
    event = nonconformance_event()
    forged = post(qms.url, nonconformance_event(), secret=generate_webhook_secret())
    first = post(qms.url, event)
    again = post(qms.url, event)  # the hub redelivered the same event
    assert (forged.status_code, first.status_code, again.status_code) == (401, 202, 202)
    assert qms.wait_completed(1, WAIT)
    assert qms.wait_idle(WAIT)
    counts = qms.counts
    assert (counts["completed"], counts["duplicates"], counts["bad_signatures"]) == (
        1,
        1,
        1,
    )
    expected = plan_disposition(
        example_nonconformance(),
        random.Random(5),
        NOW,
        1e7,
        disposition_id=f"DISP-{RUN}-1",
    )
    [request] = hub.requests
    document = request.json()
    assert (document["type"], document["data"]) == (DISPOSITION, expected[0][2])
    assert document["data"]["nonconformance"] == "NC/2025/0007"
    assert document["subject"] == "LOT-2025-0311-B"
    assert document["time"] == document["data"]["approved_at"]
    assert request.headers["X-Correlation-ID"] == "qms:NC/2025/0007"
    assert validate(schema(DISPOSITION), document["data"]) == []
    assert qms.reports == [disposition_report(expected[0][2], event["id"])]
    assert any("refused a delivery (401)" in line for line in qms.logged)


def test_corrective_actions_are_counted_and_other_events_ignored(hub, qms):
    scar = schema(CORRECTIVE_ACTION)["examples"][0]
    batch = [
        nonconformance_event(scar, CORRECTIVE_ACTION),
        nonconformance_event(event_type="production_order.released"),
        nonconformance_event(example_nonconformance(1)),  # no lot to dispose of
    ]
    assert post(qms.url, batch).status_code == 202
    assert qms.wait_idle(WAIT)
    counts = qms.counts
    assert (counts["corrective_actions"], counts["ignored"]) == (1, 2)
    assert hub.requests == []
    logged = "\n".join(qms.logged)
    assert (
        "SCAR/2025/0003: corrective action requested from supplier SUP-0042" in logged
    )
    assert "NC/2025/0009: names no lot" in logged


def test_the_same_nonconformance_again_is_answered_once(hub, qms):
    two = example_nonconformance()
    two["lots"] = ["LOT-2025-0311-B", "LOT-2025-0311-C"]
    assert post(qms.url, nonconformance_event(two)).status_code == 202
    assert post(qms.url, nonconformance_event(two)).status_code == 202
    assert qms.wait_completed(2, WAIT)
    assert qms.wait_idle(WAIT)
    assert [r["disposition_id"] for r in qms.reports] == [
        f"DISP-{RUN}-1-1",
        f"DISP-{RUN}-1-2",
    ]
    assert qms.counts["duplicates"] == 1
    assert len(hub.requests) == 2


def test_a_refused_disposition_is_a_failure_and_the_next_lot_goes_on(hub, qms):
    hub.reply(422, PROBLEM, headers={"Content-Type": "application/problem+json"})
    two = example_nonconformance()
    two["lots"] = ["LOT-2025-0311-B", "LOT-2025-0311-C"]
    assert post(qms.url, nonconformance_event(two)).status_code == 202
    assert qms.wait_completed(1, WAIT)
    assert qms.wait_idle(WAIT)
    [failure] = qms.failures
    assert failure["nonconformance"] == "NC/2025/0007"
    assert (failure["event_type"], failure["status"]) == (DISPOSITION, 422)
    assert [r["lot"] for r in qms.reports] == ["LOT-2025-0311-C"]


def test_a_return_without_supplier_is_a_failure(hub):
    nonconformance = example_nonconformance()
    del nonconformance["supplier"]
    with Client(hub.base_url, API_KEY, sleep=lambda _s: None) as client:
        with simulator(client, disposition="return_to_supplier") as sim:
            assert (
                post(sim.url, nonconformance_event(nonconformance)).status_code == 202
            )
            assert sim.wait_idle(WAIT)
    [failure] = sim.failures
    assert (failure["nonconformance"], failure["event_type"]) == ("NC/2025/0007", None)
    assert "/supplier/code" in failure["detail"]
    assert hub.requests == []


def test_inspections_and_dispositions_share_the_client(hub):
    with Client(hub.base_url, API_KEY, sleep=lambda _s: None) as client:
        with simulator(client, lots=LOTS, fail_rate=1) as sim:
            thread = threading.Thread(target=sim.record_inspections)
            thread.start()
            assert post(sim.url, nonconformance_event()).status_code == 202
            thread.join()
            assert sim.wait_completed(1, WAIT)
    types = sorted(e["type"] for e in sent_events(hub))
    assert types == sorted([RESULT_RECORDED, FAILED] * 3 + [DISPOSITION])


def qms_threads():
    return [t for t in threading.enumerate() if t.name.startswith("qms-simulator")]


def test_the_qms_leaves_no_thread_and_stops_sending():
    with QmsSimulator(None, SECRET) as sim:
        assert len(qms_threads()) == 2
        assert urlsplit(sim.url).path == "/qms/events"
    assert qms_threads() == []
    logged = []
    stopped = QmsSimulator(None, None, lots=[LOT], log=logged.append)
    stopped.stop()
    assert stopped.record_inspections() == []
    assert "interrupted, the simulator stops" in logged
    with pytest.raises(RuntimeError, match="no signing secret"):
        stopped.start()


def test_each_run_numbers_its_ids_afresh():
    later = NOW + timedelta(seconds=1, milliseconds=250)
    assert QmsSimulator(None, SECRET, clock=lambda: NOW).run_id == RUN
    assert QmsSimulator(None, SECRET, clock=lambda: later).run_id == "261124080001250"


@pytest.mark.parametrize(
    ("secret", "options", "error"),
    [
        ("not-a-secret", {}, InvalidSecret),
        (SECRET, {"lots": ["RM-AL"]}, ValueError),
        (SECRET, {"lots": [LOT, LOT]}, ValueError),
        (SECRET, {"lots": [LOT], "forced_failures": ["LOT-X"]}, ValueError),
        (SECRET, {"fail_rate": 1.5}, ValueError),
        (SECRET, {"severity": "fatal"}, ValueError),
        (SECRET, {"disposition": "keep"}, ValueError),
        (SECRET, {"quantity": -1}, ValueError),
        (SECRET, {"inspection_type": "visual"}, ValueError),
        (SECRET, {"affected_only": "yes"}, ValueError),
        (SECRET, {"path": "qms"}, ValueError),
    ],
)
def test_the_qms_checks_its_settings(secret, options, error):
    with pytest.raises(error):
        QmsSimulator(None, secret, **options)


# -- the command line -------------------------------------------------------------


@pytest.fixture(autouse=True)
def no_credentials_in_environment(monkeypatch):
    for name in (cli.DEFAULT_KEY_ENV, cli.DEFAULT_SECRET_ENV):
        monkeypatch.delenv(name, raising=False)


def qms_args(hub, *extra):
    return ["simulate", "qms", "--hub", hub.base_url, "--speed", "1e7", *extra]


def test_cli_records_inspections_and_prints_json_lines(hub, capsys, monkeypatch):
    monkeypatch.setenv(cli.DEFAULT_KEY_ENV, API_KEY)
    argv = qms_args(
        hub,
        "--no-receiver",
        "--json",
        "--fail-rate",
        "0",
        "--fail",
        "LOT-2025-0311-B",
        "--severity",
        "critical",
        "--no-hold",
        "--quantity",
        "400",
        "--receipt",
        "WH/IN/00012",
        "--supplier",
        "SUP-0042",
        *(option for lot in LOTS[:2] for option in ("--lot", lot)),
    )
    code, out, err = run_cli(capsys, argv)
    assert code == 0
    reports = [json.loads(line) for line in out.splitlines()]
    assert [(r["report"], r["lot"], r["result"]) for r in reports] == [
        ("inspection", "LOT-2025-0311-A", "pass"),
        ("inspection", "LOT-2025-0311-B", "fail"),
    ]
    assert re.fullmatch(r"INSP-\d{15}-1", reports[0]["inspection_id"])
    events = [event for report in reports for event in report["events"]]
    assert events == [{"type": e["type"], "data": e["data"]} for e in sent_events(hub)]
    assert_valid([(0, e["type"], e["data"]) for e in events])
    failed = events[-1]["data"]
    assert (failed["severity"], failed["hold_requested"]) == ("critical", False)
    assert failed["supplier"] == {"code": "SUP-0042"}
    assert "QMS simulator: 2 lot(s) to inspect" in err
    assert "2 inspection(s) recorded (1 failed)" in err


def test_cli_answers_a_nonconformance_and_exits_after_the_dispositions(hub, capsys):
    port = free_port()
    url = f"http://127.0.0.1:{port}/qms/events"
    event = nonconformance_event()
    thread, answers = deliver_when_listening(url, event)
    argv = qms_args(
        hub,
        "--key",
        API_KEY,
        "--secret",
        SECRET,
        "--listen",
        f"127.0.0.1:{port}",
        "--lot",
        LOT,
        "--fail-rate",
        "0",
        "--dispositions",
        "1",
        "--disposition",
        "scrap",
    )
    try:
        code, out, err = run_cli(capsys, argv)
    finally:
        thread.join()
    assert code == 0
    assert answers == [202]
    # the nonconformance may be answered while the inspection is sent
    listening, *lines = out.splitlines()
    assert listening.startswith(f"QMS simulator listening on {url}")
    [inspected] = [line for line in lines if line.startswith("INSP-")]
    [disposed] = [line for line in lines if line.startswith("DISP-")]
    assert " inspection of RM-AL-CAST-200 lot LOT-2025-0311-A: pass " in inspected
    assert re.fullmatch(
        r"DISP-\d{15}-1 for NC/2025/0007: scrap RM-AL-CAST-200 lot LOT-2025-0311-B "
        r"\(whole lot\), approved by QA-\d{4} at .+",
        disposed,
    )
    types = sorted(e["type"] for e in sent_events(hub))
    assert types == [DISPOSITION, RESULT_RECORDED]
    assert "1 disposition(s) completed" in err


def test_cli_gives_up_when_no_nonconformance_comes(hub, capsys):
    credentials = ("--key", API_KEY, "--secret", SECRET, "--listen", "127.0.0.1:0")
    argv = qms_args(hub, *credentials, "--dispositions", "1", "--timeout", "0.3")
    code, _out, err = run_cli(capsys, argv)
    assert code == 1
    assert "no nonconformance opened for 0.3 s (0 of 1 disposition(s) completed)" in err
    assert "/qms/events" in err
    assert "subscribed to nonconformance.opened" in err
    assert hub.requests == []


def test_cli_fails_when_the_hub_refuses_an_inspection(capsys):
    problem = json.dumps({"title": "Forbidden", "status": 403, "detail": "no"})
    refused = Answer(
        403, {"Content-Type": "application/problem+json"}, problem.encode()
    )
    with StubServer(default=refused) as hub:
        argv = qms_args(hub, "--key", API_KEY, "--no-receiver", "--lot", LOT)
        code, _out, err = run_cli(capsys, argv)
    assert code == 1
    assert "the hub refused inspection.result_recorded (HTTP 403)" in err


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--key", API_KEY], "No signing secret"),
        (["--secret", SECRET], "No API key: pass --key or set the environment"),
        (["--key", API_KEY, "--no-receiver"], "needs at least one --lot"),
        (
            ["--key", API_KEY, "--no-receiver", "--lot", LOT, "--timeout", "1"],
            "receiver",
        ),
        (
            ["--key", API_KEY, "--secret", SECRET, "--dispositions", "0"],
            "--dispositions",
        ),
        (["--key", API_KEY, "--secret", SECRET, "--lot", "RM-AL"], "PRODUCT_CODE@LOT"),
        (["--key", API_KEY, "--secret", SECRET, "--lot", LOT, "--fail", "X"], "Lot X"),
        (["--key", API_KEY, "--secret", SECRET, "--fail-rate", "2"], "fail rate"),
        (["--key", API_KEY, "--secret", SECRET, "--quantity", "0"], "quantity"),
        (
            ["--key", API_KEY, "--secret", SECRET, "--disposition", "keep"],
            "--disposition",
        ),
        (["--key", API_KEY, "--secret", SECRET, "--supplier", "SUP 42"], "not a code"),
    ],
)
def test_cli_usage_errors_never_show_secrets(hub, capsys, extra, message):
    code, _out, err = run_cli(capsys, qms_args(hub, *extra))
    assert code == 2
    assert message in err
    assert hub.requests == []
