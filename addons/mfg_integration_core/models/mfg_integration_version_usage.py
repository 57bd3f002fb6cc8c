from odoo import fields, models, tools
from odoo.tools import SQL


class MfgIntegrationVersionUsage(models.Model):
    """Who sends which version of each event type: one row per system, event type
    and schema version, from the inbound messages the hub keeps. Before a version
    is retired, an administrator sees here which systems still send it, how much
    and when last."""

    _name = "mfg.integration.version.usage"
    _description = "Integration Event Version Usage"
    _auto = False
    _order = "last_received_at desc"

    system_id = fields.Many2one("mfg.integration.system", readonly=True)
    event_type_id = fields.Many2one("mfg.integration.event.type", readonly=True)
    schema_id = fields.Many2one(
        "mfg.integration.event.schema", string="Schema Version", readonly=True
    )
    version = fields.Integer(readonly=True)
    lifecycle_state = fields.Selection(
        [("live", "Live"), ("deprecated", "Deprecated"), ("retired", "Retired")],
        string="Lifecycle",
        readonly=True,
    )
    message_count = fields.Integer(string="Messages", readonly=True)
    first_received_at = fields.Datetime(string="First Received", readonly=True)
    last_received_at = fields.Datetime(string="Last Received", readonly=True)

    def init(self):
        tools.drop_view_if_exists(self.env.cr, self._table)
        self.env.cr.execute(
            SQL(
                """
            CREATE VIEW %s AS (
                SELECT min(m.id) AS id,
                       m.system_id,
                       m.event_type_id,
                       s.id AS schema_id,
                       m.schema_version AS version,
                       CASE
                           WHEN s.id IS NULL OR NOT s.active
                                OR s.sunset_date <= current_date
                                OR t.sunset_date <= current_date
                           THEN 'retired'
                           WHEN s.deprecation_date <= current_date
                                OR t.deprecation_date <= current_date
                           THEN 'deprecated'
                           ELSE 'live'
                       END AS lifecycle_state,
                       count(*) AS message_count,
                       min(m.create_date) AS first_received_at,
                       max(m.create_date) AS last_received_at
                  FROM mfg_integration_message m
                  JOIN mfg_integration_event_type t ON t.id = m.event_type_id
                  LEFT JOIN mfg_integration_event_schema s
                         ON s.event_type_id = m.event_type_id
                        AND s.version = m.schema_version
                 WHERE m.direction = 'inbound'
                 GROUP BY m.system_id, m.event_type_id, s.id, m.schema_version,
                          t.deprecation_date, t.sunset_date
            )
            """,
                SQL.identifier(self._table),
            )
        )
