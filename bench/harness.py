"""The Odoo server of a benchmark run: configuration, fresh database, start, workers,
stop, drop, and the description of the machine.

Nothing here binds or connects anywhere but 127.0.0.1 (and PostgreSQL as configured
by libpq's environment, local by default).
"""

import os
import platform
import re
import secrets
import shlex
import signal
import subprocess
import time
from pathlib import Path

import psutil
import requests
from bench_errors import BenchError

#: modules installed in the benchmark database (no demo data: Odoo 19's default)
MODULES = (
    "mfg_integration_core,mfg_integration_mes,mfg_integration_maintenance,"
    "mfg_integration_quality,base_automation,rpc"
)

#: queue_job channels: two jobs at a time overall, as many as HTTP workers; inbound
#: processing is paused (see bench/README.md, "What is measured")
CHANNELS = "root:2,root.mfg_integration.inbound:1:paused"
#: the channels of the domain measurements: inbound processing runs, two jobs at a
#: time (one per sending system: a system's messages are processed in order)
DOMAIN_CHANNELS = "root:2,root.mfg_integration.inbound:2"

_WORKER_ALIVE = re.compile(r" Worker (Worker\w+) \((\d+)\) alive")


class OdooServer:
    """One Odoo 19 server in prefork mode (2 HTTP workers and queue_job's runner) on a
    database of its own, configured in a temporary directory."""

    def __init__(
        self, workdir, db, odoo_cmd, addons_path, fernet_key, port, gevent_port
    ):
        self.workdir = Path(workdir)
        self.db = db
        self.odoo_cmd = shlex.split(odoo_cmd)
        self.addons_path = addons_path
        self.fernet_key = fernet_key
        self.port = int(port)
        self.gevent_port = int(gevent_port)
        self.conf = self.workdir / "odoo.conf"
        self.log = self.workdir / "odoo.log"
        self.install_log = self.workdir / "install.log"
        self.process = None
        self._children = []
        self._log_offset = 0

    @property
    def base_url(self):
        return f"http://127.0.0.1:{self.port}"

    def write_config(self, channels=CHANNELS):
        data_dir = self.workdir / "data"
        data_dir.mkdir(parents=True, exist_ok=True)
        self.conf.write_text(
            f"""; Throwaway configuration written by bench/run.py
[options]
addons_path = {self.addons_path}
db_name = {self.db}
data_dir = {data_dir}
admin_passwd = {secrets.token_hex(16)}
list_db = False
http_interface = 127.0.0.1
http_port = {self.port}
gevent_port = {self.gevent_port}
workers = 2
max_cron_threads = 0
server_wide_modules = base,rpc,web,queue_job,mfg_integration_core
; no worker is recycled during the run (the memory figure follows the same processes)
limit_request = 100000000
limit_time_cpu = 3600
limit_time_real = 7200
db_maxconn = 16
log_level = info
logfile = {self.log}

[queue_job]
channels = {channels}

[mfg_integration]
secret_keys = {self.fernet_key}
""",
            encoding="utf-8",
        )
        self.conf.chmod(0o600)

    def install(self):
        """Create the database and install the modules; return the seconds it took."""
        started = time.monotonic()
        with open(self.install_log, "wb") as log:
            completed = subprocess.run(
                [
                    *self.odoo_cmd,
                    "-c",
                    str(self.conf),
                    "-d",
                    self.db,
                    "-i",
                    MODULES,
                    "--stop-after-init",
                    f"--logfile={self.install_log}",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                check=False,
            )
        if completed.returncode:
            tail = self.install_log.read_text(errors="replace").splitlines()[-30:]
            raise BenchError(
                f"installing {MODULES} failed (exit {completed.returncode}); end of "
                f"{self.install_log}:\n" + "\n".join(tail)
            )
        return time.monotonic() - started

    def start(self, timeout=180):
        """Start the server; wait for both HTTP workers and the job runner. The log
        of an earlier start is kept: this start reads its own part."""
        self._log_offset = self.log.stat().st_size if self.log.exists() else 0
        with open(self.workdir / "server.stderr", "wb") as stderr:
            self.process = subprocess.Popen(  # noqa: S603 - our own command line
                [*self.odoo_cmd, "-c", str(self.conf)],
                stdout=subprocess.DEVNULL,
                stderr=stderr,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise BenchError(
                    f"the Odoo server exited with code {self.process.returncode}; "
                    f"see {self.log}"
                )
            if time.monotonic() > deadline:
                raise BenchError(f"the Odoo server did not come up; see {self.log}")
            workers = self._workers_from_log()
            if (
                len(workers.get("WorkerHTTP", [])) >= 2
                and workers.get("WorkerJobRunner")
                and "queue job runner ready for db" in self._log_text()
            ):
                try:
                    response = requests.get(f"{self.base_url}/web/health", timeout=5)
                    if response.status_code == 200:
                        break
                except requests.RequestException:
                    pass
            time.sleep(0.3)
        self._children = [
            p.pid for p in psutil.Process(self.process.pid).children(True)
        ]

    def _log_text(self):
        try:
            with open(self.log, "rb") as log:
                log.seek(self._log_offset)
                return log.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def _workers_from_log(self):
        workers = {}
        for kind, pid in _WORKER_ALIVE.findall(self._log_text()):
            workers.setdefault(kind, []).append(int(pid))
        return workers

    def http_workers(self):
        """The live HTTP worker processes (children of our server process)."""
        if not self.process:
            return []
        children = {p.pid: p for p in psutil.Process(self.process.pid).children()}
        pids = self._workers_from_log().get("WorkerHTTP", [])
        return [children[pid] for pid in pids if pid in children]

    def runner_pid(self):
        pids = self._workers_from_log().get("WorkerJobRunner", [])
        return pids[-1] if pids else None

    def stop(self):
        """Stop the server (SIGTERM to its process, then SIGKILL to each of the
        processes it started if they linger)."""
        if not self.process or self.process.poll() is not None:
            return
        pids = set(self._children)
        try:
            pids.update(p.pid for p in psutil.Process(self.process.pid).children(True))
        except psutil.NoSuchProcess:
            pass
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)
        for pid in pids:
            try:
                child = psutil.Process(pid)
                child.wait(5)
            except psutil.NoSuchProcess:
                continue
            except psutil.TimeoutExpired:
                child.kill()


def machine_description(pg_settings, odoo_version, queue_job_version, loadgen):
    """CPU, cores, memory, PostgreSQL, Python and Odoo of this run."""
    cpu = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = psutil.virtual_memory().total
    return {
        "cpu": cpu,
        "cores_logical": psutil.cpu_count(logical=True),
        "cores_physical": psutil.cpu_count(logical=False),
        "ram_gib": round(memory / 2**30, 1),
        "os": f"{platform.system()} {platform.release()}",
        "postgresql": pg_settings.get("server_version"),
        "postgresql_settings": {
            k: v for k, v in pg_settings.items() if k != "server_version"
        },
        "python": platform.python_version(),
        "odoo": odoo_version,
        "queue_job": queue_job_version,
        "load_generator": loadgen,
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
    }
