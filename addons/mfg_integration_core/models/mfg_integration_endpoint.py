import re
import shlex
from contextlib import contextmanager
from datetime import timedelta
from urllib.parse import urlsplit

from odoo import api, fields, models
from odoo.exceptions import UserError, ValidationError

from mfg_integration.brokers import (
    broker_kind,
    check_destination_template,
    parse_broker_url,
)
from mfg_integration.errors import ConfigurationError, InvalidSecret
from mfg_integration.flows import evaluate
from mfg_integration.mapping import expression_problem
from mfg_integration.networks import parse_networks, restricted_host_reason
from mfg_integration.retry import (
    STANDARD_WEBHOOKS_SCHEDULE,
    format_schedule,
    parse_schedule,
)
from mfg_integration.webhooks import decode_webhook_secret, generate_webhook_secret

from ..secret_config import get_secret_box
from ..tools import iso_utc, notify

CODE_RE = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
DEFAULT_SCHEDULE = format_schedule(STANDARD_WEBHOOKS_SCHEDULE)
#: system parameter: networks deliveries may reach although they are restricted
ALLOWED_NETWORKS_PARAM = "mfg_integration.outbound_allowed_networks"
#: how an endpoint moves messages: HTTP, or one of the brokers a plant runs
TRANSPORTS = [
    ("http", "HTTPS webhook"),
    ("amqp", "AMQP 0-9-1 (RabbitMQ)"),
    ("mqtt", "MQTT 5"),
    ("nats", "NATS JetStream"),
]
#: where an outbound broker endpoint publishes when no destination is given
DEFAULT_DESTINATIONS = {"amqp": "{type}", "mqtt": "mfg/{type}", "nats": "mfg.{type}"}
#: the URL schemes of each broker transport
BROKER_SCHEMES = {"amqp": "amqp, amqps", "mqtt": "mqtt, mqtts", "nats": "nats, tls"}
#: the authentication kinds a broker connection accepts
BROKER_AUTH_KINDS = {
    "amqp": ("none", "basic"),
    "mqtt": ("none", "basic"),
    "nats": ("none", "basic", "bearer"),
}


class MfgIntegrationEndpoint(models.Model):
    """An inbound webhook route or an outbound target of an external system.

    Secrets (the Standard Webhooks signing secret and the outbound credential) are
    write-only: they are encrypted with the server's keys when saved and never shown
    again. Replacing a signing secret keeps the previous one valid for the rotation
    window, so senders and receivers can switch without losing a message.
    """

    _name = "mfg.integration.endpoint"
    _description = "Integration Endpoint"
    _inherit = ["mail.thread"]
    _order = "system_id, direction, code"
    _check_company_auto = True

    # The scripting contract creates endpoints without a name: it defaults to one
    # made of the system and the code, and stays editable (a name given or typed is
    # kept when the code changes later).
    name = fields.Char(
        compute="_compute_name",
        store=True,
        readonly=False,
        precompute=True,
        required=True,
        tracking=True,
    )
    code = fields.Char(
        required=True,
        tracking=True,
        help="Identifier of the endpoint. For an inbound endpoint it is the route "
        "name: /api/mfg/v1/webhooks/<code>.",
    )
    system_id = fields.Many2one(
        "mfg.integration.system",
        required=True,
        ondelete="cascade",
        index=True,
        check_company=True,
        tracking=True,
    )
    company_id = fields.Many2one(
        related="system_id.company_id", store=True, index=True, precompute=True
    )
    direction = fields.Selection(
        [("inbound", "Inbound"), ("outbound", "Outbound")],
        required=True,
        default="outbound",
        tracking=True,
    )
    active = fields.Boolean(default=True, tracking=True)
    transport = fields.Selection(
        TRANSPORTS,
        required=True,
        default="http",
        tracking=True,
        help="HTTPS webhook: Odoo POSTs to the URL (outbound) or the system POSTs to "
        "/api/mfg/v1/webhooks/<code> (inbound). A broker: Odoo publishes to it "
        "(outbound, counted delivered once the broker acknowledged), or a consumer "
        "(mfg-integration consume) feeds its messages to /api/mfg/v1/feeds/<code> "
        "(inbound).",
    )
    url = fields.Char(
        string="URL",
        tracking=True,
        help="Target URL of an outbound endpoint (https recommended), or the broker "
        "URL: amqp(s)://host:port/vhost, mqtt(s)://host:port, nats:// or "
        "tls://host:port. Credentials never go in the URL: use the authentication "
        "fields.",
    )
    broker_exchange = fields.Char(
        string="Exchange",
        tracking=True,
        help="AMQP exchange the events are published to (empty: the default exchange, "
        "where the routing key names a queue). It must exist on the broker.",
    )
    broker_destination = fields.Char(
        string="Destination",
        tracking=True,
        help="Routing key (AMQP), topic (MQTT) or subject (NATS) of each event, with "
        "the placeholders {type}, {source}, {subject} and {id} of the CloudEvent. "
        "Default: {type} (AMQP), mfg/{type} (MQTT), mfg.{type} (NATS; a JetStream "
        "stream must take the subject).",
    )
    feed_source = fields.Char(
        string="Broker Source",
        tracking=True,
        help="What the consumer reads (inbound broker endpoints): an AMQP queue, an "
        "MQTT topic filter, or STREAM:DURABLE of a JetStream durable consumer.",
    )
    feed_event_type_id = fields.Many2one(
        "mfg.integration.event.type",
        string="Event Type",
        domain=[("direction", "!=", "outbound")],
        tracking=True,
        help="The event type of every message of this feed (or set an event type "
        "expression).",
    )
    feed_command = fields.Text(
        compute="_compute_feed_command",
        string="Consumer Command",
        help="The command line that runs this feed's consumer.",
    )
    feed_type_expression = fields.Char(
        string="Event Type Expression",
        tracking=True,
        help="JMESPath expression giving each message's event type from "
        "{topic, data, properties}, for example: data.state == 'down' && "
        "'machine.downtime_started' || 'machine.downtime_ended'",
    )
    auth_kind = fields.Selection(
        [
            ("none", "None (signature only)"),
            ("bearer", "Bearer token"),
            ("basic", "Basic (user:password)"),
            ("header", "Custom header"),
        ],
        string="Authentication",
        required=True,
        default="none",
        tracking=True,
    )
    auth_header_name = fields.Char(
        string="Header Name", help="Name of the header carrying the credential."
    )
    timeout = fields.Integer(
        string="Timeout (s)",
        default=15,
        help="Seconds to wait for the receiver's answer.",
    )
    retry_schedule = fields.Char(
        default=DEFAULT_SCHEDULE,
        help="Delays before each delivery attempt (s, m, h, d), the first one usually "
        "0 (immediately). Each delay gets +/-20% jitter; after the last attempt the "
        "message is a dead letter.",
    )
    delivery_batch_size = fields.Integer(
        string="Batch Size",
        default=100,
        help="Messages one delivery job sends before handing over to the next job.",
    )
    delivery_concurrency = fields.Integer(
        string="Parallel Requests",
        default=4,
        help="Deliveries sent at the same time by a delivery job (1: one after the "
        "other). Messages with an ordering key are always sent one after the other.",
    )
    delivery_rate_limit = fields.Float(
        string="Throttle (messages/s)",
        default=0.0,
        help="At most this many messages per second, sent one after the other, for a "
        "receiver that cannot take bursts (0: no throttle). A delivery job sleeps up "
        "to 2 seconds to keep the pace; for longer gaps it plans the next job.",
    )
    throttle_next_at = fields.Float(
        string="Next Throttled Send",
        readonly=True,
        copy=False,
        help="When the next message may be sent to a throttled endpoint (Unix time).",
    )
    breaker_threshold = fields.Integer(
        string="Open Circuit After",
        default=5,
        help="Consecutive failed deliveries that open the circuit breaker (0: never).",
    )
    breaker_cooldown = fields.Integer(
        string="Circuit Cool-down (s)",
        default=60,
        help="While the circuit is open no delivery is attempted; after this many "
        "seconds one probe delivery is let through.",
    )
    circuit_state = fields.Selection(
        [("closed", "Closed"), ("open", "Open"), ("half_open", "Half-open (probing)")],
        default="closed",
        required=True,
        readonly=True,
        copy=False,
    )
    circuit_open_until = fields.Datetime(readonly=True, copy=False)
    failure_streak = fields.Integer(readonly=True, copy=False)
    last_success_at = fields.Datetime(readonly=True, copy=False)
    last_failure_at = fields.Datetime(readonly=True, copy=False)
    disabled_reason = fields.Char(readonly=True, copy=False)
    pending_count = fields.Integer(compute="_compute_message_counts")
    dead_count = fields.Integer(compute="_compute_message_counts")
    max_body_bytes = fields.Integer(
        string="Body Limit (bytes)",
        default=1024 * 1024,
        help="Largest inbound request body accepted on this endpoint.",
    )
    rate_limit = fields.Integer(
        string="Requests per Minute",
        default=600,
        help="Webhook requests this inbound endpoint accepts per minute, signed or "
        "not, counted across all Odoo workers (0: unlimited). Beyond it the API "
        "answers 429 with Retry-After.",
    )
    note = fields.Text()

    # Write-only secrets: the clear value exists only while it is being saved.
    signing_secret = fields.Char(
        compute="_compute_write_only_secrets",
        inverse="_inverse_signing_secret",
        copy=False,
        exportable=False,
        help="Standard Webhooks secret (whsec_…). Write-only: encrypted when saved, "
        "never shown again.",
    )
    credential = fields.Char(
        compute="_compute_write_only_secrets",
        inverse="_inverse_credential",
        copy=False,
        exportable=False,
        help="Outbound credential (token, user:password or header value). Write-only: "
        "encrypted when saved, never shown again.",
    )
    signing_secret_encrypted = fields.Char(
        copy=False, exportable=False, readonly=True, groups="base.group_system"
    )
    previous_signing_secret_encrypted = fields.Char(
        copy=False, exportable=False, readonly=True, groups="base.group_system"
    )
    credential_encrypted = fields.Char(
        copy=False, exportable=False, readonly=True, groups="base.group_system"
    )
    has_signing_secret = fields.Boolean(
        compute="_compute_secret_flags", string="Signing Secret Set"
    )
    has_previous_signing_secret = fields.Boolean(compute="_compute_secret_flags")
    has_credential = fields.Boolean(
        compute="_compute_secret_flags", string="Credential Set"
    )
    previous_secret_expires_at = fields.Datetime(
        string="Previous Secret Valid Until", readonly=True, copy=False
    )
    secret_rotation_hours = fields.Integer(
        string="Rotation Window (h)",
        default=24,
        help="When the signing secret is replaced, the previous one stays valid for "
        "this many hours (0: replaced at once).",
    )

    _code_system_uniq = models.Constraint(
        "unique(system_id, code)", "This system already has an endpoint with this code."
    )
    _inbound_code_uniq = models.UniqueIndex(
        "(code) WHERE direction = 'inbound'",
        "Another inbound endpoint already uses this route code.",
    )
    _timeout_range = models.Constraint(
        "CHECK(timeout BETWEEN 1 AND 300)", "The timeout must be 1 to 300 seconds."
    )
    _delivery_positive = models.Constraint(
        "CHECK(delivery_batch_size > 0 AND delivery_concurrency > 0 "
        "AND breaker_threshold >= 0 AND breaker_cooldown > 0 "
        "AND delivery_rate_limit >= 0)",
        "Batch size and cool-down must be positive, the breaker threshold and the "
        "throttle not negative.",
    )
    _rotation_positive = models.Constraint(
        "CHECK(secret_rotation_hours >= 0)", "The rotation window cannot be negative."
    )

    @api.depends("code", "system_id")
    def _compute_name(self):
        for endpoint in self:
            if endpoint.name or not endpoint.code:
                continue
            system = endpoint.system_id.name
            endpoint.name = f"{system}: {endpoint.code}" if system else endpoint.code

    @api.depends("transport", "direction", "url", "feed_source", "code")
    def _compute_feed_command(self):
        base_url = self.env["ir.config_parameter"].sudo().get_param("web.base.url")
        for endpoint in self:
            if endpoint.direction != "inbound" or endpoint.transport == "http":
                endpoint.feed_command = False
                continue
            endpoint.feed_command = shlex.join(
                [
                    "mfg-integration",
                    "consume",
                    endpoint.url or f"{endpoint.transport}://BROKER",
                    "--source",
                    endpoint.feed_source or "SOURCE",
                    "--url",
                    base_url or "https://ERP",
                    "--endpoint",
                    endpoint.code or "CODE",
                ]
            )

    def _compute_write_only_secrets(self):
        self.signing_secret = False
        self.credential = False

    def _compute_secret_flags(self):
        now = fields.Datetime.now()
        for endpoint, sudo in zip(self, self.sudo(), strict=True):
            endpoint.has_signing_secret = bool(sudo.signing_secret_encrypted)
            endpoint.has_credential = bool(sudo.credential_encrypted)
            endpoint.has_previous_signing_secret = bool(
                sudo.previous_signing_secret_encrypted
                and sudo.previous_secret_expires_at
                and sudo.previous_secret_expires_at > now
            )

    def _compute_message_counts(self):
        Message = self.env["mfg.integration.message"]
        pending = dict(
            Message._read_group(
                [
                    ("endpoint_id", "in", self.ids),
                    ("state", "in", ("queued", "failed")),
                ],
                ["endpoint_id"],
                ["__count"],
            )
        )
        dead = dict(
            Message._read_group(
                [("endpoint_id", "in", self.ids), ("state", "=", "dead")],
                ["endpoint_id"],
                ["__count"],
            )
        )
        for endpoint in self:
            endpoint.pending_count = pending.get(endpoint, 0)
            endpoint.dead_count = dead.get(endpoint, 0)

    @contextmanager
    def _setting_error(self, label):
        """Turn the ValueError of a check of one setting into a ValidationError
        that names the setting and the endpoint."""
        try:
            yield
        except ValueError as exc:
            raise ValidationError(
                self.env._(
                    "%(setting)s of '%(name)s': %(error)s",
                    setting=label,
                    name=self.name,
                    error=str(exc),
                )
            ) from None

    @api.constrains("retry_schedule")
    def _check_retry_schedule(self):
        for endpoint in self:
            with endpoint._setting_error(self.env._("Retry schedule")):
                parse_schedule(endpoint.retry_schedule or "")

    def _schedule(self):
        self.ensure_one()
        return parse_schedule(self.retry_schedule or DEFAULT_SCHEDULE)

    def _broker_destination(self):
        """The destination template of an outbound broker endpoint."""
        self.ensure_one()
        return self.broker_destination or DEFAULT_DESTINATIONS[self.transport]

    def _feed_event_type(self, body):
        """The event type code of one message of a broker feed.

        :param body: the feed request's body ``{topic, data, properties}``
        :return: an event type code, or None when it cannot be told
        """
        self.ensure_one()
        if self.feed_event_type_id:
            return self.feed_event_type_id.code
        if not self.feed_type_expression:
            return None
        try:
            code = evaluate(self.feed_type_expression, body)
        except ValueError:
            return None
        return code if isinstance(code, str) and code else None

    def _channel_name(self):
        """queue_job channel of this endpoint's deliveries (one per endpoint)."""
        self.ensure_one()
        return f"{self.system_id.code}-{self.code}"

    def _ensure_channels(self):
        """Create the queue_job channel of each outbound endpoint if missing, so that
        it shows in queue_job's channel list and can be given its own capacity."""
        parent = self.env.ref(
            "mfg_integration_core.queue_job_channel_mfg_integration_outbound",
            raise_if_not_found=False,
        )
        if not parent:
            return
        Channel = self.env["queue.job.channel"].sudo()
        for endpoint in self.filtered(lambda e: e.direction == "outbound"):
            name = endpoint._channel_name()
            if not Channel.search_count(
                [("name", "=", name), ("parent_id", "=", parent.id)]
            ):
                Channel.create({"name": name, "parent_id": parent.id})

    @api.model_create_multi
    def create(self, vals_list):
        endpoints = super().create(vals_list)
        endpoints._ensure_channels()
        return endpoints

    def write(self, vals):
        reactivated = (
            self.filtered(lambda e: not e.active) if vals.get("active") else []
        )
        res = super().write(vals)
        if {"code", "direction", "system_id"} & set(vals):
            self._ensure_channels()
        if reactivated:
            reactivated.sudo().write({"disabled_reason": False})
            for endpoint in reactivated.filtered(lambda e: e.direction == "outbound"):
                self.env["mfg.integration.delivery"]._enqueue(endpoint)
        return res

    # ------------------------------------------------------------------
    # Circuit breaker
    # ------------------------------------------------------------------

    def _circuit_allows(self, now):
        """Whether a delivery may be attempted now; an open circuit whose cool-down
        is over turns half-open and lets one probe through."""
        self.ensure_one()
        if self.circuit_state == "open":
            if self.circuit_open_until and self.circuit_open_until > now:
                return False
            self.sudo().circuit_state = "half_open"
        return True

    def _record_delivery_success(self, now):
        """A delivery succeeded: reset the failure streak and close the circuit. The
        time of the last success is written once per delivery job, not here."""
        self.ensure_one()
        if not self.failure_streak and self.circuit_state == "closed":
            return  # the usual case: nothing changes, nothing is written
        values = {"failure_streak": 0, "last_success_at": now}
        if self.circuit_state != "closed":
            values.update(circuit_state="closed", circuit_open_until=False)
            self.message_post(body=self.env._("Circuit closed: delivery succeeded."))
        self.sudo().write(values)

    def _record_delivery_failure(self, now, error_class=None):
        self.ensure_one()
        streak = self.failure_streak + 1
        values = {"failure_streak": streak, "last_failure_at": now}
        probe_failed = self.circuit_state == "half_open"
        if probe_failed or (
            self.breaker_threshold and streak >= self.breaker_threshold
        ):
            until = now + timedelta(seconds=self.breaker_cooldown)
            values.update(circuit_state="open", circuit_open_until=until)
            if self.circuit_state == "closed":
                self.message_post(
                    body=self.env._(
                        "Circuit opened after %(n)s consecutive failures; deliveries "
                        "pause until %(until)s (UTC).",
                        n=streak,
                        until=fields.Datetime.to_string(until),
                    )
                )
                self.system_id._emit_meta(
                    "integration.circuit_opened",
                    endpoint=self._meta_reference(),
                    failure_streak=streak,
                    opened_at=iso_utc(now),
                    retry_at=iso_utc(until),
                    **({"error_class": error_class} if error_class else {}),
                )
        self.sudo().write(values)

    def _meta_reference(self):
        """The endpoint as operational events name it."""
        self.ensure_one()
        return {"code": self.code, "name": self.name}

    def action_reset_circuit(self):
        """Close the circuit now and deliver what is waiting."""
        self.sudo().write(
            {
                "circuit_state": "closed",
                "circuit_open_until": False,
                "failure_streak": 0,
            }
        )
        for endpoint in self.filtered(lambda e: e.direction == "outbound" and e.active):
            self.env["mfg.integration.delivery"]._enqueue(endpoint)

    def _disable_gone(self, status_code):
        """The receiver answered 410 Gone: stop delivering and tell the responsible."""
        self.ensure_one()
        reason = self.env._("Receiver answered %(code)s Gone", code=status_code)
        self.sudo().write({"active": False, "disabled_reason": reason})
        self.message_post(body=self.env._("Endpoint disabled: %(r)s.", r=reason))
        self.system_id._emit_meta(
            "integration.endpoint_disabled",
            endpoint=self._meta_reference(),
            reason=reason,
            status_code=status_code,
            disabled_at=iso_utc(fields.Datetime.now()),
        )
        self.system_id._notify_responsible(
            self.env._("Endpoint %(name)s disabled", name=self.name),
            self.env._(
                "%(reason)s. Its pending messages are kept; re-activate the endpoint "
                "once the receiver is back.",
                reason=reason,
            ),
        )

    @api.constrains("code")
    def _check_code(self):
        for endpoint in self:
            if not CODE_RE.match(endpoint.code or ""):
                raise ValidationError(
                    self.env._(
                        "The endpoint code '%(code)s' is invalid: use lower-case "
                        "letters, digits, '-' and '_'.",
                        code=endpoint.code,
                    )
                )

    @api.constrains(
        "direction",
        "transport",
        "url",
        "auth_kind",
        "auth_header_name",
        "broker_destination",
    )
    def _check_outbound_target(self):
        outbound = self.filtered(lambda e: e.direction == "outbound")
        allowed = outbound and self._outbound_allowed_networks()
        for endpoint in outbound:
            host = endpoint._check_url()
            reason = restricted_host_reason(host, allowed)
            if reason:
                raise ValidationError(
                    self.env._(
                        "The URL of '%(name)s' points to %(reason)s, which deliveries "
                        "may not reach. An administrator can allow it in the system "
                        "parameter %(param)s (networks in CIDR notation).",
                        name=endpoint.name,
                        reason=reason,
                        param=ALLOWED_NETWORKS_PARAM,
                    )
                )
            if endpoint.auth_kind == "header" and not endpoint.auth_header_name:
                raise ValidationError(
                    self.env._(
                        "Endpoint '%(name)s' authenticates with a custom header: give "
                        "the header name.",
                        name=endpoint.name,
                    )
                )
            if endpoint.transport != "http":
                with endpoint._setting_error(self.env._("Destination")):
                    check_destination_template(
                        endpoint.transport, endpoint._broker_destination()
                    )

    def _check_url(self):
        """Check the URL against the endpoint's transport and return its host.

        :raise ValidationError: naming what is wrong (never a credential)
        """
        self.ensure_one()
        if self.transport == "http":
            parts = urlsplit(self.url or "")
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise ValidationError(
                    self.env._(
                        "Outbound endpoint '%(name)s' needs an http(s) URL.",
                        name=self.name,
                    )
                )
            if parts.username or parts.password:
                raise ValidationError(
                    self.env._(
                        "The URL of '%(name)s' contains credentials: put them in the "
                        "encrypted credential field instead.",
                        name=self.name,
                    )
                )
            return parts.hostname
        label = dict(TRANSPORTS)[self.transport]
        if broker_kind(self.url or "") != self.transport:
            raise ValidationError(
                self.env._(
                    "Endpoint '%(name)s' uses %(transport)s: its URL must be a broker "
                    "URL of that kind (%(schemes)s).",
                    name=self.name,
                    transport=label,
                    schemes=BROKER_SCHEMES[self.transport],
                )
            )
        with self._setting_error(self.env._("URL")):
            address = parse_broker_url(self.url)
        if self.auth_kind not in BROKER_AUTH_KINDS[self.transport]:
            raise ValidationError(
                self.env._(
                    "%(transport)s authenticates with a user and password (Basic)"
                    "%(token)s, or not at all: change the authentication of "
                    "'%(name)s'.",
                    transport=label,
                    token=self.env._(" or a token (Bearer)")
                    if self.transport == "nats"
                    else "",
                    name=self.name,
                )
            )
        return address.host

    @api.constrains(
        "direction", "transport", "feed_event_type_id", "feed_type_expression"
    )
    def _check_feed(self):
        for endpoint in self.filtered(
            lambda e: e.direction == "inbound" and e.transport != "http"
        ):
            if endpoint.url:
                endpoint._check_url()
            if not endpoint.feed_event_type_id and not endpoint.feed_type_expression:
                raise ValidationError(
                    self.env._(
                        "Broker feed '%(name)s' needs an event type, or an "
                        "expression that tells it from each message.",
                        name=endpoint.name,
                    )
                )
            problem = endpoint.feed_type_expression and expression_problem(
                endpoint.feed_type_expression
            )
            if problem:
                raise ValidationError(
                    self.env._(
                        "Event type expression of '%(name)s': %(problem)s",
                        name=endpoint.name,
                        problem=problem,
                    )
                )

    @api.model
    def _outbound_allowed_networks(self):
        """The networks an administrator opened to deliveries although they are
        restricted (loopback, link-local, metadata: see
        :func:`mfg_integration.networks.restricted_reason`)."""
        text = self.env["ir.config_parameter"].sudo().get_param(ALLOWED_NETWORKS_PARAM)
        try:
            return parse_networks(text)
        except ValueError as exc:
            raise UserError(
                self.env._(
                    "The system parameter %(param)s is invalid: %(error)s",
                    param=ALLOWED_NETWORKS_PARAM,
                    error=str(exc),
                )
            ) from None

    def _inverse_signing_secret(self):
        now = fields.Datetime.now()
        for endpoint in self:
            secret = endpoint.signing_secret
            if not secret:
                continue
            try:
                decode_webhook_secret(secret)
            except InvalidSecret as exc:
                raise ValidationError(exc.detail) from None
            box = get_secret_box()
            sudo = endpoint.sudo()
            values = {"signing_secret_encrypted": box.encrypt(secret)}
            current = sudo.signing_secret_encrypted
            if current and endpoint.secret_rotation_hours:
                until = now + timedelta(hours=endpoint.secret_rotation_hours)
                values.update(
                    previous_signing_secret_encrypted=current,
                    previous_secret_expires_at=until,
                )
                body = self.env._(
                    "Signing secret replaced; the previous one stays valid until "
                    "%(until)s (UTC).",
                    until=fields.Datetime.to_string(until),
                )
            else:
                values.update(
                    previous_signing_secret_encrypted=False,
                    previous_secret_expires_at=False,
                )
                body = self.env._("Signing secret set.")
            sudo.write(values)
            endpoint.message_post(body=body)
        # The clear value must not survive in the cache (it would be read back).
        self.invalidate_recordset(["signing_secret"])

    def _inverse_credential(self):
        for endpoint in self:
            if not endpoint.credential:
                continue
            box = get_secret_box()
            endpoint.sudo().write(
                {"credential_encrypted": box.encrypt(endpoint.credential)}
            )
            endpoint.message_post(body=self.env._("Credential set."))
        self.invalidate_recordset(["credential"])

    def _get_signing_secrets(self):
        """Return the clear signing secrets currently valid, newest first.

        For the signing and verifying code only: never display or log the result.
        """
        self.ensure_one()
        sudo = self.sudo()
        box = get_secret_box()
        secrets = []
        if sudo.signing_secret_encrypted:
            secrets.append(box.decrypt(sudo.signing_secret_encrypted))
        if (
            sudo.previous_signing_secret_encrypted
            and sudo.previous_secret_expires_at
            and sudo.previous_secret_expires_at > fields.Datetime.now()
        ):
            secrets.append(box.decrypt(sudo.previous_signing_secret_encrypted))
        return secrets

    def _get_credential(self):
        """Return the clear outbound credential, or None. Never display or log it."""
        self.ensure_one()
        token = self.sudo().credential_encrypted
        return get_secret_box().decrypt(token) if token else None

    #: the stored secrets, encrypted with the server's keys
    _ENCRYPTED_FIELDS = (
        "signing_secret_encrypted",
        "previous_signing_secret_encrypted",
        "credential_encrypted",
    )

    @api.model
    def _reencrypt_secrets(self):
        """Re-encrypt every stored secret of every endpoint, archived ones included,
        under the first configured key, so that older keys can then be removed from
        the configuration. All or nothing: one secret that no configured key opens
        stops it, naming its endpoint.

        :return: the number of secrets re-encrypted
        :raise UserError: naming the endpoint whose secret cannot be opened
        """
        box = get_secret_box()
        domain = fields.Domain.OR(
            [(name, "!=", False)] for name in self._ENCRYPTED_FIELDS
        )
        endpoints = (
            self.sudo().with_context(active_test=False).search(domain, order="id")
        )
        updates = []
        for endpoint in endpoints:
            values = {}
            for name in self._ENCRYPTED_FIELDS:
                if not endpoint[name]:
                    continue
                try:
                    values[name] = box.rotate(endpoint[name])
                except ConfigurationError as exc:
                    raise UserError(
                        self.env._(
                            "Endpoint %(endpoint)s (%(field)s): %(detail)s Nothing "
                            "was re-encrypted.",
                            endpoint=endpoint.display_name,
                            field=endpoint._fields[name].string,
                            detail=exc.detail,
                        )
                    ) from None
            if values:
                updates.append((endpoint, values))
        for endpoint, values in updates:
            endpoint.write(values)
        return sum(len(values) for _endpoint, values in updates)

    @api.model
    def action_reencrypt_secrets(self):
        """Re-encrypt all stored secrets after a key was added first to
        ``secret_keys``, and say how many were."""
        count = self._reencrypt_secrets()
        return notify(
            self.env._(
                "%(count)s stored secret(s) are now encrypted with the first key of "
                "secret_keys: the other keys can be removed.",
                count=count,
            ),
            title=self.env._("Secrets re-encrypted"),
        )

    def action_rotate_signing_secret(self):
        """Generate a new signing secret, keep the old one for the rotation window, and
        show the new one once."""
        self.ensure_one()
        secret = generate_webhook_secret()
        self.signing_secret = secret
        return self.env["mfg.integration.secret.reveal"].reveal_action(
            secret,
            title=self.env._("New signing secret of %(name)s", name=self.display_name),
            explanation=self.env._(
                "Give this secret to the other side now: it cannot be shown again. "
                "The previous secret stays valid for %(hours)s hour(s).",
                hours=self.secret_rotation_hours,
            ),
        )

    def action_clear_previous_signing_secret(self):
        """End the rotation window now: only the current signing secret stays valid."""
        self.sudo().write(
            {
                "previous_signing_secret_encrypted": False,
                "previous_secret_expires_at": False,
            }
        )
        for endpoint in self:
            endpoint.message_post(
                body=self.env._("Rotation window closed: previous secret revoked.")
            )
