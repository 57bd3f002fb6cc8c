import json
import math

import pytest
from prometheus_client.parser import text_string_to_metric_families

from mfg_integration import metrics
from mfg_integration.metrics import (
    LATENCY_BUCKETS,
    METRICS,
    NO_BUCKET,
    Snapshot,
    bucket_of,
    encode_labels,
    render,
)


def parse(snapshot):
    body, content_type = render(snapshot)
    assert content_type.startswith("text/plain; version=0.0.4")
    return {f.name: f for f in text_string_to_metric_families(body.decode())}


def test_every_metric_is_exposed_with_its_help_even_without_values():
    families = parse(Snapshot())
    for metric in METRICS.values():
        family = families[metrics.PREFIX + metric.name]
        assert family.documentation == metric.help
        assert family.type == metric.kind
        assert family.samples == []


def test_label_encoding_is_canonical_and_checked():
    assert encode_labels("replays", {"direction": "inbound", "system": "mes"}) == (
        '["mes","inbound"]'
    )
    # missing or None values are empty; values are cut to identifiers' length
    assert encode_labels("replays", {"system": None}) == '["",""]'
    assert json.loads(encode_labels("replays", {"system": "x" * 500}))[0] == "x" * 100
    with pytest.raises(ValueError, match="Unknown metric"):
        encode_labels("nope", {})
    with pytest.raises(ValueError, match="no label 'plant'"):
        encode_labels("replays", {"plant": "A"})


@pytest.mark.parametrize(
    ("seconds", "index"),
    [(0, 0), (-1, 0), (0.05, 0), (0.051, 1), (1, 4), (3600, 12), (3601, 13)],
)
def test_bucket_of(seconds, index):
    assert bucket_of(seconds) == index
    if index < len(LATENCY_BUCKETS):
        assert seconds <= LATENCY_BUCKETS[index]


def test_counters_sum_their_samples():
    labels = encode_labels(
        "events_received",
        {"system": "mes", "event_type": "machine.downtime_started", "outcome": "ok"},
    )
    snapshot = Snapshot(
        samples=[
            ("events_received", labels, NO_BUCKET, 3.0),
            ("events_received", labels, NO_BUCKET, 4.0),
            ("no_longer_a_metric", "[]", NO_BUCKET, 9.0),  # ignored
        ]
    )
    family = parse(snapshot)["mfg_integration_events_received"]
    (sample,) = family.samples
    assert sample.name == "mfg_integration_events_received_total"
    assert sample.value == 7
    assert sample.labels == {
        "system": "mes",
        "event_type": "machine.downtime_started",
        "outcome": "ok",
    }


def test_histograms_are_cumulative_with_sum_and_count():
    labels = encode_labels(
        "processing_latency_seconds", {"system": "mes", "event_type": "x"}
    )
    snapshot = Snapshot(
        samples=[
            ("processing_latency_seconds", labels, bucket_of(0.01), 2.0),
            ("processing_latency_seconds", labels, bucket_of(2), 1.0),
            ("processing_latency_seconds", labels, bucket_of(10_000), 1.0),
            ("processing_latency_seconds", labels, NO_BUCKET, 10_002.02),
        ]
    )
    family = parse(snapshot)["mfg_integration_processing_latency_seconds"]
    by_name = {}
    for sample in family.samples:
        by_name.setdefault(sample.name, []).append(sample)
    buckets = {
        float(s.labels["le"]): s.value
        for s in by_name["mfg_integration_processing_latency_seconds_bucket"]
    }
    assert buckets[0.05] == 2
    assert buckets[1.0] == 2
    assert buckets[2.5] == 3
    assert buckets[3600.0] == 3
    assert buckets[math.inf] == 4
    (count,) = by_name["mfg_integration_processing_latency_seconds_count"]
    assert count.value == 4
    (total,) = by_name["mfg_integration_processing_latency_seconds_sum"]
    assert total.value == pytest.approx(10_002.02)


def test_gauges_and_label_escaping():
    snapshot = Snapshot()
    snapshot.set_gauge(
        "dead_letters",
        3,
        system='plant "A"\\1',
        direction="inbound",
        error_class="line\nbreak",
    )
    snapshot.set_gauge("scrape_duration_seconds", 0.012)
    families = parse(snapshot)
    (dead,) = families["mfg_integration_dead_letters"].samples
    assert dead.labels["system"] == 'plant "A"\\1'
    assert dead.labels["error_class"] == "line\nbreak"
    assert dead.value == 3
    (duration,) = families["mfg_integration_scrape_duration_seconds"].samples
    assert duration.value == pytest.approx(0.012)
    with pytest.raises(ValueError, match="not a gauge"):
        snapshot.set_gauge("replays", 1, system="x", direction="inbound")
