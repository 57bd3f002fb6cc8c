"""Fault tier: the hub's guarantees under the faults plants have.

Each scenario starts its own Odoo server in multi-process mode (HTTP workers, a cron
worker and queue_job's runner), as in production, on the database that
scripts/test.sh installed, injects a fault (kill -9 of every Odoo process, a restart
of PostgreSQL, a burst) and checks what was promised: nothing lost, nothing stuck,
nothing done twice beyond what the guarantee allows. Each prints its figures. The
deadlines only bound a run that would otherwise hang; nothing is timed.

Each server writes a log of its own. The scenario names the log entries its fault
causes (a pattern each, such as queue_job's "Re-queued dead job"); any other entry
at WARNING or above fails it. scripts/test.sh runs this directory as a tier of its
own, after the e2e tier (a PostgreSQL restart must not hit the e2e tier's server).
"""

import os
import shlex
import signal
import time
import uuid
from pathlib import Path
from types import SimpleNamespace

import pytest

from mfg_integration.webhooks import generate_webhook_secret

TESTS = Path(__file__).resolve().parents[2]
#: queue_job's channels on the scenarios' servers
JOB_CHANNELS = "root:2,root.mfg_integration:2"


def wait_for(check, seconds, pause=0.5):
    """Call ``check`` until it returns something true or ``seconds`` passed; return
    its last result."""
    deadline = time.monotonic() + seconds
    while True:
        result = check()
        if result or time.monotonic() >= deadline:
            return result
        time.sleep(pause)


class PlantServer:
    """An Odoo server as a plant runs it: 2 HTTP workers, a cron worker and the job
    runner, in a process group of its own. ``start`` again after ``kill`` is a
    restart on the same port and log."""

    def __init__(self, harness, logcheck, settings, port, log_path, channels):
        self.harness = harness
        self.channels = channels
        self.logcheck = logcheck
        self.settings = settings
        self.port = port
        # the websocket (gevent) process of each server listens on a port of its own
        self.gevent_port = harness.free_port()
        self.log_path = str(log_path)
        self.base = f"http://127.0.0.1:{port}"
        self.process = None
        self.starts = 0

    def command(self):
        return shlex.split(self.settings["MFG_E2E_ODOO_CMD"]) + [
            "-c",
            self.settings["MFG_E2E_CONFIG"],
            "-d",
            self.settings["MFG_E2E_DB"],
            "--http-interface=127.0.0.1",
            f"--http-port={self.port}",
            f"--gevent-port={self.gevent_port}",
            "--workers=2",
            "--max-cron-threads=1",
            "--limit-time-real=600",
            "--load=base,rpc,web,queue_job,mfg_integration_core",
            "--log-level=info",
            f"--logfile={self.log_path}",
        ]

    def start(self):
        # two jobs at a time, as odoo.conf.example sets it (queue_job's default
        # is one)
        env = dict(os.environ, ODOO_QUEUE_JOB_CHANNELS=self.channels)
        self.process = self.harness.start_server(
            self.command(), output_path=self.log_path + ".out", env=env
        )
        self.starts += 1
        try:
            self.harness.wait_until_ready(
                f"{self.base}/api/mfg/v1/health",
                self.process,
                self.harness.start_timeout(),
                log_paths=(self.log_path, self.log_path + ".out"),
            )
        except self.harness.ServerDidNotStart as exc:
            pytest.fail(f"the Odoo server did not start: {exc}", pytrace=False)

    def alive(self):
        return self.process is not None and self.process.poll() is None

    def kill(self):
        """kill -9 of every process of the server (master, workers, job runner)."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()

    def stop(self):
        if self.process is not None:
            self.harness.stop_server(self.process)

    def read_log(self, expected=()):
        """Sort the log's entries at WARNING or above: ``expected`` are regular
        expressions for what the injected fault causes.

        :return: ``(unexpected, counts)``: a report of the entries that match no
            pattern (empty when there is none; the scenario asserts it is), and the
            counts of the expected ones by pattern
        """
        unexpected, counts = self.logcheck.check(self.log_path, expected)
        if not unexpected:
            return "", counts
        return self.logcheck.describe(self.log_path, unexpected), counts


def message_states(env, system_ids, direction):
    """The systems' messages of one direction, counted by state."""
    env.cr.execute(
        "SELECT state, count(*) FROM mfg_integration_message "
        "WHERE system_id = ANY(%s) AND direction = %s GROUP BY state",
        [_ids(system_ids), direction],
    )
    return dict(env.cr.fetchall())


def inbound_figures(env, system_ids):
    """What the systems' inbound messages became: ``messages``, ``distinct``
    events, processing ``attempts``, and the machine stops recorded
    (``downtimes``, ``distinct_downtimes``, ``closed``)."""
    ids = _ids(system_ids)
    env.cr.execute(
        "SELECT count(*), count(DISTINCT ce_id), sum(attempts) "
        "FROM mfg_integration_message WHERE system_id = ANY(%s) "
        "AND direction = 'inbound'",
        [ids],
    )
    figures = dict(
        zip(("messages", "distinct", "attempts"), env.cr.fetchone(), strict=True)
    )
    env.cr.execute(
        "SELECT count(*), count(DISTINCT downtime_id), "
        "count(*) FILTER (WHERE state = 'closed') "
        "FROM mfg_integration_downtime WHERE system_id = ANY(%s)",
        [ids],
    )
    figures.update(
        zip(
            ("downtimes", "distinct_downtimes", "closed"),
            env.cr.fetchone(),
            strict=True,
        )
    )
    return figures


def _ids(system_ids):
    return [system_ids] if isinstance(system_ids, int) else list(system_ids)


@pytest.fixture(scope="session")
def fault(e2e):
    """The helpers of the scenarios, as a namespace (conftest modules are not meant
    to be imported)."""

    def job_states(env, system_ids):
        """queue_job jobs of the systems, counted by state."""
        env.cr.execute(
            f"SELECT state, count(*) FROM queue_job WHERE {e2e.jobs_of_systems} "
            "GROUP BY state",
            {"systems": _ids(system_ids)},
        )
        return dict(env.cr.fetchall())

    return SimpleNamespace(
        wait_for=wait_for,
        job_states=job_states,
        message_states=message_states,
        inbound_figures=inbound_figures,
    )


@pytest.fixture
def plant_server(settings, e2e, tmp_path):
    """``make()`` returns a started :class:`PlantServer`; stopped after the test.
    ``make(channels="root:0")`` starts one without a job runner (queue_job's own
    switch), as the second HTTP server of a scaled-out plant."""
    harness = e2e.harness
    logcheck = e2e.load_module("mfg_logcheck", TESTS / "logcheck.py")
    servers = []

    def make(channels=JOB_CHANNELS):
        server = PlantServer(
            harness,
            logcheck,
            settings,
            harness.free_port(),
            tmp_path / f"odoo-{len(servers)}.log",
            channels,
        )
        servers.append(server)
        server.start()
        return server

    yield make
    for server in servers:
        server.stop()


class Plant:
    """The systems of a scenario, each with an API key (``systems[0]`` exists from
    the start), and what they need: machines, outbound endpoints. Removed with what
    they made (messages, jobs, endpoints) afterwards."""

    def __init__(self, committed, e2e):
        self.committed = committed
        self.e2e = e2e
        self.suffix = uuid.uuid4().hex[:6]
        self.systems = []
        self.prepared = committed(e2e.prepare_database)
        self.add_system()

    def add_system(self):
        """Create one more system with an unlimited API key; return its data:
        ``id``, ``code``, ``user_id`` and ``token``."""
        code = f"faults_{self.suffix}_{len(self.systems)}"

        def create(env):
            system = env["mfg.integration.system"].create(
                {"name": f"Faults {code}", "code": code, "kind": "mes"}
            )
            key, token = env["mfg.integration.api.key"].generate(system, "faults")
            key.rate_limit = 0
            return {
                "id": system.id,
                "code": code,
                "user_id": system.user_id.id,
                "token": token,
            }

        system = self.committed(create)
        self.systems.append(system)
        return system

    def add_machine(self, line=0):
        """A work center and its machine; return the machine's code (what a gateway
        sends as ``equipment.code``) and the work center's id."""
        code = f"EQ-{self.suffix}-{line}"

        def create(env):
            workcenter = env["mrp.workcenter"].create(
                {"name": f"Press {code}", "code": f"WC-{self.suffix}-{line}"}
            )
            env["maintenance.equipment"].create(
                {
                    "name": f"Press {code}",
                    "mfg_code": code,
                    "mfg_workcenter_id": workcenter.id,
                }
            )
            return workcenter.id

        return code, self.committed(create)

    def add_receiver(self, url, event_code, concurrency, batch_size=None):
        """An outbound endpoint of ``systems[0]`` to ``url``, subscribed to
        ``event_code``, sending ``concurrency`` requests at a time (and
        ``batch_size`` messages per job, when given); return the event type's first
        example data (to emit)."""

        def create(env):
            values = {
                "system_id": self.systems[0]["id"],
                "direction": "outbound",
                "code": f"receiver-{self.suffix}",
                "url": url,
                "signing_secret": generate_webhook_secret(),
                "delivery_concurrency": concurrency,
            }
            if batch_size:
                values["delivery_batch_size"] = batch_size
            endpoint = env["mfg.integration.endpoint"].create(values)
            event_type = env["mfg.integration.event.type"].get_by_code(event_code)
            env["mfg.integration.subscription"].create(
                {"event_type_id": event_type.id, "endpoint_id": endpoint.id}
            )
            return event_type.current_schema_id.get_schema()["examples"][0]

        return self.committed(create)

    def cleanup(self):
        def remove(env):
            for system in self.systems:
                self.e2e.remove_system(env, system["id"], system["user_id"])
            self.e2e.restore_database(env, self.prepared)

        self.committed(remove)


@pytest.fixture
def plant(committed, e2e):
    """A :class:`Plant`, removed after the test."""
    plant = Plant(committed, e2e)
    try:
        yield plant
    finally:
        plant.cleanup()
