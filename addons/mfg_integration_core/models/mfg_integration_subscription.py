import jmespath
from jmespath.exceptions import JMESPathError

from odoo import api, fields, models
from odoo.exceptions import ValidationError
from odoo.tools.safe_eval import safe_eval

from odoo.addons.base.models.res_partner import _tz_get

from mfg_integration.batching import next_flush, parse_times


class MfgIntegrationSubscription(models.Model):
    """Outbound routing: events of a type go to an endpoint.

    An optional domain filters on the Odoo record the event is about, and an optional
    ordering key (a JMESPath expression over the event data, such as
    ``production_order.reference``) makes the endpoint receive the events that share a
    key strictly in the order they were emitted.
    """

    _name = "mfg.integration.subscription"
    _description = "Integration Subscription"
    _order = "event_type_id, endpoint_id"
    _check_company_auto = True

    name = fields.Char(compute="_compute_name", store=True)
    event_type_id = fields.Many2one(
        "mfg.integration.event.type", required=True, ondelete="cascade", index=True
    )
    endpoint_id = fields.Many2one(
        "mfg.integration.endpoint",
        required=True,
        ondelete="cascade",
        index=True,
        domain=[("direction", "=", "outbound")],
        check_company=True,
    )
    system_id = fields.Many2one(related="endpoint_id.system_id", store=True)
    company_id = fields.Many2one(related="endpoint_id.company_id", store=True)
    active = fields.Boolean(default=True)
    filter_model = fields.Char(
        string="Record Model",
        help="Technical name of the model of the records the events are about (e.g. "
        "mrp.production); the domain below applies to them.",
    )
    filter_domain = fields.Char(
        string="Record Filter",
        default="[]",
        help="Only events about records matching this domain are sent.",
    )
    mapping_id = fields.Many2one(
        "mfg.integration.mapping",
        domain="[('direction', '=', 'outbound'), "
        "('event_type_id', '=', event_type_id)]",
        help="Turns the canonical data into the receiver's own format before signing.",
    )
    ordering_key = fields.Char(
        help="JMESPath expression over the event data whose value groups events "
        "that must be delivered in order (e.g. production_order.reference). Empty: "
        "no ordering.",
    )

    delivery_mode = fields.Selection(
        [("realtime", "Real-time"), ("batch", "Batch")],
        default="realtime",
        required=True,
        help="Real-time: each event is sent as soon as it is emitted. Batch: events "
        "wait and go out together as one CloudEvents batch on the schedule below, or "
        "as soon as the set number of messages is waiting.",
    )
    batch_interval = fields.Integer(
        string="Every (minutes)",
        help="Send the gathered events every this many minutes, on the clock (15: at "
        ":00, :15, :30 and :45). 0: no interval.",
    )
    batch_times = fields.Char(
        string="At Times",
        help="Times of day at which the gathered events are sent, such as shift ends: "
        "06:00, 14:00, 22:00 (in the time zone below).",
    )
    batch_tz = fields.Selection(
        _tz_get,
        string="Time Zone",
        default=lambda self: self.env.user.tz or "UTC",
    )
    batch_max_messages = fields.Integer(
        string="Or When Waiting",
        help="Send at once when this many messages are waiting (0: only on the "
        "schedule).",
    )

    _batch_positive = models.Constraint(
        "CHECK(batch_interval >= 0 AND batch_max_messages >= 0)",
        "The batch interval and the number of waiting messages cannot be negative.",
    )
    _event_endpoint_uniq = models.Constraint(
        "unique(event_type_id, endpoint_id)",
        "This endpoint already subscribes to this event type.",
    )

    @api.depends("event_type_id.code", "endpoint_id.display_name")
    def _compute_name(self):
        for subscription in self:
            subscription.name = (
                f"{subscription.event_type_id.code} → "
                f"{subscription.endpoint_id.display_name}"
            )

    @api.constrains("endpoint_id")
    def _check_endpoint(self):
        for subscription in self:
            if subscription.endpoint_id.direction != "outbound":
                raise ValidationError(
                    self.env._("Subscriptions deliver to outbound endpoints only.")
                )

    @api.constrains("mapping_id", "event_type_id")
    def _check_mapping(self):
        for subscription in self.filtered("mapping_id"):
            mapping = subscription.mapping_id
            if (
                mapping.direction != "outbound"
                or mapping.event_type_id != subscription.event_type_id
            ):
                raise ValidationError(
                    self.env._(
                        "The mapping of a subscription must be an outbound mapping of "
                        "the same event type."
                    )
                )

    @api.constrains(
        "delivery_mode", "batch_interval", "batch_times", "batch_tz", "endpoint_id"
    )
    def _check_batch(self):
        for subscription in self.filtered(lambda s: s.delivery_mode == "batch"):
            if subscription.endpoint_id.transport != "http":
                raise ValidationError(
                    self.env._(
                        "Batch delivery sends HTTPS webhooks: endpoint '%(name)s' "
                        "publishes to a broker, which takes events one by one.",
                        name=subscription.endpoint_id.name,
                    )
                )
            try:
                times = parse_times(subscription.batch_times)
                schedule = next_flush(
                    fields.Datetime.now(),
                    subscription.batch_interval,
                    times,
                    subscription.batch_tz,
                )
            except ValueError as exc:
                raise ValidationError(
                    self.env._("Batch schedule: %(error)s", error=str(exc))
                ) from None
            if schedule is None:
                raise ValidationError(
                    self.env._(
                        "A batch subscription needs a schedule: an interval in "
                        "minutes, times of day, or both."
                    )
                )

    def _next_flush(self, now):
        """When this batch subscription's gathered messages go out next."""
        self.ensure_one()
        return next_flush(
            now, self.batch_interval, parse_times(self.batch_times), self.batch_tz
        )

    @api.constrains("ordering_key")
    def _check_ordering_key(self):
        for subscription in self.filtered("ordering_key"):
            try:
                jmespath.compile(subscription.ordering_key)
            except JMESPathError as exc:
                raise ValidationError(
                    self.env._(
                        "The ordering key '%(key)s' is not a JMESPath expression: "
                        "%(error)s",
                        key=subscription.ordering_key,
                        error=str(exc),
                    )
                ) from None

    @api.constrains("filter_model", "filter_domain")
    def _check_filter(self):
        for subscription in self:
            domain = subscription._domain()
            if domain and not subscription.filter_model:
                raise ValidationError(
                    self.env._("A record filter needs the model of the records.")
                )
            if subscription.filter_model:
                if subscription.filter_model not in self.env:
                    raise ValidationError(
                        self.env._(
                            "'%(model)s' is not a model.",
                            model=subscription.filter_model,
                        )
                    )
                try:
                    self.env[subscription.filter_model].sudo().search_count(
                        domain, limit=1
                    )
                except (ValueError, KeyError, TypeError) as exc:
                    raise ValidationError(
                        self.env._(
                            "The record filter is invalid: %(error)s", error=str(exc)
                        )
                    ) from None

    def _domain(self):
        self.ensure_one()
        try:
            domain = safe_eval(self.filter_domain or "[]")
        except (ValueError, SyntaxError, NameError) as exc:
            raise ValidationError(
                self.env._("The record filter is not a domain: %(error)s", error=exc)
            ) from None
        if not isinstance(domain, list):
            raise ValidationError(self.env._("The record filter must be a list."))
        return domain

    def _matches(self, record):
        """Tell whether the event about ``record`` goes to this subscription."""
        self.ensure_one()
        domain = self._domain()
        if not domain:
            return True
        if not record or record._name != self.filter_model:
            return False
        return bool(record.sudo().filtered_domain(domain))

    def _ordering_value(self, data):
        """The ordering key of an event's data, as text (None: no ordering)."""
        self.ensure_one()
        if not self.ordering_key:
            return None
        value = jmespath.search(self.ordering_key, data)
        return None if value is None else str(value)
