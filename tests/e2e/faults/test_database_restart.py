"""A restart of PostgreSQL while systems send events and deliveries are under way."""

import os
import shutil
import subprocess
import threading
import time
import uuid
from collections import Counter
from datetime import UTC, datetime

import psycopg2
import pytest

from mfg_integration.client import Client
from mfg_integration.simulators import Answer, StubServer

OUTBOUND = "production_order.released"
INBOUND = "machine.downtime_started"
OUTBOUND_EVENTS = 600
INBOUND_BATCHES = 40
BATCH = 50
CONCURRENCY = 4
#: what losing the database causes in the servers' logs, and nothing else may be
#: there: entries naming the lost connection (an entry's text includes its
#: traceback), Odoo serving without a database meanwhile, the job runner seeing a
#: job's request fail with it, and taking back the jobs that died with it
CONNECTION_LOST = (
    r"(?s)terminating connection due to administrator command"
    r"|server closed the connection unexpectedly"
    r"|connection to server .* failed"
    r"|could not connect to server"
    r"|the database system is (shutting down|starting up|in recovery mode)"
    r"|(cursor|connection) already closed"
    r"|Connection refused",
    r"Database or registry unusable, trying without",
    r"(?s)exception in GET \S+/queue_job/runjob\?.*500 Server Error",
    r"Re-queued dead job with uuid",
)


def _local_cluster():
    """The ``(version, name)`` of the local PostgreSQL cluster this run uses, or a
    reason why this scenario cannot restart it."""
    host = os.environ.get("PGHOST", "")
    if host and not host.startswith("/") and host not in ("localhost", "127.0.0.1"):
        return None, f"PostgreSQL runs on {host}, not on this machine"
    if not (shutil.which("pg_lsclusters") and shutil.which("pg_ctlcluster")):
        return None, "pg_lsclusters/pg_ctlcluster (postgresql-common) are missing"
    port = os.environ.get("PGPORT", "5432")
    lines = subprocess.run(
        ["pg_lsclusters", "--no-header"], capture_output=True, text=True, check=False
    ).stdout.splitlines()
    for line in lines:
        version, name, cluster_port, status = line.split()[:4]
        if cluster_port == port and status.startswith("online"):
            return (version, name), None
    return None, f"no online local cluster on port {port} (pg_lsclusters)"


def _pg_ctl(cluster, action):
    subprocess.run(
        ["pg_ctlcluster", "--skip-systemctl-redirect", *cluster, action],
        check=True,
        capture_output=True,
    )


def _pg_ready():
    return subprocess.run(["pg_isready", "-q"], check=False).returncode == 0


def test_database_restart_mid_ingest_and_mid_delivery(
    committed, plant, plant_server, fault, capsys
):
    cluster, why = _local_cluster()
    if cluster is None:
        pytest.skip(f"cannot restart PostgreSQL here: {why}")
    system = plant.systems[0]
    suffix = plant.suffix

    def durably(func):
        """``committed(func)``, tried again while the database comes back."""
        deadline = time.monotonic() + 120
        while True:
            try:
                return committed(func)
            except (psycopg2.OperationalError, psycopg2.InterfaceError):
                if time.monotonic() > deadline:
                    raise
                time.sleep(1)

    with StubServer(default=Answer(200, delay=0.02)) as receiver:
        data = plant.add_receiver(receiver.url("/events"), OUTBOUND, CONCURRENCY)
        machine, _workcenter_id = plant.add_machine()
        server = plant_server()
        started = datetime.now(UTC).isoformat()
        batches = [
            [
                {
                    "specversion": "1.0",
                    "id": str(uuid.uuid4()),
                    "source": f"urn:faults:{suffix}",
                    "type": INBOUND,
                    "data": {
                        "downtime_id": f"restart-{suffix}-{b}-{i}",
                        "equipment": {"code": machine},
                        "reason_category": "changeover",
                        "started_at": started,
                    },
                }
                for i in range(BATCH)
            ]
            for b in range(INBOUND_BATCHES)
        ]
        answers, failures, sent = [], [], []

        def ingest():
            # an MES that keeps sending; the SDK retries through the outage
            with Client(
                server.base,
                system["token"],
                timeout=30,
                max_attempts=20,
                backoff_base=0.5,
                backoff_cap=5,
            ) as client:
                for batch in batches:
                    try:
                        answers.append(client.send_batch(batch))
                    except Exception as exc:  # noqa: BLE001 - reported below
                        failures.append(repr(exc))
                    sent.append(len(batch))
                    time.sleep(0.2)

        def emit(env):
            Types = env["mfg.integration.event.type"]
            for i in range(OUTBOUND_EVENTS):
                Types.emit(OUTBOUND, data, subject=f"restart-{i}")

        committed(emit)
        sender = threading.Thread(target=ingest)
        sender.start()
        restarted_at = None
        supervisor_restarts = 0
        try:
            assert fault.wait_for(
                lambda: len(receiver.requests) >= OUTBOUND_EVENTS // 5
                and len(sent) >= INBOUND_BATCHES // 5,
                300,
            ), "deliveries and ingestion did not start"
            in_flight = (len(receiver.requests), len(sent))
            restarted_at = time.monotonic()
            _pg_ctl(cluster, "restart")
            outage = time.monotonic() - restarted_at
        finally:
            if not _pg_ready():
                _pg_ctl(cluster, "start")
                fault.wait_for(_pg_ready, 60)
        sender.join(600)
        if not server.alive():  # Odoo's master can exit without its database
            supervisor_restarts += 1
            server.start()

        def drained(env):
            inbound = fault.message_states(env, system["id"], "inbound")
            outbound = fault.message_states(env, system["id"], "outbound")
            jobs = fault.job_states(env, system["id"])
            return (
                inbound == {"done": INBOUND_BATCHES * BATCH}
                and outbound == {"done": OUTBOUND_EVENTS}
                and not {"pending", "enqueued", "started"} & set(jobs)
            )

        finished = fault.wait_for(lambda: durably(drained), 900, pause=1)

        def figures(env):
            env.cr.execute(
                "SELECT count(*), count(DISTINCT ce_id), sum(attempts) "
                "FROM mfg_integration_message "
                "WHERE system_id = %s AND direction = 'inbound'",
                [system["id"]],
            )
            stored, distinct, attempts = env.cr.fetchone()
            return {
                "stored": stored,
                "distinct": distinct,
                "attempts": attempts,
                "inbound": fault.message_states(env, system["id"], "inbound"),
                "outbound": fault.message_states(env, system["id"], "outbound"),
                "jobs": fault.job_states(env, system["id"]),
            }

        seen = durably(figures)
        ids = Counter(r.headers["webhook-id"] for r in receiver.requests)
    duplicates = sum(count - 1 for count in ids.values())
    accepted = sum(answer["accepted"] for answer in answers)
    resent = sum(answer["duplicates"] for answer in answers)
    unexpected, counts = server.read_log(CONNECTION_LOST)
    with open(server.log_path, encoding="utf-8") as log:
        told_to_wait = sum(
            '"POST /api/mfg/v1/events HTTP/1.1" 503' in line for line in log
        )
    with capsys.disabled():
        print(
            f"\nPostgreSQL restart: {outage:.1f} s restart with {in_flight[0]} of "
            f"{OUTBOUND_EVENTS} deliveries and {in_flight[1]} of {INBOUND_BATCHES} "
            f"batches done; inbound: {told_to_wait} request(s) answered 503 while "
            f"the database was away, {accepted} accepted and {resent} resent "
            f"duplicates in {len(answers)} answered batches, {len(failures)} "
            f"failed, {seen['stored']} stored ({seen['distinct']} distinct), "
            f"{seen['attempts']} processing attempts; outbound: {len(ids)} "
            f"delivered, {duplicates} duplicate(s); {supervisor_restarts} supervisor "
            f"restart(s); {sum(counts.values())} log entries of the lost connection; "
            f"messages {seen['inbound']} / {seen['outbound']}, jobs {seen['jobs']}"
        )
    total = INBOUND_BATCHES * BATCH
    assert not unexpected, unexpected
    assert not failures, failures
    assert len(answers) == INBOUND_BATCHES  # every batch answered in the end
    assert finished, seen
    assert seen["stored"] == seen["distinct"] == total
    assert seen["attempts"] == total
    assert len(ids) == OUTBOUND_EVENTS
    assert duplicates <= CONCURRENCY
