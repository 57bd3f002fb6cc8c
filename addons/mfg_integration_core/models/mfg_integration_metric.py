import time
from collections import defaultdict

from odoo import api, fields, models
from odoo.tools import SQL

from mfg_integration.metrics import (
    CIRCUIT_STATES,
    FLOW_LIVE_STATES,
    METRICS,
    NO_BUCKET,
    Snapshot,
    bucket_of,
    encode_labels,
    render,
)

#: the key of the samples a transaction has recorded, in its cursor's precommit data
_PENDING = "mfg_integration.metric.pending"
#: advisory lock (``pg_try_advisory_xact_lock(namespace, 0)``) of the compaction
COMPACT_LOCK_NAMESPACE = 0x6D666D  # "mfm"


class MfgIntegrationMetric(models.Model):
    """Samples of the hub's counters and histograms (see ``mfg_integration.metrics``).

    A transaction that counts something gathers its samples in memory and appends
    them, summed, in one ``INSERT`` when it commits (a precommit hook): a rolled back
    transaction counts nothing, and concurrent transactions never update the same
    row, so counting never makes a transaction wait or fail. A metric's value is the
    sum of its rows; the compaction cron replaces the rows by their sums, so the
    table holds about one row per series and a scrape stays cheap however many
    messages the hub has seen.
    """

    _name = "mfg.integration.metric"
    _description = "Integration Metric Sample"
    _log_access = False
    _order = "id"

    metric = fields.Char(required=True, readonly=True)
    labels = fields.Char(required=True, readonly=True)
    bucket = fields.Integer(required=True, readonly=True, default=NO_BUCKET)
    value = fields.Float(required=True, readonly=True)

    # ------------------------------------------------------------------
    # Recording
    # ------------------------------------------------------------------

    @api.model
    def _count(self, name, amount=1, **labels):
        """Add ``amount`` to a counter when the current transaction commits."""
        self._pending()[(name, encode_labels(name, labels), NO_BUCKET)] += amount

    @api.model
    def _observe(self, name, seconds, **labels):
        """Record one observation of a latency histogram when the current
        transaction commits."""
        pending = self._pending()
        key = encode_labels(name, labels)
        pending[(name, key, bucket_of(seconds))] += 1
        pending[(name, key, NO_BUCKET)] += max(seconds, 0.0)

    def _pending(self):
        cr = self.env.cr
        pending = cr.precommit.data.get(_PENDING)
        if pending is None:
            pending = cr.precommit.data[_PENDING] = defaultdict(float)

            def flush():
                samples = cr.precommit.data.pop(_PENDING, None)
                if samples:
                    cr.execute(
                        SQL(
                            "INSERT INTO mfg_integration_metric "
                            "(metric, labels, bucket, value) VALUES %s",
                            SQL(", ").join(
                                SQL("(%s, %s, %s, %s)", *key, value)
                                for key, value in samples.items()
                            ),
                        )
                    )

            cr.precommit.add(flush)
        return pending

    # ------------------------------------------------------------------
    # Compaction and reading
    # ------------------------------------------------------------------

    @api.model
    def _cron_compact(self):
        """Replace the samples by one row per series (their sum). Only rows this
        transaction sees are replaced; rows appended meanwhile stay for the next
        run. One compaction at a time (advisory lock): when another one runs,
        this one does nothing.

        Each scrape compacts first, so a scrape sums about one row per series
        plus what was counted since the previous scrape; the cron keeps the table
        small when nobody scrapes.
        """
        self.env.cr.execute(
            "SELECT pg_try_advisory_xact_lock(%s, 0)", [COMPACT_LOCK_NAMESPACE]
        )
        if not self.env.cr.fetchone()[0]:
            return
        self.env.cr.execute(
            """
            WITH gone AS (
                DELETE FROM mfg_integration_metric
                RETURNING metric, labels, bucket, value
            )
            INSERT INTO mfg_integration_metric (metric, labels, bucket, value)
            SELECT metric, labels, bucket, sum(value) FROM gone
             GROUP BY metric, labels, bucket
            """
        )

    @api.model
    def _snapshot(self):
        """The values of every metric, read from the database.

        :return: a :class:`mfg_integration.metrics.Snapshot`
        """
        started = time.monotonic()
        cr = self.env.cr
        snapshot = Snapshot()
        cr.execute(
            "SELECT metric, labels, bucket, sum(value) FROM mfg_integration_metric "
            "GROUP BY metric, labels, bucket"
        )
        snapshot.samples = cr.fetchall()
        now = fields.Datetime.now()
        cr.execute(
            """
            SELECT s.code, m.direction, count(*),
                   count(*) FILTER (WHERE m.next_attempt_at IS NULL
                                       OR m.next_attempt_at <= %(now)s),
                   min(m.create_date) FILTER (WHERE m.next_attempt_at IS NULL
                                                 OR m.next_attempt_at <= %(now)s)
              FROM mfg_integration_message m
              JOIN mfg_integration_system s ON s.id = m.system_id
             WHERE m.state IN ('received', 'queued', 'failed')
             GROUP BY s.code, m.direction
            """,
            {"now": now},
        )
        for system, direction, waiting, due, oldest in cr.fetchall():
            labels = {"system": system, "direction": direction}
            snapshot.set_gauge("backlog_messages", waiting, **labels)
            snapshot.set_gauge("backlog_due_messages", due, **labels)
            age = (now - oldest).total_seconds() if oldest else 0.0
            snapshot.set_gauge("backlog_oldest_due_age_seconds", max(age, 0), **labels)
        cr.execute(
            """
            SELECT s.code, m.direction, coalesce(m.error_class, ''), count(*),
                   min(m.write_date)
              FROM mfg_integration_message m
              JOIN mfg_integration_system s ON s.id = m.system_id
             WHERE m.state = 'dead'
             GROUP BY s.code, m.direction, m.error_class
            """
        )
        oldest_dead = {}
        for system, direction, error_class, count, oldest in cr.fetchall():
            snapshot.set_gauge(
                "dead_letters",
                count,
                system=system,
                direction=direction,
                error_class=error_class,
            )
            key = (system, direction)
            if key not in oldest_dead or oldest < oldest_dead[key]:
                oldest_dead[key] = oldest
        for (system, direction), oldest in oldest_dead.items():
            snapshot.set_gauge(
                "dead_letter_oldest_age_seconds",
                max((now - oldest).total_seconds(), 0),
                system=system,
                direction=direction,
            )
        cr.execute(
            """
            SELECT s.code, e.code, e.circuit_state
              FROM mfg_integration_endpoint e
              JOIN mfg_integration_system s ON s.id = e.system_id
             WHERE e.active AND e.direction = 'outbound'
            """
        )
        for system, endpoint, circuit in cr.fetchall():
            for state in CIRCUIT_STATES:
                snapshot.set_gauge(
                    "circuit_state",
                    1 if state == (circuit or "closed") else 0,
                    system=system,
                    endpoint=endpoint,
                    state=state,
                )
        cr.execute(
            """
            SELECT f.code, r.state, count(*)
              FROM mfg_integration_flow_run r
              JOIN mfg_integration_flow f ON f.id = r.flow_id
             WHERE r.state IN %s
             GROUP BY f.code, r.state
            """,
            (FLOW_LIVE_STATES,),
        )
        for flow, state, count in cr.fetchall():
            snapshot.set_gauge("flow_runs", count, flow=flow, state=state)
        cr.execute(
            "SELECT channel, state, count(*) FROM queue_job "
            "WHERE channel LIKE 'root.mfg\\_integration%' GROUP BY channel, state"
        )
        for channel, state, count in cr.fetchall():
            snapshot.set_gauge("jobs", count, channel=channel, state=state)
        snapshot.set_gauge("scrape_duration_seconds", time.monotonic() - started)
        return snapshot

    @api.model
    def _value(self, name, bucket=NO_BUCKET, **labels):
        """The current value of one counter series (or one histogram bucket), with
        this transaction's pending samples: for tests and scripts."""
        if METRICS[name].kind == "gauge":
            raise ValueError(f"{name} is a gauge: read it from a snapshot.")
        key = encode_labels(name, labels)
        self.env.cr.execute(
            "SELECT coalesce(sum(value), 0) FROM mfg_integration_metric "
            "WHERE metric = %s AND labels = %s AND bucket = %s",
            [name, key, bucket],
        )
        stored = self.env.cr.fetchone()[0]
        pending = self.env.cr.precommit.data.get(_PENDING) or {}
        return stored + pending.get((name, key, bucket), 0.0)

    @api.model
    def exposition(self):
        """``GET /api/mfg/v1/metrics``: the Prometheus text exposition.

        :return: ``(status, body bytes, headers)``
        """
        self._cron_compact()
        body, content_type = render(self._snapshot())
        return 200, body, {"Content-Type": content_type, "Cache-Control": "no-store"}
