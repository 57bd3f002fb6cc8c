import time

from psycopg2 import errors as pg_errors

from odoo import Command, api, fields, models, tools
from odoo.exceptions import UserError, ValidationError
from odoo.fields import Domain

from mfg_integration.apikeys import (
    generate_api_key,
    mask_api_key,
    parse_api_key,
    verify_api_key,
)
from mfg_integration.errors import AuthenticationFailed, Forbidden
from mfg_integration.networks import address_allowed, parse_networks

#: last_used_at is refreshed at most once per this many seconds per key
LAST_USED_RESOLUTION = 60
#: when this worker last refreshed each key's last use (monotonic seconds)
_LAST_TOUCH = {}


class MfgIntegrationApiKey(models.Model):
    """An inbound credential of an external system.

    Only a SHA-256 digest of the key and an indexed lookup prefix are stored; the clear
    key exists once, in the return value of :meth:`generate`. Keys can be limited to
    event types (scopes), to client networks, and in time; they are revoked, never
    edited.
    """

    _name = "mfg.integration.api.key"
    _description = "Integration API Key"
    _inherit = ["mfg.integration.cached.mixin"]
    _order = "create_date desc, id desc"
    _check_company_auto = True

    name = fields.Char(required=True, help="What or who uses this key.")
    system_id = fields.Many2one(
        "mfg.integration.system",
        required=True,
        ondelete="cascade",
        index=True,
        check_company=True,
    )
    company_id = fields.Many2one(
        related="system_id.company_id", store=True, index=True, precompute=True
    )
    user_id = fields.Many2one(
        related="system_id.user_id",
        string="Runs As",
        help="Technical user of the system.",
    )
    lookup = fields.Char(required=True, readonly=True, copy=False)
    key_digest = fields.Char(
        required=True,
        readonly=True,
        copy=False,
        exportable=False,
        groups="base.group_system",
    )
    key_hint = fields.Char(compute="_compute_key_hint", string="Key")
    event_type_ids = fields.Many2many(
        "mfg.integration.event.type",
        string="Allowed Event Types",
        help="Event types this key may send. Leave empty to allow every event type.",
    )
    metrics_scope = fields.Boolean(
        string="Metrics",
        help="The key may read the hub's metrics (GET /api/mfg/v1/metrics, for "
        "Prometheus) and the details of its health check.",
    )
    expires_at = fields.Datetime(string="Expires On")
    allowed_networks = fields.Text(
        help="Client networks allowed to use the key, in CIDR notation, separated by "
        "commas or new lines (e.g. 10.20.0.0/16). Empty: any address."
    )
    rate_limit = fields.Integer(
        string="Requests per Minute",
        default=600,
        help="Requests this key may make per minute, counted across all Odoo workers "
        "(0: unlimited). Beyond it the API answers 429 with Retry-After.",
    )
    revoked = fields.Boolean(readonly=True, copy=False)
    revoked_at = fields.Datetime(readonly=True, copy=False)
    revoked_by_id = fields.Many2one("res.users", readonly=True, copy=False)
    last_used_at = fields.Datetime(string="Last Used", readonly=True, copy=False)
    last_used_ip = fields.Char(string="Last Used From", readonly=True, copy=False)
    state = fields.Selection(
        [("active", "Active"), ("expired", "Expired"), ("revoked", "Revoked")],
        compute="_compute_state",
        search="_search_state",
    )

    _lookup_uniq = models.UniqueIndex("(lookup)")

    #: fields that never change once a key exists
    _IMMUTABLE_FIELDS = ("lookup", "key_digest", "system_id")

    def init(self):
        # Request counters of the rate limits, per API key (key_id > 0) and per
        # inbound webhook endpoint (key_id = -endpoint id): unlogged (cheap, and
        # losing them in a crash only resets the current minute).
        self.env.cr.execute(
            """
            CREATE UNLOGGED TABLE IF NOT EXISTS mfg_integration_rate_counter (
                key_id integer NOT NULL,
                window_start bigint NOT NULL,
                hits integer NOT NULL,
                PRIMARY KEY (key_id, window_start)
            )
            """
        )

    @api.depends("lookup")
    def _compute_key_hint(self):
        for key in self:
            key.key_hint = mask_api_key(key.lookup) if key.lookup else False

    @api.depends("revoked", "expires_at")
    def _compute_state(self):
        now = fields.Datetime.now()
        for key in self:
            if key.revoked:
                key.state = "revoked"
            elif key.expires_at and key.expires_at <= now:
                key.state = "expired"
            else:
                key.state = "active"

    def _search_state(self, operator, value):
        if operator not in ("in", "not in"):
            return NotImplemented
        now = fields.Datetime.now()
        by_state = {
            "revoked": [("revoked", "=", True)],
            "expired": [("revoked", "=", False), ("expires_at", "<=", now)],
            "active": [
                ("revoked", "=", False),
                "|",
                ("expires_at", "=", False),
                ("expires_at", ">", now),
            ],
        }
        domain = Domain.OR(
            Domain(by_state[state]) for state in value if state in by_state
        )
        return domain if operator == "in" else ~domain

    @api.constrains("allowed_networks")
    def _check_allowed_networks(self):
        for key in self:
            try:
                parse_networks(key.allowed_networks)
            except ValueError as exc:
                raise ValidationError(str(exc)) from None

    def write(self, vals):
        changed = set(vals) & set(self._IMMUTABLE_FIELDS)
        current = self.read(list(changed), load=None) if changed else []
        if any(row[f] != vals[f] for row in current for f in changed):
            raise UserError(
                self.env._(
                    "An API key cannot be altered: generate a new one and revoke this "
                    "one."
                )
            )
        if "revoked" in vals and not vals["revoked"] and any(self.mapped("revoked")):
            raise UserError(self.env._("A revoked API key cannot be restored."))
        return super().write(vals)

    @api.model
    def generate(self, system, name, event_types=None, expires_at=None, **values):
        """Create a key for ``system``.

        :param system: a ``mfg.integration.system`` record
        :param name: what or who uses the key
        :param event_types: ``mfg.integration.event.type`` records the key may send
            (None or empty: every event type)
        :param expires_at: optional expiry datetime
        :param values: further field values (e.g. ``allowed_networks``)
        :return: ``(key_record, clear_key)``; the clear key is not stored anywhere
        """
        system.ensure_one()
        parts = generate_api_key()
        values.update(
            name=name,
            system_id=system.id,
            lookup=parts.lookup,
            key_digest=parts.digest,
            expires_at=expires_at or False,
            event_type_ids=[Command.set(event_types.ids if event_types else [])],
        )
        self.check_access("create")
        # The digest field is readable and writable by system administrators only;
        # integration managers create keys through this method alone.
        key = self.sudo().create(values).sudo(False)
        system.message_post(
            body=self.env._(
                "API key %(hint)s (%(name)s) generated by %(user)s.",
                hint=key.key_hint,
                name=name,
                user=self.env.user.name,
            )
        )
        return key, parts.key

    def action_revoke(self):
        """Revoke the keys at once; a revoked key never authenticates again."""
        to_revoke = self.filtered(lambda k: not k.revoked)
        to_revoke.write(
            {
                "revoked": True,
                "revoked_at": fields.Datetime.now(),
                "revoked_by_id": self.env.user.id,
            }
        )
        for key in to_revoke:
            key.system_id.message_post(
                body=self.env._(
                    "API key %(hint)s (%(name)s) revoked by %(user)s.",
                    hint=key.key_hint,
                    name=key.name,
                    user=self.env.user.name,
                )
            )
        return True

    @api.model
    def _authenticate(self, clear_key, remote_addr=None, event_type_code=None):
        """Find the key record for a presented key and check that it may be used.

        Runs before any user is known, hence with elevated rights on this model only.

        :param clear_key: the key as presented by the caller
        :param remote_addr: the client address, checked against ``allowed_networks``
        :param event_type_code: when given, the key must be scoped for this event type
        :return: the key record (as superuser; callers switch to ``key.user_id``)
        :raise AuthenticationFailed: missing, malformed, unknown, expired or revoked
            key, or the key's system is archived
        :raise Forbidden: client address not allowed, or event type not in scope
        """
        if not clear_key:
            raise AuthenticationFailed("An API key is required.")
        parts = parse_api_key(clear_key)
        grant = self._grant(parts.lookup)
        if grant is None or not verify_api_key(parts.key, grant["digest"]):
            raise AuthenticationFailed("The API key is unknown.")
        if grant["revoked"]:
            raise AuthenticationFailed("The API key has been revoked.")
        if grant["expires_at"] and grant["expires_at"] <= fields.Datetime.now():
            raise AuthenticationFailed("The API key has expired.")
        if not grant["active"]:
            raise AuthenticationFailed("The system of this API key is archived.")
        if not address_allowed(remote_addr, grant["networks"]):
            raise Forbidden("The API key may not be used from this network address.")
        key = self.sudo().browse(grant["id"])
        if event_type_code is not None:
            key._check_scope(event_type_code)
        key._touch(remote_addr)
        return key

    @api.model
    @tools.ormcache("lookup")
    def _grant(self, lookup):
        """What authenticating a key needs, cached per worker (every change of a key,
        a system or a technical user clears it): no query for a known key."""
        key = (
            self.sudo()
            .with_context(active_test=False)
            .search([("lookup", "=", lookup)], limit=1)
        )
        if not key:
            return None
        scopes = key.event_type_ids.mapped("code")
        return {
            "id": key.id,
            "digest": key.key_digest,
            "revoked": key.revoked,
            "expires_at": key.expires_at,
            "active": key.system_id.active and key.user_id.active,
            "networks": parse_networks(key.allowed_networks),
            "scopes": frozenset(scopes) if scopes else None,
        }

    def _check_scope(self, event_type_code):
        """:raise Forbidden: when the key is not scoped for ``event_type_code``."""
        self.ensure_one()
        scopes = self._grant(self.sudo().lookup)["scopes"]
        if scopes is not None and event_type_code not in scopes:
            raise Forbidden(
                f"The API key is not allowed to send '{event_type_code}' events."
            )

    def _check_metrics_scope(self):
        """:raise Forbidden: when the key may not read the hub's metrics."""
        self.ensure_one()
        if not self.sudo().metrics_scope:
            raise Forbidden(
                "The API key has no metrics scope: tick Metrics on the key, or use "
                "a key that has it."
            )

    def _touch(self, remote_addr):
        """Record the last use, at most once a minute per key and worker, without
        blocking on other requests that use the same key at the same time."""
        self.ensure_one()
        if self.env.cr.readonly:
            return  # read-only routes (GET) may run on a read-only replica
        now = time.monotonic()
        if now - _LAST_TOUCH.get(self.id, -LAST_USED_RESOLUTION) < LAST_USED_RESOLUTION:
            return
        _LAST_TOUCH[self.id] = now
        try:
            with self.env.cr.savepoint():
                self.env.cr.execute(
                    """
                    UPDATE mfg_integration_api_key
                       SET last_used_at = now() AT TIME ZONE 'UTC', last_used_ip = %s
                     WHERE id IN (
                        SELECT id FROM mfg_integration_api_key
                         WHERE id = %s
                           AND (last_used_at IS NULL
                                OR last_used_at < (now() AT TIME ZONE 'UTC')
                                                  - %s * interval '1 second')
                           FOR UPDATE SKIP LOCKED)
                    """,
                    (remote_addr, self.id, LAST_USED_RESOLUTION),
                    log_exceptions=False,
                )
        except pg_errors.SerializationFailure:
            # A request of another worker stamped the key since this transaction
            # began: the key's last use is recorded already, and the request goes
            # on (it must not fail, nor be retried, for a bookkeeping stamp).
            pass
        self.invalidate_recordset(["last_used_at", "last_used_ip"])
