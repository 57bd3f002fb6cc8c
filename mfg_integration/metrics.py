"""The hub's Prometheus metrics: their names, labels and exposition.

The values live in the database (counters and histograms as rows that any Odoo
server or worker appends to, gauges read live from the message table), so that every
server answers the same scrape. This module knows the metrics and renders a
snapshot of their values with ``prometheus_client``; it never imports Odoo.

Counters and histograms are stored as *samples*: ``(metric, labels, bucket, value)``
rows whose sums are the values. ``labels`` is :func:`encode_labels`' canonical text;
``bucket`` is -1 for a counter and for a histogram's sum, else the index of the
histogram bucket in :data:`LATENCY_BUCKETS` (``len(LATENCY_BUCKETS)`` for +Inf).
"""

import bisect
import json
import math
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, exposition, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
)

PREFIX = "mfg_integration_"
#: upper bounds (seconds) of the latency histograms' buckets
LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600)
#: the ``bucket`` of a counter's sample and of a histogram's sum
NO_BUCKET = -1
#: the longest label value kept (longer ones are cut: labels are identifiers)
MAX_LABEL_LENGTH = 100
#: the classic text format, which every Prometheus reads (prometheus_client 0.22 and
#: newer call "latest" a 1.0.0 format that older servers do not know)
CONTENT_TYPE = getattr(
    exposition, "CONTENT_TYPE_PLAIN_0_0_4", exposition.CONTENT_TYPE_LATEST
)


@dataclass(frozen=True)
class Metric:
    name: str
    kind: str  # "counter", "histogram" or "gauge"
    help: str
    labels: tuple


_METRICS = (
    Metric(
        "requests",
        "counter",
        "HTTP requests to the ingress routes (events, webhooks), by answer status; "
        "a request refused as a whole (401, 413, 415, 422, 429...) counts here only.",
        ("route", "status"),
    ),
    Metric(
        "events_received",
        "counter",
        "Events sent to the hub, by outcome: accepted (stored), duplicate (stored "
        "before), rejected (refused, nothing stored).",
        ("system", "event_type", "outcome"),
    ),
    Metric(
        "messages_processed",
        "counter",
        "Processing attempts of inbound messages, by outcome: done, retry (failed, "
        "retried later) or dead (a dead letter), and error class.",
        ("system", "event_type", "outcome", "error_class"),
    ),
    Metric(
        "deliveries",
        "counter",
        "Delivery attempts of outbound messages, by outcome: delivered, retry, dead "
        "(a dead letter) or gone (the receiver said 410 Gone), and error class.",
        ("system", "endpoint", "event_type", "outcome", "error_class"),
    ),
    Metric(
        "replays",
        "counter",
        "Messages replayed by a user (dead letters, failed or discarded messages).",
        ("system", "direction"),
    ),
    Metric(
        "discards",
        "counter",
        "Messages discarded by a user.",
        ("system", "direction"),
    ),
    Metric(
        "processing_latency_seconds",
        "histogram",
        "Seconds from the reception of an inbound message to its successful "
        "processing.",
        ("system", "event_type"),
    ),
    Metric(
        "delivery_latency_seconds",
        "histogram",
        "Seconds from the emission of an outbound message to its acknowledged "
        "delivery.",
        ("system", "endpoint", "event_type"),
    ),
    Metric(
        "backlog_messages",
        "gauge",
        "Messages waiting to be processed or delivered (received, queued or failed "
        "and retried later).",
        ("system", "direction"),
    ),
    Metric(
        "backlog_due_messages",
        "gauge",
        "Waiting messages that are due now (not waiting for a later retry).",
        ("system", "direction"),
    ),
    Metric(
        "backlog_oldest_due_age_seconds",
        "gauge",
        "Seconds the oldest due message has been waiting.",
        ("system", "direction"),
    ),
    Metric(
        "dead_letters",
        "gauge",
        "Dead letters waiting for a user, by error class.",
        ("system", "direction", "error_class"),
    ),
    Metric(
        "dead_letter_oldest_age_seconds",
        "gauge",
        "Seconds since the oldest waiting dead letter failed for the last time.",
        ("system", "direction"),
    ),
    Metric(
        "circuit_state",
        "gauge",
        "Circuit breaker of each active outbound endpoint: 1 for its state, 0 for "
        "the others.",
        ("system", "endpoint", "state"),
    ),
    Metric(
        "jobs",
        "gauge",
        "queue_job jobs of the hub's channels, by state.",
        ("channel", "state"),
    ),
    Metric(
        "flow_runs",
        "gauge",
        "Process flow runs that have not ended, by flow and state: running, "
        "waiting (for an event or an approval) or incident.",
        ("flow", "state"),
    ),
    Metric(
        "flow_runs_ended",
        "counter",
        "Process flow runs that ended, by flow and outcome: done or cancelled.",
        ("flow", "outcome"),
    ),
    Metric(
        "flow_incidents",
        "counter",
        "Process flow runs that became incidents, by flow, step and error class "
        "(flow.timeout for a wait that timed out).",
        ("flow", "step", "error_class"),
    ),
    Metric(
        "scrape_duration_seconds",
        "gauge",
        "Seconds the database queries of this scrape took.",
        (),
    ),
)
METRICS = {metric.name: metric for metric in _METRICS}
CIRCUIT_STATES = ("closed", "open", "half_open")
#: the states of a flow run that has not ended
FLOW_LIVE_STATES = ("running", "waiting", "incident")


def _label_value(value):
    if value is None or value is False:
        return ""
    return str(value)[:MAX_LABEL_LENGTH]


def encode_labels(name, labels):
    """The canonical text of a metric's label values, as stored.

    :param name: a metric of :data:`METRICS`
    :param labels: ``{label name: value}``, exactly the metric's labels (a missing
        or None value is the empty string)
    :raise ValueError: for an unknown metric or label
    """
    metric = METRICS.get(name)
    if metric is None:
        raise ValueError(f"Unknown metric {name!r}.")
    unknown = set(labels) - set(metric.labels)
    if unknown:
        raise ValueError(f"Metric {name!r} has no label {sorted(unknown)[0]!r}.")
    return json.dumps(
        [_label_value(labels.get(label)) for label in metric.labels],
        ensure_ascii=False,
        separators=(",", ":"),
    )


def bucket_of(seconds):
    """The index of the latency bucket that counts ``seconds`` (the first upper
    bound it does not exceed; ``len(LATENCY_BUCKETS)`` for +Inf)."""
    return bisect.bisect_left(LATENCY_BUCKETS, max(seconds, 0.0))


@dataclass
class Snapshot:
    """The values of one scrape: ``samples`` are ``(metric, labels text, bucket,
    summed value)`` rows; ``gauges`` maps ``(metric, labels tuple)`` to a value."""

    samples: list = field(default_factory=list)
    gauges: dict = field(default_factory=dict)

    def set_gauge(self, name, value, **labels):
        metric = METRICS[name]
        if metric.kind != "gauge":
            raise ValueError(f"Metric {name!r} is not a gauge.")
        key = (name, tuple(_label_value(labels.get(label)) for label in metric.labels))
        self.gauges[key] = float(value)


def _families(snapshot):
    counters, histograms = {}, {}
    for name, labels_text, bucket, value in snapshot.samples:
        metric = METRICS.get(name)
        if metric is None or metric.kind == "gauge":
            continue  # a metric of another version of the module: not exposed
        values = tuple(json.loads(labels_text))
        if len(values) != len(metric.labels):
            continue
        if metric.kind == "counter":
            key = (name, values)
            counters[key] = counters.get(key, 0.0) + value
            continue
        counts, total = histograms.get(
            (name, values), ([0.0] * (len(LATENCY_BUCKETS) + 1), 0.0)
        )
        if bucket == NO_BUCKET:
            total += value
        elif 0 <= bucket <= len(LATENCY_BUCKETS):
            counts[bucket] += value
        histograms[(name, values)] = (counts, total)
    families = {}
    for metric in _METRICS:
        cls = {
            "counter": CounterMetricFamily,
            "histogram": HistogramMetricFamily,
            "gauge": GaugeMetricFamily,
        }[metric.kind]
        families[metric.name] = cls(
            PREFIX + metric.name, metric.help, labels=list(metric.labels)
        )
    for (name, values), value in sorted(counters.items()):
        families[name].add_metric(list(values), value)
    for (name, values), (counts, total) in sorted(histograms.items()):
        cumulative, buckets = 0.0, []
        for bound, count in zip((*LATENCY_BUCKETS, math.inf), counts, strict=True):
            cumulative += count
            buckets.append(("+Inf" if bound == math.inf else str(bound), cumulative))
        families[name].add_metric(list(values), buckets, total)
    for (name, values), value in sorted(snapshot.gauges.items()):
        families[name].add_metric(list(values), value)
    return [families[metric.name] for metric in _METRICS]


class _SnapshotCollector:
    def __init__(self, snapshot):
        self._snapshot = snapshot

    def collect(self):
        return _families(self._snapshot)


def render(snapshot):
    """The Prometheus text exposition (format 0.0.4) of a snapshot.

    :return: ``(body bytes, content type)``
    """
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_SnapshotCollector(snapshot))
    return generate_latest(registry), CONTENT_TYPE
