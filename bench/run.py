"""Benchmarks of the suite against Odoo's own mechanisms, in one run.

Start it with ``bash bench/run.sh [--quick] [--keep] [--no-profile] [--update-readme]``:
run.sh finds Odoo through scripts/lib.sh and passes what it found in MFG_BENCH_*
variables. See bench/README.md for what each figure means.
"""

import argparse
import datetime
import gzip
import json
import os
import re
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from pathlib import Path

import psycopg2
import requests

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(BENCH))

import profiling  # noqa: E402
import report  # noqa: E402
from domain import FAMILIES, SIDES, DomainPlan, Json2Client, suite_units  # noqa: E402
from harness import (  # noqa: E402
    CHANNELS,
    DOMAIN_CHANNELS,
    BenchError,
    OdooServer,
    machine_description,
)
from loadgen import LoadGenerator  # noqa: E402
from multicall import MultiCallClient, percentile  # noqa: E402

MODES = {
    "full": {
        "duration": 10,
        "warmup": 2,
        "jobs": 2000,
        "outbound": 5000,
        "latency_samples": 30,
        "memory_events": 100_000,
        "list_rows": 1_000_000,
        "mapping_seconds": 3,
        "list_repeats": 7,
        "profile_seconds": 10,
        "repeats": 3,
        # rounds of events per client: MES (2 orders per client, 2 events per order
        # and step), downtimes, inspections
        "domain_steps": {"mes": 5, "downtime": 20, "inspection": 20},
    },
    "quick": {
        "duration": 3,
        "warmup": 1,
        "jobs": 300,
        "outbound": 1000,
        "latency_samples": 8,
        "memory_events": 20_000,
        "list_rows": 200_000,
        "mapping_seconds": 1,
        "list_repeats": 3,
        "profile_seconds": 4,
        "repeats": 3,
        "domain_steps": {"mes": 2, "downtime": 6, "inspection": 6},
    },
}
#: manufacturing orders of the domain measurements: two per client and side
DOMAIN_ORDERS = 2 * 8 * 2
CONNECTIONS = 8
THREADS = 2
BATCH_SIZE = 500
STATIC_PATH = "/web/static/img/favicon.ico"
CALL_KW = "/web/dataset/call_kw/mfg.integration.message"
#: Odoo's access log line: queries, seconds in SQL, other seconds of the request
_ACCESS = re.compile(
    r'"[A-Z]+ (?P<path>\S+) HTTP/1\.[01]" \d{3} - '
    r"(?P<queries>\d+) (?P<sql>[0-9.]+) (?P<other>[0-9.]+)"
)
ENV_VARS = (
    "MFG_BENCH_ODOO_CMD",
    "MFG_BENCH_ADDONS_PATH",
    "MFG_BENCH_FERNET_KEY",
    "MFG_BENCH_HTTP_PORT",
    "MFG_BENCH_GEVENT_PORT",
)


def say(text):
    print(f"==> {text}", flush=True)


def note(text):
    print(f"    {text}", flush=True)


class Bench:
    def __init__(self, args):
        self.args = args
        self.mode = "quick" if args.quick else "full"
        self.cfg = MODES[self.mode]
        self.stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
        self.results_dir = BENCH / "results"
        self.results_dir.mkdir(exist_ok=True)
        self.workdir = Path(tempfile.mkdtemp(prefix="mfg_bench."))
        self.db = f"mfg_bench_{os.getpid()}_{secrets.token_hex(3)}"
        self.server = OdooServer(
            self.workdir,
            self.db,
            os.environ["MFG_BENCH_ODOO_CMD"],
            os.environ["MFG_BENCH_ADDONS_PATH"],
            os.environ["MFG_BENCH_FERNET_KEY"],
            os.environ["MFG_BENCH_HTTP_PORT"],
            os.environ["MFG_BENCH_GEVENT_PORT"],
        )
        self.load = LoadGenerator(
            self.server.base_url, self.workdir, connections=CONNECTIONS, threads=THREADS
        )
        self.multicall = MultiCallClient(self.server.base_url, threads=CONNECTIONS)
        self.plan = None
        self.odoo = None
        self.receiver = None
        self.receiver_url = None
        self.fx = None
        self.failed = []
        self._log_mark = (0, "/")
        self.measurements = {}
        self.profiles = {}
        self.results = {
            "run": {
                "started": datetime.datetime.now()
                .astimezone()
                .isoformat(timespec="seconds"),
                "mode": self.mode,
                "duration": self.cfg["duration"],
                "warmup": self.cfg["warmup"],
                "connections": CONNECTIONS,
                "threads": THREADS,
                "batch_size": BATCH_SIZE,
                "memory_events": self.cfg["memory_events"],
                "repeats": self.cfg["repeats"],
                "list_rows": self.cfg["list_rows"],
                "database": self.db,
                "server": "Odoo prefork: workers = 2, max_cron_threads = 0, queue_job "
                f"runner (channels {CHANNELS})",
            },
            "measurements": self.measurements,
            "profiles": self.profiles,
        }

    # ------------------------------------------------------------------
    # Driving the run
    # ------------------------------------------------------------------

    def measure(self, key, func, *args):
        """Run one measurement; a failure is recorded and the run goes on."""
        started = time.monotonic()
        try:
            func(*args)
        except Exception as exc:  # noqa: BLE001 - recorded, reported, run goes on
            detail = str(exc) if isinstance(exc, BenchError) else traceback.format_exc()
            self.measurements[key] = {
                "error": detail.strip().splitlines()[0][:300],
                "detail": detail,
            }
            self.failed.append(key)
            note(f"FAILED {key}: {detail.strip()[:1500]}")
        else:
            data = self.measurements.get(key, {})
            data["wall_seconds"] = round(time.monotonic() - started, 1)

    def run(self):
        load = os.getloadavg()[0]
        if load > 0.5 * (os.cpu_count() or 1):
            note(
                f"WARNING: the machine is busy (load average {load:.2f}): "
                "figures will be low"
            )
        say(f"benchmark, {self.mode} mode; work directory {self.workdir}")
        self.measure("mapping", self.bench_mapping)
        self.measure("schema_validation", self.bench_schema_validation)
        say(f"creating database {self.db} and installing the modules (no demo data)")
        self.server.write_config()
        seconds = self.server.install()
        self.results["run"]["install_seconds"] = round(seconds, 1)
        note(f"installed in {seconds:.0f}s")
        self.start_receiver()
        say("fixtures (in-process, committed before the server starts)")
        from odoo_side import OdooSide

        self.odoo = OdooSide(self.server.conf, self.db)
        self.fx = self.odoo.setup(self.receiver_url)
        self.domain_fx = self.odoo.setup_domain(
            self.fx, DOMAIN_ORDERS, equipment=CONNECTIONS
        )
        self.plan = DomainPlan(self.domain_fx, self.stamp, CONNECTIONS, 2)
        self.machine()
        self.domain_phase()
        say(f"starting Odoo on {self.server.base_url} (2 workers, queue_job runner)")
        self.server.write_config(CHANNELS)
        self.server.start()
        workers = [p.pid for p in self.server.http_workers()]
        note(f"HTTP workers {workers}, job runner {self.server.runner_pid()}")
        self.results["run"]["http_workers"] = workers

        self.measure("pg_insert", self.bench_pgbench)
        self.measure("http_ceiling", self.bench_http, "http_ceiling", STATIC_PATH, {})
        self.measure("web_health", self.bench_http, "web_health", "/web/health", {})
        self.measure("webhook_noop", self.bench_webhook, "webhook_noop", "webhook_noop")
        self.measure(
            "webhook_create", self.bench_webhook, "webhook_create", "webhook_create"
        )
        self.measure("json2_create", self.bench_json2)
        self.measure("ingress_single", self.bench_ingress_single)
        self.maybe_profile(
            "ingress_vs_webhook", "ingress_single", self.profile_ingress, False
        )
        self.measure("ingress_batch", self.bench_ingress_batch)
        self.maybe_profile(
            "batch_vs_insert", "ingress_batch", self.profile_ingress, True
        )
        self.measure("queue_job_noop", self.bench_queue_job)
        self.measure("outbound", self.bench_outbound)
        self.maybe_profile("outbound_vs_jobs", "outbound", self.profile_outbound)
        self.measure("outbound_latency", self.bench_latency)
        self.measure("memory", self.bench_memory)
        self.measure("list_view", self.bench_list_view)
        self.maybe_profile("list_view", "list_view", self.profile_list_view)
        self.measure("metrics_scrape", self.bench_metrics_scrape)
        self.results["run"]["inbound_jobs"] = self.odoo.inbound_job_states()

    def finish(self):
        """Stop everything this run started; drop the database unless --keep."""
        try:
            self.server.stop()
        finally:
            if self.receiver and self.receiver.poll() is None:
                self.receiver.terminate()
                try:
                    self.receiver.wait(10)
                except subprocess.TimeoutExpired:
                    self.receiver.kill()
            if self.server.log.exists():
                target = self.results_dir / f"bench-{self.stamp}-odoo.log.gz"
                with open(self.server.log, "rb") as src, gzip.open(target, "wb") as dst:
                    shutil.copyfileobj(src, dst)
                self.results["run"]["odoo_log"] = str(target.relative_to(ROOT))
            if self.odoo:
                self.odoo.close()
            if self.args.keep:
                note(f"kept database {self.db} and {self.workdir} (odoo.conf, logs)")
            else:
                self.drop_database()
                shutil.rmtree(self.workdir, ignore_errors=True)

    def drop_database(self):
        try:
            conn = psycopg2.connect(dbname="postgres")
            conn.autocommit = True
            with conn.cursor() as cr:
                cr.execute(f'DROP DATABASE IF EXISTS "{self.db}" WITH (FORCE)')
            conn.close()
        except psycopg2.Error as exc:
            note(f"could not drop database {self.db}: {exc}")

    def machine(self):
        conn = psycopg2.connect(dbname=self.db)
        settings = {}
        with conn.cursor() as cr:
            for name in (
                "server_version",
                "synchronous_commit",
                "fsync",
                "shared_buffers",
                "max_connections",
            ):
                cr.execute(f"SHOW {name}")
                settings[name] = cr.fetchone()[0]
            cr.execute(
                "SELECT latest_version FROM ir_module_module WHERE name = 'queue_job'"
            )
            queue_job = cr.fetchone()[0]
        conn.close()
        import odoo.release

        self.results["machine"] = machine_description(
            settings, odoo.release.version, queue_job, self.load.describe()
        )
        note(report.machine_line(self.results["machine"]))

    def start_receiver(self):
        self.receiver = subprocess.Popen(  # noqa: S603
            [sys.executable, str(BENCH / "receiver.py")],
            stdout=subprocess.PIPE,
            text=True,
        )
        line = self.receiver.stdout.readline().split()
        if len(line) != 2 or line[0] != "PORT":
            raise BenchError("the outbound receiver did not start")
        self.receiver_url = f"http://127.0.0.1:{line[1]}"

    def receiver_stats(self):
        return requests.get(f"{self.receiver_url}/_stats", timeout=10).json()

    # ------------------------------------------------------------------
    # D. domain throughput: the suite vs the same operations through JSON-2
    # ------------------------------------------------------------------

    def domain_phase(self):
        """The domain measurements, on a server whose inbound processing runs;
        the server is stopped afterwards (the rest of the run pauses it)."""
        say(
            f"starting Odoo on {self.server.base_url} for the domain measurements "
            "(inbound processing on)"
        )
        self.server.write_config(DOMAIN_CHANNELS)
        self.server.start()
        try:
            # the orders' release messages go out first, not during a round
            self._wait(
                lambda: self.odoo.sql(
                    "SELECT count(*) FROM mfg_integration_message "
                    "WHERE direction = 'outbound' AND state != 'done'"
                )[0][0],
                lambda waiting: waiting == 0,
                300,
            )
            for family in FAMILIES:
                key = f"domain_{family}"
                self.measure(key, self.bench_domain, family)
                self.maybe_profile(key, key, self.profile_domain, family)
        finally:
            self.server.stop()

    def bench_domain(self, family):
        spec = FAMILIES[family]
        steps = self.cfg["domain_steps"][family]
        say(
            f"domain {family}: {spec['label']}, the suite (batches to "
            "/api/mfg/v1/events, processed by the job runner) vs a JSON-2 client, "
            f"{CONNECTIONS} clients each"
        )
        # warm-up: one step per client and side
        warm = {side: self._domain_round(family, side, "warm", 1) for side in SIDES}
        rounds = {side: [] for side in SIDES}
        for index in range(self.cfg["repeats"]):
            for side in SIDES:  # alternating, so that drift hits both sides alike
                rounds[side].append(self._domain_round(family, side, index, steps))
                last = rounds[side][-1]
                note(
                    f"{side} round {index + 1}: {last['events']} events in "
                    f"{last['seconds']:.1f}s, {last['events_per_s']:,.1f} events/s"
                )
        effects, expected = {}, {}
        for side in SIDES:
            events = warm[side]["events"] + sum(r["events"] for r in rounds[side])
            orders = [o["id"] for o in self.plan.orders[side]]
            effects[side] = self.odoo.domain_effects(
                family, orders, f"bench-{family}-{side}-"
            )
            expected[side] = self.plan.expected(family, side, events)
            if effects[side] != expected[side]:
                raise BenchError(
                    f"domain {family}: the {side} side left {effects[side]} in Odoo, "
                    f"{expected[side]} expected"
                )
        data = {
            "label": spec["label"],
            "event_types": list(spec["types"]),
            "json2_operations": spec["json2"],
            "clients": self.multicall.threads,
            "sending_systems": len(self.domain_fx["tokens"][family]),
            "events_per_round": rounds["suite"][0]["events"],
            "effects": effects,
        }
        for side in SIDES:
            rates = [r["events_per_s"] for r in rounds[side]]
            data[f"{side}_events_per_s"] = round(statistics.median(rates), 1)
            data[f"{side}_events_per_s_runs"] = rates
            data[side] = rounds[side]
        self.measurements[f"domain_{family}"] = data
        note(
            f"domain {family}: suite {data['suite_events_per_s']:,.1f} events/s, "
            f"JSON-2 {data['json2_events_per_s']:,.1f} events/s"
        )

    def _domain_round(self, family, side, index, steps):
        marker = f"bench-{family}-{side}-{index}-{self.stamp}"
        events = self.plan.events(family, side, marker, steps)
        count = sum(len(own) for own in events)
        if side == "json2":
            client = Json2Client(self.fx["json2_key"])
            result = self.multicall.run(client.units(family, events))
            return {
                "events": count,
                "seconds": result["seconds"],
                "events_per_s": round(count / result["seconds"], 2),
                "calls": result["calls"],
                "calls_per_event": round(result["calls"] / count, 2),
                "latency_ms_per_event": result["latency_ms"],
            }
        source = f"urn:bench:{marker}"

        def done(states):
            if "error" in states:
                raise BenchError(f"domain {family}: a message failed: {states}")
            return states.get("done") == count

        result = self.multicall.run(
            suite_units(events, self.domain_fx["tokens"][family], source)
        )
        ended, _states = self._wait(
            lambda: self.odoo.domain_states(source), done, count + 120
        )
        seconds = ended - result["started"]
        job_seconds, jobs = self.odoo.drain_job_seconds(result["started"], ended)
        return {
            "events": count,
            "requests": result["units"],
            "seconds": round(seconds, 3),
            "events_per_s": round(count / seconds, 2),
            "ingress_seconds": result["seconds"],
            "jobs": jobs,
            "job_seconds": round(job_seconds, 3),
            # job-seconds per second of the round: up to 2 (two jobs at a time)
            "job_share": round(job_seconds / seconds, 2),
        }

    def profile_domain(self, seconds, start, family):
        """One more suite round of ``family`` while py-spy records the HTTP
        workers (the job runner runs the processing jobs in them)."""
        steps = self.cfg["domain_steps"][family]
        start()
        self._domain_round(family, "suite", "profile", steps)

    # ------------------------------------------------------------------
    # 9. mapping apply (pure package)
    # ------------------------------------------------------------------

    def bench_mapping(self):
        from mfg_integration.mapping import compile_mapping, import_definition

        say("mapping apply rate of the demo mappings (pure package)")
        out = {}
        for path in sorted(ROOT.glob("addons/*/demo/mappings/*.json")):
            if path.name.endswith(".sample.json"):
                continue
            sample = path.with_name(path.stem + ".sample.json")
            compiled = compile_mapping(
                import_definition(path.read_text(encoding="utf-8"))
            )
            payload = json.loads(sample.read_text(encoding="utf-8"))
            compiled.apply(payload)  # must succeed before it is timed
            count, started = 0, time.perf_counter()
            deadline = started + self.cfg["mapping_seconds"]
            while True:
                for _i in range(100):
                    compiled.apply(payload)
                count += 100
                now = time.perf_counter()
                if now >= deadline:
                    break
            rate = count / (now - started)
            out[f"{path.parent.parent.parent.name}/{path.name}"] = {
                "applies_per_s": round(rate),
                "us_per_apply": round(1e6 / rate, 1),
                "lines": len(compiled),
            }
            note(f"{path.name}: {rate:,.0f} applies/s")
        if not out:
            raise BenchError("no demo mapping found under addons/*/demo/mappings/")
        self.measurements["mapping"] = {"mappings": out}

    # ------------------------------------------------------------------
    # 9b. event validation (pure package)
    # ------------------------------------------------------------------

    def _rate(self, func, arg):
        count, started = 0, time.perf_counter()
        deadline = started + self.cfg["mapping_seconds"]
        while True:
            for _i in range(100):
                func(arg)
            count += 100
            now = time.perf_counter()
            if now >= deadline:
                return count / (now - started)

    def bench_schema_validation(self):
        from jsonschema import Draft202012Validator

        from mfg_integration.schemas import validate

        say("event validation: the suite's validate() vs jsonschema alone")
        out = {}
        for path in sorted(ROOT.glob("addons/*/data/schemas/*.json")):
            # as stored on the event type: the JSON text is what validate() gets
            text = path.read_text(encoding="utf-8")
            schema = json.loads(text)
            example = schema["examples"][0]
            if validate(text, example):
                raise BenchError(f"{path.name}: its first example is not valid")
            reference = Draft202012Validator(
                schema, format_checker=Draft202012Validator.FORMAT_CHECKER
            )
            ours = self._rate(lambda data, t=text: validate(t, data), example)
            alone = self._rate(reference.is_valid, example)
            out[path.name] = {
                "validations_per_s": round(ours),
                "jsonschema_per_s": round(alone),
                "ratio": round(ours / alone, 1),
            }
            note(f"{path.name}: {ours:,.0f}/s vs {alone:,.0f}/s ({ours / alone:.0f}x)")
        if not out:
            raise BenchError("no event schema found under addons/*/data/schemas/")
        ratios = sorted(item["ratio"] for item in out.values())
        self.measurements["schema_validation"] = {
            "schemas": out,
            "median_ratio": ratios[len(ratios) // 2],
        }

    # ------------------------------------------------------------------
    # 6. PostgreSQL
    # ------------------------------------------------------------------

    def bench_pgbench(self):
        say("raw PostgreSQL INSERT + COMMIT (pgbench)")
        pgbench = shutil.which("pgbench")
        if not pgbench:
            raise BenchError(
                "pgbench is not installed (Debian package postgresql-client)"
            )
        self.odoo.sql(
            "CREATE TABLE IF NOT EXISTS bench_insert (id bigserial PRIMARY KEY, "
            "payload text NOT NULL, created_at timestamp NOT NULL DEFAULT now())"
        )
        payload = json.dumps(self.fx["inbound_example"], separators=(",", ":"))
        script = self.workdir / "insert.sql"
        script.write_text(
            "INSERT INTO bench_insert (payload) VALUES ('"
            + payload.replace("'", "''")
            + "');\n",
            encoding="utf-8",
        )
        command = [
            pgbench,
            "-n",
            "-c",
            "4",
            "-j",
            "2",
            "-T",
            str(self.cfg["duration"]),
            "-f",
            str(script),
            self.db,
        ]
        runs, raws = [], []
        for _index in range(self.cfg["repeats"]):
            completed = subprocess.run(
                command, capture_output=True, text=True, check=False
            )
            raw = completed.stdout + completed.stderr
            raws.append(raw)
            tps = None
            for line in raw.splitlines():
                if line.startswith("tps = "):
                    tps = float(line.split()[2])
            failed = [
                line for line in raw.splitlines() if line.startswith("number of failed")
            ]
            if completed.returncode or tps is None:
                raise BenchError(f"pgbench failed:\n{raw[-2000:]}")
            if failed and not failed[0].startswith("number of failed transactions: 0 "):
                raise BenchError(f"pgbench had failed transactions: {failed[0]}")
            runs.append(round(tps, 1))
        tps = statistics.median(runs)
        raw = "\n".join(raws)
        rows = self.odoo.sql("SELECT count(*) FROM bench_insert")[0][0]
        self.measurements["pg_insert"] = {
            "tps": round(tps, 1),
            "tps_runs": runs,
            "clients": 4,
            "threads": 2,
            "rows": rows,
            "payload_bytes": len(payload),
            "command": " ".join(command[:-1] + ["<db>"]),
            "raw": raw,
        }
        note(f"{tps:,.0f} INSERT+COMMIT/s (runs {runs})")

    # ------------------------------------------------------------------
    # HTTP measurements (all with the same load generator and settings)
    # ------------------------------------------------------------------

    def wrk(
        self,
        name,
        path,
        method="GET",
        headers=None,
        body=None,
        batch=0,
        after_warmup=None,
    ):
        """Warm up, then measure ``repeats`` times; return the load generator's
        figures of the median run, with the rate of every run (``rps_runs``) and
        the requests and seconds of all runs."""
        if self.cfg["warmup"]:
            self.load.run(
                f"{name}-warm",
                path,
                self.cfg["warmup"],
                method,
                headers,
                body(f"{name}-warm") if callable(body) else body,
                batch,
                tag=f"{name}-warm-{self.stamp}",
            )
            time.sleep(0.5)
        if after_warmup:
            after_warmup()
        self._log_mark = (self._log_size(), path)
        runs = []
        for index in range(self.cfg["repeats"]):
            runs.append(
                self.load.run(
                    f"{name}-{index + 1}",
                    path,
                    self.cfg["duration"],
                    method,
                    headers,
                    body(name) if callable(body) else body,
                    batch,
                    tag=f"{name}-{self.stamp}-r{index + 1}",
                )
            )
        median = sorted(runs, key=lambda r: r["rps"])[len(runs) // 2]
        return {
            **median,
            "requests": sum(r["requests"] for r in runs),
            "seconds": round(sum(r["seconds"] for r in runs), 3),
            "rps": median["rps"],
            "rps_runs": [r["rps"] for r in runs],
            "raw": "\n".join(r["raw"] for r in runs),
        }

    def _log_size(self):
        try:
            return self.server.log.stat().st_size
        except FileNotFoundError:
            return 0

    def server_side(self, offset, path_prefix):
        """Medians of what Odoo logged for each request since ``offset``: SQL
        queries, time in SQL, and the rest of the time in the server."""
        with open(self.server.log, "rb") as log:
            log.seek(offset)
            text = log.read().decode("utf-8", "replace")
        rows = [
            (int(m["queries"]), float(m["sql"]) * 1000, float(m["other"]) * 1000)
            for m in _ACCESS.finditer(text)
            if m["path"].startswith(path_prefix)
        ]
        if not rows:
            return None
        return {
            "requests_logged": len(rows),
            "queries": statistics.median(r[0] for r in rows),
            "sql_ms": round(statistics.median(r[1] for r in rows), 1),
            "other_ms": round(statistics.median(r[2] for r in rows), 1),
        }

    def _store(self, key, result, extra=None):
        data = {"path": result.pop("path", None), **result}
        if extra:
            data.update(extra)
        offset, path = self._log_mark
        data["server_median"] = self.server_side(offset, path)
        self.measurements[key] = data
        lat = data["latency_ms"]
        note(
            f"{key}: {data['rps']:,.1f} req/s (runs {data.get('rps_runs')}), p50 "
            f"{lat['p50']:.1f} ms, p99 {lat['p99']:.1f} ms"
        )

    def bench_http(self, key, path, headers):
        say(f"{key}: GET {path}")
        result = self.wrk(key, path, headers=headers)
        result["path"] = path
        self._store(key, result)

    def _webhook_body(self):
        return json.dumps(
            {
                "_model": "res.partner",
                "_id": self.fx["admin_partner_id"],
                "id": "@@ID@@",
                "data": self.fx["inbound_example"],
            },
            separators=(",", ":"),
        )

    def bench_webhook(self, key, fixture):
        path = f"/web/hook/{self.fx[fixture]}"
        say(f"{key}: POST /web/hook/<uuid>")
        counts = {}

        def count():
            counts["before"] = self.odoo.count_partners("Bench webhook partner")

        result = self.wrk(
            key,
            path,
            "POST",
            {"Content-Type": "application/json"},
            self._webhook_body(),
            after_warmup=count,
        )
        result["path"] = "/web/hook/<uuid>"
        extra = {}
        if key == "webhook_create":
            time.sleep(1)  # requests in flight when the load stopped
            created = (
                self.odoo.count_partners("Bench webhook partner") - counts["before"]
            )
            self._check_count(key, created, result["requests"], "partners")
            extra["records_created"] = created
        self._store(key, result, extra)

    def _check_count(self, key, stored, expected, what):
        """Every answered request stored its rows (a few more: requests in flight when
        each run's load stopped)."""
        if not expected <= stored <= expected + CONNECTIONS * self.cfg["repeats"]:
            raise BenchError(f"{key}: {stored} {what} stored for {expected} expected")

    def bench_json2(self):
        say("json2_create: POST /json/2/res.partner/create")
        headers = {
            "Content-Type": "application/json",
            "Authorization": f"bearer {self.fx['json2_key']}",
        }
        result = self.wrk(
            "json2_create",
            "/json/2/res.partner/create",
            "POST",
            headers,
            json.dumps({"vals_list": [{"name": "Bench json2 @@ID@@"}]}),
        )
        time.sleep(1)
        created = self.odoo.count_partners(f"Bench json2 json2_create-{self.stamp}-%")
        self._check_count("json2_create", created, result["requests"], "partners")
        result["path"] = "/json/2/res.partner/create"
        self._store("json2_create", result, {"records_created": created})

    def _event_template(self, source):
        return json.dumps(
            {
                "specversion": "1.0",
                "id": "@@ID@@",
                "source": source,
                "type": "work_order.progress_reported",
                "time": "2026-11-24T08:15:00Z",
                "data": self.fx["inbound_example"],
            },
            separators=(",", ":"),
        )

    def _ingress(self, key, batch):
        headers = {
            "Authorization": f"Bearer {self.fx['token']}",
            "Content-Type": "application/cloudevents-batch+json"
            if batch
            else "application/cloudevents+json",
        }

        def body(name):
            return self._event_template(f"urn:bench:{name}-{self.stamp}")

        result = self.wrk(key, "/api/mfg/v1/events", "POST", headers, body, batch)
        time.sleep(1)  # requests in flight when the load stopped
        stored = self.odoo.count_messages(f"urn:bench:{key}-{self.stamp}")
        expected = result["requests"] * max(batch, 1)
        slack = CONNECTIONS * max(batch, 1) * self.cfg["repeats"]
        if not expected <= stored <= expected + slack:
            raise BenchError(
                f"{key}: {stored} messages stored for {result['requests']} "
                f"answered requests ({expected} events)"
            )
        result["path"] = "/api/mfg/v1/events"
        return result, stored

    def bench_ingress_single(self):
        say("ingress_single: POST /api/mfg/v1/events, one CloudEvent per request")
        result, stored = self._ingress("ingress_single", 0)
        self._store("ingress_single", result, {"messages_stored": stored})

    def bench_ingress_batch(self):
        say(f"ingress_batch: POST /api/mfg/v1/events, batches of {BATCH_SIZE}")
        result, stored = self._ingress("ingress_batch", BATCH_SIZE)
        events = result["requests"] * BATCH_SIZE
        self._store(
            "ingress_batch",
            result,
            {
                "messages_stored": stored,
                "events": events,
                "events_per_s": round(result["rps"] * BATCH_SIZE, 1),
                "events_per_s_runs": [
                    round(rps * BATCH_SIZE, 1) for rps in result["rps_runs"]
                ],
            },
        )
        note(f"ingress_batch: {result['rps'] * BATCH_SIZE:,.0f} events/s")

    # ------------------------------------------------------------------
    # 7. queue_job, 8. outbound
    # ------------------------------------------------------------------

    def _wait(self, poll, done, timeout, interval=0.05):
        deadline = time.monotonic() + timeout
        while True:
            state = poll()
            if done(state):
                return time.time(), state
            if time.monotonic() > deadline:
                raise BenchError(f"timed out waiting; last state {state}")
            time.sleep(interval)

    def bench_queue_job(self):
        count = self.cfg["jobs"]
        repeats = self.cfg["repeats"]
        say(
            f"queue_job_noop: {repeats} x {count} no-op jobs (queue.job._test_job), "
            "real runner"
        )
        description = f"bench noop {self.stamp}"
        # warm-up: a few jobs, so that the first measured one does not load anything
        warm = f"{description} warm"
        self.odoo.enqueue_test_jobs(20, warm)
        self._wait(
            lambda: self.odoo.job_states(warm), lambda s: s.get("done") == 20, 120
        )
        offset = self._log_size()
        runs = []
        for index in range(repeats):
            name = f"{description} {index + 1}"
            committed = self.odoo.enqueue_test_jobs(count, name)

            def finished(states):
                if set(states) - {"done", "pending", "enqueued", "started"}:
                    raise BenchError(f"queue_job_noop: jobs ended {states}")
                return states.get("done") == count

            ended, _states = self._wait(
                lambda n=name: self.odoo.job_states(n), finished, count / 2 + 120
            )
            runs.append(round(count / (ended - committed), 1))
            note(f"run {index + 1}: {runs[-1]:,.1f} jobs/s")
            time.sleep(0.5)
        self.measurements["queue_job_noop"] = {
            "jobs": count,
            "jobs_per_s": statistics.median(runs),
            "jobs_per_s_runs": runs,
            "server_median": self.server_side(offset, "/queue_job/runjob"),
        }

    def bench_outbound(self):
        count = self.cfg["outbound"]
        repeats = self.cfg["repeats"]
        say(
            f"outbound: {repeats} x {count} events emitted in one transaction, "
            "delivered to the receiver"
        )
        data = self.fx["outbound_example"]
        # warm-up
        warm = f"bench-out-warm-{self.stamp}"
        self.odoo.emit(20, data, warm)
        self._wait(
            lambda: self.odoo.outbound_states(warm), lambda s: s.get("done") == 20, 120
        )
        offset = self._log_size()
        runs, at_receiver, emits = [], [], []
        for index in range(repeats):
            requests.post(f"{self.receiver_url}/_reset", timeout=10)
            subject = f"bench-out-{self.stamp}-{index + 1}"
            started = time.time()
            _ids, committed = self.odoo.emit(count, data, subject)
            emits.append(round(count / (committed - started), 1))

            def finished(states):
                if set(states) - {"done", "queued"}:
                    raise BenchError(f"outbound: messages ended {states}")
                return states.get("done") == count

            ended, _states = self._wait(
                lambda s=subject: self.odoo.outbound_states(s),
                finished,
                count / 5 + 120,
            )
            stats = self.receiver_stats()
            if stats["distinct"] != count or stats["unsigned"]:
                raise BenchError(
                    f"outbound: the receiver got {stats['count']} requests, "
                    f"{stats['distinct']} distinct, {stats['unsigned']} unsigned"
                )
            last = max(t for t, _id in stats["deliveries"])
            runs.append(round(count / (ended - committed), 1))
            at_receiver.append(round(count / (last - committed), 1))
            note(f"run {index + 1}: {runs[-1]:,.1f} deliveries/s")
        self.measurements["outbound"] = {
            "messages": count,
            "emits_per_s_one_transaction": statistics.median(emits),
            "deliveries_per_s": statistics.median(runs),
            "deliveries_per_s_runs": runs,
            "deliveries_per_s_at_receiver_runs": at_receiver,
            "server_median_per_job": self.server_side(offset, "/queue_job/runjob"),
            "delivery_batch_size": self.fx["delivery_batch_size"],
        }

    def bench_latency(self):
        samples = self.cfg["latency_samples"]
        say(f"outbound_latency: {samples} events, one at a time, commit → receiver")
        data = self.fx["outbound_example"]
        latencies = []
        for index in range(samples):
            subject = f"bench-lat-{self.stamp}-{index}"
            requests.post(f"{self.receiver_url}/_reset", timeout=10)
            _ids, committed = self.odoo.emit(1, data, subject)
            deadline = time.monotonic() + 60
            while True:
                stats = self.receiver_stats()
                if stats["count"]:
                    break
                if time.monotonic() > deadline:
                    raise BenchError(
                        "outbound_latency: an event was not delivered in 60 s"
                    )
                time.sleep(0.01)
            latencies.append((stats["deliveries"][0][0] - committed) * 1000)
            self._wait(
                lambda s=subject: self.odoo.outbound_states(s),
                lambda s: s.get("done") == 1,
                60,
            )
            time.sleep(0.5)  # idle between events
        self.measurements["outbound_latency"] = {
            "samples": samples,
            "p50_ms": round(percentile(latencies, 50), 1),
            "p99_ms": round(percentile(latencies, 99), 1),
            "mean_ms": round(statistics.fmean(latencies), 1),
            "min_ms": round(min(latencies), 1),
            "max_ms": round(max(latencies), 1),
            "all_ms": [round(x, 1) for x in latencies],
        }
        note(
            f"p50 {percentile(latencies, 50):.0f} ms, "
            f"p99 {percentile(latencies, 99):.0f} ms"
        )

    # ------------------------------------------------------------------
    # 10. memory and the list view
    # ------------------------------------------------------------------

    def _send_batches(self, total, tag, threads=4):
        """Ingest ``total`` events in batches, ``threads`` requests at a time."""
        template = self._event_template(f"urn:bench:{tag}")
        prefix, suffix = template.split("@@ID@@")
        batches = total // BATCH_SIZE
        headers = {
            "Authorization": f"Bearer {self.fx['token']}",
            "Content-Type": "application/cloudevents-batch+json",
        }
        errors, lock, next_batch = [], threading.Lock(), iter(range(batches))

        def worker():
            session = requests.Session()
            while True:
                with lock:
                    number = next(next_batch, None)
                if number is None or errors:
                    return
                body = (
                    "["
                    + ",".join(
                        f"{prefix}{tag}-{number}-{i}{suffix}" for i in range(BATCH_SIZE)
                    )
                    + "]"
                )
                response = session.post(
                    f"{self.server.base_url}/api/mfg/v1/events",
                    data=body.encode(),
                    headers=headers,
                    timeout=120,
                )
                if (
                    response.status_code != 200
                    or response.json().get("accepted") != BATCH_SIZE
                ):
                    with lock:
                        errors.append(f"{response.status_code} {response.text[:300]}")

        pool = [threading.Thread(target=worker) for _i in range(threads)]
        started = time.monotonic()
        for thread in pool:
            thread.start()
        for thread in pool:
            thread.join()
        if errors:
            raise BenchError(f"ingesting batches failed: {errors[0]}")
        return batches * BATCH_SIZE, time.monotonic() - started

    def bench_memory(self):
        total = self.cfg["memory_events"]
        say(f"memory: HTTP worker RSS before and after {total:,} events in batches")
        workers = self.server.http_workers()
        before = {p.pid: p.memory_info().rss for p in workers}
        sent, seconds = self._send_batches(total, f"mem-{self.stamp}")
        time.sleep(1)
        after_workers = self.server.http_workers()
        after = {p.pid: p.memory_info().rss for p in after_workers}
        if set(before) != set(after):
            raise BenchError(
                f"the HTTP workers changed during the measurement: "
                f"{sorted(before)} → {sorted(after)}"
            )
        stored = self.odoo.count_messages(f"urn:bench:mem-{self.stamp}")
        if stored != sent:
            raise BenchError(f"memory: {stored} messages stored for {sent} events sent")
        rows = [
            {
                "pid": pid,
                "before_mb": round(before[pid] / 2**20, 1),
                "after_mb": round(after[pid] / 2**20, 1),
                "growth_mb": round((after[pid] - before[pid]) / 2**20, 1),
            }
            for pid in sorted(before)
        ]
        self.measurements["memory"] = {
            "events": sent,
            "ingest_seconds": round(seconds, 1),
            "events_per_s_4_clients": round(sent / seconds, 1),
            "workers": rows,
            "growth_mb_max": max(r["growth_mb"] for r in rows),
            "growth_mb_total": round(sum(r["growth_mb"] for r in rows), 1),
        }
        for row in rows:
            note(f"worker {row['pid']}: {row['before_mb']} → {row['after_mb']} MB")

    def _web_session(self):
        session = requests.Session()
        response = session.post(
            f"{self.server.base_url}/web/session/authenticate",
            json={
                "jsonrpc": "2.0",
                "method": "call",
                "id": 1,
                "params": {"db": self.db, "login": "admin", "password": "admin"},
            },
            timeout=30,
        )
        body = response.json()
        if (
            response.status_code != 200
            or "error" in body
            or not body["result"].get("uid")
        ):
            raise BenchError(
                f"cannot log in as admin: {response.status_code} {response.text[:300]}"
            )
        return session

    def _call_kw(self, session, method, kwargs):
        context = {
            "lang": "en_US",
            "tz": "UTC",
            "uid": 2,
            "bin_size": True,
            "allowed_company_ids": [self.fx["company_id"]],
        }
        payload = {
            "jsonrpc": "2.0",
            "method": "call",
            "id": 1,
            "params": {
                "model": "mfg.integration.message",
                "method": method,
                "args": [],
                "kwargs": {**kwargs, "context": context},
            },
        }
        started = time.perf_counter()
        response = session.post(
            f"{self.server.base_url}{CALL_KW}/{method}",
            json=payload,
            timeout=120,
        )
        elapsed = (time.perf_counter() - started) * 1000
        body = response.json()
        if response.status_code != 200 or "error" in body:
            raise BenchError(
                f"{method} failed: {response.status_code} {response.text[:500]}"
            )
        return elapsed, body["result"]

    def _list_kwargs(self, spec):
        return {
            "specification": spec,
            "domain": [],
            "offset": 0,
            "limit": 80,
            "order": "",
            "count_limit": 10001,
        }

    def _group_kwargs(self):
        return {
            "domain": [["state", "=", "dead"]],
            "groupby": ["system_id"],
            "aggregates": ["__count"],
            "limit": 80,
            "offset": 0,
            "order": "",
        }

    def bench_list_view(self):
        total = self.cfg["list_rows"]
        say(f"list view: bulk insert up to {total:,} messages (generate_series)")
        inserted, seconds = self.odoo.fill_messages(
            total, self.fx, self.fx["inbound_example"]
        )
        rows = self.odoo.sql("SELECT count(*) FROM mfg_integration_message")[0][0]
        dead = self.odoo.sql(
            "SELECT count(*) FROM mfg_integration_message WHERE state = 'dead'"
        )[0][0]
        note(
            f"inserted {inserted:,} rows in {seconds:.0f}s; {rows:,} rows, "
            f"{dead:,} dead"
        )
        spec = self.odoo.list_view_specification()
        session = self._web_session()
        timings, groups = [], []
        self._call_kw(session, "web_search_read", self._list_kwargs(spec))  # warm-up
        self._call_kw(session, "web_read_group", self._group_kwargs())
        offset = self._log_size()
        for _i in range(self.cfg["list_repeats"]):
            elapsed, result = self._call_kw(
                session, "web_search_read", self._list_kwargs(spec)
            )
            if len(result["records"]) != 80:
                raise BenchError(
                    f"web_search_read returned {len(result['records'])} records"
                )
            timings.append(elapsed)
            elapsed, grouped = self._call_kw(
                session, "web_read_group", self._group_kwargs()
            )
            if not grouped["groups"]:
                raise BenchError("web_read_group returned no group")
            groups.append(elapsed)
        self.measurements["list_view"] = {
            "rows": rows,
            "inserted": inserted,
            "insert_seconds": round(seconds, 1),
            "fields": sorted(spec),
            "length": result["length"],
            "median_ms": round(statistics.median(timings), 1),
            "max_ms": round(max(timings), 1),
            "all_ms": [round(t, 1) for t in timings],
            "server_median": self.server_side(offset, f"{CALL_KW}/web_search_read"),
        }
        self.measurements["dead_letters_grouped"] = {
            "rows": rows,
            "dead": dead,
            "groups": len(grouped["groups"]),
            "median_ms": round(statistics.median(groups), 1),
            "max_ms": round(max(groups), 1),
            "all_ms": [round(t, 1) for t in groups],
            "server_median": self.server_side(offset, f"{CALL_KW}/web_read_group"),
        }
        note(
            f"web_search_read median {statistics.median(timings):.0f} ms; "
            f"web_read_group median {statistics.median(groups):.0f} ms"
        )

    def bench_metrics_scrape(self):
        """``GET /api/mfg/v1/metrics`` on the message table filled by the list view
        measurement, vs the web client's way to get the same counts: a
        ``web_read_group`` of the messages by system and state. The first scrape
        also compacts every metric sample counted during the run (the benchmark's
        server runs no cron)."""
        rows = self.odoo.sql("SELECT count(*) FROM mfg_integration_message")[0][0]
        samples = self.odoo.sql("SELECT count(*) FROM mfg_integration_metric")[0][0]
        url = f"{self.server.base_url}/api/mfg/v1/metrics"
        headers = {"Authorization": f"Bearer {self.fx['metrics_token']}"}

        def scrape():
            started = time.perf_counter()
            response = requests.get(url, headers=headers, timeout=120)
            elapsed = (time.perf_counter() - started) * 1000
            if response.status_code != 200:
                raise BenchError(
                    f"scrape: {response.status_code} {response.text[:300]}"
                )
            return elapsed, response.text

        first_ms, _text = scrape()
        series = self.odoo.sql("SELECT count(*) FROM mfg_integration_metric")[0][0]
        session = self._web_session()
        group_kwargs = {
            **self._group_kwargs(),
            "domain": [],
            "groupby": ["system_id", "state"],
        }
        self._call_kw(session, "web_read_group", group_kwargs)  # warm-up
        scrapes, groups = [], []
        for _i in range(self.cfg["list_repeats"]):
            elapsed, text = scrape()
            scrapes.append(elapsed)
            elapsed, _grouped = self._call_kw(session, "web_read_group", group_kwargs)
            groups.append(elapsed)
        if "mfg_integration_events_received_total{" not in text:
            raise BenchError("the scrape holds no received events")
        self.measurements["metrics_scrape"] = {
            "rows": rows,
            "samples_before": samples,
            "series": series,
            "first_ms": round(first_ms, 1),
            "median_ms": round(statistics.median(scrapes), 1),
            "max_ms": round(max(scrapes), 1),
            "all_ms": [round(t, 1) for t in scrapes],
            "bytes": len(text.encode()),
        }
        self.measurements["messages_grouped"] = {
            "rows": rows,
            "median_ms": round(statistics.median(groups), 1),
            "max_ms": round(max(groups), 1),
            "all_ms": [round(t, 1) for t in groups],
        }
        note(
            f"scrape median {statistics.median(scrapes):.0f} ms (first, compacting "
            f"{samples:,} samples: {first_ms:.0f} ms); web_read_group by system and "
            f"state median {statistics.median(groups):.0f} ms"
        )

    # ------------------------------------------------------------------
    # Profiles of missed targets
    # ------------------------------------------------------------------

    def maybe_profile(self, ratio_key, measurement, workload, *args):
        if self.args.no_profile or measurement in self.failed:
            return
        ratio = next(
            r for r in report.ratios(self.measurements) if r["key"] == ratio_key
        )
        if ratio["met"] is not False:
            return
        if not profiling.available():
            self.profiles[ratio_key] = {
                "error": "py-spy is not installed (pip install py-spy)"
            }
            note("target missed; py-spy is not installed, no profile")
            return
        seconds = self.cfg["profile_seconds"]
        say(
            f"profiling {measurement} (target missed: {ratio['label']} = "
            f"{ratio['value']})"
        )
        pids = [p.pid for p in self.server.http_workers()]
        name = f"bench-{self.stamp}-{ratio_key}"
        recording = None

        def start():
            nonlocal recording
            recording = profiling.Recording(
                pids, seconds, self.results_dir / "profiles", name
            )
            time.sleep(0.5)  # let py-spy attach

        try:
            workload(seconds, start, *args)
        except Exception as exc:  # noqa: BLE001
            note(f"the profiled workload failed: {exc}")
        if recording is None:
            return
        summary = recording.finish(f"{measurement}: HTTP workers, py-spy, {seconds} s")
        for key in ("flame_graph", "text", "collapsed_stacks"):
            summary[key] = str(Path(summary[key]).relative_to(ROOT))
        self.profiles[ratio_key] = summary
        note(f"profile: {summary['text']}")
        for name_, share in summary["categories"][:4] + summary["top_repo"][5:10]:
            note(f"  {share:5.1f} %  {name_}")

    def profile_ingress(self, seconds, start, batch):
        key = "ingress_batch" if batch else "ingress_single"
        headers = {
            "Authorization": f"Bearer {self.fx['token']}",
            "Content-Type": "application/cloudevents-batch+json"
            if batch
            else "application/cloudevents+json",
        }
        body = self._event_template(f"urn:bench:{key}-profile-{self.stamp}")
        start()
        self.load.run(
            f"{key}-profile",
            "/api/mfg/v1/events",
            seconds - 1,
            "POST",
            headers,
            body,
            BATCH_SIZE if batch else 0,
            tag=f"{key}-profile-{self.stamp}",
        )

    def profile_outbound(self, seconds, start):
        rate = self.measurements["outbound"]["deliveries_per_s"]
        count = min(int(rate * seconds), self.cfg["outbound"])
        subject = f"bench-out-profile-{self.stamp}"
        self.odoo.emit(count, self.fx["outbound_example"], subject, before_commit=start)
        self._wait(
            lambda: self.odoo.outbound_states(subject),
            lambda s: s.get("done") == count,
            count / 5 + 120,
        )

    def profile_list_view(self, seconds, start):
        spec = self.odoo.list_view_specification()
        session = self._web_session()
        start()
        deadline = time.monotonic() + seconds - 1
        while time.monotonic() < deadline:
            self._call_kw(session, "web_search_read", self._list_kwargs(spec))

    # ------------------------------------------------------------------
    # Output
    # ------------------------------------------------------------------

    def write(self):
        self.results["run"]["finished"] = (
            datetime.datetime.now().astimezone().isoformat(timespec="seconds")
        )
        self.results["run"]["failed"] = self.failed
        self.results["ratios"] = report.ratios(self.measurements)
        if "machine" not in self.results:
            self.results["machine"] = machine_description(
                {}, "?", "?", self.load.describe()
            )
        table = report.markdown(self.results)
        base = self.results_dir / f"bench-{self.stamp}"
        text = json.dumps(self.results, indent=2, default=str)
        Path(f"{base}.json").write_text(text, encoding="utf-8")
        Path(f"{base}.md").write_text(table, encoding="utf-8")
        (self.results_dir / "latest.json").write_text(text, encoding="utf-8")
        (self.results_dir / "latest.md").write_text(table, encoding="utf-8")
        print()
        print(table)
        print(
            f"Results: {base.relative_to(ROOT)}.json and .md "
            "(also latest.json, latest.md)"
        )
        if self.profiles:
            for key, profile in self.profiles.items():
                print(
                    f"Profile of the missed target {key}: "
                    f"{profile.get('flame_graph') or profile.get('error')}"
                )
        if self.args.update_readme:
            if self.mode != "full" or self.failed:
                print("README.md not updated: only a complete full run goes there")
            else:
                report.update_readme(ROOT / "README.md", self.results, table)
                print("README.md: section '## Benchmarks' updated")


def main():
    parser = argparse.ArgumentParser(
        prog="bash bench/run.sh",
        description="Benchmarks of the suite against Odoo's own mechanisms.",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="3 s per HTTP measurement and smaller volumes (development)",
    )
    parser.add_argument(
        "--keep", action="store_true", help="keep the database and the work directory"
    )
    parser.add_argument(
        "--no-profile",
        action="store_true",
        help="do not profile the measurements whose target is missed",
    )
    parser.add_argument(
        "--update-readme",
        action="store_true",
        help="write the table into README.md's '## Benchmarks' section "
        "(full runs without failures only)",
    )
    args = parser.parse_args()
    missing = [name for name in ENV_VARS if not os.environ.get(name)]
    if missing:
        parser.error(
            "start the benchmark with: bash bench/run.sh (it sets "
            + ", ".join(missing)
            + ")"
        )
    bench = Bench(args)
    started = time.monotonic()
    aborted = None
    try:
        bench.run()
    except KeyboardInterrupt:
        aborted = "interrupted"
    except Exception as exc:  # noqa: BLE001
        aborted = str(exc) if isinstance(exc, BenchError) else traceback.format_exc()
    finally:
        bench.finish()
    bench.results["run"]["total_seconds"] = round(time.monotonic() - started, 1)
    if aborted:
        bench.results["run"]["aborted"] = aborted
        print(f"\nERROR: the run stopped early: {aborted}", file=sys.stderr)
    bench.write()
    return 1 if (aborted or bench.failed) else 0


if __name__ == "__main__":
    sys.exit(main())
