"""Ratios, targets and the Markdown table of a benchmark run; the README section."""

import re
import statistics
import textwrap

#: (key, label, numerator, denominator or None, comparison, target, unit)
TARGETS = (
    (
        "ingress_vs_webhook",
        "single-event ingress ÷ native no-op webhook (requests/s)",
        ("ingress_single", "rps"),
        ("webhook_noop", "rps"),
        ">=",
        2.0,
        "",
    ),
    (
        "batch_vs_insert",
        "batch ingress events/s ÷ raw INSERT+COMMIT/s",
        ("ingress_batch", "events_per_s"),
        ("pg_insert", "tps"),
        ">=",
        2.0,
        "",
    ),
    (
        "outbound_vs_jobs",
        "outbound deliveries/s ÷ queue_job no-op jobs/s",
        ("outbound", "deliveries_per_s"),
        ("queue_job_noop", "jobs_per_s"),
        ">=",
        10.0,
        "",
    ),
    *(
        (
            f"domain_{family}",
            f"domain: {label}, events/s ÷ the same operations through JSON-2",
            (f"domain_{family}", "suite_events_per_s"),
            (f"domain_{family}", "json2_events_per_s"),
            ">=",
            1.5,
            "",
        )
        for family, label in (
            ("mes", "MES progress + consumption"),
            ("downtime", "machine downtime started"),
            ("inspection", "inspection result recorded"),
        )
    ),
    (
        "delivery_latency",
        "event → delivered p50, idle",
        ("outbound_latency", "p50_ms"),
        None,
        "<=",
        1000.0,
        " ms",
    ),
    (
        "rss_growth",
        "worker RSS growth over the ingested events (largest worker)",
        ("memory", "growth_mb_max"),
        None,
        "<=",
        50.0,
        " MB",
    ),
    (
        "list_view",
        "message list (web_search_read, 80 rows), median",
        ("list_view", "median_ms"),
        None,
        "<",
        1000.0,
        " ms",
    ),
    (
        "metrics_scrape",
        "Prometheus scrape of the metrics, median",
        ("metrics_scrape", "median_ms"),
        None,
        "<",
        200.0,
        " ms",
    ),
    (
        "scrape_vs_read_group",
        "messages web_read_group by system and state ÷ metrics scrape (time)",
        ("messages_grouped", "median_ms"),
        ("metrics_scrape", "median_ms"),
        ">=",
        1.0,
        "",
    ),
    (
        "dead_letters_view",
        "dead letters grouped by system (web_read_group), median",
        ("dead_letters_grouped", "median_ms"),
        None,
        "<",
        1000.0,
        " ms",
    ),
)


def _get(measurements, path):
    data = measurements.get(path[0]) or {}
    return data.get(path[1])


def _runs(measurements, path):
    """The value of each repetition of a figure (``<field>_runs``), or None."""
    return (measurements.get(path[0]) or {}).get(f"{path[1]}_runs")


def spread(measurements, num, den=None):
    """(lowest, highest) over the repetitions: of the figure, or of the ratio of
    the two figures repetition by repetition; None without repetitions."""
    values = _runs(measurements, num)
    if not values:
        return None
    if den is not None:
        lower = _runs(measurements, den)
        if not lower or len(lower) != len(values) or not all(lower):
            return None
        values = [a / b for a, b in zip(values, lower, strict=True)]
    return round(min(values), 3), round(max(values), 3)


def ratios(measurements):
    out = []
    for key, label, num, den, op, target, unit in TARGETS:
        value = _get(measurements, num)
        if den is not None:
            denominator = _get(measurements, den)
            value = round(value / denominator, 3) if value and denominator else None
        runs = _runs(measurements, num)
        met = None
        if value is not None:
            met = {
                ">=": value >= target,
                "<=": value <= target,
                "<": value < target,
            }[op]
        out.append(
            {
                "key": key,
                "label": label,
                "value": value,
                "target": f"{op} {target:g}{unit}",
                "met": met,
                "unit": unit,
                "spread": spread(measurements, num, den),
                "repetitions": len(runs) if runs else None,
            }
        )
    return out


def _num(value, digits=0):
    if value is None:
        return "–"
    if digits == 0:
        return f"{value:,.0f}"
    return f"{value:,.{digits}f}"


def _range(data, field, digits=0):
    """`` (lowest–highest)`` of a figure's repetitions, or nothing."""
    runs = data.get(f"{field}_runs")
    if not runs or len(runs) < 2:
        return ""
    return f" ({_num(min(runs), digits)}–{_num(max(runs), digits)})"


def _lat(m):
    lat = m.get("latency_ms") or {}
    if not lat:
        return "", ""
    return f"{lat['p50']:.1f} ms", f"{lat['p99']:.1f} ms"


def _server(data):
    stats = data.get("server_median") or data.get("server_median_per_job")
    if not stats:
        return ""
    per = " per job" if "server_median_per_job" in data or "jobs" in data else ""
    return (
        f"{stats['queries']:.0f} q · {stats['sql_ms']:.0f} ms SQL · "
        f"{stats['other_ms']:.0f} ms rest{per}"
    )


def figure_rows(results):
    """(number, measurement, result, p50, p99, server) rows of the figures table."""
    m = results["measurements"]
    run = results["run"]
    rows = []

    def add(number, label, key, result):
        data = m.get(key) or {}
        if "error" in data:
            rows.append((number, label, f"FAILED: {data['error'][:120]}", "", "", ""))
            return
        if not data:
            rows.append((number, label, "not measured", "", "", ""))
            return
        p50, p99 = _lat(data)
        rows.append((number, label, result(data), p50, p99, _server(data)))

    add(
        "1",
        "Odoo HTTP ceiling: `GET /web/static/img/favicon.ico` (no database)",
        "http_ceiling",
        lambda d: f"{_num(d['rps'])} req/s{_range(d, 'rps')}",
    )
    add(
        "1b",
        "`GET /web/health` (smallest database-bound route)",
        "web_health",
        lambda d: f"{_num(d['rps'])} req/s{_range(d, 'rps')}",
    )
    add(
        "2a",
        "native webhook `/web/hook/<uuid>`, no-op code action",
        "webhook_noop",
        lambda d: f"{_num(d['rps'])} req/s{_range(d, 'rps')}",
    )
    add(
        "2b",
        "native webhook, action creating a `res.partner`",
        "webhook_create",
        lambda d: f"{_num(d['rps'])} req/s{_range(d, 'rps')}",
    )
    add(
        "3",
        "JSON-2 `POST /json/2/res.partner/create` (bearer API key)",
        "json2_create",
        lambda d: f"{_num(d['rps'])} req/s{_range(d, 'rps')}",
    )
    add(
        "4",
        "suite single-event ingress `POST /api/mfg/v1/events`",
        "ingress_single",
        lambda d: f"{_num(d['rps'])} req/s{_range(d, 'rps')}",
    )
    add(
        "5",
        f"suite batch ingress, {run.get('batch_size')} events per request",
        "ingress_batch",
        lambda d: (
            f"{_num(d['events_per_s'])} events/s{_range(d, 'events_per_s')}, "
            f"{_num(d['rps'], 1)} req/s"
        ),
    )
    add(
        "6",
        "PostgreSQL single-row INSERT + COMMIT (pgbench, 4 clients)",
        "pg_insert",
        lambda d: f"{_num(d['tps'])} tx/s{_range(d, 'tps')}",
    )
    add(
        "7",
        "queue_job no-op jobs (`_test_job`), real runner",
        "queue_job_noop",
        lambda d: (
            f"{_num(d['jobs_per_s'])} jobs/s{_range(d, 'jobs_per_s')}, "
            f"{_num(d['jobs'])} jobs a run"
        ),
    )
    add(
        "8a",
        "suite outbound deliveries to a local receiver",
        "outbound",
        lambda d: (
            f"{_num(d['deliveries_per_s'])} deliveries/s"
            f"{_range(d, 'deliveries_per_s')}, {_num(d['messages'])} messages a run"
        ),
    )
    for family in ("mes", "downtime", "inspection"):
        key = f"domain_{family}"
        data = m.get(key) or {}
        label = data.get("label", family)
        add(
            f"D-{family}",
            f"domain, {label}: the suite (batches, processed into Odoo records, "
            "end to end)",
            key,
            lambda d: (
                f"{_num(d['suite_events_per_s'], 1)} events/s"
                f"{_range(d, 'suite_events_per_s', 1)}"
            ),
        )
        if data and "error" not in data:
            rounds = data["json2"]
            suite = data["suite"]
            rows[-1] = (
                *rows[-1][:5],
                f"{statistics.median(r['job_share'] for r in suite):.2f} "
                "job-seconds per second; ingress "
                f"{statistics.median(r['ingress_seconds'] for r in suite):.1f} s "
                f"of {statistics.median(r['seconds'] for r in suite):.1f} s",
            )
            rows.append(
                (
                    f"D-{family}",
                    f"domain, {label}: the same operations through JSON-2 "
                    f"({statistics.median(r['calls_per_event'] for r in rounds):.1f} "
                    "calls per event)",
                    f"{_num(data['json2_events_per_s'], 1)} events/s"
                    f"{_range(data, 'json2_events_per_s', 1)}",
                    f"{rounds[0]['latency_ms_per_event']['p50']:.0f} ms",
                    f"{rounds[0]['latency_ms_per_event']['p99']:.0f} ms",
                    "per event, all its calls",
                )
            )
    m_lat = m.get("outbound_latency") or {}
    if m_lat and "error" not in m_lat:
        rows.append(
            (
                "8b",
                "event commit → receiver, idle "
                f"({m_lat['samples']} events, one at a time)",
                f"mean {m_lat['mean_ms']:.0f} ms",
                f"{m_lat['p50_ms']:.0f} ms",
                f"{m_lat['p99_ms']:.0f} ms",
                "",
            )
        )
    else:
        add("8b", "event commit → receiver, idle", "outbound_latency", lambda d: "")
    mapping = m.get("mapping") or {}
    for name, data in (mapping.get("mappings") or {}).items():
        rows.append(
            (
                "9",
                f"mapping `apply`: {name}",
                f"{_num(data['applies_per_s'])} applies/s",
                "",
                "",
                f"{data['us_per_apply']:.0f} µs per apply, one core",
            )
        )
    if "error" in mapping:
        rows.append(
            ("9", "mapping `apply`", f"FAILED: {mapping['error'][:120]}", "", "", "")
        )
    validation = m.get("schema_validation") or {}
    if "schemas" in validation:
        slowest = min(validation["schemas"].items(), key=lambda i: i[1]["ratio"])
        rows.append(
            (
                "9b",
                f"event validation, {len(validation['schemas'])} catalogue schemas",
                f"median {validation['median_ratio']:.0f}x jsonschema alone",
                "",
                "",
                f"slowest gain {slowest[1]['ratio']:.0f}x ({slowest[0]})",
            )
        )
    elif "error" in validation:
        rows.append(
            (
                "9b",
                "event validation",
                f"FAILED: {validation['error'][:120]}",
                "",
                "",
                "",
            )
        )
    add(
        "10a",
        "HTTP worker RSS before → after "
        f"{_num(run.get('memory_events'))} ingested events",
        "memory",
        lambda d: " · ".join(
            f"{w['before_mb']:.0f} → {w['after_mb']:.0f} MB" for w in d["workers"]
        )
        + f" (+{d['growth_mb_max']:.1f} MB max)",
    )
    add(
        "10b",
        f"message list `web_search_read` (80 rows), {_num(run.get('list_rows'))} rows",
        "list_view",
        lambda d: f"median {d['median_ms']:.0f} ms (max {d['max_ms']:.0f} ms)",
    )
    add(
        "10c",
        "dead letters `web_read_group` by system (state = dead)",
        "dead_letters_grouped",
        lambda d: f"median {d['median_ms']:.0f} ms (max {d['max_ms']:.0f} ms)",
    )
    add(
        "10d",
        "Prometheus scrape `GET /api/mfg/v1/metrics`, same table",
        "metrics_scrape",
        lambda d: f"median {d['median_ms']:.0f} ms (max {d['max_ms']:.0f} ms; first, "
        f"compacting {d['samples_before']:,} samples into {d['series']:,}: "
        f"{d['first_ms']:.0f} ms)",
    )
    add(
        "10e",
        "messages `web_read_group` by system and state, same table",
        "messages_grouped",
        lambda d: f"median {d['median_ms']:.0f} ms (max {d['max_ms']:.0f} ms)",
    )
    return rows


def machine_line(machine):
    pg = machine.get("postgresql_settings") or {}
    return (
        f"{machine['cpu']}, {machine['cores_logical']} cores, "
        f"{machine['ram_gib']} GiB RAM, "
        f"{machine['os']}; PostgreSQL {machine['postgresql']} "
        f"(synchronous_commit={pg.get('synchronous_commit')}, fsync={pg.get('fsync')}, "
        f"shared_buffers={pg.get('shared_buffers')}); Python {machine['python']}; "
        f"Odoo {machine['odoo']}; queue_job {machine['queue_job']}; "
        f"load generator {machine['load_generator']}"
    )


def markdown(results):
    run = results["run"]
    cores = results["machine"]["cores_logical"]
    lines = [
        textwrap.fill(
            f"Run of {run['started']} ({run['mode']} mode, every figure measured "
            f"{run.get('repeats', 1)} times: the median, and in brackets the lowest "
            f"and highest; {run['duration']} s per HTTP run after {run['warmup']} s "
            f"of warm-up, {run['connections']} connections, the load generators on "
            f"the same {cores} cores as Odoo and PostgreSQL).",
            88,
        ),
        "",
        textwrap.fill(f"Machine: {machine_line(results['machine'])}.", 88),
        "",
        "| # | measurement | result | p50 | p99 | server, median per request |",
        "|---|---|---|---|---|---|",
    ]
    for row in figure_rows(results):
        lines.append("| " + " | ".join(row) + " |")
    lines += [
        "",
        textwrap.fill(
            "*server, median per request*: what Odoo logged for each request of the "
            "measurement: SQL queries (q), time in SQL, and the rest of the server "
            "time (Python, commit, waiting for a core).",
            88,
        ),
        "",
        "| target | measured | lowest–highest of the repetitions | target | met |",
        "|---|---|---|---|---|",
    ]
    for ratio in results["ratios"]:
        value = ratio["value"]
        shown = (
            "–"
            if value is None
            else (
                f"{value:,.2f}" if not ratio["unit"] else f"{value:,.1f}{ratio['unit']}"
            )
        )
        met = {True: "**met**", False: "**missed**", None: "not measured"}[ratio["met"]]
        low_high = ratio.get("spread")
        spread_text = f"{low_high[0]:,.2f}–{low_high[1]:,.2f}" if low_high else ""
        lines.append(
            f"| {ratio['label']} | {shown} | {spread_text} | {ratio['target']} "
            f"| {met} |"
        )
    if run["mode"] != "full":
        lines += [
            "",
            f"*{run['mode']} mode: shorter runs and smaller volumes than the "
            "targets are defined for; use the full mode for figures to quote.*",
        ]
    return "\n".join(lines) + "\n"


_SECTION = re.compile(r"^## Benchmarks\s*$.*?(?=^## |\Z)", re.MULTILINE | re.DOTALL)


def readme_section(results, table):
    return (
        "## Benchmarks\n\n"
        "```bash\nbash bench/run.sh     # about 20 minutes; --quick: about 8\n```\n\n"
        + textwrap.fill(
            "brings up a real Odoo 19 server (2 workers, queue_job runner) on a fresh "
            "database and measures, in one run and with the same load generator, "
            "Odoo's own mechanisms and the suite's; `bench/README.md` explains each "
            "figure and how to read the ratios. Results go to `bench/results/` "
            "(git-ignored); a missed target is profiled there (flame graph and hot "
            "spots). Latest full run:",
            88,
        )
        + "\n\n"
        + table
        + "\n"
    )


def update_readme(path, results, table):
    text = path.read_text(encoding="utf-8")
    section = readme_section(results, table)
    if _SECTION.search(text):
        text = _SECTION.sub(lambda _m: section, text, count=1)
    else:
        text = text.rstrip("\n") + "\n\n" + section
    path.write_text(text, encoding="utf-8")


def main():
    """Print the tables of a results file again, and optionally put them in the
    README: ``python bench/report.py bench/results/latest.json [--update-readme]``."""
    import argparse
    import json
    from pathlib import Path

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("results", type=Path)
    parser.add_argument("--update-readme", action="store_true")
    args = parser.parse_args()
    results = json.loads(args.results.read_text(encoding="utf-8"))
    results["ratios"] = ratios(results["measurements"])
    table = markdown(results)
    print(table)
    if args.update_readme:
        if results["run"]["mode"] != "full" or results["run"].get("failed"):
            parser.error("only a complete full run goes into the README")
        update_readme(
            Path(__file__).resolve().parent.parent / "README.md", results, table
        )


if __name__ == "__main__":
    main()
