"""What the system simulators share: simulated timing, sending through the SDK and
a Standard Webhooks receiver with a worker thread.

:class:`EventPlayer` sends planned events through a
:class:`~mfg_integration.client.Client` at ``speed`` times real time, records the
hub's refusals and can be stopped from any thread (:meth:`EventPlayer.pause` waits
end on :meth:`EventPlayer.stop`). :class:`WebhookSimulator` adds a receiver for the
hub's outbound deliveries (signed POSTs whose body is one CloudEvent, or a JSON
array of them): it checks every signature (401 when it does not verify), answers
``202`` at once and hands each event to a worker thread, which runs the event type
that starts a unit of work (a released order, a created maintenance work order) once
per event id and once per referenced document. The MES and CMMS simulators are
subclasses; the machine simulator is an :class:`EventPlayer` without receiver.

A plan is a list of ``(delay_seconds, event_type, data)`` sorted by delay, made by
:func:`date_entries` from :class:`Entry` items placed on a simulated clock. That
clock is anchored so that the last event carries the moment it is sent and earlier
events are dated back proportionally: no timestamp is ever later than the moment
its event is sent, and with ``speed`` 1 they are real time.
"""

import logging
import math
import queue
import random
import socket
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

from .cloudevents import decode_json, format_time, parse_batch, parse_event
from .errors import AuthenticationFailed, IntegrationError
from .transport import encode_json
from .webhooks import decode_webhook_secret, verify_webhook

#: the largest delivery body accepted, in bytes
MAX_BODY = 10 * 1024 * 1024
#: how many times faster than real time simulators run by default
DEFAULT_SPEED = 60.0
_CORRELATION_CHARACTERS = frozenset(
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._:/+=@-"
)

_logger = logging.getLogger(__name__)


class SimulatorStopped(Exception):
    """Raised by :meth:`EventPlayer.pause` when the simulator stops meanwhile."""


# -- planning (pure) ------------------------------------------------------------


def is_number(value):
    """Whether ``value`` is an int or a float (not a bool)."""
    return isinstance(value, int | float) and not isinstance(value, bool)


def check_speed(speed):
    """:raise ValueError: unless ``speed`` is a finite number more than 0."""
    if not is_number(speed) or not math.isfinite(speed) or speed <= 0:
        raise ValueError("The speed must be a finite number more than 0.")


def check_now(now):
    """:raise ValueError: unless ``now`` is a timezone-aware datetime."""
    if not isinstance(now, datetime) or now.utcoffset() is None:
        raise ValueError("now must be a timezone-aware datetime.")


@dataclass
class Entry:
    """One planned event at ``offset`` simulated seconds: ``stamps`` maps timestamp
    fields of ``data`` to simulated offsets; ``shift`` sets ``data["shift"]``."""

    offset: float
    type: str
    data: dict
    stamps: dict = field(default_factory=dict)
    shift: bool = False


def shift_of(moment):
    """The shift (``A`` 06-14, ``B`` 14-22, ``C`` 22-06 UTC) of an aware datetime."""
    hour = moment.astimezone(timezone.utc).hour
    if 6 <= hour < 14:
        return "A"
    if 14 <= hour < 22:
        return "B"
    return "C"


def date_entries(entries, now, speed):
    """Date the entries and turn them into ``(delay, type, data)``, sorted by delay
    (ties keep their order); the last one is dated ``now`` + its delay."""
    entries = sorted(entries, key=lambda entry: entry.offset)
    total = entries[-1].offset if entries else 0.0
    origin = now - timedelta(seconds=max(0.0, total - total / speed))
    plan = []
    for entry in entries:
        for name, offset in entry.stamps.items():
            entry.data[name] = format_time(origin + timedelta(seconds=offset))
        if entry.shift:
            entry.data["shift"] = shift_of(origin + timedelta(seconds=entry.offset))
        plan.append((entry.offset / speed, entry.type, entry.data))
    return plan


def correlation_id(prefix, reference):
    """``<prefix>:<reference>`` with only the characters a correlation id may hold
    (others become ``-``), at most 128 characters."""
    cleaned = "".join(
        char if char in _CORRELATION_CHARACTERS else "-" for char in str(reference)
    )
    return f"{prefix}:{cleaned}"[:128]


def parse_listen(listen):
    """Check a ``(host, port)`` pair to listen on; return it."""
    host, port = listen
    if not isinstance(port, int) or not 0 <= port <= 65535:
        raise ValueError("The listen port is a whole number from 0 to 65535.")
    return str(host), port


def check_secrets(secret):
    """The ``whsec_`` secrets of ``secret`` (one, or a list during a rotation).

    :raise ValueError: when there is none
    :raise InvalidSecret: for a secret that is not a ``whsec_`` secret
    """
    secrets = [secret] if isinstance(secret, str) else list(secret or [])
    if not secrets:
        raise ValueError("A webhook signing secret is needed to verify deliveries.")
    for value in secrets:
        decode_webhook_secret(value)
    return secrets


# -- sending --------------------------------------------------------------------


class EventPlayer:
    """Sends planned events to the hub on time (base class of the simulators).

    :param client: a :class:`~mfg_integration.client.Client` (or any object with
        its ``send_event``) for the hub
    :param speed: how many times faster than real time plans are sent
    :param seed: the seed of the simulation's :class:`random.Random` (``None``:
        unseeded)
    :param source: the CloudEvents ``source`` of the events sent (default:
        :attr:`default_source`)
    :param clock: returns the current aware datetime (the timestamps' origin)
    :param sleep: waits a number of seconds between two events (default:
        :meth:`pause`, cut short by stop)
    :param log: called with one line of text per notable happening (default: the
        module's logger, level INFO)
    :param on_report: called with each report, before :meth:`wait_completed`
        counts it
    :raise ValueError: for a setting out of range
    """

    #: the system's name in messages and thread names
    system = "simulator"
    #: what one report is about, in messages ("order", "job")
    unit = "job"
    #: the key naming the reference in :attr:`failures`
    reference_key = "reference"
    #: the data fields giving the CloudEvent ``time``, the first present wins
    time_fields = ()
    counters = ("completed", "failed", "rejected_events")
    default_source = "urn:mfg-integration:simulator"

    def __init__(
        self,
        client,
        *,
        speed=DEFAULT_SPEED,
        seed=None,
        source=None,
        clock=None,
        sleep=None,
        log=None,
        on_report=None,
    ):
        check_speed(speed)
        source = self.default_source if source is None else source
        if not isinstance(source, str) or not source:
            raise ValueError("The CloudEvents source is a non-empty string.")
        self._client = client
        self.speed = float(speed)
        self.source = source
        self._rng = random.Random(seed)
        self._clock = clock or (lambda: datetime.now(timezone.utc))
        self._sleep = sleep or self.pause
        self._log = log or _logger.info
        self._on_report = on_report
        self._condition = threading.Condition()
        self._stopping = threading.Event()
        self._reports = []
        self._failures = []
        self._counts = dict.fromkeys(self.counters, 0)

    def pause(self, seconds):
        """Wait ``seconds``, or less when the simulator stops.

        Hand it to the client as ``Client(..., sleep=simulator.pause)`` so that
        waits between retries end on stop too.

        :raise SimulatorStopped: when the simulator stops
        """
        if self._stopping.wait(max(0.0, seconds)):
            raise SimulatorStopped(f"The {self.system} simulator stopped.")

    def interrupt(self):
        """Make the sending stop before its next event, without waiting for
        anything: safe from another thread or a signal handler."""
        self._stopping.set()

    @property
    def reports(self):
        """The reports made so far, oldest first (a copy)."""
        with self._condition:
            return list(self._reports)

    @property
    def failures(self):
        """What could not be done: the reference (under :attr:`reference_key`),
        ``event_type`` (``None`` when nothing could be planned), ``status``,
        ``detail``, ``errors`` (JSON pointers), ``correlation_id``."""
        with self._condition:
            return list(self._failures)

    @property
    def counts(self):
        """The counters (a copy)."""
        with self._condition:
            return dict(self._counts)

    def wait_completed(self, count, timeout=None):
        """Wait until ``count`` reports were made.

        :return: whether they were, within ``timeout`` seconds (``None``: no limit)
        """
        with self._condition:
            return self._condition.wait_for(
                lambda: self._counts["completed"] >= count, timeout
            )

    def _count(self, name, amount=1):
        with self._condition:
            self._counts[name] += amount

    def _complete(self, report, counter="completed"):
        """Record ``report`` and count it under ``counter`` (``completed``: what
        :meth:`wait_completed` waits for)."""
        if self._on_report is not None:
            self._on_report(report)
        with self._condition:
            self._reports.append(report)
            self._counts[counter] += 1
            self._condition.notify_all()

    def _failure_subject(self, event_type):
        """``(key, unit)`` of a failure on ``event_type`` (``None``: nothing could be
        planned): the key naming its reference in :attr:`failures` and what the
        messages call the work; by default :attr:`reference_key` and :attr:`unit`."""
        return self.reference_key, self.unit

    def _fail(self, reference, event_type, error):
        key, unit = self._failure_subject(event_type)
        failure = {
            key: reference,
            "event_type": event_type,
            # only an answer of the hub has a status (not a network failure)
            "status": getattr(error, "status", None)
            if getattr(error, "problem", None) is not None
            else None,
            "detail": getattr(error, "detail", str(error)),
            "errors": list(getattr(error, "errors", [])),
            "correlation_id": getattr(error, "correlation_id", None),
        }
        with self._condition:
            self._failures.append(failure)
            self._counts["failed"] += 1
            if event_type is not None:
                self._counts["rejected_events"] += 1
        if event_type is None:
            line = f"{reference}: cannot run the {unit}: {failure['detail']}"
        else:
            status = f"HTTP {failure['status']}" if failure["status"] else "no answer"
            line = (
                f"{reference}: the hub refused {event_type} ({status}): "
                f"{failure['detail']}"
            )
        for entry in failure["errors"]:
            line += f"\n  {entry.get('pointer') or '/'}: {entry.get('message', '')}"
        self._log(line + f"\n  going on with the next {unit}")

    def _interrupted(self, reference):
        """Whether the work on ``reference`` stops before its next event."""
        return False

    def _time_of(self, data):
        for name in self.time_fields:
            if data.get(name):
                return data[name]
        return None

    def _play(self, plan, reference, *, subject, correlation_id, began=None):
        """Send the plan's events on time, delays counting from ``began`` (a
        :func:`time.monotonic` value, default now); return whether all of them were
        sent (a refusal is recorded and ends the plan).

        :raise SimulatorStopped: when the simulator stops meanwhile
        """
        began = time.monotonic() if began is None else began
        for delay, event_type, data in plan:
            wait = began + delay - time.monotonic()
            if wait > 0:
                self._sleep(wait)
            if self._stopping.is_set():
                raise SimulatorStopped(f"The {self.system} simulator stopped.")
            if self._interrupted(reference):
                return False
            try:
                self._client.send_event(
                    event_type,
                    data,
                    source=self.source,
                    subject=subject,
                    time=self._time_of(data),
                    correlation_id=correlation_id,
                )
            except IntegrationError as error:
                self._fail(reference, event_type, error)
                return False
        return True


# -- receiving ------------------------------------------------------------------


class _Server(ThreadingHTTPServer):
    daemon_threads = False
    block_on_close = True  # server_close() joins the handler threads

    def handle_error(self, request, client_address):
        pass  # a client that went away mid-request


class _Server6(_Server):
    address_family = socket.AF_INET6


_TITLES = {
    400: "Malformed request",
    401: "Authentication failed",
    404: "Not found",
    405: "Method not allowed",
    411: "Length required",
    413: "Payload too large",
    503: "Service unavailable",
}


def problem(status, detail, title=None):
    """A problem+json document."""
    title = title or _TITLES.get(status, "Error")
    return {"title": title, "status": status, "detail": detail}


def events_of(body):
    """The CloudEvents of a delivery body: one event, or a JSON array of them."""
    document = decode_json(body)
    if isinstance(document, list):
        items = parse_batch(document)
        return [parse_event(item, base=f"/{i}") for i, item in enumerate(items)]
    return [parse_event(document)]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 10  # an idle keep-alive connection is closed after this
    # Headers and body go out in two writes: without this, each answer waits for
    # the client's delayed acknowledgement (about 40 ms).
    disable_nagle_algorithm = True

    def version_string(self):
        return f"mfg-integration-{self.server.simulator.system.lower()}-simulator"

    def setup(self):
        super().setup()
        self.server.simulator._track(self.connection, True)

    def finish(self):
        try:
            super().finish()
        finally:
            self.server.simulator._track(self.connection, False)

    def _answer(self, status, document, headers=None):
        body = encode_json(document)
        try:
            self.send_response(status)
            content_type = "application/json"
            if status >= 400:
                content_type = "application/problem+json"
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)
        except OSError:
            self.close_connection = True

    def _read_body(self):
        """The body, or ``None`` after answering an error."""
        if self.headers.get("Transfer-Encoding"):
            self.close_connection = True
            self._answer(411, problem(411, "Send the body with a Content-Length."))
            return None
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if length < 0:
            self.close_connection = True
            self._answer(400, problem(400, "The Content-Length is not valid."))
            return None
        if length > MAX_BODY:
            self.close_connection = True
            self._answer(
                413, problem(413, f"A delivery holds at most {MAX_BODY} bytes.")
            )
            return None
        return self.rfile.read(length) if length else b""

    def do_POST(self):
        simulator = self.server.simulator
        body = self._read_body()
        if body is None:
            return
        if urlsplit(self.path).path != simulator.path:
            self._answer(404, problem(404, "Deliveries go to " + simulator.path))
            return
        self._answer(*simulator._receive(self.headers, body))

    def _not_post(self):
        path = self.server.simulator.path
        if urlsplit(self.path).path != path:
            self._answer(404, problem(404, "Deliveries go to " + path))
        else:
            self._answer(
                405, problem(405, "Deliveries are POSTed."), headers={"Allow": "POST"}
            )

    do_GET = do_PUT = do_PATCH = do_DELETE = do_HEAD = _not_post

    def log_message(self, format, *args):
        pass


class WebhookSimulator(EventPlayer):
    """A simulated system that receives the hub's signed deliveries and runs each
    event of type :attr:`trigger` on a worker thread (base of the MES and CMMS
    simulators; see the module documentation).

    A subclass sets the class attributes and implements ``_plan(event)`` (the plan
    of a trigger event, :class:`ValueError` when unusable) and ``_report(plan,
    event)`` (the report of a plan that was sent entirely).

    :param client: see :class:`EventPlayer`; only the worker thread uses it
    :param secret: the ``whsec_`` signing secret of the hub's outbound endpoint, or a
        list of them during a rotation; ``None`` only when :attr:`secret_optional`
        (then the simulator sends but cannot :meth:`start` receiving)
    :param listen: ``(host, port)`` to listen on; port 0 picks a free one
    :param path: the path the hub posts to; other paths answer 404 (default:
        :attr:`default_path`)
    :param options: ``speed``, ``seed``, ``source``, ``clock``, ``sleep``, ``log``,
        ``on_report``: see :class:`EventPlayer`
    :raise ValueError: for a setting out of range
    :raise InvalidSecret: for a secret that is not a ``whsec_`` secret
    """

    #: the event type that starts a unit of work
    trigger = None
    #: what a trigger event is, in messages ("release")
    trigger_name = "event"
    counters = (
        "deliveries",
        "bad_signatures",
        "malformed",
        "duplicates",
        "ignored",
        "completed",
        "failed",
        "rejected_events",
    )

    default_path = "/events"
    #: whether the simulator also works without a secret, as a sender only
    secret_optional = False

    def __init__(
        self, client, secret, *, listen=("127.0.0.1", 0), path=None, **options
    ):
        super().__init__(client, **options)
        if secret is None and self.secret_optional:
            secrets = []
        else:
            secrets = check_secrets(secret)
        path = self.default_path if path is None else path
        if not isinstance(path, str) or not path.startswith("/"):
            raise ValueError("The path starts with '/'.")
        self._secrets = secrets
        self._listen = parse_listen(listen)
        self.path = path
        self._queue = queue.Queue()
        self._connections = set()
        self._server = None
        self._threads = []
        self._pending = 0
        self._last_activity = time.monotonic()
        self._seen_ids = set()
        self._references = set()

    # -- lifecycle ------------------------------------------------------------------

    def start(self):
        """Listen, then serve and run events in background threads.

        :return: the simulator itself
        :raise OSError: when the address cannot be listened on
        :raise RuntimeError: when it has no signing secret to verify deliveries
        """
        if self._server is not None:
            return self
        if not self._secrets:
            raise RuntimeError(
                f"The {self.system} simulator has no signing secret to verify "
                "deliveries."
            )
        host, port = self._listen
        server_class = _Server6 if ":" in host else _Server
        self._server = server_class((host, port), _Handler)
        self._server.simulator = self
        self._stopping.clear()
        self._last_activity = time.monotonic()
        name = self.system.lower()
        self._threads = [
            threading.Thread(
                target=self._server.serve_forever,
                kwargs={"poll_interval": 0.05},
                name=f"{name}-simulator-receiver",
                daemon=True,
            ),
            threading.Thread(
                target=self._work, name=f"{name}-simulator-worker", daemon=True
            ),
        ]
        for thread in self._threads:
            thread.start()
        return self

    def stop(self):
        """Stop receiving, close connections, abandon queued events and join every
        thread; an event being sent finishes first (bounded by the client's
        timeout)."""
        if self._server is None:
            return
        self._stopping.set()
        self._server.shutdown()
        with self._condition:
            connections = list(self._connections)
        for connection in connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self._server.server_close()
        self._queue.put(None)
        for thread in self._threads:
            thread.join()
        self._threads = []
        self._server = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc_info):
        self.stop()

    # -- state ----------------------------------------------------------------------

    @property
    def url(self):
        """The URL to set as the hub's outbound endpoint (once started)."""
        if self._server is None:
            raise RuntimeError("The simulator is not started.")
        host, port = self._server.server_address[:2]
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{port}{self.path}"

    def wait_idle(self, timeout=None):
        """Wait until every received event was handled (nothing running or queued).

        :return: whether it happened within ``timeout`` seconds
        """
        with self._condition:
            return self._condition.wait_for(lambda: self._pending == 0, timeout)

    def idle_for(self):
        """Seconds since the last trigger event arrived or the last event was
        handled; 0 while events are queued or one runs."""
        with self._condition:
            if self._pending:
                return 0.0
            return time.monotonic() - self._last_activity

    # -- receiving (HTTP threads) -----------------------------------------------------

    def _track(self, connection, is_open):
        with self._condition:
            if is_open:
                self._connections.add(connection)
            else:
                self._connections.discard(connection)
        if is_open and self._stopping.is_set():
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def _noted(self, events):
        """Called with the events of a delivery, under the lock, before they are
        queued (the MES simulator notes cancellations there)."""

    def _receive(self, headers, body):
        """Verify and queue one delivery; return ``(status, document)``."""
        if self._stopping.is_set():
            return 503, problem(503, f"The {self.system} simulator is stopping.")
        try:
            verify_webhook(self._secrets, headers, body)
        except AuthenticationFailed as exc:
            self._count("bad_signatures")
            self._log(f"refused a delivery (401): {exc.detail}")
            return 401, problem(401, exc.detail)
        try:
            events = events_of(body)
        except IntegrationError as exc:
            self._count("malformed")
            self._log(f"refused a signed delivery ({exc.status}): {exc.detail}")
            document = problem(exc.status, exc.detail, exc.title)
            if exc.errors:
                document["errors"] = exc.errors
            return exc.status, document
        with self._condition:
            self._counts["deliveries"] += 1
            self._pending += len(events)
            if any(event.type == self.trigger for event in events):
                self._last_activity = time.monotonic()
            self._noted(events)
        for event in events:
            self._queue.put(event)
        return 202, {"status": "received", "events": len(events)}

    # -- running (worker thread) ------------------------------------------------------

    def _work(self):
        while True:
            event = self._queue.get()
            if event is None:
                return
            try:
                if not self._stopping.is_set():
                    self._dispatch(event)
            except SimulatorStopped:
                pass
            except Exception:  # keep the simulator alive; say what happened
                _logger.exception(
                    "The %s simulator failed on event %s", self.system, event.id
                )
                self._log(f"unexpected error on event {event.id}: see the log")
                self._count("failed")
            finally:
                with self._condition:
                    self._pending -= 1
                    self._last_activity = time.monotonic()
                    self._condition.notify_all()

    def _dispatch(self, event):
        if event.id in self._seen_ids:
            self._count("duplicates")
            self._log(f"ignored a repeated delivery of event {event.id}")
            return
        self._seen_ids.add(event.id)
        if not self._handle_other(event):
            self._handle(event)

    def _handle_other(self, event):
        """Handle an event of another type than :attr:`trigger`; return whether it
        was handled (by default: none is)."""
        return False

    def _may_run(self, reference):
        """Whether the work on ``reference`` may start (it was not called off)."""
        return True

    def _handle(self, event):
        if event.type != self.trigger:
            self._count("ignored")
            self._log(f"ignored event {event.id} of type {event.type}")
            return
        data = event.data if isinstance(event.data, dict) else {}
        reference = data.get(self.reference_key)
        if not isinstance(reference, str) or not reference:
            error = f"The {self.trigger_name} has no {self.reference_key}."
            self._fail(None, None, ValueError(error))
            return
        if reference in self._references:
            self._count("duplicates")
            self._log(
                f"{reference}: already run; ignored the {self.trigger_name} {event.id}"
            )
            return
        self._references.add(reference)
        if self._may_run(reference):
            self._run(event, reference)

    def _run(self, event, reference):
        try:
            plan = self._plan(event)
        except ValueError as exc:
            self._fail(reference, None, exc)
            return
        self._log(
            f"{reference}: running {len(plan)} events ({self.trigger_name} {event.id})"
        )
        try:
            sent = self._play(
                plan,
                reference,
                subject=reference,
                correlation_id=correlation_id(self.system.lower(), reference),
            )
        except SimulatorStopped:
            self._log(f"{reference}: interrupted, the simulator stops")
            return
        if sent:
            self._complete(self._report(plan, event))
