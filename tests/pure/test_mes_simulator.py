"""The MES simulator: its plan (pure), its webhook receiver and runner (real HTTP on
127.0.0.1, with a stub standing in for the hub), and ``mfg-integration simulate mes``.
"""

import copy
import json
import math
import random
import threading
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests

from mfg_integration import cli
from mfg_integration.client import Client
from mfg_integration.cloudevents import new_event
from mfg_integration.errors import PROBLEM_BASE_URI, InvalidSecret
from mfg_integration.mes_simulator import (
    COMPLETED,
    CONSUMED,
    DEFAULT_SOURCE,
    PROGRESS,
    RELEASED,
    MesSimulator,
    describe_report,
    order_report,
    plan_order,
)
from mfg_integration.schemas import validate
from mfg_integration.simulators import Answer, StubServer, closed_port_url
from mfg_integration.transport import encode_json
from mfg_integration.webhooks import generate_webhook_secret, sign_headers

SCHEMAS = (
    Path(__file__).resolve().parents[2] / "addons/mfg_integration_mes/data/schemas"
)
NOW = datetime(2026, 11, 24, 8, 0, tzinfo=timezone.utc)
API_KEY = "mfgk_simulator_secret_0123456789"
SECRET = generate_webhook_secret()
ACCEPTED = json.dumps({"id": 1, "status": "accepted", "correlation_id": "x"})
# Long enough for any bounded wait of these tests, never reached when they pass.
WAIT = 30


def schema(code):
    return json.loads((SCHEMAS / f"{code}.v1.json").read_text(encoding="utf-8"))


def example_release():
    return copy.deepcopy(schema(RELEASED)["examples"][0])


def kg_release():
    """A release in kg with a lot, no planned durations and no components."""
    return {
        "production_order": "WH/MO/00057",
        "product": {"default_code": "SA-ADHESIVE-BASE"},
        "quantity": {"value": 380.5, "uom": "kg"},
        "lot": "B250315-01",
        "planned_start": "2026-11-24T06:00:00Z",
        "work_orders": [
            {
                "reference": "WH/MO/00057 - Mixing",
                "sequence": 2,
                "operation": "Mixing",
                "work_center": "MIX-01",
            },
            {
                "reference": "WH/MO/00057 - Weighing",
                "sequence": 1,
                "operation": "Weighing",
                "work_center": "WEIGH-01",
            },
        ],
    }


def plan(release=None, seed=7, speed=600, **options):
    return plan_order(
        example_release() if release is None else release,
        random.Random(seed),
        NOW,
        speed,
        **options,
    )


def progress_by_work_order(events):
    found = {}
    for _delay, event_type, data in events:
        if event_type == PROGRESS:
            found.setdefault(data["work_order"], []).append(data)
    return found


def consumed_totals(events):
    totals = {}
    for _delay, event_type, data in events:
        if event_type == CONSUMED:
            code = data["product"]["default_code"]
            totals[code] = totals.get(code, 0) + data["quantity"]["value"]
    return totals


def completion(events):
    [data] = [data for _d, event_type, data in events if event_type == COMPLETED]
    return data


def when(text):
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


# -- the plan -------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("release", [example_release, kg_release])
def test_every_planned_event_validates_against_its_schema(release, seed):
    events = plan(release(), seed=seed, scrap_rate=0.1)
    assert events
    for _delay, event_type, data in events:
        assert validate(schema(event_type), data) == [], (event_type, data)


def test_work_orders_report_started_progress_finished_in_sequence():
    release = example_release()
    events = plan(release)
    reports = progress_by_work_order(events)
    assert list(reports) == ["WO-17/1", "WO-17/2", "WO-17/3"]
    planned = {wo["reference"]: wo for wo in release["work_orders"]}
    for reference, sequence in reports.items():
        statuses = [data["status"] for data in sequence]
        assert statuses[0] == "started"
        assert statuses[-1] == "finished"
        assert set(statuses[1:-1]) == {"in_progress"}
        assert sequence[0]["quantity_good"]["value"] == 0
        for data in sequence:
            assert data["production_order"] == "WH/MO/00042"
            assert data["work_center"] == planned[reference]["work_center"]
            assert data["quantity_good"]["uom"] == "Units"
            assert data["operator_id"].startswith("OP-")
            assert data["shift"] in ("A", "B", "C")
    # One work order ends before the next one starts.
    times = [when(data["reported_at"]) for data in reports["WO-17/1"]]
    assert times == sorted(times)
    assert when(reports["WO-17/2"][0]["reported_at"]) > times[-1]


@pytest.mark.parametrize("seed", range(8))
def test_quantities_and_durations_are_cumulative_and_scrap_goes_no_further(seed):
    events = plan(seed=seed, scrap_rate=0.2)
    started = 50
    for sequence in progress_by_work_order(events).values():
        goods = [data["quantity_good"]["value"] for data in sequence]
        scraps = [data.get("quantity_scrap", {}).get("value", 0) for data in sequence]
        durations = [data["duration_minutes"] for data in sequence]
        assert goods == sorted(goods)
        assert scraps == sorted(scraps)
        assert durations == sorted(durations)
        assert all(isinstance(value, int) for value in goods + scraps)
        assert goods[-1] + scraps[-1] == started  # parts started = previous good
        assert goods[-1] <= started
        started = goods[-1]


@pytest.mark.parametrize("seed", range(8))
def test_scrap_reason_comes_only_with_scrap(seed):
    scrap_seen = False
    for rate in (0.0, 0.3):
        for _delay, event_type, data in plan(seed=seed, scrap_rate=rate):
            if event_type != PROGRESS:
                continue
            if "scrap_reason" in data or "quantity_scrap" in data:
                assert data["quantity_scrap"]["value"] > 0
                assert data["scrap_reason"]
                scrap_seen = True
            if rate == 0.0:
                assert "quantity_scrap" not in data
    assert scrap_seen


def test_without_scrap_the_planned_component_quantities_are_consumed():
    release = example_release()
    events = plan(release, scrap_rate=0.0)
    assert consumed_totals(events) == {
        component["product"]["default_code"]: component["quantity"]["value"]
        for component in release["components"]
    }
    assert completion(events)["quantity_produced"]["value"] == 50
    assert completion(events)["quantity_scrapped"]["value"] == 0


@pytest.mark.parametrize("seed", range(8))
def test_consumption_follows_the_parts_started_at_the_consuming_work_order(seed):
    release = example_release()
    events = plan(release, seed=seed, scrap_rate=0.2)
    reports = progress_by_work_order(events)
    started_at_second = reports["WO-17/1"][-1]["quantity_good"]["value"]
    totals = consumed_totals(events)
    assert totals["RM-AL-CAST-200"] == 50  # consumed at the first work order
    assert totals["CP-MOTOR-200W"] == started_at_second
    assert math.isclose(
        totals["RM-SEALANT-5"], 0.75 * started_at_second / 50, abs_tol=0.0011
    )


def test_bookings_name_their_work_order_lot_and_location():
    release = example_release()
    release["components"].append(
        {
            "product": {"default_code": "CP-LABEL"},
            "quantity": {"value": 50, "uom": "Units"},
        }
    )
    bookings = [data for _d, t, data in plan(release, seed=3) if t == CONSUMED]
    by_product = {}
    for data in bookings:
        by_product.setdefault(data["product"]["default_code"], []).append(data)
        assert data["consumption_type"] == "planned"
        assert data["production_order"] == "WH/MO/00042"
        assert data["quantity"]["value"] > 0
    assert {d["work_order"] for d in by_product["RM-AL-CAST-200"]} == {"WO-17/1"}
    assert {d["work_order"] for d in by_product["CP-MOTOR-200W"]} == {"WO-17/2"}
    assert {d["work_order"] for d in by_product["CP-LABEL"]} == {"WO-17/1"}
    assert {d["work_center"] for d in by_product["CP-MOTOR-200W"]} == {"ASM-01"}
    assert all(d["lot"] == "LOT-2025-0311-A" for d in by_product["RM-AL-CAST-200"])
    assert all(d["source_location"] == "WH/Stock" for d in by_product["RM-AL-CAST-200"])
    others = [
        d for code, ds in by_product.items() if code != "RM-AL-CAST-200" for d in ds
    ]
    assert not any("lot" in d or "source_location" in d for d in others)


def test_bookings_come_after_the_start_of_their_work_order():
    events = plan(seed=11)
    started = {}
    for _delay, event_type, data in events:
        if event_type == PROGRESS and data["status"] == "started":
            started[data["work_order"]] = when(data["reported_at"])
        elif event_type == CONSUMED:
            assert data["work_order"] in started
            assert when(data["consumed_at"]) >= started[data["work_order"]]


@pytest.mark.parametrize("seed", range(5))
def test_completion_reports_the_last_work_order(seed):
    events = plan(seed=seed, scrap_rate=0.1, remaining="backorder")
    reports = progress_by_work_order(events)
    done = completion(events)
    last = reports["WO-17/3"][-1]
    assert events[-1][1] == COMPLETED
    assert done["product"]["default_code"] == "FG-PUMP-200"
    assert done["quantity_produced"] == last["quantity_good"]
    assert done["quantity_scrapped"]["value"] == sum(
        sequence[-1].get("quantity_scrap", {}).get("value", 0)
        for sequence in reports.values()
    )
    assert done["remaining_quantity_action"] == "backorder"
    assert "produced_lots" not in done  # the release carries no lot
    assert done["started_at"] == reports["WO-17/1"][0]["reported_at"]
    assert done["completed_at"] == last["reported_at"]


def test_a_release_lot_is_the_produced_lot_in_the_order_unit():
    events = plan(kg_release(), seed=2, scrap_rate=0.1)
    done = completion(events)
    produced = done["quantity_produced"]
    assert done["produced_lots"] == [{"lot": "B250315-01", "quantity": produced}]
    assert list(progress_by_work_order(events)) == [
        "WH/MO/00057 - Weighing",
        "WH/MO/00057 - Mixing",
    ]
    for _delay, _event_type, data in events:
        for name in ("quantity_good", "quantity_scrap", "quantity_produced"):
            if name in data:
                value = data[name]["value"]
                assert data[name]["uom"] == "kg"
                assert value == round(value, 3)


def test_no_produced_lot_when_everything_is_scrapped():
    events = plan(kg_release(), seed=1, scrap_rate=1.0)
    done = completion(events)
    assert done["quantity_produced"]["value"] == 0
    assert "produced_lots" not in done
    assert validate(schema(COMPLETED), done) == []


def test_components_of_a_work_order_that_starts_no_part_are_not_booked():
    release = example_release()
    release["work_orders"][0]["planned_duration_minutes"] = 1000  # many reports
    events = plan(release, seed=4, scrap_rate=1.0)
    assert consumed_totals(events) == {"RM-AL-CAST-200": 50}
    for _delay, event_type, data in events:
        assert validate(schema(event_type), data) == []


def test_the_plan_is_deterministic_for_a_seed():
    assert plan(seed=42) == plan(seed=42)
    assert plan(seed=42) != plan(seed=43)


def test_delays_follow_the_speed_and_timestamps_are_never_ahead_of_sending():
    fast = plan(speed=600)
    slow = plan(speed=60)
    delays = [delay for delay, _t, _d in fast]
    assert delays == sorted(delays)
    assert delays[0] > 0
    assert [round(d * 10, 6) for d, _t, _x in fast] == [
        round(d, 6) for d, _t, _x in slow
    ]
    stamps = ("reported_at", "consumed_at", "completed_at")
    for delay, _event_type, data in fast:
        for name in stamps:
            if name in data:
                assert when(data[name]) <= NOW + timedelta(seconds=delay + 0.001)
    # the shop-floor clock runs at real scale: the last work order lasted minutes
    last = progress_by_work_order(fast)["WO-17/3"]
    elapsed = when(last[-1]["reported_at"]) - when(last[0]["reported_at"])
    assert math.isclose(
        elapsed.total_seconds() / 60, last[-1]["duration_minutes"], abs_tol=0.1
    )


def test_real_time_starts_now():
    events = plan(speed=1)
    first = when(events[0][2]["reported_at"])
    expected = NOW + timedelta(seconds=events[0][0])
    assert abs((first - expected).total_seconds()) < 0.001  # milliseconds are sent


@pytest.mark.parametrize(
    ("change", "pointer"),
    [
        (lambda r: r.pop("work_orders"), "/work_orders"),
        (
            lambda r: r["work_orders"][1].pop("work_center"),
            "/work_orders/1/work_center",
        ),
        (lambda r: r["quantity"].update(value=0), "/quantity/value"),
        (lambda r: r["components"][2].pop("product"), "/components/2/product"),
        (lambda r: r.pop("production_order"), "/production_order"),
    ],
)
def test_an_unusable_release_names_its_pointer(change, pointer):
    release = example_release()
    change(release)
    with pytest.raises(ValueError, match=pointer):
        plan(release)


@pytest.mark.parametrize(
    "options",
    [{"speed": 0}, {"speed": math.inf}, {"scrap_rate": 1.5}, {"remaining": "keep"}],
)
def test_settings_out_of_range_are_refused(options):
    with pytest.raises(ValueError):
        plan(**options)


def test_a_naive_now_is_refused():
    with pytest.raises(ValueError, match="timezone-aware"):
        plan_order(example_release(), random.Random(1), datetime(2026, 1, 1), 60)


def test_order_report_sums_the_plan_up():
    events = plan(kg_release(), seed=5, scrap_rate=0.1)
    report = order_report(events, release_id="evt-1")
    json.dumps(report)  # serialisable
    finished = [seq[-1] for seq in progress_by_work_order(events).values()]
    assert report["production_order"] == "WH/MO/00057"
    assert report["release_id"] == "evt-1"
    assert report["product"] == "SA-ADHESIVE-BASE"
    assert report["uom"] == "kg"
    assert [wo["quantity_good"] for wo in report["work_orders"]] == [
        data["quantity_good"]["value"] for data in finished
    ]
    assert report["quantity_produced"] == finished[-1]["quantity_good"]["value"]
    assert report["produced_lots"] == [
        {"lot": "B250315-01", "quantity": report["quantity_produced"]}
    ]
    assert report["consumption"] == []
    assert report["events"] == len(events)
    line = describe_report(report)
    assert line.startswith("WH/MO/00057 completed: ")
    assert "WH/MO/00057 - Mixing" in line


# -- the receiver and the runner ---------------------------------------------------


def released_event(data=None, event_id=None, event_type=RELEASED):
    return new_event(
        event_type,
        example_release() if data is None else data,
        "urn:mfg-integration:odoo:test",
        id=event_id or str(uuid.uuid4()),
        subject="WH/MO/00042",
    )


def post(url, document, secret=SECRET, msg_id=None, headers=None):
    body = encode_json(document)
    if msg_id is None:
        msg_id = document["id"] if isinstance(document, dict) else "batch-1"
    signed = dict(sign_headers(secret, msg_id, body), **(headers or {}))
    signed["Content-Type"] = "application/json"
    return requests.post(url, data=body, headers=signed, timeout=WAIT)


@pytest.fixture
def hub():
    accepted = Answer(202, {"Content-Type": "application/json"}, ACCEPTED.encode())
    with StubServer(default=accepted) as stub:
        yield stub


@pytest.fixture
def simulator(hub):
    logged = []
    with Client(hub.base_url, API_KEY, sleep=lambda _s: None) as client:
        sim = MesSimulator(
            client, SECRET, speed=1e7, seed=9, log=logged.append, clock=lambda: NOW
        )
        sim.logged = logged
        with sim:
            yield sim


def sent_events(hub):
    return [request.json() for request in hub.requests]


def test_a_signed_release_is_run_once_through_the_sdk(hub, simulator):
    event = released_event()
    first = post(simulator.url, event)
    again = post(simulator.url, event)  # the hub retried the same delivery
    same_order = post(simulator.url, released_event())  # another id, same order
    assert (first.status_code, again.status_code, same_order.status_code) == (
        202,
        202,
        202,
    )
    assert simulator.wait_completed(1, WAIT)
    assert simulator.wait_idle(WAIT)
    counts = simulator.counts
    assert counts["completed"] == 1
    assert counts["duplicates"] == 2
    assert counts["deliveries"] == 3
    # The first order of a seeded simulator is the plan of that seed.
    expected = plan_order(example_release(), random.Random(9), NOW, 1e7)
    sent = sent_events(hub)
    assert [(e["type"], e["data"]) for e in sent] == [
        (event_type, data) for _d, event_type, data in expected
    ]
    for request, document in zip(hub.requests, sent, strict=True):
        assert request.path == "/api/mfg/v1/events"
        assert request.headers["Authorization"] == f"Bearer {API_KEY}"
        assert request.headers["Content-Type"] == "application/cloudevents+json"
        assert request.headers["X-Correlation-ID"] == "mes:WH/MO/00042"
        assert document["source"] == DEFAULT_SOURCE
        assert document["subject"] == "WH/MO/00042"
        uuid.UUID(document["id"])
        assert validate(schema(document["type"]), document["data"]) == []
    assert len({document["id"] for document in sent}) == len(sent)
    assert simulator.reports == [order_report(expected, release_id=event["id"])]


@pytest.mark.parametrize("mode", ["accept", "refuse"])
def test_a_release_gate_is_answered_first(hub, mode):
    logged = []
    with (
        Client(hub.base_url, API_KEY, sleep=lambda _s: None) as client,
        MesSimulator(
            client,
            SECRET,
            speed=1e7,
            seed=9,
            log=logged.append,
            clock=lambda: NOW,
            acknowledge=mode,
        ) as sim,
    ):
        assert post(sim.url, released_event()).status_code == 202
        assert sim.wait_idle(WAIT)
    sent = sent_events(hub)
    answer = sent[0]
    assert answer["type"] == "production_order.release_acknowledged"
    assert validate(schema(answer["type"]), answer["data"]) == []
    assert answer["data"]["production_order"] == "WH/MO/00042"
    assert answer["data"]["accepted"] is (mode == "accept")
    assert hub.requests[0].headers["X-Correlation-ID"] == "mes:WH/MO/00042"
    if mode == "accept":
        references = [wo["reference"] for wo in example_release()["work_orders"]]
        assert answer["data"]["routing_confirmed"] == references
        assert sim.counts["completed"] == 1
        assert len(sent) > 1
    else:
        assert "Refused" in answer["data"]["reason"]
        assert sim.counts["completed"] == 0
        assert len(sent) == 1, "a refused order is not run"
    assert any("release" in line for line in logged)


def test_bad_or_missing_signatures_are_refused_and_not_run(hub, simulator):
    event = released_event()
    wrong = post(simulator.url, event, secret=generate_webhook_secret())
    body = encode_json(event)
    unsigned = requests.post(simulator.url, data=body, timeout=WAIT)
    stale = post(
        simulator.url,
        event,
        headers={"webhook-timestamp": str(int(time.time()) - 3600)},
    )
    assert [r.status_code for r in (wrong, unsigned, stale)] == [401, 401, 401]
    assert wrong.json()["status"] == 401
    assert simulator.wait_idle(WAIT)
    assert simulator.counts["bad_signatures"] == 3
    assert simulator.counts["deliveries"] == 0
    assert hub.requests == []
    assert any("refused a delivery (401)" in line for line in simulator.logged)
    assert SECRET not in "\n".join(simulator.logged)


def test_other_event_types_paths_and_methods(hub, simulator):
    other = released_event(data={"production_order": "WH/MO/1"}, event_type="x.y")
    assert post(simulator.url, other).status_code == 202
    wrong_path = simulator.url.replace("/odoo/events", "/elsewhere")
    assert post(wrong_path, released_event()).status_code == 404
    assert requests.get(simulator.url, timeout=WAIT).status_code == 405
    malformed = post(simulator.url, {"id": "no-envelope"})
    assert malformed.status_code == 422  # as the hub answers a bad envelope
    assert malformed.json()["errors"]
    not_json = requests.post(
        simulator.url,
        data=b"{",
        headers=sign_headers(SECRET, "m-1", b"{"),
        timeout=WAIT,
    )
    assert not_json.status_code == 400
    assert simulator.wait_idle(WAIT)
    assert simulator.counts["ignored"] == 1
    assert simulator.counts["malformed"] == 2
    assert hub.requests == []


def test_a_batch_delivery_runs_each_release(hub, simulator):
    second = example_release()
    second["production_order"] = "WH/MO/00043"
    batch = [released_event(), released_event(second)]
    assert post(simulator.url, batch).status_code == 202
    assert simulator.wait_completed(2, WAIT)
    orders = [report["production_order"] for report in simulator.reports]
    assert orders == ["WH/MO/00042", "WH/MO/00043"]


def test_a_refused_event_is_reported_and_the_next_order_runs(hub, simulator):
    problem = {
        "type": PROBLEM_BASE_URI + "validation-failed",
        "title": "Validation failed",
        "status": 422,
        "detail": "1 value(s) do not match the schema.",
        "errors": [{"pointer": "/data/work_center", "message": "unknown"}],
    }
    hub.reply(422, problem, headers={"Content-Type": "application/problem+json"})
    assert post(simulator.url, released_event()).status_code == 202
    second = example_release()
    second["production_order"] = "WH/MO/00043"
    assert post(simulator.url, released_event(second)).status_code == 202
    assert simulator.wait_completed(1, WAIT)
    assert simulator.wait_idle(WAIT)
    [failure] = simulator.failures
    assert failure["production_order"] == "WH/MO/00042"
    assert failure["event_type"] == PROGRESS
    assert failure["status"] == 422
    assert failure["errors"] == problem["errors"]
    counts = simulator.counts
    assert (counts["failed"], counts["rejected_events"], counts["completed"]) == (
        1,
        1,
        1,
    )
    orders = [event["data"]["production_order"] for event in sent_events(hub)]
    assert orders[0] == "WH/MO/00042"
    assert set(orders[1:]) == {"WH/MO/00043"}  # nothing more for the refused order
    text = "\n".join(simulator.logged)
    assert "/data/work_center: unknown" in text
    assert "going on with the next order" in text


def test_an_unreachable_hub_is_a_failure_without_status():
    logged = []
    with Client(closed_port_url(), API_KEY, max_attempts=2, sleep=lambda _s: None) as c:
        with MesSimulator(c, SECRET, speed=1e7, log=logged.append) as simulator:
            assert post(simulator.url, released_event()).status_code == 202
            assert simulator.wait_idle(WAIT)
    [failure] = simulator.failures
    assert failure["status"] is None
    assert failure["event_type"] == PROGRESS
    assert "(no answer)" in "\n".join(logged)


def test_an_unusable_release_is_a_failure_not_a_crash(hub, simulator):
    release = example_release()
    release["work_orders"] = "none"
    assert post(simulator.url, released_event(release)).status_code == 202
    assert simulator.wait_idle(WAIT)
    [failure] = simulator.failures
    assert failure["event_type"] is None
    assert "/work_orders" in failure["detail"]
    assert hub.requests == []


def mes_threads():
    return [t for t in threading.enumerate() if t.name.startswith("mes-simulator")]


def test_stop_interrupts_a_running_order_and_leaves_no_thread(hub):
    with Client(hub.base_url, API_KEY) as client:
        # The first event comes within 0.3 s, the order would last about 30 s.
        logged = []
        simulator = MesSimulator(client, SECRET, speed=1000, seed=1, log=logged.append)
        with simulator:
            assert len(mes_threads()) == 2
            assert post(simulator.url, released_event()).status_code == 202
            deadline = time.monotonic() + WAIT
            while not hub.requests and time.monotonic() < deadline:
                time.sleep(0.01)
            assert hub.requests  # the order runs, in real time
        assert mes_threads() == []
        assert simulator.counts["completed"] == 0
        assert "WH/MO/00042: interrupted, the simulator stops" in logged
    with pytest.raises(RuntimeError, match="not started"):
        _url = simulator.url


def test_a_cancellation_stops_the_running_order(hub):
    logged = []
    with Client(hub.base_url, API_KEY) as client:
        # The first event comes within 0.3 s, the order would last about 30 s.
        with MesSimulator(client, SECRET, speed=1000, seed=1, log=logged.append) as sim:
            assert post(sim.url, released_event()).status_code == 202
            deadline = time.monotonic() + WAIT
            while not hub.requests and time.monotonic() < deadline:
                time.sleep(0.01)
            assert hub.requests
            cancellation = released_event(
                data={"production_order": "WH/MO/00042", "work_orders": ["WO-17/1"]},
                event_type="production_order.cancelled",
            )
            assert post(sim.url, cancellation).status_code == 202
            assert sim.wait_idle(WAIT)
            counts = sim.counts
    assert (counts["cancelled"], counts["completed"], counts["failed"]) == (1, 0, 0)
    assert COMPLETED not in [request.json()["type"] for request in hub.requests]
    assert "WH/MO/00042: stopped, the order was cancelled" in logged


def test_constructor_checks_its_settings():
    with pytest.raises(InvalidSecret):
        MesSimulator(None, "not-a-secret")
    with pytest.raises(ValueError):
        MesSimulator(None, SECRET, path="odoo")
    with pytest.raises(ValueError):
        MesSimulator(None, SECRET, speed=-1)
    with pytest.raises(ValueError):
        MesSimulator(None, SECRET, listen=("127.0.0.1", 70000))
    with pytest.raises(ValueError, match="acknowledge"):
        MesSimulator(None, SECRET, acknowledge="maybe")


# -- the command line ------------------------------------------------------------


@pytest.fixture(autouse=True)
def no_credentials_in_environment(monkeypatch):
    for name in (cli.DEFAULT_KEY_ENV, cli.DEFAULT_SECRET_ENV):
        monkeypatch.delenv(name, raising=False)


def free_port():
    return urlsplit(closed_port_url()).port


def deliver_when_listening(url, event):
    """Post ``event`` from a thread as soon as something listens at ``url``."""
    answers = []

    def run():
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            try:
                answers.append(post(url, event).status_code)
                return
            except requests.ConnectionError:
                time.sleep(0.02)

    thread = threading.Thread(target=run)
    thread.start()
    return thread, answers


def run_cli(capsys, argv):
    code = cli.main(argv)
    out, err = capsys.readouterr()
    for secret in (API_KEY, SECRET):
        assert secret not in out
        assert secret not in err
    return code, out, err


def simulate_args(hub, port, *extra):
    return [
        "simulate",
        "mes",
        "--hub",
        hub.base_url,
        "--listen",
        f"127.0.0.1:{port}",
        "--speed",
        "1e7",
        "--seed",
        "9",
        *extra,
    ]


def test_cli_runs_orders_and_prints_json_lines(hub, capsys, monkeypatch):
    monkeypatch.setenv(cli.DEFAULT_KEY_ENV, API_KEY)
    monkeypatch.setenv(cli.DEFAULT_SECRET_ENV, SECRET)
    port = free_port()
    event = released_event()
    url = f"http://127.0.0.1:{port}/odoo/events"
    thread, answers = deliver_when_listening(url, event)
    try:
        code, out, err = run_cli(
            capsys, simulate_args(hub, port, "--orders", "1", "--json")
        )
    finally:
        thread.join()
    assert code == 0
    assert answers == [202]
    [line] = out.splitlines()
    report = json.loads(line)
    assert report["production_order"] == "WH/MO/00042"
    assert report["release_id"] == event["id"]
    assert report["quantity_produced"] == report["work_orders"][-1]["quantity_good"]
    assert report["events"] == len(hub.requests)
    assert f"listening on {url}" in err
    assert "1 order(s) completed" in err
    assert hub.requests[0].headers["Authorization"] == f"Bearer {API_KEY}"


def test_cli_prints_human_lines(hub, capsys):
    port = free_port()
    url = f"http://127.0.0.1:{port}/mes"
    thread, answers = deliver_when_listening(url, released_event())
    try:
        code, out, _err = run_cli(
            capsys,
            simulate_args(
                hub,
                port,
                "--key",
                API_KEY,
                "--secret",
                SECRET,
                "--path",
                "/mes",
                "--orders",
                "1",
                "--remaining",
                "backorder",
            ),
        )
    finally:
        thread.join()
    assert code == 0
    assert answers == [202]
    listening, completed = out.splitlines()
    assert listening.startswith(f"MES simulator listening on {url}")
    assert completed.startswith("WH/MO/00042 completed: ")
    assert hub.requests[-1].json()["data"]["remaining_quantity_action"] == "backorder"


def test_cli_gives_up_when_no_release_comes(hub, capsys):
    code, _out, err = run_cli(
        capsys,
        simulate_args(
            hub,
            0,
            "--key",
            API_KEY,
            "--secret",
            SECRET,
            "--orders",
            "1",
            "--timeout",
            "0.3",
        ),
    )
    assert code == 1
    assert "no production order released for 0.3 s (0 of 1 order(s) completed)" in err
    assert "/odoo/events" in err
    assert hub.requests == []


def test_cli_cannot_listen_on_a_busy_port(hub, capsys):
    with StubServer() as busy:
        port = busy.port
        code, _out, err = run_cli(
            capsys, simulate_args(hub, port, "--key", API_KEY, "--secret", SECRET)
        )
    assert code == 1
    assert f"cannot listen on 127.0.0.1:{port}" in err


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--key", API_KEY], "No signing secret"),
        (["--secret", SECRET], "No API key: pass --key or set the environment"),
        (["--key", API_KEY, "--secret", "whsec_" + API_KEY], "Secret 1:"),
        (["--key", API_KEY, "--secret", SECRET, "--listen", "8090"], "--listen"),
        (["--key", API_KEY, "--secret", SECRET, "--orders", "0"], "--orders"),
        (["--key", API_KEY, "--secret", SECRET, "--timeout", "-1"], "--timeout"),
        (["--key", API_KEY, "--secret", SECRET, "--speed", "0"], "speed"),
        (["--key", API_KEY, "--secret", SECRET, "--scrap-rate", "2"], "scrap rate"),
        (["--key", API_KEY, "--secret", SECRET, "--path", "x"], "path"),
    ],
)
def test_cli_usage_errors_never_show_secrets(hub, capsys, extra, message):
    argv = [
        "simulate",
        "mes",
        "--hub",
        hub.base_url,
        "--listen",
        "127.0.0.1:0",
        *extra,
    ]
    code, _out, err = run_cli(capsys, argv)
    assert code == 2
    assert message in err
