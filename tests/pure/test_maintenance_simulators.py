"""The maintenance simulators: the CMMS plan and the machine's downtime schedule
(pure), the CMMS receiver and runner and the machine runner (real HTTP on
127.0.0.1, with a stub standing in for the hub), and ``mfg-integration simulate
cmms`` / ``simulate machine``.
"""

import copy
import json
import random
import re
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
from mfg_integration.maintenance_simulators import (
    CMMS_SOURCE,
    COMPLETED,
    CREATED,
    DEFAULT_OUTCOME,
    DEFAULT_REASON_CATEGORY,
    DOWNTIME_ENDED,
    DOWNTIME_STARTED,
    MACHINE_SOURCE,
    OUTCOMES,
    REASON_CATEGORIES,
    SPARE_PART,
    CmmsSimulator,
    MachineSimulator,
    describe_downtime,
    describe_job,
    job_report,
    parse_part,
    plan_downtimes,
    plan_job,
)
from mfg_integration.schemas import validate
from mfg_integration.simulators import Answer, StubServer, closed_port_url
from mfg_integration.transport import encode_json
from mfg_integration.webhooks import generate_webhook_secret, sign_headers

SCHEMAS = (
    Path(__file__).resolve().parents[2]
    / "addons/mfg_integration_maintenance/data/schemas"
)
NOW = datetime(2026, 11, 24, 8, 0, tzinfo=timezone.utc)
API_KEY = "mfgk_maintenance_simulator_0123456789"
SECRET = generate_webhook_secret()
ACCEPTED = json.dumps({"id": 1, "status": "accepted", "correlation_id": "x"})
PARTS = ("SP-HOSE-DN12-1000=1", "SP-OIL-ISO68=4.5:L@OIL-24-1187")
# The CMMS work order numbers of a simulator started at NOW.
RUN_PREFIX = "CMMS-WO-261124080000-"
# Long enough for any bounded wait of these tests, never reached when they pass.
WAIT = 30


def schema(code):
    return json.loads((SCHEMAS / f"{code}.v1.json").read_text(encoding="utf-8"))


def example_created(index=0):
    return copy.deepcopy(schema(CREATED)["examples"][index])


def parsed_parts():
    return [parse_part(text) for text in PARTS]


def when(text):
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def job(created=None, seed=7, speed=600, **options):
    options.setdefault("job_id", "CMMS-WO-1")
    return plan_job(
        example_created() if created is None else created,
        random.Random(seed),
        NOW,
        speed,
        **options,
    )


def downtimes(equipment=("PRESS-07",), seed=7, speed=600, **options):
    return plan_downtimes(list(equipment), random.Random(seed), NOW, speed, **options)


def assert_valid(plan):
    for _delay, event_type, data in plan:
        assert validate(schema(event_type), data) == [], (event_type, data)


def assert_never_dated_ahead(plan, speed, fields):
    for delay, _event_type, data in plan:
        sent_at = NOW + timedelta(seconds=delay)
        for name in fields:
            if name in data:
                # format_time keeps milliseconds: allow the rounding
                assert when(data[name]) <= sent_at + timedelta(milliseconds=1)
    last_delay, _type, last = plan[-1]
    assert abs(
        when(last.get("completed_at") or last.get("ended_at"))
        - (NOW + timedelta(seconds=last_delay))
    ) <= timedelta(milliseconds=1)


# -- the contract ---------------------------------------------------------------


def test_choices_are_the_schemas_enums():
    outcome = schema(COMPLETED)["properties"]["outcome"]["enum"]
    assert list(OUTCOMES) == outcome
    assert DEFAULT_OUTCOME == "repaired"
    for code in (DOWNTIME_STARTED, DOWNTIME_ENDED):
        assert (
            list(REASON_CATEGORIES) == schema(code)["$defs"]["reason_category"]["enum"]
        )
    assert DEFAULT_REASON_CATEGORY == "breakdown"


# -- spare parts ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "SP-HOSE-DN12-1000=1",
            {
                "product": {"default_code": "SP-HOSE-DN12-1000"},
                "quantity": {"value": 1, "uom": "Units"},
            },
        ),
        (
            "SP-OIL-ISO68=4.5:L@OIL-24-1187",
            {
                "product": {"default_code": "SP-OIL-ISO68"},
                "quantity": {"value": 4.5, "uom": "L"},
                "lot": "OIL-24-1187",
            },
        ),
        (
            "SP-SEAL=2@S-77",
            {
                "product": {"default_code": "SP-SEAL"},
                "quantity": {"value": 2, "uom": "Units"},
                "lot": "S-77",
            },
        ),
    ],
)
def test_a_part_is_code_quantity_unit_and_lot(text, expected):
    assert parse_part(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "SP-HOSE",
        "=1",
        "SP-HOSE=0",
        "SP-HOSE=-1",
        "SP-HOSE=x",
        "SP-HOSE=nan",
        "A=1:",
        "A=1@",
    ],
)
def test_an_unusable_part_is_refused(text):
    with pytest.raises(ValueError):
        parse_part(text)


# -- the CMMS plan --------------------------------------------------------------


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("outcome", OUTCOMES)
@pytest.mark.parametrize("example", [0, 1])
def test_every_planned_cmms_event_validates_against_its_schema(example, outcome, seed):
    plan = job(example_created(example), seed, parts=parsed_parts(), outcome=outcome)
    assert_valid(plan)


@pytest.mark.parametrize("seed", range(6))
def test_parts_are_booked_during_the_job_then_it_is_completed(seed):
    created = example_created()
    plan = job(created, seed, parts=parsed_parts())
    types = [event_type for _d, event_type, _data in plan]
    assert types == [SPARE_PART, SPARE_PART, COMPLETED]
    delays = [delay for delay, _t, _d in plan]
    assert delays == sorted(delays) and delays[0] > 0
    completion = plan[-1][2]
    started, completed = (
        when(completion["started_at"]),
        when(completion["completed_at"]),
    )
    assert started < completed
    booked = []
    for _delay, _type, data in plan[:-1]:
        assert data["cmms_work_order"] == "CMMS-WO-1"
        assert data["maintenance_request"] == created["maintenance_request"]
        assert data["equipment"] == {"code": "PRESS-07", "serial_no": "SCH-4471-2019"}
        assert data["technician"] in completion["technicians"]
        assert started <= when(data["consumed_at"]) <= completed
        booked.append((data["product"], data["quantity"], data.get("lot")))
    assert booked == [
        (part["product"], part["quantity"], part.get("lot")) for part in parsed_parts()
    ]
    assert completion["cmms_work_order"] == "CMMS-WO-1"
    assert completion["maintenance_request"] == created["maintenance_request"]
    assert completion["equipment"] == {
        "code": "PRESS-07",
        "serial_no": "SCH-4471-2019",
        "name": "Schuler 400 t press",
    }
    assert completion["outcome"] == "repaired"
    assert completion["equipment_available"] is True
    hours = (completed - started).total_seconds() / 3600
    assert completion["labour_hours"] == round(
        hours * len(completion["technicians"]), 2
    )
    assert len(set(completion["technicians"])) == len(completion["technicians"])


def test_without_parts_only_the_completion_is_sent():
    plan = job(example_created(1))
    assert [event_type for _d, event_type, _data in plan] == [COMPLETED]
    assert plan[0][2]["equipment"] == {"code": "CNC-03"}


def test_a_planned_duration_sets_the_length_of_the_job():
    created = example_created(1)  # planned_duration_hours: 4
    for seed in range(8):
        completion = job(created, seed)[-1][2]
        length = when(completion["completed_at"]) - when(completion["started_at"])
        assert timedelta(hours=3.2) <= length <= timedelta(hours=5)


@pytest.mark.parametrize(
    ("outcome", "codes"),
    [
        ("repaired", {"failure_code", "cause_code", "remedy_code"}),
        ("temporary_fix", {"failure_code", "cause_code", "remedy_code"}),
        ("serviced", set()),
        ("no_fault_found", {"failure_code"}),
        ("not_repairable", {"failure_code", "cause_code"}),
    ],
)
def test_the_codes_follow_the_outcome(outcome, codes):
    completion = job(outcome=outcome)[-1][2]
    assert completion["outcome"] == outcome
    assert {name for name in completion if name.endswith("_code")} == codes
    assert completion["notes"]


def test_unavailable_equipment_is_reported_and_noted():
    completion = job(equipment_available=False)[-1][2]
    assert completion["equipment_available"] is False
    assert "not released to production" in completion["notes"]


def test_the_cmms_plan_is_deterministic_and_follows_the_speed():
    parts = parsed_parts()
    assert job(parts=parts) == job(parts=parts)
    slow, fast = job(parts=parts, speed=60), job(parts=parts, speed=6000)
    for (slow_delay, *_s), (fast_delay, *_f) in zip(slow, fast, strict=True):
        assert slow_delay == pytest.approx(fast_delay * 100)
    for speed in (1, 60, 6000):
        plan = job(parts=parts, speed=speed)
        assert_never_dated_ahead(plan, speed, ("consumed_at", "completed_at"))


@pytest.mark.parametrize(
    ("change", "pointer"),
    [
        ({"maintenance_request": ""}, "/maintenance_request"),
        ({"maintenance_request": None}, "/maintenance_request"),
        ({"equipment": "PRESS-07"}, "/equipment/code"),
        ({"equipment": {"name": "Press"}}, "/equipment/code"),
    ],
)
def test_an_unusable_work_order_names_its_pointer(change, pointer):
    created = example_created()
    created.update(change)
    with pytest.raises(ValueError, match=pointer):
        job(created)


@pytest.mark.parametrize(
    "options",
    [
        {"outcome": "fixed"},
        {"equipment_available": "yes"},
        {"speed": 0},
        {"job_id": " "},
    ],
)
def test_cmms_settings_out_of_range_are_refused(options):
    with pytest.raises(ValueError):
        job(**options)


def test_the_job_report_sums_the_plan_up():
    plan = job(parts=parsed_parts())
    report = job_report(plan, created_id="evt-1")
    completion = plan[-1][2]
    assert report["cmms_work_order"] == "CMMS-WO-1"
    assert report["maintenance_request"] == "MR/2025/00318"
    assert report["created_id"] == "evt-1"
    assert report["equipment"] == "PRESS-07"
    assert report["labour_hours"] == completion["labour_hours"]
    assert report["spare_parts"] == [
        {"product": "SP-HOSE-DN12-1000", "quantity": 1, "uom": "Units", "lot": None},
        {"product": "SP-OIL-ISO68", "quantity": 4.5, "uom": "L", "lot": "OIL-24-1187"},
    ]
    assert report["events"] == [{"type": t, "data": d} for _delay, t, d in plan]
    json.dumps(report)
    line = describe_job(report)
    assert line.startswith("CMMS-WO-1 for MR/2025/00318 on PRESS-07 completed: ")
    assert "2 spare part line(s)" in line


# -- the machine plan -----------------------------------------------------------


def pairs_of(plan):
    found = {}
    for index, (_delay, event_type, data) in enumerate(plan):
        found.setdefault(data["downtime_id"], []).append((index, event_type, data))
    return found


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize(
    "options",
    [
        {},
        {
            "work_center": "PRESS-LINE-2",
            "reason_category": "changeover",
            "reason_code": "DIE-CHANGE",
            "detection": "manual",
        },
    ],
)
def test_every_planned_downtime_event_validates_against_its_schema(seed, options):
    plan = downtimes(("PRESS-07", "CNC-03"), seed, downtimes=3, **options)
    assert_valid(plan)


@pytest.mark.parametrize("seed", range(6))
def test_each_downtime_is_a_consistent_started_ended_pair(seed):
    equipment = ("PRESS-07", "CNC-03")
    plan = downtimes(
        equipment,
        seed,
        downtimes=3,
        work_center="PRESS-LINE-2",
        reason_code="HYD-LEAK",
    )
    assert len(plan) == 2 * 3 * len(equipment)
    assert [delay for delay, _t, _d in plan] == sorted(delay for delay, _t, _d in plan)
    pairs = pairs_of(plan)
    assert len(pairs) == 3 * len(equipment)
    by_machine = {}
    for downtime_id, pair in pairs.items():
        [(first, start_type, started), (second, end_type, ended)] = pair
        assert (start_type, end_type) == (DOWNTIME_STARTED, DOWNTIME_ENDED)
        assert first < second
        code = started["equipment"]["code"]
        assert downtime_id.startswith(code + "-")
        assert ended["equipment"] == started["equipment"] == {"code": code}
        assert ended["started_at"] == started["started_at"]
        length = when(ended["ended_at"]) - when(started["started_at"])
        assert length >= timedelta(seconds=1)
        assert ended["duration_seconds"] == length.total_seconds()
        assert started["detection"] == "automatic"
        assert started["work_center"] == "PRESS-LINE-2"
        assert "work_center" not in ended
        for data in (started, ended):
            assert data["reason_category"] == "breakdown"
            assert data["reason_code"] == "HYD-LEAK"
        by_machine.setdefault(code, []).append(
            (when(started["started_at"]), when(ended["ended_at"]))
        )
    assert set(by_machine) == set(equipment)
    for cycles in by_machine.values():
        cycles.sort()
        for (_start, end), (next_start, _end) in zip(cycles, cycles[1:], strict=False):
            assert end <= next_start  # a machine runs again before it stops again


def test_the_downtime_plan_is_deterministic_and_follows_the_speed():
    assert downtimes(downtimes=2) == downtimes(downtimes=2)
    slow, fast = downtimes(downtimes=2, speed=60), downtimes(downtimes=2, speed=6000)
    for (slow_delay, *_s), (fast_delay, *_f) in zip(slow, fast, strict=True):
        assert slow_delay == pytest.approx(fast_delay * 100)
    for speed in (1, 60, 6000):
        plan = downtimes(("PRESS-07", "CNC-03"), downtimes=2, speed=speed)
        assert_never_dated_ahead(plan, speed, ("started_at", "ended_at"))


def test_a_new_schedule_gets_new_downtime_ids():
    first = plan_downtimes("PRESS-07", random.Random(1), NOW, 60)
    later = plan_downtimes("PRESS-07", random.Random(1), NOW + timedelta(hours=1), 60)
    assert first[0][2]["downtime_id"] != later[0][2]["downtime_id"]


def test_without_mean_uptime_the_machine_stops_at_once():
    plan = downtimes(mean_uptime=0)
    assert plan[0][0] == 0
    assert plan[0][1] == DOWNTIME_STARTED


@pytest.mark.parametrize(
    ("equipment", "options"),
    [
        ((), {}),
        (("PRESS-07", "PRESS-07"), {}),
        (("PRESS 07",), {}),
        (("PRESS-07",), {"downtimes": 0}),
        (("PRESS-07",), {"downtimes": 1.5}),
        (("PRESS-07",), {"reason_category": "lunch"}),
        (("PRESS-07",), {"reason_code": "-LEAK"}),
        (("PRESS-07",), {"work_center": ""}),
        (("PRESS-07",), {"mean_uptime": -1}),
        (("PRESS-07",), {"mean_downtime": 0}),
        (("PRESS-07",), {"detection": "psychic"}),
        (("PRESS-07",), {"speed": -1}),
    ],
)
def test_downtime_settings_out_of_range_are_refused(equipment, options):
    with pytest.raises(ValueError):
        downtimes(equipment, **options)


# -- the CMMS over HTTP ---------------------------------------------------------


def created_event(data=None, event_id=None, event_type=CREATED):
    return new_event(
        event_type,
        example_created() if data is None else data,
        "urn:mfg-integration:odoo:test",
        id=event_id or str(uuid.uuid4()),
        subject="MR/2025/00318",
    )


def post(url, document, secret=SECRET, msg_id=None):
    body = encode_json(document)
    if msg_id is None:
        msg_id = document["id"] if isinstance(document, dict) else "batch-1"
    headers = dict(sign_headers(secret, msg_id, body))
    headers["Content-Type"] = "application/json"
    return requests.post(url, data=body, headers=headers, timeout=WAIT)


@pytest.fixture
def hub():
    accepted = Answer(202, {"Content-Type": "application/json"}, ACCEPTED.encode())
    with StubServer(default=accepted) as stub:
        yield stub


@pytest.fixture
def cmms(hub):
    logged = []
    with Client(hub.base_url, API_KEY, sleep=lambda _s: None) as client:
        sim = CmmsSimulator(
            client,
            SECRET,
            speed=1e7,
            seed=5,
            parts=PARTS,
            log=logged.append,
            clock=lambda: NOW,
        )
        sim.logged = logged
        with sim:
            yield sim


def sent_events(hub):
    return [request.json() for request in hub.requests]


def test_a_signed_work_order_is_done_once_through_the_sdk(hub, cmms):
    event = created_event()
    forged = post(cmms.url, created_event(), secret=generate_webhook_secret())
    first = post(cmms.url, event)
    again = post(cmms.url, event)  # the hub redelivered the same event
    assert (forged.status_code, first.status_code, again.status_code) == (401, 202, 202)
    assert forged.json()["status"] == 401
    assert cmms.wait_completed(1, WAIT)
    assert cmms.wait_idle(WAIT)
    counts = cmms.counts
    assert (counts["completed"], counts["duplicates"]) == (1, 1)
    assert (counts["deliveries"], counts["bad_signatures"]) == (2, 1)
    expected = plan_job(
        example_created(),
        random.Random(5),
        NOW,
        1e7,
        job_id=RUN_PREFIX + "1",
        parts=parsed_parts(),
    )
    sent = sent_events(hub)
    assert [(e["type"], e["data"]) for e in sent] == [
        (event_type, data) for _d, event_type, data in expected
    ]
    assert [e["type"] for e in sent] == [SPARE_PART, SPARE_PART, COMPLETED]
    for request, document in zip(hub.requests, sent, strict=True):
        assert request.path == "/api/mfg/v1/events"
        assert request.headers["Authorization"] == f"Bearer {API_KEY}"
        assert request.headers["X-Correlation-ID"] == "cmms:MR/2025/00318"
        assert document["source"] == CMMS_SOURCE
        assert document["subject"] == "MR/2025/00318"
        assert validate(schema(document["type"]), document["data"]) == []
    assert sent[-1]["time"] == sent[-1]["data"]["completed_at"]
    assert cmms.reports == [job_report(expected, created_id=event["id"])]
    assert any("refused a delivery (401)" in line for line in cmms.logged)
    assert SECRET not in "\n".join(cmms.logged)


def test_each_request_is_one_job_numbered_in_turn(hub, cmms):
    second = example_created(1)
    batch = [created_event(), created_event(), created_event(second)]
    assert post(cmms.url, batch).status_code == 202
    assert cmms.wait_completed(2, WAIT)
    assert cmms.wait_idle(WAIT)
    jobs = [(r["cmms_work_order"], r["maintenance_request"]) for r in cmms.reports]
    assert jobs == [
        (RUN_PREFIX + "1", "MR/2025/00318"),
        (RUN_PREFIX + "2", "MR/2025/00321"),
    ]
    assert cmms.counts["duplicates"] == 1  # the same request again, another id
    assert "MR/2025/00318: already run" in "\n".join(cmms.logged)


def test_other_events_and_unusable_work_orders_send_nothing(hub, cmms):
    other = created_event(event_type="maintenance.request_updated")
    assert post(cmms.url, other).status_code == 202
    unusable = example_created()
    del unusable["equipment"]
    assert post(cmms.url, created_event(unusable)).status_code == 202
    assert post(cmms.url, {"id": "no-envelope"}).status_code == 422
    assert cmms.wait_idle(WAIT)
    counts = cmms.counts
    assert (counts["ignored"], counts["failed"], counts["malformed"]) == (1, 1, 1)
    [failure] = cmms.failures
    assert failure["maintenance_request"] == "MR/2025/00318"
    assert failure["event_type"] is None
    assert "/equipment/code" in failure["detail"]
    assert hub.requests == []


def test_a_refused_event_ends_the_job_and_the_next_one_runs(hub, cmms):
    problem = {
        "type": PROBLEM_BASE_URI + "reference-not-found",
        "title": "Reference not found",
        "status": 422,
        "detail": "No product SP-HOSE-DN12-1000.",
        "errors": [{"pointer": "/data/product/default_code", "message": "unknown"}],
    }
    hub.reply(422, problem, headers={"Content-Type": "application/problem+json"})
    assert post(cmms.url, created_event()).status_code == 202
    assert post(cmms.url, created_event(example_created(1))).status_code == 202
    assert cmms.wait_completed(1, WAIT)
    assert cmms.wait_idle(WAIT)
    [failure] = cmms.failures
    assert failure["maintenance_request"] == "MR/2025/00318"
    assert (failure["event_type"], failure["status"]) == (SPARE_PART, 422)
    assert failure["errors"] == problem["errors"]
    requests_of = [event["data"]["maintenance_request"] for event in sent_events(hub)]
    assert requests_of[0] == "MR/2025/00318"
    assert set(requests_of[1:]) == {"MR/2025/00321"}
    assert [report["cmms_work_order"] for report in cmms.reports] == [RUN_PREFIX + "2"]
    assert "going on with the next job" in "\n".join(cmms.logged)


def test_each_cmms_run_numbers_its_jobs_afresh():
    # The hub binds a CMMS work order to one request for good: a second run must
    # not reuse the numbers of the first.
    first = CmmsSimulator(None, SECRET, clock=lambda: NOW)
    later = CmmsSimulator(None, SECRET, clock=lambda: NOW + timedelta(seconds=1))
    assert first.job_prefix == RUN_PREFIX
    assert later.job_prefix == "CMMS-WO-261124080001-"
    assert CmmsSimulator(None, SECRET, job_prefix="WO-").job_prefix == "WO-"


def cmms_threads():
    return [t for t in threading.enumerate() if t.name.startswith("cmms-simulator")]


def test_the_cmms_leaves_no_thread():
    with CmmsSimulator(None, SECRET) as sim:
        assert len(cmms_threads()) == 2
        assert urlsplit(sim.url).path == "/cmms/events"
    assert cmms_threads() == []


@pytest.mark.parametrize(
    ("secret", "options", "error"),
    [
        ("not-a-secret", {}, InvalidSecret),
        (SECRET, {"outcome": "fixed"}, ValueError),
        (SECRET, {"parts": ["SP-HOSE"]}, ValueError),
        (SECRET, {"job_prefix": "CMMS WO"}, ValueError),
        (SECRET, {"job_prefix": ""}, ValueError),
        (SECRET, {"path": "cmms"}, ValueError),
        (SECRET, {"speed": 0}, ValueError),
    ],
)
def test_the_cmms_checks_its_settings(secret, options, error):
    with pytest.raises(error):
        CmmsSimulator(None, secret, **options)


# -- the machine over HTTP ------------------------------------------------------


def machine(client, **options):
    options.setdefault("speed", 1e7)
    options.setdefault("seed", 3)
    return MachineSimulator(
        client, ["PRESS-07", "CNC-03"], clock=lambda: NOW, **options
    )


def test_the_machine_sends_its_schedule_through_the_sdk(hub):
    logged = []
    with Client(hub.base_url, API_KEY, sleep=lambda _s: None) as client:
        reports = machine(client, downtimes=2, log=logged.append).run()
    expected = plan_downtimes(
        ["PRESS-07", "CNC-03"], random.Random(3), NOW, 1e7, downtimes=2
    )
    sent = sent_events(hub)
    assert [(e["type"], e["data"]) for e in sent] == [
        (event_type, data) for _d, event_type, data in expected
    ]
    for request, document in zip(hub.requests, sent, strict=True):
        downtime_id = document["data"]["downtime_id"]
        assert request.headers["Authorization"] == f"Bearer {API_KEY}"
        assert request.headers["X-Correlation-ID"] == f"machine:{downtime_id}"
        assert document["source"] == MACHINE_SOURCE
        assert document["subject"] == document["data"]["equipment"]["code"]
        stamp = "ended_at" if document["type"] == DOWNTIME_ENDED else "started_at"
        assert document["time"] == document["data"][stamp]
    assert len(reports) == 4
    for report in reports:
        [started, ended] = report["events"]
        assert (started["type"], ended["type"]) == (DOWNTIME_STARTED, DOWNTIME_ENDED)
        assert started["data"]["downtime_id"] == report["downtime_id"]
        assert report["duration_seconds"] == ended["data"]["duration_seconds"]
        assert describe_downtime(report).startswith(f"{report['equipment']} down ")
        json.dumps(report)
    assert len(logged) == 1 + len(expected)


def test_the_machine_goes_on_after_a_refusal(hub):
    problem = {"title": "Validation failed", "status": 422, "detail": "no"}
    hub.reply(422, problem, headers={"Content-Type": "application/problem+json"})
    logged = []
    with Client(hub.base_url, API_KEY, sleep=lambda _s: None) as client:
        simulator = machine(client, log=logged.append)
        reports = simulator.run()
    [failure] = simulator.failures
    first = hub.requests[0].json()
    assert failure["downtime_id"] == first["data"]["downtime_id"]
    assert (failure["event_type"], failure["status"]) == (first["type"], 422)
    assert len(hub.requests) == 4
    counts = simulator.counts
    assert (counts["sent"], counts["completed"], counts["rejected_events"]) == (3, 1, 1)
    assert [report["downtime_id"] for report in reports] != [failure["downtime_id"]]
    assert "going on with the next event" in "\n".join(logged)


def test_a_stopped_machine_sends_nothing_more(hub):
    logged = []
    with Client(hub.base_url, API_KEY) as client:
        simulator = machine(client, log=logged.append)
        simulator.stop()
        assert simulator.run() == []
    assert hub.requests == []
    assert "interrupted, the simulator stops" in logged


# -- the command line -----------------------------------------------------------


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


def cmms_args(hub, port, *extra):
    return [
        "simulate",
        "cmms",
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


def machine_args(hub, *extra):
    return ["simulate", "machine", "--hub", hub.base_url, "--speed", "1e7", *extra]


def test_cli_cmms_does_a_job_and_prints_a_json_line(hub, capsys, monkeypatch):
    monkeypatch.setenv(cli.DEFAULT_KEY_ENV, API_KEY)
    monkeypatch.setenv(cli.DEFAULT_SECRET_ENV, SECRET)
    port = free_port()
    event = created_event()
    url = f"http://127.0.0.1:{port}/cmms/events"
    thread, answers = deliver_when_listening(url, event)
    try:
        code, out, err = run_cli(
            capsys,
            cmms_args(
                hub,
                port,
                "--jobs",
                "1",
                "--json",
                "--part",
                PARTS[0],
                "--outcome",
                "temporary_fix",
                "--equipment-unavailable",
            ),
        )
    finally:
        thread.join()
    assert code == 0
    assert answers == [202]
    [line] = out.splitlines()
    report = json.loads(line)
    assert re.fullmatch(r"CMMS-WO-\d{12}-1", report["cmms_work_order"])
    assert report["maintenance_request"] == "MR/2025/00318"
    assert report["created_id"] == event["id"]
    assert (report["outcome"], report["equipment_available"]) == (
        "temporary_fix",
        False,
    )
    assert report["events"] == [
        {"type": e["type"], "data": e["data"]} for e in sent_events(hub)
    ]
    assert [e["type"] for e in report["events"]] == [SPARE_PART, COMPLETED]
    assert_valid([(0, e["type"], e["data"]) for e in report["events"]])
    assert f"CMMS simulator listening on {url}" in err
    assert "1 job(s) completed" in err


def test_cli_cmms_prints_human_lines(hub, capsys):
    port = free_port()
    url = f"http://127.0.0.1:{port}/cmms"
    thread, answers = deliver_when_listening(url, created_event())
    try:
        code, out, _err = run_cli(
            capsys,
            cmms_args(
                hub,
                port,
                "--key",
                API_KEY,
                "--secret",
                SECRET,
                "--path",
                "/cmms",
                "--jobs",
                "1",
                "--job-prefix",
                "WO-",
            ),
        )
    finally:
        thread.join()
    assert code == 0
    assert answers == [202]
    listening, completed = out.splitlines()
    assert listening.startswith(f"CMMS simulator listening on {url}")
    assert completed.startswith("WO-1 for MR/2025/00318 on PRESS-07 completed: ")


def test_cli_cmms_gives_up_when_no_work_order_comes(hub, capsys):
    argv = cmms_args(
        hub, 0, "--key", API_KEY, "--secret", SECRET, "--jobs", "1", "--timeout", "0.3"
    )
    code, _out, err = run_cli(capsys, argv)
    assert code == 1
    assert (
        "no maintenance work order created for 0.3 s (0 of 1 job(s) completed)" in err
    )
    assert "/cmms/events" in err
    assert "subscribed to maintenance.work_order_created" in err
    assert hub.requests == []


def test_cli_machine_prints_one_json_line_per_downtime(hub, capsys, monkeypatch):
    monkeypatch.setenv(cli.DEFAULT_KEY_ENV, API_KEY)
    argv = machine_args(
        hub,
        "--equipment",
        "PRESS-07",
        "--downtimes",
        "2",
        "--json",
        "--seed",
        "4",
        "--reason-category",
        "quality_hold",
        "--reason-code",
        "QH-01",
        "--work-center",
        "PRESS-LINE-2",
    )
    code, out, err = run_cli(capsys, argv)
    assert code == 0
    reports = [json.loads(line) for line in out.splitlines()]
    assert len(reports) == 2
    events = [event for report in reports for event in report["events"]]
    assert events == [{"type": e["type"], "data": e["data"]} for e in sent_events(hub)]
    assert_valid([(0, e["type"], e["data"]) for e in events])
    assert [e["type"] for e in events] == [DOWNTIME_STARTED, DOWNTIME_ENDED] * 2
    for report in reports:
        assert report["equipment"] == "PRESS-07"
        assert (report["reason_category"], report["reason_code"]) == (
            "quality_hold",
            "QH-01",
        )
        assert len({e["data"]["downtime_id"] for e in report["events"]}) == 1
    assert reports[0]["downtime_id"] != reports[1]["downtime_id"]
    assert "2 downtime(s) completed, 4 event(s) accepted, 0 refused" in err


def test_cli_machine_prints_human_lines(hub, capsys):
    argv = machine_args(
        hub, "--key", API_KEY, "--equipment", "PRESS-07", "--equipment", "CNC-03"
    )
    code, out, _err = run_cli(capsys, argv)
    assert code == 0
    announce, *lines = out.splitlines()
    assert announce.startswith("machine simulator: 2 machine(s) (hub ")
    assert sorted(line.split()[0] for line in lines) == ["CNC-03", "PRESS-07"]
    assert all(" down " in line for line in lines)


def test_cli_machine_fails_when_the_hub_refuses(capsys):
    problem = json.dumps({"title": "Forbidden", "status": 403, "detail": "no"})
    refused = Answer(
        403, {"Content-Type": "application/problem+json"}, problem.encode()
    )
    with StubServer(default=refused) as hub:
        argv = machine_args(hub, "--key", API_KEY, "--equipment", "PRESS-07")
        code, out, err = run_cli(capsys, argv)
    assert code == 1
    assert out.splitlines()[1:] == []
    assert "the hub refused machine.downtime_started (HTTP 403)" in err
    assert "0 downtime(s) completed, 0 event(s) accepted, 2 refused" in err


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--key", API_KEY], "No signing secret"),
        (["--secret", SECRET], "No API key: pass --key or set the environment"),
        (["--key", API_KEY, "--secret", SECRET, "--jobs", "0"], "--jobs"),
        (["--key", API_KEY, "--secret", SECRET, "--part", "SP=0"], "more than 0"),
        (["--key", API_KEY, "--secret", SECRET, "--job-prefix", "A B"], "job prefix"),
        (["--key", API_KEY, "--secret", SECRET, "--outcome", "fixed"], "--outcome"),
        (["--key", API_KEY, "--secret", SECRET, "--speed", "0"], "speed"),
    ],
)
def test_cli_cmms_usage_errors_never_show_secrets(hub, capsys, extra, message):
    code, _out, err = run_cli(capsys, cmms_args(hub, 0, *extra))
    assert code == 2
    assert message in err
    assert hub.requests == []


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--equipment", "PRESS-07"], "No API key"),
        (["--key", API_KEY], "--equipment"),
        (["--key", API_KEY, "--equipment", "PRESS 07"], "is not a code"),
        (["--key", API_KEY, "--equipment", "A", "--equipment", "A"], "twice"),
        (["--key", API_KEY, "--equipment", "A", "--downtimes", "0"], "downtimes"),
        (["--key", API_KEY, "--equipment", "A", "--mean-downtime", "0"], "downtime"),
        (["--key", API_KEY, "--equipment", "A", "--reason-category", "x"], "reason"),
        (["--key", API_KEY, "--equipment", "A", "--speed", "0"], "speed"),
    ],
)
def test_cli_machine_usage_errors_never_show_secrets(hub, capsys, extra, message):
    code, _out, err = run_cli(capsys, machine_args(hub, *extra))
    assert code == 2
    assert message in err
    assert hub.requests == []
