from datetime import timedelta

from odoo import fields, models, tools
from odoo.tools import SQL

from mfg_integration.anomaly import WEEKS, hints

from ..tools import form_action
from .mfg_integration_system import SYSTEM_KINDS

#: a due message waiting longer than this makes a system's status a warning
WARNING_BACKLOG_SECONDS = 300
#: the SQL function behind the overview's view
ROWS_FUNCTION = "mfg_integration_overview_rows"


class MfgIntegrationOverview(models.Model):
    """The Integration Overview: one card per active system answering "what is
    broken, since when, and for which plant system". Read live from the message
    table (the last 24 hours, and what waits now), the service level objectives and
    the metric samples; every figure opens the messages behind it."""

    _name = "mfg.integration.overview"
    _description = "Integration Overview"
    _auto = False
    _order = "status_rank desc, system_id"

    system_id = fields.Many2one("mfg.integration.system", readonly=True)
    company_id = fields.Many2one("res.company", readonly=True)
    responsible_id = fields.Many2one("res.users", readonly=True)
    kind = fields.Selection(SYSTEM_KINDS, readonly=True)
    status = fields.Selection(
        [("ok", "OK"), ("warning", "Warning"), ("critical", "Critical")],
        readonly=True,
    )
    status_rank = fields.Integer(readonly=True)
    received_24h = fields.Integer(string="Received (24 h)", readonly=True)
    sent_24h = fields.Integer(string="Sent (24 h)", readonly=True)
    finished_24h = fields.Integer(
        string="Finished (24 h)",
        readonly=True,
        help="Messages of the last 24 hours that were processed or delivered, "
        "failed for good or are retrying.",
    )
    processed_24h = fields.Integer(
        string="Processed (24 h)",
        readonly=True,
        help="Inbound messages of the last 24 hours processed successfully (the "
        "latency figures are theirs).",
    )
    success_rate = fields.Float(
        string="Success Rate (%)",
        readonly=True,
        help="Finished messages of the last 24 hours that succeeded (retrying ones "
        "and dead letters are failures so far).",
    )
    latency_p50 = fields.Float(string="Processing p50 (s)", readonly=True)
    latency_p95 = fields.Float(string="Processing p95 (s)", readonly=True)
    delivery_p95 = fields.Float(string="Delivery p95 (s)", readonly=True)
    backlog = fields.Integer(string="Waiting", readonly=True)
    oldest_due_age = fields.Integer(string="Oldest Due (s)", readonly=True)
    dead_letters = fields.Integer(readonly=True)
    oldest_dead_at = fields.Datetime(string="Dead Letters Since", readonly=True)
    top_error_class = fields.Char(string="Most Frequent Error", readonly=True)
    replays = fields.Integer(readonly=True)
    slo_count = fields.Integer(string="Objectives", readonly=True)
    slo_breached = fields.Integer(string="Objectives Breached", readonly=True)
    breached_since = fields.Datetime(readonly=True)
    silent_since = fields.Datetime(readonly=True)
    anomaly_hint = fields.Text(
        string="Unusual Traffic",
        compute="_compute_anomaly_hint",
        help="The last complete hour's message count or failure rate departs from "
        "the same hour of the week in the previous weeks (median and median "
        "absolute deviation; see mfg_integration.anomaly).",
    )

    def init(self):
        # The figures come from a function that runs with JIT compilation off: its
        # lateral aggregates cost enough for PostgreSQL to JIT-compile them, which
        # took 1.5 s for a 0.2 s query (1,000,000 messages, 43,000 of them in the
        # last 24 hours).
        tools.drop_view_if_exists(self.env.cr, self._table)
        self.env.cr.execute(
            SQL("DROP FUNCTION IF EXISTS %s()", SQL.identifier(ROWS_FUNCTION))
        )
        self.env.cr.execute(
            SQL(
                """
            CREATE FUNCTION %(function)s()
            RETURNS TABLE (
                id integer, system_id integer, company_id integer,
                responsible_id integer, kind varchar, silent_since timestamp,
                received_24h integer, sent_24h integer, finished_24h integer,
                processed_24h integer, success_rate float8,
                latency_p50 float8, latency_p95 float8, delivery_p95 float8,
                backlog integer, oldest_due_age integer, dead_letters integer,
                oldest_dead_at timestamp, top_error_class varchar, replays integer,
                slo_count integer, slo_breached integer, breached_since timestamp,
                status varchar, status_rank integer
            )
            LANGUAGE sql STABLE
            SET jit = off
            AS $body$
              WITH figures AS (
                SELECT s.id AS system_id, s.company_id, s.responsible_id, s.kind,
                       s.silent_since,
                       win.received, win.sent, win.processed, win.done, win.failed,
                       win.p50, win.p95,
                       win.delivery_p95, waiting.backlog, waiting.oldest_due,
                       dead.dead_letters, dead.oldest_dead_at, dead.top_error_class,
                       coalesce(replayed.replays, 0) AS replays,
                       slo.slo_count, slo.slo_breached, slo.breached_since
                  FROM mfg_integration_system s
                  CROSS JOIN LATERAL (
                    SELECT count(*) FILTER (WHERE m.direction = 'inbound') AS received,
                           count(*) FILTER (WHERE m.direction = 'inbound'
                                              AND m.state = 'done') AS processed,
                           count(*) FILTER (WHERE m.direction = 'outbound') AS sent,
                           count(*) FILTER (WHERE m.state = 'done') AS done,
                           count(*) FILTER (WHERE m.state IN ('dead', 'failed'))
                               AS failed,
                           percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(
                               epoch FROM m.processed_at - m.create_date))
                             FILTER (WHERE m.direction = 'inbound'
                                       AND m.state = 'done') AS p50,
                           percentile_cont(0.95) WITHIN GROUP (ORDER BY extract(
                               epoch FROM m.processed_at - m.create_date))
                             FILTER (WHERE m.direction = 'inbound'
                                       AND m.state = 'done') AS p95,
                           percentile_cont(0.95) WITHIN GROUP (ORDER BY extract(
                               epoch FROM m.processed_at - m.create_date))
                             FILTER (WHERE m.direction = 'outbound'
                                       AND m.state = 'done') AS delivery_p95
                      FROM mfg_integration_message m
                     WHERE m.system_id = s.id
                       AND m.direction IN ('inbound', 'outbound')
                       AND m.create_date
                           >= (now() AT TIME ZONE 'UTC') - interval '24 hours'
                  ) win
                  CROSS JOIN LATERAL (
                    SELECT count(*) AS backlog,
                           extract(epoch FROM (now() AT TIME ZONE 'UTC')
                               - min(m.create_date) FILTER (
                                   WHERE m.next_attempt_at IS NULL
                                      OR m.next_attempt_at
                                         <= now() AT TIME ZONE 'UTC'))
                               AS oldest_due
                      FROM mfg_integration_message m
                     WHERE m.system_id = s.id
                       AND m.state IN ('received', 'queued', 'failed')
                  ) waiting
                  CROSS JOIN LATERAL (
                    SELECT count(*) AS dead_letters,
                           min(m.write_date) AS oldest_dead_at,
                           mode() WITHIN GROUP (ORDER BY m.error_class)
                               AS top_error_class
                      FROM mfg_integration_message m
                     WHERE m.system_id = s.id AND m.state = 'dead'
                  ) dead
                  CROSS JOIN LATERAL (
                    SELECT count(*) AS slo_count,
                           count(*) FILTER (WHERE o.state = 'breached')
                               AS slo_breached,
                           min(o.breached_since) AS breached_since
                      FROM mfg_integration_slo o
                     WHERE o.system_id = s.id AND o.active
                  ) slo
                  LEFT JOIN LATERAL (
                    SELECT sum(x.value) AS replays
                      FROM mfg_integration_metric x
                     WHERE x.metric = 'replays'
                       AND (x.labels::jsonb) ->> 0 = s.code
                  ) replayed ON true
                 WHERE s.active
              )
              SELECT f.system_id, f.system_id, f.company_id, f.responsible_id,
                     f.kind, f.silent_since,
                     f.received::integer, f.sent::integer,
                     (f.done + f.failed)::integer, f.processed::integer,
                     CASE WHEN f.done + f.failed > 0
                          THEN round(100.0 * f.done / (f.done + f.failed), 1)
                     END::float8,
                     round(f.p50::numeric, 2)::float8,
                     round(f.p95::numeric, 2)::float8,
                     round(f.delivery_p95::numeric, 2)::float8,
                     f.backlog::integer,
                     round(coalesce(f.oldest_due, 0)::numeric, 0)::integer,
                     f.dead_letters::integer, f.oldest_dead_at, f.top_error_class,
                     f.replays::integer, f.slo_count::integer,
                     f.slo_breached::integer, f.breached_since,
                     (CASE WHEN f.silent_since IS NOT NULL OR f.slo_breached > 0
                                OR f.dead_letters > 0 THEN 'critical'
                           WHEN coalesce(f.oldest_due, 0) > %(warning)s
                                OR f.failed > 0 THEN 'warning'
                           ELSE 'ok'
                      END)::varchar,
                     CASE WHEN f.silent_since IS NOT NULL OR f.slo_breached > 0
                               OR f.dead_letters > 0 THEN 2
                          WHEN coalesce(f.oldest_due, 0) > %(warning)s
                               OR f.failed > 0 THEN 1
                          ELSE 0
                     END
                FROM figures f
            $body$
            """,
                function=SQL.identifier(ROWS_FUNCTION),
                warning=WARNING_BACKLOG_SECONDS,
            )
        )
        self.env.cr.execute(
            SQL(
                "CREATE VIEW %s AS (SELECT * FROM %s())",
                SQL.identifier(self._table),
                SQL.identifier(ROWS_FUNCTION),
            )
        )

    def _compute_anomaly_hint(self):
        end = fields.Datetime.now().replace(minute=0, second=0, microsecond=0)
        rows = self.env.execute_query(
            SQL(
                """
            SELECT m.system_id, k.k, count(*),
                   count(*) FILTER (WHERE m.state IN ('dead', 'failed'))
              FROM generate_series(0, %(weeks)s) AS k(k)
              JOIN mfg_integration_message m
                ON m.create_date >= %(end)s - k.k * interval '7 days'
                                   - interval '1 hour'
               AND m.create_date < %(end)s - k.k * interval '7 days'
             WHERE m.system_id = ANY(%(ids)s)
               AND m.direction IN ('inbound', 'outbound')
             GROUP BY m.system_id, k.k
            """,
                weeks=WEEKS,
                end=end,
                ids=self.system_id.ids,
            )
        )
        hours = {}
        for system_id, week, total, failed in rows:
            hours.setdefault(system_id, {})[week] = (total, failed)
        for row in self:
            system = row.system_id
            slots = hours.get(system.id, {})
            # the weeks since the system exists: a quiet hour is a real zero
            history = [
                slots.get(week, (0, 0))
                for week in range(1, WEEKS + 1)
                if end - timedelta(weeks=week, hours=1) >= system.create_date
            ]
            found = hints(slots.get(0, (0, 0)), history)
            row.anomaly_hint = "\n".join(hint.text for hint in found) or False

    # ------------------------------------------------------------------
    # Drill-down: every figure opens the messages behind it
    # ------------------------------------------------------------------

    def _messages_action(self, name, domain, context=None):
        self.ensure_one()
        action = self.env["ir.actions.act_window"]._for_xml_id(
            "mfg_integration_core.mfg_integration_message_action"
        )
        action.update(
            name=f"{self.system_id.name}: {name}",
            domain=[("system_id", "=", self.system_id.id), *domain],
            context=dict(context or {}),
        )
        return action

    def _since_24h(self):
        return fields.Datetime.subtract(fields.Datetime.now(), hours=24)

    def action_open_recent(self):
        return self._messages_action(
            self.env._("last 24 hours"),
            [("create_date", ">=", self._since_24h())],
            {"search_default_group_state": 1},
        )

    def action_open_failures(self):
        return self._messages_action(
            self.env._("failures of the last 24 hours"),
            [
                ("create_date", ">=", self._since_24h()),
                ("state", "in", ["dead", "failed"]),
            ],
            {"search_default_group_error_class": 1},
        )

    def action_open_backlog(self):
        return self._messages_action(
            self.env._("waiting"), [("state", "in", ["received", "queued", "failed"])]
        )

    def action_open_dead_letters(self):
        return self._messages_action(
            self.env._("dead letters"),
            [("state", "=", "dead")],
            {"search_default_group_error_class": 1},
        )

    def action_open_objectives(self):
        self.ensure_one()
        action = self.env["ir.actions.act_window"]._for_xml_id(
            "mfg_integration_core.mfg_integration_slo_action"
        )
        action.update(
            domain=[("system_id", "=", self.system_id.id)],
            context={"default_system_id": self.system_id.id},
        )
        return action

    def action_open_system(self):
        self.ensure_one()
        return form_action(self.system_id)
