"""The load generator of every HTTP measurement: wrk with bench/wrk/bench.lua, or, when
wrk is missing, a Python generator with the same connections, duration and id scheme.

A measurement fails (raises BenchError) when any response is not 2xx/3xx or any
socket error occurs: a rate that includes errors measures nothing.
"""

import http.client
import json
import os
import re
import shutil
import subprocess
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

from harness import BenchError

LUA = Path(__file__).resolve().parent / "wrk" / "bench.lua"
_RESULT = re.compile(r"^BENCH_RESULT (\{.*\})$", re.MULTILINE)
_RPS = re.compile(r"^Requests/sec:\s+([0-9.]+)", re.MULTILINE)
_PCT = re.compile(r"^\s+(50|99)%\s+([0-9.]+)(us|ms|s)\s*$", re.MULTILINE)
_UNIT = {"us": 1e-3, "ms": 1.0, "s": 1e3}


class LoadGenerator:
    """Runs one fixed-concurrency, fixed-duration load against the server."""

    def __init__(self, base_url, workdir, connections=8, threads=2, timeout=30):
        self.base_url = base_url
        self.workdir = Path(workdir)
        self.connections = connections
        self.threads = threads
        self.timeout = timeout
        self.wrk = None if os.environ.get("MFG_BENCH_NO_WRK") else shutil.which("wrk")

    @property
    def name(self):
        if self.wrk:
            version = subprocess.run(
                [self.wrk, "-v"], capture_output=True, text=True, check=False
            ).stdout.splitlines()
            first = version[0].split("[")[0].strip() if version else ""
            return first or "wrk"
        return "Python generator (wrk not installed)"

    def describe(self):
        return (
            f"{self.name}, {self.connections} connections, {self.threads} threads, "
            f"timeout {self.timeout}s"
        )

    def run(
        self,
        name,
        path,
        duration,
        method="GET",
        headers=None,
        body=None,
        batch=0,
        tag=None,
    ):
        """Load ``path`` for ``duration`` seconds; return the figures.

        :param body: text of the body; ``@@ID@@`` in it becomes a unique id
        :param batch: send JSON arrays of ``batch`` bodies (each with its own id)
        :return: dict with requests, seconds, rps, latency_ms (p50, p90, p99, mean,
            max), errors, raw (the generator's output)
        """
        tag = tag or name
        spec = self.workdir / f"{name}.spec"
        lines = [f"method\t{method}", f"path\t{path}", f"tag\t{tag}", f"batch\t{batch}"]
        for key, value in (headers or {}).items():
            lines.append(f"header\t{key}: {value}")
        if body is not None:
            body_file = self.workdir / f"{name}.body"
            body_file.write_text(body, encoding="utf-8")
            lines.append(f"body\t{body_file}")
        spec.write_text("\n".join(lines) + "\n", encoding="utf-8")
        spec.chmod(0o600)
        if self.wrk:
            result = self._run_wrk(spec, duration)
        else:
            result = _python_load(
                self.base_url,
                method,
                path,
                headers or {},
                body,
                batch,
                tag,
                duration,
                self.connections,
                self.timeout,
            )
        errors = result["errors"]
        if any(errors.values()):
            raise BenchError(
                f"{name}: {errors} (errors or non-2xx answers during the load):\n"
                + result["raw"][-2000:]
            )
        if not result["requests"]:
            raise BenchError(f"{name}: no request completed\n{result['raw'][-2000:]}")
        return result

    def _run_wrk(self, spec, duration):
        command = [
            self.wrk,
            f"-t{self.threads}",
            f"-c{self.connections}",
            f"-d{duration}s",
            f"--timeout={self.timeout}s",
            "--latency",
            "-s",
            str(LUA),
            self.base_url,
            "--",
            str(spec),
        ]
        completed = subprocess.run(
            command, capture_output=True, text=True, check=False, timeout=duration + 120
        )
        raw = completed.stdout + completed.stderr
        match = _RESULT.search(raw)
        if completed.returncode or not match:
            raise BenchError(
                f"wrk failed (exit {completed.returncode}):\n{raw[-3000:]}"
            )
        data = json.loads(match.group(1))
        seconds = data["duration_us"] / 1e6
        latency = {k: v / 1000 for k, v in data["latency_us"].items()}
        # wrk's own text output says the same; keep it as a cross-check
        text_rps = _RPS.search(raw)
        text_pct = {p: float(v) * _UNIT[u] for p, v, u in _PCT.findall(raw)}
        return {
            "requests": data["requests"],
            "seconds": round(seconds, 3),
            "rps": round(data["requests"] / seconds, 1),
            "rps_wrk_text": float(text_rps.group(1)) if text_rps else None,
            "latency_ms": {k: round(v, 2) for k, v in latency.items()},
            "latency_ms_wrk_text": text_pct,
            "errors": data["errors"],
            "raw": raw,
        }


def _python_load(
    base_url, method, path, headers, body, batch, tag, duration, connections, timeout
):
    """Fallback generator: ``connections`` threads, each one request at a time."""
    parts = urlsplit(base_url)
    prefix, suffix = body, None
    if body is not None and "@@ID@@" in body:
        prefix, suffix = body.split("@@ID@@", 1)
    latencies, errors = (
        [],
        {"connect": 0, "read": 0, "write": 0, "status": 0, "timeout": 0},
    )
    lock = threading.Lock()
    deadline = time.monotonic() + duration

    def worker(index):
        counter = 0
        conn = None
        own = []

        def one():
            nonlocal counter
            counter += 1
            return (
                f"{prefix}{tag}-{index}-{counter}{suffix}"
                if suffix is not None
                else prefix
            )

        while time.monotonic() < deadline:
            if batch:
                payload = "[" + ",".join(one() for _ in range(batch)) + "]"
            else:
                payload = one()
            data = payload.encode() if payload is not None else None
            started = time.perf_counter()
            try:
                if conn is None:
                    conn = http.client.HTTPConnection(
                        parts.hostname, parts.port, timeout=timeout
                    )
                conn.request(method, path, body=data, headers=headers)
                response = conn.getresponse()
                response.read()
                elapsed = time.perf_counter() - started
                if response.status >= 400:
                    with lock:
                        errors["status"] += 1
                own.append(elapsed)
                if response.will_close:
                    conn.close()
                    conn = None
            except TimeoutError:
                with lock:
                    errors["timeout"] += 1
                conn = None
            except OSError:
                with lock:
                    errors["read"] += 1
                conn = None
        with lock:
            latencies.extend(own)

    started = time.monotonic()
    threads = [
        threading.Thread(target=worker, args=(i + 1,)) for i in range(connections)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds = time.monotonic() - started
    latencies.sort()

    def pct(p):
        if not latencies:
            return 0.0
        return latencies[min(len(latencies) - 1, int(len(latencies) * p / 100))] * 1000

    return {
        "requests": len(latencies),
        "seconds": round(seconds, 3),
        "rps": round(len(latencies) / seconds, 1),
        "latency_ms": {
            "min": round(latencies[0] * 1000, 2) if latencies else 0,
            "mean": round(sum(latencies) / len(latencies) * 1000, 2)
            if latencies
            else 0,
            "p50": round(pct(50), 2),
            "p90": round(pct(90), 2),
            "p99": round(pct(99), 2),
            "max": round(latencies[-1] * 1000, 2) if latencies else 0,
        },
        "errors": errors,
        "raw": f"python generator: {len(latencies)} requests in {seconds:.2f}s",
    }
