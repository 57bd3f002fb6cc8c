"""Start, wait for and stop the Odoo server process of the end-to-end tier.

Kept free of Odoo and of pytest so that tests/pure/test_e2e_harness.py checks it on
any machine (it is loaded by file path, see ``tests/e2e/conftest.py``).

Why it looks like this:

* On a cold machine the first request an Odoo server answers loads the registry of the
  database, which can take minutes. Readiness is therefore polled with a per-request
  timeout that grows, every ``requests`` error counts as "not yet", and only an overall
  deadline (generous, ``MFG_E2E_START_TIMEOUT``) or the death of the server process
  ends the wait, with the tail of the server's log in the error.
* The server runs in a process group of its own, and stopping it stops the whole group
  (SIGTERM, then SIGKILL after a grace period), whatever happened before: a failed
  start, a failed test, an interrupted run. As a last resort, the processes still
  running when the interpreter exits, or when it gets SIGTERM or SIGHUP, are stopped
  too.
"""

import atexit
import os
import signal
import socket
import subprocess
import threading
import time

import requests

START_TIMEOUT_ENV = "MFG_E2E_START_TIMEOUT"
DEFAULT_START_TIMEOUT = 600.0
# Per-request read timeout while waiting: the first one, the factor it grows by after
# each request that got no answer in time, and its ceiling.
FIRST_REQUEST_TIMEOUT = 2.0
REQUEST_TIMEOUT_GROWTH = 2.0
MAX_REQUEST_TIMEOUT = 60.0
CONNECT_TIMEOUT = 5.0
POLL_PAUSE = 0.3
# Answers meaning "the server is up" (503: up, but its job queue is not healthy).
READY_STATUSES = (200, 503)
STOP_GRACE = 30.0
SAFETY_NET_GRACE = 5.0
LOG_TAIL_LINES = 60

_live = {}  # pid -> Popen of the servers started and not stopped yet
_live_lock = threading.Lock()
_safety_net_installed = False


class ServerDidNotStart(RuntimeError):
    """The server process exited, or did not answer in time; the message says which
    and ends with the tail of its log."""


def free_port():
    """A TCP port of 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_timeout(environ=None):
    """Return how long to wait for the server, in seconds: ``MFG_E2E_START_TIMEOUT``
    when set, else :data:`DEFAULT_START_TIMEOUT`.

    :param environ: the environment (default: ``os.environ``)
    :raise ValueError: the variable is set but is not a positive number
    """
    environ = os.environ if environ is None else environ
    text = (environ.get(START_TIMEOUT_ENV) or "").strip()
    if not text:
        return DEFAULT_START_TIMEOUT
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not value > 0 or value == float("inf"):
        raise ValueError(
            f"{START_TIMEOUT_ENV} must be a positive number of seconds, got {text!r}"
        )
    return value


def log_tail(path, lines=LOG_TAIL_LINES):
    """Return the last ``lines`` lines of the file at ``path`` (a note when it is
    missing or empty)."""
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            tail = fh.readlines()[-lines:]
    except OSError as exc:
        return f"({path} cannot be read: {exc.strerror or exc})"
    if not tail:
        return f"({path} is empty)"
    return "".join(tail).rstrip("\n")


def _describe(problem, paths):
    parts = [problem]
    for path in paths:
        if path:
            parts.append(f"--- last lines of {path} ---\n{log_tail(path)}")
    return "\n".join(parts)


def _exit_text(code):
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = str(-code)
        return f"was killed by signal {name}"
    return f"exited with code {code}"


def start_server(command, output_path=None, env=None):
    """Start ``command`` in a new session (hence a process group of its own).

    :param command: the argument list
    :param output_path: file that receives the process's stdout and stderr (what it
        prints before its logging is set up, such as an import error); default:
        discarded
    :param env: the environment of the process (default: this one's)
    :return: the :class:`subprocess.Popen`; stop it with :func:`stop_server`
    """
    if output_path:
        with open(output_path, "ab") as output:
            process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                env=env,
            )
    else:
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env=env,
        )
    with _live_lock:
        _live[process.pid] = process
    _install_safety_net()
    return process


def wait_until_ready(
    url,
    process,
    timeout,
    *,
    log_paths=(),
    first_timeout=FIRST_REQUEST_TIMEOUT,
    max_timeout=MAX_REQUEST_TIMEOUT,
    pause=POLL_PAUSE,
):
    """Poll ``url`` with GET until it answers one of :data:`READY_STATUSES`.

    A request that gets no answer in time is sent again with a timeout
    :data:`REQUEST_TIMEOUT_GROWTH` times longer (up to ``max_timeout``); refused or
    reset connections and every other ``requests`` error are retried after ``pause``.

    :param url: the URL to poll
    :param process: the server's :class:`subprocess.Popen`; its exit ends the wait
    :param timeout: overall deadline, in seconds
    :param log_paths: files whose tails end the error message
    :return: the HTTP status of the answer
    :raise ServerDidNotStart: the process exited, or ``timeout`` passed
    """
    deadline = time.monotonic() + timeout
    request_timeout = first_timeout
    last = "nothing tried yet"
    while True:
        code = process.poll()
        if code is not None:
            raise ServerDidNotStart(
                _describe(
                    f"the server process {_exit_text(code)} before it answered {url} "
                    f"(last attempt: {last})",
                    log_paths,
                )
            )
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise ServerDidNotStart(
                _describe(
                    f"the server did not answer {url} within {timeout:g} s "
                    f"(last attempt: {last}); set {START_TIMEOUT_ENV} to wait longer",
                    log_paths,
                )
            )
        read_timeout = min(request_timeout, remaining)
        try:
            response = requests.get(
                url, timeout=(min(CONNECT_TIMEOUT, read_timeout), read_timeout)
            )
        except requests.Timeout:
            # Busy (a cold registry load): ask again, and wait longer this time.
            last = f"no answer within {read_timeout:g} s"
            request_timeout = min(request_timeout * REQUEST_TIMEOUT_GROWTH, max_timeout)
            continue
        except requests.RequestException as exc:
            last = f"{type(exc).__name__}: {exc}"
        else:
            status = response.status_code
            response.close()
            if status in READY_STATUSES and process.poll() is None:
                return status
            last = f"HTTP {status}"
        time.sleep(max(0.0, min(pause, deadline - time.monotonic())))


def _signal_group(pgid, signum):
    try:
        os.killpg(pgid, signum)
    except ProcessLookupError:
        pass  # nothing left in the group
    except PermissionError:
        pass  # the group id now belongs to someone else's processes


def stop_server(process, grace=STOP_GRACE):
    """Stop the process group that :func:`start_server` made: SIGTERM, then SIGKILL
    when the leader is still there after ``grace`` seconds. Whatever the leader did,
    processes it left behind in its group are killed. Safe to call more than once.

    :return: the leader's exit code (negative: killed by that signal)
    """
    with _live_lock:
        _live.pop(process.pid, None)
    pgid = process.pid  # the leader of its own session and group
    if process.poll() is None:
        _signal_group(pgid, signal.SIGTERM)
        try:
            process.wait(grace)
        except subprocess.TimeoutExpired:
            pass
    _signal_group(pgid, signal.SIGKILL)
    return process.wait()


def _stop_all(grace=SAFETY_NET_GRACE):
    with _live_lock:
        processes = list(_live.values())
    for process in processes:
        stop_server(process, grace)


def _on_signal(signum, frame):
    _stop_all()
    # Then die of the signal, as without this handler.
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)


def _install_safety_net():
    """Stop the servers still running when the interpreter exits or is told to
    terminate (only where nobody else handles SIGTERM and SIGHUP)."""
    global _safety_net_installed
    if _safety_net_installed:
        return
    _safety_net_installed = True
    atexit.register(_stop_all)
    if threading.current_thread() is not threading.main_thread():
        return
    for signum in (signal.SIGTERM, signal.SIGHUP):
        if signal.getsignal(signum) == signal.SIG_DFL:
            signal.signal(signum, _on_signal)
