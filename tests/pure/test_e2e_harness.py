"""The start/stop harness of the end-to-end tier (tests/e2e/harness.py), without Odoo:
fake servers stand in for a cold Odoo server, and for one that dies at once."""

import importlib.util
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mfg_integration.simulators import Answer, StubServer, closed_port_url

HARNESS = Path(__file__).resolve().parents[1] / "e2e" / "harness.py"


def _load_harness():
    name = "mfg_e2e_harness"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, HARNESS)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


harness = _load_harness()

# A stand-in for the server process: alive until stopped.
IDLE = [sys.executable, "-c", "import time; time.sleep(600)"]


def _running(pid):
    """Whether the process exists and, where /proc tells, is not a zombie waiting to
    be reaped."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
            state = fh.read().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return not os.path.isdir("/proc/self")  # gone, unless there is no /proc
    return state not in ("Z", "X")


def _gone(pid, patience=20.0):
    """Wait (bounded) for a killed process to disappear; True when it did."""
    end = time.monotonic() + patience
    while _running(pid) and time.monotonic() < end:
        time.sleep(0.05)
    return not _running(pid)


@pytest.fixture
def idle_server():
    process = harness.start_server(IDLE)
    yield process
    harness.stop_server(process, grace=5)


def test_a_slow_first_answer_is_waited_for(idle_server):
    """A cold Odoo answers its first request only once the registry is loaded: here,
    later than the first request's timeout."""
    slow = harness.FIRST_REQUEST_TIMEOUT + 1.5
    with StubServer() as health:
        health.script(Answer(200, {}, b'{"status": "ok"}', delay=slow))
        status = harness.wait_until_ready(
            health.url("/api/mfg/v1/health"), idle_server, timeout=60
        )
        assert status == 200
        # the first request went unanswered in time and was sent again
        assert len(health.requests) >= 2
        assert health.pending == 0


def test_a_503_counts_as_up_other_answers_do_not(idle_server):
    with StubServer() as health:
        health.script(Answer(404), Answer(500), Answer(503))
        assert harness.wait_until_ready(health.url("/h"), idle_server, 60) == 503
        assert len(health.requests) == 3


def test_a_server_that_exits_at_once_fails_clearly_and_leaves_nothing(tmp_path):
    """The process dies before answering: the error says so with the tail of its log
    and output, and stopping it also kills what it had started."""
    log = tmp_path / "server.log"
    output = tmp_path / "server.out"
    child_pid_file = tmp_path / "child.pid"
    script = (
        "import pathlib, subprocess, sys\n"
        "child = subprocess.Popen([sys.executable, '-c', 'import time; "
        "time.sleep(600)'])\n"
        f"pathlib.Path({str(child_pid_file)!r}).write_text(str(child.pid))\n"
        f"pathlib.Path({str(log)!r}).write_text("
        "'2026-01-01 00:00:00,000 1 CRITICAL ? odoo: registry failed\\n')\n"
        "print('boom on stdout')\n"
        "sys.exit(3)\n"
    )
    process = harness.start_server([sys.executable, "-c", script], output_path=output)
    try:
        with pytest.raises(harness.ServerDidNotStart) as failure:
            harness.wait_until_ready(
                closed_port_url("/api/mfg/v1/health"),
                process,
                timeout=120,
                log_paths=(str(log), str(output)),
            )
    finally:
        code = harness.stop_server(process, grace=5)
    message = str(failure.value)
    assert "exited with code 3" in message
    assert "registry failed" in message
    assert "boom on stdout" in message
    assert code == 3
    child = int(child_pid_file.read_text())
    assert _gone(child), f"process {child} started by the server is still running"


def test_a_server_that_never_answers_fails_at_the_deadline(idle_server, tmp_path):
    log = tmp_path / "server.log"
    log.write_text("still loading the registry\n")
    with StubServer() as health:
        health.default = Answer(200, delay=60)
        with pytest.raises(harness.ServerDidNotStart) as failure:
            harness.wait_until_ready(
                health.url("/h"), idle_server, timeout=1.5, log_paths=(str(log),)
            )
    message = str(failure.value)
    assert "did not answer" in message
    assert harness.START_TIMEOUT_ENV in message
    assert "still loading the registry" in message
    assert idle_server.poll() is None, "failing the wait does not stop the server"


def test_stop_terminates_the_whole_group(tmp_path):
    child_pid_file = tmp_path / "child.pid"
    script = (
        "import pathlib, subprocess, sys, time\n"
        "child = subprocess.Popen([sys.executable, '-c', 'import time; "
        "time.sleep(600)'])\n"
        f"pathlib.Path({str(child_pid_file)!r}).write_text(str(child.pid))\n"
        "time.sleep(600)\n"
    )
    process = harness.start_server([sys.executable, "-c", script])
    try:
        end = time.monotonic() + 60
        while not child_pid_file.exists() and time.monotonic() < end:
            time.sleep(0.05)
        assert child_pid_file.exists(), "the fake server did not start its child"
        child = int(child_pid_file.read_text())
        assert _running(child)
    finally:
        code = harness.stop_server(process, grace=10)
    assert code == -signal.SIGTERM
    assert _gone(child), f"process {child} started by the server is still running"
    # a second stop is harmless
    assert harness.stop_server(process, grace=1) == -signal.SIGTERM


def test_stop_kills_a_server_that_ignores_sigterm(tmp_path):
    ready = tmp_path / "ready"
    script = (
        "import pathlib, signal, time\n"
        "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        f"pathlib.Path({str(ready)!r}).write_text('x')\n"
        "time.sleep(600)\n"
    )
    process = harness.start_server([sys.executable, "-c", script])
    try:
        end = time.monotonic() + 60
        while not ready.exists() and time.monotonic() < end:
            time.sleep(0.05)
        assert ready.exists(), "the fake server did not get to ignore SIGTERM"
    finally:
        code = harness.stop_server(process, grace=0.5)
    assert code == -signal.SIGKILL


DRIVER = """
import importlib.util, sys, time
spec = importlib.util.spec_from_file_location("mfg_e2e_harness", sys.argv[1])
harness = importlib.util.module_from_spec(spec)
spec.loader.exec_module(harness)
server = harness.start_server([sys.executable, "-c", "import time; time.sleep(600)"])
print(server.pid, flush=True)
if sys.argv[2] == "exit":
    sys.exit(0)
time.sleep(600)
"""


@pytest.mark.parametrize(
    ("ending", "code"), [("exit", 0), ("sigterm", -signal.SIGTERM)]
)
def test_the_safety_net_stops_servers_left_running(ending, code):
    """A run that ends without stopping its server (the interpreter exits, or is told
    to terminate) does not leave the server behind."""
    driver = subprocess.Popen(
        [sys.executable, "-c", DRIVER, str(HARNESS), ending],
        stdout=subprocess.PIPE,
        text=True,
    )
    server = None
    try:
        server = int(driver.stdout.readline())
        if ending == "sigterm":
            driver.send_signal(signal.SIGTERM)
        assert driver.wait(60) == code
        assert _gone(server), f"the server {server} outlived the run that started it"
    finally:
        driver.stdout.close()
        if driver.poll() is None:
            driver.kill()
            driver.wait()
        if server and _running(server):
            os.killpg(server, signal.SIGKILL)


def test_start_timeout_from_the_environment():
    assert harness.start_timeout({}) == harness.DEFAULT_START_TIMEOUT == 600
    assert harness.start_timeout({harness.START_TIMEOUT_ENV: " 45.5 "}) == 45.5
    for bad in ("0", "-3", "soon", "nan", "inf"):
        with pytest.raises(ValueError, match=harness.START_TIMEOUT_ENV):
            harness.start_timeout({harness.START_TIMEOUT_ENV: bad})
