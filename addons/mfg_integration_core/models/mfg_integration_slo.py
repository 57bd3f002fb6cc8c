from datetime import timedelta

from odoo import api, fields, models
from odoo.exceptions import ValidationError
from odoo.tools import SQL

from ..tools import iso_utc

INDICATORS = [
    ("processing_latency_p95", "Processing latency, 95th percentile (s)"),
    ("success_rate", "Success rate (%)"),
    ("backlog_age", "Oldest waiting message (s)"),
    ("dead_letter_age", "Oldest dead letter (s)"),
]
#: indicators whose value must stay at or above the target (the others: at or below)
AT_LEAST = {"success_rate"}
#: indicators measured over the objective's window
WINDOWED = {"processing_latency_p95", "success_rate"}


class MfgIntegrationSlo(models.Model):
    """A service level objective of a system: an indicator (SLI) and its target.

    A scheduled check measures every active objective from the message table. When
    an objective that was met is found breached, the system's responsible person
    gets an activity and ``integration.slo_breached`` is emitted; when it is met
    again, the activity is marked done and ``integration.slo_recovered`` is emitted.
    """

    _name = "mfg.integration.slo"
    _description = "Integration Service Level Objective"
    _order = "system_id, name"

    name = fields.Char(required=True)
    active = fields.Boolean(default=True)
    system_id = fields.Many2one(
        "mfg.integration.system", required=True, ondelete="cascade", index=True
    )
    company_id = fields.Many2one(related="system_id.company_id", store=True)
    direction = fields.Selection(
        [("inbound", "Inbound (processing)"), ("outbound", "Outbound (delivery)")],
        required=True,
        default="inbound",
    )
    event_type_id = fields.Many2one(
        "mfg.integration.event.type",
        help="Only messages of this event type count. Empty: every message of the "
        "system in this direction.",
    )
    indicator = fields.Selection(INDICATORS, required=True)
    target = fields.Float(
        required=True,
        help="Latency and ages: the most seconds allowed. Success rate: the least "
        "percentage of finished messages that must have succeeded.",
    )
    window_minutes = fields.Integer(
        string="Window (minutes)",
        default=60,
        help="Latency and success rate are measured over the messages received in "
        "this window.",
    )
    state = fields.Selection(
        [("met", "Met"), ("breached", "Breached")],
        default="met",
        readonly=True,
        copy=False,
    )
    breached_since = fields.Datetime(readonly=True, copy=False)
    last_value = fields.Float(string="Last Measured", readonly=True, copy=False)
    last_checked_at = fields.Datetime(readonly=True, copy=False)

    _target_positive = models.Constraint(
        "CHECK(target >= 0)", "A service level target cannot be negative."
    )
    _window_positive = models.Constraint(
        "CHECK(window_minutes > 0)", "The window of an objective is at least a minute."
    )

    @api.constrains("indicator", "target")
    def _check_target(self):
        for slo in self:
            if slo.indicator == "success_rate" and slo.target > 100:
                raise ValidationError(
                    self.env._("A success rate target is a percentage (0 to 100).")
                )

    # ------------------------------------------------------------------
    # Measuring
    # ------------------------------------------------------------------

    def _scope(self):
        """SQL condition on messages ``m`` of this objective's system, direction
        and event type."""
        condition = SQL(
            "m.system_id = %s AND m.direction = %s", self.system_id.id, self.direction
        )
        if self.event_type_id:
            condition = SQL(
                "%s AND m.event_type_id = %s", condition, self.event_type_id.id
            )
        return condition

    def _measure(self, now):
        """The indicator's value now, or None when there is nothing to measure
        (no message in the window: the objective counts as met).

        The latency of a message received in the window that is not processed yet
        is its age so far, so a stalled queue breaches a latency objective too.
        """
        self.ensure_one()
        cr = self.env.cr
        since = now - timedelta(minutes=self.window_minutes)
        if self.indicator == "processing_latency_p95":
            cr.execute(
                SQL(
                    """
                    SELECT percentile_cont(0.95) WITHIN GROUP (ORDER BY extract(
                        epoch FROM coalesce(m.processed_at, %(now)s) - m.create_date
                    ))
                      FROM mfg_integration_message m
                     WHERE %(scope)s AND m.create_date >= %(since)s
                       AND m.state NOT IN ('discarded', 'dead')
                    """,
                    now=now,
                    scope=self._scope(),
                    since=since,
                )
            )
        elif self.indicator == "success_rate":
            cr.execute(
                SQL(
                    """
                    SELECT 100.0 * count(*) FILTER (WHERE m.state = 'done')
                           / nullif(count(*), 0)
                      FROM mfg_integration_message m
                     WHERE %(scope)s AND m.create_date >= %(since)s
                       AND m.state IN ('done', 'dead', 'failed')
                    """,
                    scope=self._scope(),
                    since=since,
                )
            )
        elif self.indicator == "backlog_age":
            cr.execute(
                SQL(
                    """
                    SELECT extract(epoch FROM %(now)s - min(m.create_date))
                      FROM mfg_integration_message m
                     WHERE %(scope)s AND m.state IN ('received', 'queued', 'failed')
                       AND (m.next_attempt_at IS NULL OR m.next_attempt_at <= %(now)s)
                    """,
                    now=now,
                    scope=self._scope(),
                )
            )
        else:  # dead_letter_age
            cr.execute(
                SQL(
                    """
                    SELECT extract(epoch FROM %(now)s - min(m.write_date))
                      FROM mfg_integration_message m
                     WHERE %(scope)s AND m.state = 'dead'
                    """,
                    now=now,
                    scope=self._scope(),
                )
            )
        value = cr.fetchone()[0]
        return None if value is None else max(float(value), 0.0)

    def _is_met(self, value):
        if value is None:
            return True
        if self.indicator in AT_LEAST:
            return value >= self.target
        return value <= self.target

    # ------------------------------------------------------------------
    # The scheduled check
    # ------------------------------------------------------------------

    @api.model
    def _cron_check(self):
        """Check every active objective and every system expected to send."""
        now = fields.Datetime.now()
        for slo in self.sudo().search([("system_id.active", "=", True)]):
            slo._check(now)
        self.env["mfg.integration.system"]._check_silence(now)

    def _check(self, now):
        self.ensure_one()
        value = self._measure(now)
        values = {"last_value": value or 0.0, "last_checked_at": now}
        met = self._is_met(value)
        if not met and self.state == "met":
            values.update(state="breached", breached_since=now)
            self.write(values)
            self.system_id._notify_responsible(
                self._activity_summary(),
                self.env._(
                    "%(indicator)s of %(system)s is %(value)s, the objective is "
                    "%(target)s. Open Integration > Overview to see why.",
                    indicator=self._indicator_label(),
                    system=self.system_id.name,
                    value=round(value, 2),
                    target=self.target,
                ),
            )
            self.system_id._emit_meta(
                "integration.slo_breached",
                slo=self._meta_reference(),
                measured=round(value, 3),
                breached_at=iso_utc(now),
            )
        elif met and self.state == "breached":
            breached_since = self.breached_since
            values.update(state="met", breached_since=False)
            self.write(values)
            self.system_id._close_activities(
                self._activity_summary(),
                self.env._("Met again: %(value)s.", value=round(value or 0.0, 2)),
            )
            self.system_id._emit_meta(
                "integration.slo_recovered",
                slo=self._meta_reference(),
                measured=round(value or 0.0, 3),
                breached_at=iso_utc(breached_since or now),
                recovered_at=iso_utc(now),
            )
        else:
            self.write(values)

    def _indicator_label(self):
        return dict(self._fields["indicator"]._description_selection(self.env))[
            self.indicator
        ]

    def _activity_summary(self):
        return self.env._("Service level breached: %(name)s", name=self.name)

    def _meta_reference(self):
        reference = {
            "name": self.name,
            "indicator": self.indicator,
            "target": self.target,
            "direction": self.direction,
        }
        if self.indicator in WINDOWED:
            reference["window_minutes"] = self.window_minutes
        if self.event_type_id:
            reference["event_type"] = self.event_type_id.code
        return reference
