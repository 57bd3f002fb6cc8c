"""Outbound receiver of the benchmark: answers 200 at once, counts and timestamps.

Run in its own process by bench/run.py::

    python bench/receiver.py            # prints "PORT <n>" once listening on 127.0.0.1

Any POST is a delivery: it is answered ``200`` with an empty body (HTTP/1.1,
keep-alive) and recorded with the wall-clock time it was read and its ``webhook-id``.
``GET /_stats`` returns ``{"count", "distinct", "unsigned", "deliveries": [[time,
webhook-id], ...]}``; ``POST /_reset`` forgets everything.
"""

import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Receiver(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 64

    def __init__(self):
        super().__init__(("127.0.0.1", 0), Handler)
        self.lock = threading.Lock()
        self.deliveries = []
        self.unsigned = 0

    def handle_error(self, request, client_address):
        """A client closing its connection is no error worth a traceback."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def _answer(self, status, body=b"", content_type="application/json"):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body:
            self.wfile.write(body)

    def do_POST(self):  # noqa: N802 - http.server's naming
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        received = time.time()
        if self.path == "/_reset":
            with self.server.lock:
                self.server.deliveries = []
                self.server.unsigned = 0
            self._answer(204)
            return
        self._answer(200)
        msg_id = self.headers.get("webhook-id", "")
        with self.server.lock:
            self.server.deliveries.append((received, msg_id))
            if not self.headers.get("webhook-signature", "").startswith("v1,"):
                self.server.unsigned += 1

    def do_GET(self):  # noqa: N802
        if self.path != "/_stats":
            self._answer(404)
            return
        with self.server.lock:
            deliveries = list(self.server.deliveries)
            unsigned = self.server.unsigned
        body = json.dumps(
            {
                "count": len(deliveries),
                "distinct": len({msg_id for _t, msg_id in deliveries}),
                "unsigned": unsigned,
                "deliveries": deliveries,
            }
        ).encode()
        self._answer(200, body)

    def log_message(self, format, *args):  # noqa: A002 - silence per-request logs
        pass


def main():
    server = Receiver()
    sys.stdout.write(f"PORT {server.server_address[1]}\n")
    sys.stdout.flush()
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
