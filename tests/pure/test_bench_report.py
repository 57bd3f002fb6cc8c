"""The benchmark's arithmetic: ratios with their spread over the repetitions, the
domain rows of the table, the events of the domain rounds (bench/report.py,
bench/domain.py, bench/multicall.py; no Odoo)."""

import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from mfg_integration.schemas import validate

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))

import domain  # noqa: E402
import report  # noqa: E402
from bench_errors import BenchError  # noqa: E402
from multicall import MultiCallClient, percentile  # noqa: E402


def _ratio(measurements, key):
    return next(r for r in report.ratios(measurements) if r["key"] == key)


def test_ratio_spread_is_taken_run_by_run():
    measurements = {
        "ingress_single": {"rps": 220.0, "rps_runs": [200.0, 220.0, 260.0]},
        "webhook_noop": {"rps": 100.0, "rps_runs": [100.0, 100.0, 130.0]},
    }
    ratio = _ratio(measurements, "ingress_vs_webhook")
    assert ratio["value"] == 2.2
    assert ratio["met"] is True
    assert ratio["target"] == ">= 2"
    # 200/100, 220/100, 260/130: the ratio of each repetition, not min/max apart
    assert ratio["spread"] == (2.0, 2.2)
    assert ratio["repetitions"] == 3


def test_ratio_without_matching_repetitions_has_no_spread():
    measurements = {
        "ingress_batch": {"events_per_s": 9000.0, "events_per_s_runs": [9000.0]},
        "pg_insert": {"tps": 6000.0, "tps_runs": [5000.0, 6000.0, 7000.0]},
    }
    ratio = _ratio(measurements, "batch_vs_insert")
    assert ratio["value"] == 1.5
    assert ratio["met"] is False
    assert ratio["spread"] is None


def test_raised_targets():
    targets = {r["key"]: r["target"] for r in report.ratios({})}
    assert targets["ingress_vs_webhook"] == ">= 2"
    assert targets["batch_vs_insert"] == ">= 2"
    assert targets["outbound_vs_jobs"] == ">= 10"
    for family in domain.FAMILIES:
        assert targets[f"domain_{family}"] == ">= 1.5"


def _domain(suite, json2):
    rounds_suite = [
        {"job_share": 0.9, "ingress_seconds": 0.5, "seconds": 4.0} for _r in suite
    ]
    rounds_json2 = [
        {"calls_per_event": 4.0, "latency_ms_per_event": {"p50": 120.0, "p99": 300.0}}
        for _r in json2
    ]
    return {
        "label": "MES progress + consumption",
        "suite_events_per_s": sorted(suite)[1],
        "suite_events_per_s_runs": suite,
        "json2_events_per_s": sorted(json2)[1],
        "json2_events_per_s_runs": json2,
        "suite": rounds_suite,
        "json2": rounds_json2,
    }


def test_domain_ratio_and_table_rows():
    measurements = {"domain_mes": _domain([40.0, 44.0, 48.0], [20.0, 22.0, 30.0])}
    ratio = _ratio(measurements, "domain_mes")
    assert ratio["value"] == 2.0
    assert ratio["met"] is True
    assert ratio["spread"] == (1.6, 2.0)
    results = {
        "run": {"batch_size": 500, "memory_events": 1, "list_rows": 1},
        "measurements": measurements,
    }
    rows = [row for row in report.figure_rows(results) if row[0] == "D-mes"]
    assert len(rows) == 2
    assert rows[0][2] == "44.0 events/s (40.0–48.0)"
    assert "0.90 job-seconds per second" in rows[0][5]
    assert rows[1][2] == "22.0 events/s (20.0–30.0)"
    assert "4.0 calls per event" in rows[1][1]


def test_failed_domain_measurement_is_shown_as_failed():
    results = {
        "run": {"batch_size": 500, "memory_events": 1, "list_rows": 1},
        "measurements": {"domain_downtime": {"error": "a message failed"}},
    }
    rows = [row for row in report.figure_rows(results) if row[0] == "D-downtime"]
    assert rows == [rows[0]]
    assert rows[0][2].startswith("FAILED: a message failed")


def _fixtures(orders=32):
    return {
        "tokens": ["a", "b"],
        "orders": [
            {"name": f"WH/MO/{i:05d}", "id": i, "work_order": f"WO-{i}"}
            for i in range(1, orders + 1)
        ],
        "equipment": [f"BENCH-PRESS-{i:02d}" for i in range(1, 9)],
        "work_center": "BENCH-ASM",
        "finished": "BENCH-FG",
        "component": "BENCH-C1",
    }


def _schema(event_type, addon):
    path = ROOT / "addons" / addon / "data" / "schemas" / f"{event_type}.v1.json"
    return path.read_text(encoding="utf-8")


@pytest.mark.parametrize(
    "family,addons",
    [
        (
            "mes",
            {
                "work_order.progress_reported": "mfg_integration_mes",
                "material.consumed": "mfg_integration_mes",
            },
        ),
        ("downtime", {"machine.downtime_started": "mfg_integration_maintenance"}),
        ("inspection", {"inspection.result_recorded": "mfg_integration_quality"}),
    ],
)
def test_domain_events_are_valid_and_unique(family, addons):
    plan = domain.DomainPlan(_fixtures(), "stamp", threads=8, per_thread=2)
    events = plan.events(family, "suite", "bench-x", steps=3)
    assert len(events) == 8
    flat = [event for own in events for event in own]
    assert len({event_id for _t, event_id, _d in flat}) == len(flat)
    for event_type, _id, data in flat:
        assert validate(_schema(event_type, addons[event_type]), data) == []


def test_domain_sides_use_their_own_orders_and_quantities_move_forward():
    plan = domain.DomainPlan(_fixtures(), "stamp", threads=8, per_thread=2)
    suite = plan.events("mes", "suite", "m1", steps=2)
    json2 = plan.events("mes", "json2", "m2", steps=2)

    def orders(events):
        return {d["production_order"] for own in events for _t, _i, d in own}

    assert not orders(suite) & orders(json2)
    # each client its own orders
    per_client = [orders([own]) for own in suite]
    assert all(len(o) == 2 for o in per_client)
    assert len(set().union(*per_client)) == 16
    again = plan.events("mes", "suite", "m3", steps=1)
    first = next(d for _t, _i, d in suite[0] if "quantity_good" in d)
    later = next(d for _t, _i, d in again[0] if "quantity_good" in d)
    assert later["production_order"] == first["production_order"]
    assert later["quantity_good"]["value"] == 3
    assert later["reported_at"] > first["reported_at"]
    expected = plan.expected("mes", "suite", 0)
    # 16 orders: 3 progress reports (1, 2, 3 good) and 3 bookings each
    assert expected == {"produced": 48.0, "consumed": 48.0}
    assert plan.expected("downtime", "json2", 7) == {"blocks": 7, "requests": 7}


def test_suite_units_send_batches_of_the_clients_system():
    plan = domain.DomainPlan(_fixtures(), "stamp", threads=8, per_thread=2)
    events = plan.events("downtime", "suite", "d", steps=30)
    units = domain.suite_units(events, ["token-a", "token-b"], "urn:x")
    sent = []

    def call(path, body, headers):
        sent.append((path, body, headers))
        return {"accepted": len(body), "results": []}

    for unit in units[1]:
        unit(call)
    assert [len(body) for _p, body, _h in sent] == [25, 5]
    assert all(h["Authorization"] == "Bearer token-b" for _p, _b, h in sent)
    assert sent[0][1][0]["source"] == "urn:x"

    def refusing(path, body, headers):
        return {
            "accepted": len(body) - 1,
            "results": [{"status": "rejected", "problem": {"title": "no"}}],
        }

    with pytest.raises(BenchError, match="accepted 24 of 25"):
        units[0][0](refusing)


class _Json2Stub(BaseHTTPRequestHandler):
    """Odoo's JSON-2 routes as far as the client needs them: each call recorded,
    ``search`` and ``search_read`` answering one record."""

    calls = []

    def do_POST(self):  # noqa: N802 - http.server's naming
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.calls.append((self.path, body, self.headers.get("Authorization")))
        method = self.path.rsplit("/", 1)[1]
        if self.path.endswith("/fail/write"):
            answer, status = {"message": "refused"}, 403
        elif method == "search":
            answer, status = [7], 200
        elif method == "search_read":
            answer, status = (
                [
                    {
                        "id": 9,
                        "state": "ready",
                        "quantity": 4.0,
                        "picked": True,
                        "name": "Press",
                    }
                ],
                200,
            )
        else:
            answer, status = True, 200
        data = json.dumps(answer).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.fixture
def json2_server():
    _Json2Stub.calls = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Json2Stub)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_json2_client_makes_the_business_calls(json2_server):
    plan = domain.DomainPlan(_fixtures(), "stamp", threads=2, per_thread=2)
    events = plan.events("mes", "json2", "m", steps=1)
    client = domain.Json2Client("secret-key")
    result = MultiCallClient(json2_server, threads=2).run(client.units("mes", events))
    assert result["units"] == sum(len(own) for own in events)
    calls = _Json2Stub.calls
    assert result["calls"] == len(calls)
    assert {auth for _p, _b, auth in calls} == {"bearer secret-key"}
    paths = [path for path, _b, _a in calls]
    assert "/json/2/mrp.workorder/button_start" in paths
    moves = [b for p, b, _a in calls if p == "/json/2/stock.move/write"]
    # the move was already picked with 4: one more unit booked on top
    assert moves and all(b["vals"] == {"quantity": 5.0, "picked": True} for b in moves)


def test_multicall_client_fails_on_an_error_answer(json2_server):
    def unit(call):
        call("/json/2/fail/write", {}, None)

    with pytest.raises(BenchError, match="403"):
        MultiCallClient(json2_server, threads=1).run([[unit]])


def test_percentile_interpolates_unsorted_values():
    assert percentile([3.0, 1.0, 2.0], 50) == 2.0
    assert percentile([1.0, 2.0], 50) == 1.5
    assert percentile([], 99) == 0.0
