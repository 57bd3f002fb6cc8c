"""Sampling profiles of the Odoo HTTP workers with py-spy, for the measurements whose
target is missed: a flame graph (SVG) and a text summary of the hot spots.

py-spy samples every thread, idle ones included (``--idle``), so that time spent
waiting on PostgreSQL shows; samples outside a request (a worker waiting for a
connection) are then left out. Shares are of the samples taken while serving requests.
"""

import html
import re
import shutil
import subprocess
from collections import Counter
from pathlib import Path

_FRAME = re.compile(r"^(?P<func>.*) \((?P<file>[^():]*?)(?::(?P<line>\d+))?\)$")
_REPO_MARKERS = ("/addons/mfg_integration", "/mfg_integration/")
_BUSY_MARKER = "process_request ("


def available():
    return shutil.which("py-spy") is not None


class Recording:
    """py-spy recording every given process for ``seconds``."""

    def __init__(self, pids, seconds, outdir, name, rate=100):
        self.outdir = Path(outdir)
        self.outdir.mkdir(parents=True, exist_ok=True)
        self.name = name
        self.raw_files = []
        self.processes = []
        for pid in pids:
            raw = self.outdir / f"{name}.{pid}.raw.txt"
            self.raw_files.append(raw)
            self.processes.append(
                subprocess.Popen(  # noqa: S603
                    [
                        shutil.which("py-spy"),
                        "record",
                        "--pid",
                        str(pid),
                        "--duration",
                        str(int(seconds)),
                        "--rate",
                        str(rate),
                        "--format",
                        "raw",
                        "--full-filenames",
                        "--idle",
                        "--nonblocking",
                        "--output",
                        str(raw),
                    ],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )

    def finish(self, title):
        """Wait for py-spy, write ``<name>.svg`` and ``<name>.txt``; summarize."""
        for process in self.processes:
            try:
                process.wait(60)
            except subprocess.TimeoutExpired:
                process.kill()
        stacks = Counter()
        for raw in self.raw_files:
            if not raw.exists():
                continue
            for line in raw.read_text(errors="replace").splitlines():
                stack, _sep, count = line.rpartition(" ")
                if stack and count.isdigit():
                    stacks[stack] += int(count)
            raw.unlink()
        busy = Counter({s: n for s, n in stacks.items() if _BUSY_MARKER in s})
        summary = summarize(busy, sum(stacks.values()))
        svg = self.outdir / f"{self.name}.svg"
        txt = self.outdir / f"{self.name}.txt"
        collapsed = self.outdir / f"{self.name}.collapsed.txt"
        collapsed.write_text(
            "".join(f"{s} {n}\n" for s, n in busy.most_common()), encoding="utf-8"
        )
        svg.write_text(flame_svg(busy, title), encoding="utf-8")
        txt.write_text(summary["text"], encoding="utf-8")
        return {
            "flame_graph": str(svg),
            "text": str(txt),
            "collapsed_stacks": str(collapsed),
            "samples": summary["samples"],
            "busy_samples": summary["busy"],
            "top_self": summary["top_self"][:10],
            "top_repo": summary["top_repo"][:10],
            "categories": summary["categories"],
            "sql_callers": summary["sql_callers"][:10],
        }


def _parse(frame):
    match = _FRAME.match(frame)
    if not match:
        return frame, "", ""
    return match["func"], match["file"], match["line"] or ""


def _short(path):
    for marker in ("/site-packages/", "/odoo19/", "/work/main/"):
        if marker in path:
            return path.split(marker, 1)[1]
    return path


def _category(frames):
    """Where the leaf of a stack spends its time."""
    func, file, _line = _parse(frames[-1])
    if file.endswith("odoo/sql_db.py") or "psycopg2" in file:
        return "PostgreSQL (waiting in psycopg2)"
    if any(m in file for m in _REPO_MARKERS):
        return "mfg_integration code"
    if "jsonschema" in file or "referencing" in file or "rfc3339" in file:
        return "jsonschema"
    if "/json/" in file or func in ("dumps", "loads"):
        return "json"
    if "werkzeug" in file or "/odoo/http.py" in file:
        return "HTTP (werkzeug, odoo.http)"
    if "/odoo/orm/" in file or "/odoo/models" in file or "/odoo/fields" in file:
        return "Odoo ORM"
    if "/odoo/" in file or "/addons/" in file:
        return "other Odoo code"
    if (
        "requests" in file
        or "urllib3" in file
        or "http/client" in file
        or "socket" in file
    ):
        return "outgoing HTTP (requests)"
    return "other (stdlib, libraries)"


def summarize(busy, total):
    count = sum(busy.values()) or 1
    self_time, inclusive, repo, categories = Counter(), Counter(), Counter(), Counter()
    sql_callers = Counter()
    for stack, n in busy.items():
        frames = stack.split(";")
        func, file, line = _parse(frames[-1])
        self_time[f"{func} ({_short(file)}:{line})"] += n
        category = _category(frames)
        categories[category] += n
        if category.startswith("PostgreSQL"):
            sql_callers[_sql_caller(frames)] += n
        seen = set()
        for frame in frames:
            func, file, _line = _parse(frame)
            key = f"{func} ({_short(file)})"
            if key in seen:
                continue
            seen.add(key)
            inclusive[key] += n
            if any(m in file for m in _REPO_MARKERS):
                repo[key] += n

    def top(counter, limit):
        return [
            (name, round(100 * n / count, 1)) for name, n in counter.most_common(limit)
        ]

    lines = [
        f"samples: {total} in all, {sum(busy.values())} while serving requests "
        "(shares below are of these)",
        "",
        "where the time goes (by the leaf frame):",
        *(f"  {share:5.1f} %  {name}" for name, share in top(categories, 20)),
        "",
        "hot spots in this repository (inclusive: the function and its callees):",
        *(f"  {share:5.1f} %  {name}" for name, share in top(repo, 30)),
        "",
        "time in PostgreSQL by caller (the deepest frame of this repository, else "
        "the deepest one outside odoo/sql_db.py):",
        *(f"  {share:5.1f} %  {name}" for name, share in top(sql_callers, 20)),
        "",
        "self time (leaf frames):",
        *(f"  {share:5.1f} %  {name}" for name, share in top(self_time, 30)),
        "",
        "inclusive time, all code:",
        *(f"  {share:5.1f} %  {name}" for name, share in top(inclusive, 60)),
        "",
    ]
    return {
        "text": "\n".join(lines),
        "samples": total,
        "busy": sum(busy.values()),
        "top_self": top(self_time, 30),
        "top_repo": top(repo, 30),
        "categories": top(categories, 20),
        "sql_callers": top(sql_callers, 20),
    }


def _sql_caller(frames):
    """The frame that sent the query: our code if any, else Odoo's."""
    ours = [f for f in frames if any(m in _parse(f)[1] for m in _REPO_MARKERS)]
    if ours:
        frame = ours[-1]
    else:
        outside = [
            f
            for f in frames
            if not _parse(f)[1].endswith("odoo/sql_db.py") and "psycopg2" not in f
        ]
        frame = outside[-1] if outside else frames[-1]
    func, file, line = _parse(frame)
    return f"{func} ({_short(file)}:{line})"


def flame_svg(stacks, title, width=1600, row=16):
    """A flame graph (root at the bottom) of collapsed stacks, as standalone SVG."""
    root = {"name": "all", "value": 0, "children": {}}
    for stack, n in stacks.items():
        root["value"] += n
        node = root
        for frame in stack.split(";"):
            child = node["children"].setdefault(
                frame, {"name": frame, "value": 0, "children": {}}
            )
            child["value"] += n
            node = child
    total = root["value"] or 1

    def depth(node):
        return 1 + max((depth(c) for c in node["children"].values()), default=0)

    levels = depth(root)
    height = (levels + 3) * row
    boxes = []

    def color(name):
        func, file, _line = _parse(name)
        if any(m in file for m in _REPO_MARKERS):
            return "#f39c12"
        if file.endswith("odoo/sql_db.py") or "psycopg2" in file:
            return "#e74c3c"
        if "/odoo/" in file:
            return "#5dade2"
        return "#bdc3c7"

    def walk(node, x, level):
        w = node["value"] / total * width
        if w < 0.3:
            return
        y = height - (level + 2) * row
        func, file, line = _parse(node["name"])
        label = node["name"] if node is root else f"{func} ({_short(file)}:{line})"
        share = 100 * node["value"] / total
        tip = html.escape(f"{label}: {share:.1f} % ({node['value']} samples)")
        text = html.escape(label[: int(w / 7)]) if w > 35 else ""
        boxes.append(
            f'<g><title>{tip}</title><rect x="{x:.1f}" y="{y}" width="{w:.1f}" '
            f'height="{row - 1}" fill="{color(node["name"])}" rx="2"/>'
            f'<text x="{x + 3:.1f}" y="{y + row - 4}">{text}</text></g>'
        )
        cx = x
        for child in sorted(node["children"].values(), key=lambda c: c["name"]):
            walk(child, cx, level + 1)
            cx += child["value"] / total * width

    walk(root, 0, 0)
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'font-family="monospace" font-size="11">'
        f'<text x="4" y="{row}" font-size="14">{html.escape(title)}</text>'
        + "".join(boxes)
        + "</svg>\n"
    )
