"""The second load generator: clients that make several dependent calls for one unit
of work (one shop-floor event), as an external system integrating through Odoo's
JSON-2 API does, and the suite's own senders of event batches.

``wrk`` replays fixed requests; it cannot read one answer to build the next request.
This generator runs ``threads`` clients at once, each with its own HTTP session and
its own list of units. A unit is a function ``unit(call)``; ``call(path, body,
headers)`` POSTs JSON and returns the decoded answer. Any answer that is not 2xx, or
any socket error, fails the whole run (a rate that includes errors measures nothing).

Both sides of a domain comparison run on this generator with the same number of
clients, so the comparison does not depend on the generator.
"""

import threading
import time

import requests
from bench_errors import BenchError


class MultiCallClient:
    def __init__(self, base_url, threads=8, timeout=120):
        self.base_url = base_url
        self.threads = threads
        self.timeout = timeout

    def describe(self):
        return (
            f"Python multi-call client (requests), {self.threads} clients, "
            f"one unit of work at a time each, timeout {self.timeout}s"
        )

    def run(self, units_by_thread):
        """Run each thread's units in order, the threads at once.

        :param units_by_thread: one list of units per client
        :return: dict with units, calls, seconds, units_per_s, latency_ms (per
            unit: p50, p99, max), started and ended (epoch seconds)
        """
        if len(units_by_thread) > self.threads:
            raise BenchError(
                f"{len(units_by_thread)} unit lists for {self.threads} clients"
            )
        lock = threading.Lock()
        latencies, calls, failures = [], [0], []

        def client(units):
            session = requests.Session()
            own, count = [], 0

            def call(path, body, headers=None):
                nonlocal count
                count += 1
                try:
                    response = session.post(
                        f"{self.base_url}{path}",
                        json=body,
                        headers=headers,
                        timeout=self.timeout,
                    )
                except requests.RequestException as exc:
                    raise BenchError(f"POST {path}: {exc}") from exc
                if response.status_code >= 300:
                    raise BenchError(
                        f"POST {path}: {response.status_code} {response.text[:600]}"
                    )
                return response.json() if response.content else None

            try:
                for unit in units:
                    started = time.perf_counter()
                    unit(call)
                    own.append(time.perf_counter() - started)
            except Exception as exc:  # noqa: BLE001 - reported once all stopped
                with lock:
                    failures.append(exc)
            finally:
                session.close()
                with lock:
                    latencies.extend(own)
                    calls[0] += count

        workers = [
            threading.Thread(target=client, args=(units,)) for units in units_by_thread
        ]
        started = time.time()
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        ended = time.time()
        if failures:
            raise BenchError(f"multi-call client: {failures[0]}")
        latencies.sort()
        seconds = ended - started
        return {
            "units": len(latencies),
            "calls": calls[0],
            "seconds": round(seconds, 3),
            "units_per_s": round(len(latencies) / seconds, 2),
            "latency_ms": {
                "p50": round(percentile(latencies, 50) * 1000, 1),
                "p99": round(percentile(latencies, 99) * 1000, 1),
                "max": round(latencies[-1] * 1000, 1) if latencies else 0,
            },
            "started": started,
            "ended": ended,
        }


def percentile(values, p):
    """The ``p``-th percentile of ``values``, interpolated (0.0 for none)."""
    ordered = sorted(values)
    if not ordered:
        return 0.0
    index = (len(ordered) - 1) * p / 100
    low = int(index)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (index - low)
