"""System simulators: a scriptable HTTP server on 127.0.0.1 standing in for a
receiver (an MES, a CMMS…) or for the hub, for tests of senders and receivers.

A :class:`StubServer` answers each request with the next scripted
:class:`Answer` (status, headers, body, delay before answering), or with
``default`` when the script is empty, and logs every request it received
(method, path, headers, body, and the client's address, which tells connections
apart). It speaks HTTP/1.1 with keep-alive, listens on 127.0.0.1 only, on a free
port, and stops cleanly: :meth:`StubServer.stop` wakes answers that are still
waiting out their delay, closes idle connections and joins every handler thread.

Use it as a context manager::

    with StubServer() as server:
        server.reply(202, {"id": 1, "status": "accepted"})
        requests.post(server.url("/api/mfg/v1/events"), data=b"{}")
        assert server.requests[0].method == "POST"
"""

import json
import socket
import threading
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HOST = "127.0.0.1"


@dataclass
class Answer:
    """One scripted answer.

    :param status: the HTTP status
    :param headers: extra response headers
    :param body: the body bytes
    :param delay: seconds to wait before answering (cut short when the server stops)
    :param close: close the connection after this answer without announcing it (as
        a receiver whose keep-alive timeout expires)
    :param drop: close the connection instead of answering (the request is still
        logged)
    """

    status: int = 200
    headers: dict = field(default_factory=dict)
    body: bytes = b""
    delay: float = 0.0
    close: bool = False
    drop: bool = False


@dataclass
class Received:
    """One request as the stub received it.

    :param method: the HTTP method
    :param path: the request target (path and query)
    :param headers: the headers (an :class:`http.client.HTTPMessage`: ``get`` is
        case-insensitive)
    :param body: the body bytes
    :param client: the client's ``(host, port)``: requests sharing it came over one
        keep-alive connection
    """

    method: str
    path: str
    headers: object
    body: bytes
    client: tuple = None

    def json(self):
        """Return the body decoded as JSON."""
        return json.loads(self.body)


class _Server(ThreadingHTTPServer):
    # Handler threads are joined on close (so none outlives the fixture).
    daemon_threads = False
    block_on_close = True
    allow_reuse_address = False

    def handle_error(self, request, client_address):
        # Clients that give up early (timeouts, capped reads) are expected here.
        pass


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Never wait forever on a client that sends nothing.
    timeout = 5

    def setup(self):
        super().setup()
        self.server.stub._track(self.connection, True)

    def finish(self):
        try:
            super().finish()
        finally:
            self.server.stub._track(self.connection, False)

    def _serve(self):
        stub = self.server.stub
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        stub._record(
            Received(
                self.command, self.path, self.headers, body, tuple(self.client_address)
            )
        )
        answer = stub._next_answer()
        if answer.drop or (answer.delay and stub._stopping.wait(answer.delay)):
            self.close_connection = True  # dropped unanswered
            return
        self.close_connection = self.close_connection or answer.close
        try:
            self.send_response(answer.status)
            names = {name.lower() for name in answer.headers}
            for name, value in answer.headers.items():
                self.send_header(name, value)
            if "content-length" not in names:
                self.send_header("Content-Length", str(len(answer.body)))
            self.end_headers()
            if answer.body and self.command != "HEAD":
                self.wfile.write(answer.body)
        except OSError:
            pass  # the client went away (timeout or capped read)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _serve

    def log_message(self, format, *args):
        pass


def _encode(body, headers):
    headers = dict(headers or {})
    if body is None:
        return b"", headers
    if isinstance(body, bytes):
        return body, headers
    if isinstance(body, str):
        return body.encode("utf-8"), headers
    if not any(name.lower() == "content-type" for name in headers):
        headers["Content-Type"] = "application/json"
    return json.dumps(body).encode("utf-8"), headers


class StubServer:
    """A scriptable HTTP server on 127.0.0.1 (see the module documentation).

    :param default: the answer given when the script is empty (default: 200 with an
        empty JSON object)
    :param port: the port to listen on (default: a free one); a fixed port lets a
        test bring a receiver back at the address it had, as after an outage
    """

    def __init__(self, default=None, port=0):
        self._port = port
        self._initial_default = default or Answer(
            200, {"Content-Type": "application/json"}, b"{}"
        )
        self.default = self._initial_default
        self._answers = deque()
        self._log = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server = None
        self._thread = None
        self._connections = set()

    # -- lifecycle ------------------------------------------------------------

    def start(self):
        """Listen on 127.0.0.1 (on a free port unless one was given) and serve in a
        background thread.

        :return: the server itself
        """
        self._server = _Server((HOST, self._port), _Handler)
        self._server.stub = self
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.01},
            name=f"stub-server-{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self):
        """Stop serving, wake delayed answers, close the socket and join threads."""
        if self._server is None:
            return
        self._stopping.set()
        self._server.shutdown()
        with self._lock:
            connections = list(self._connections)
        for connection in connections:  # idle keep-alive connections
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self._server.server_close()
        self._thread.join(timeout=10)
        self._server = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc_info):
        self.stop()

    # -- addresses ------------------------------------------------------------

    @property
    def port(self):
        """The port the server listens on."""
        return self._server.server_address[1]

    @property
    def base_url(self):
        """``http://127.0.0.1:<port>``."""
        return f"http://{HOST}:{self.port}"

    def url(self, path="/"):
        """Return the absolute URL of ``path`` on this server.

        :param path: a path starting with ``/`` (a query may follow)
        :return: the URL
        """
        return self.base_url + path

    # -- script ---------------------------------------------------------------

    def script(self, *answers):
        """Queue answers, given in the order they will be used.

        :param answers: :class:`Answer` instances
        :return: the server itself
        """
        with self._lock:
            self._answers.extend(answers)
        return self

    def reply(self, status=200, body=None, headers=None, delay=0.0):
        """Queue one answer.

        :param status: the HTTP status
        :param body: bytes or text sent as is, or a JSON value (sent as JSON with
            ``Content-Type: application/json`` unless ``headers`` sets one)
        :param headers: extra response headers
        :param delay: seconds to wait before answering
        :return: the server itself
        """
        data, headers = _encode(body, headers)
        return self.script(Answer(status, headers, data, delay))

    def _next_answer(self):
        with self._lock:
            return self._answers.popleft() if self._answers else self.default

    @property
    def pending(self):
        """The number of scripted answers not used yet."""
        with self._lock:
            return len(self._answers)

    # -- log ------------------------------------------------------------------

    def _track(self, connection, is_open):
        with self._lock:
            if is_open:
                self._connections.add(connection)
            else:
                self._connections.discard(connection)

    def _record(self, received):
        with self._lock:
            self._log.append(received)

    def reset(self):
        """Forget the received requests and the unused script; restore the default
        answer given at creation (for a server shared by several tests)."""
        with self._lock:
            self._log.clear()
            self._answers.clear()
            self.default = self._initial_default

    @property
    def requests(self):
        """The requests received so far, oldest first (a copy)."""
        with self._lock:
            return list(self._log)


def closed_port_url(path="/"):
    """Return a URL on 127.0.0.1 where nothing listens (connections are refused).

    :param path: the path of the URL
    :return: the URL
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        port = probe.getsockname()[1]
    return f"http://{HOST}:{port}{path}"
