import json
from datetime import timedelta

from odoo import api, fields, models
from odoo.tools import SQL

from mfg_integration import errors


class MfgIntegrationIdempotency(models.Model):
    """The stored answer to a batch sent with an ``Idempotency-Key`` header.

    A retried batch with the same key and body gets the same answer without being
    processed again; the same key with another body is refused.
    """

    _name = "mfg.integration.idempotency"
    _description = "Integration Idempotency Key"
    _order = "id desc"

    system_id = fields.Many2one(
        "mfg.integration.system", required=True, ondelete="cascade", readonly=True
    )
    key = fields.Char(required=True, readonly=True)
    request_digest = fields.Char(required=True, readonly=True)
    response = fields.Text(required=True, readonly=True)

    _system_key_uniq = models.Constraint(
        "unique(system_id, key)", "This idempotency key was already used."
    )

    @api.model
    def _lookup(self, system, key, digest):
        """Return the stored answer for ``key``, or None if the key is new.

        :raise ValidationFailed: when the key was used with a different body
        """
        self.env.cr.execute(
            "SELECT request_digest, response FROM mfg_integration_idempotency "
            "WHERE system_id = %s AND key = %s",
            (system.id, key),
        )
        row = self.env.cr.fetchone()
        if not row:
            return None
        if row[0] != digest:
            raise errors.IdempotencyKeyReused(
                "This Idempotency-Key was already used with a different request body."
            )
        return json.loads(row[1])

    @api.model
    def _store(self, system, key, digest, response):
        now = fields.Datetime.now()
        self.env.cr.execute(
            SQL(
                """
                INSERT INTO mfg_integration_idempotency
                    (system_id, key, request_digest, response,
                     create_uid, create_date, write_uid, write_date)
                VALUES (%s, %s, %s, %s, %s, %s, %s, %s)
                ON CONFLICT (system_id, key) DO NOTHING
                """,
                system.id,
                key,
                digest,
                json.dumps(response),
                self.env.uid,
                now,
                self.env.uid,
                now,
            )
        )

    @api.model
    def _cron_purge(self):
        """Forget the keys older than the retention (system parameter
        ``mfg_integration.idempotency_retention_hours``, 24 by default)."""
        params = self.env["ir.config_parameter"].sudo()
        self._purge(
            int(params.get_param("mfg_integration.idempotency_retention_hours", 24))
        )

    @api.model
    def _purge(self, hours=24):
        """Forget keys older than ``hours``."""
        limit = fields.Datetime.now() - timedelta(hours=hours)
        self.env.cr.execute(
            "DELETE FROM mfg_integration_idempotency WHERE create_date < %s", (limit,)
        )
