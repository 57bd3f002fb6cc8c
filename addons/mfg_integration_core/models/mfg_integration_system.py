import re
from datetime import timedelta

from odoo import Command, api, fields, models
from odoo.exceptions import ValidationError

from ..tools import iso_utc

SYSTEM_KINDS = [
    ("mes", "MES"),
    ("qms", "QMS"),
    ("cmms", "CMMS"),
    ("wms", "WMS"),
    ("iot", "IoT platform"),
    ("supplier_portal", "Supplier portal"),
    ("other", "Other"),
]

CODE_RE = re.compile(r"^[a-z0-9][a-z0-9_]*$")


class MfgIntegrationSystem(models.Model):
    """An external system exchanging events with Odoo (MES, QMS, CMMS, WMS, IoT…).

    Each system gets its own technical user: requests authenticated with one of the
    system's API keys run as that user, so access rights and the audit trail show which
    system did what.
    """

    _name = "mfg.integration.system"
    _description = "Integration External System"
    _inherit = [
        "mail.thread",
        "mail.activity.mixin",
        "mfg.integration.cached.mixin",
        "mfg.integration.redaction.mixin",
    ]
    _order = "name, id"
    _check_company_auto = True

    name = fields.Char(required=True, tracking=True)
    code = fields.Char(
        required=True,
        tracking=True,
        help="Short lower-case identifier, unique per company, e.g. line1_mes. Used in "
        "job channels and as the CloudEvents source of the system's events.",
    )
    kind = fields.Selection(
        SYSTEM_KINDS,
        required=True,
        default="other",
        tracking=True,
    )
    description = fields.Text()
    active = fields.Boolean(default=True, tracking=True)
    company_id = fields.Many2one(
        "res.company",
        required=True,
        default=lambda self: self.env.company,
        index=True,
    )
    warehouse_id = fields.Many2one(
        "stock.warehouse",
        string="Plant",
        check_company=True,
        tracking=True,
        help="Bind the system to one plant (warehouse): the references in its events "
        "are resolved within that plant only (orders, locations…), and integration "
        "users restricted to other plants do not see its messages. Empty: the whole "
        "company.",
    )
    responsible_id = fields.Many2one(
        "res.users",
        string="Responsible",
        default=lambda self: self.env.user,
        tracking=True,
        help="Person notified about this system's failures and dead letters.",
    )
    user_id = fields.Many2one(
        "res.users",
        string="Technical User",
        readonly=True,
        copy=False,
        ondelete="restrict",
        help="Odoo user that the system's authenticated requests run as. Created with "
        "the system; it cannot log in interactively.",
    )
    retry_max_attempts = fields.Integer(
        string="Max Attempts",
        default=8,
        help="Processing attempts of an inbound message before it becomes a dead "
        "letter (permanent errors make it dead at once).",
    )
    retry_base_seconds = fields.Integer(
        string="First Retry After (s)",
        default=10,
        help="Delay before the first retry; each further retry waits twice as long, "
        "with +/-20% jitter.",
    )
    retry_max_seconds = fields.Integer(string="Longest Retry Delay (s)", default=3600)
    dead_letter_threshold = fields.Integer(
        default=10,
        help="When this many of the system's messages are dead letters, the "
        "responsible person gets an activity (0: never).",
    )
    dead_letter_count = fields.Integer(compute="_compute_dead_letter_count")
    redact_pointers = fields.Text(
        string="Redacted Values (System's Format)",
        help="For a system whose payloads an inbound mapping translates: JSON "
        "pointers into the payload as the system sends it (the event type's "
        "pointers apply to the canonical data). Their values are masked wherever a "
        "payload is displayed and removed from error texts, notes and logs, one per "
        "line; a '*' segment matches every array item or object member.",
    )
    endpoint_ids = fields.One2many(
        "mfg.integration.endpoint", "system_id", string="Endpoints"
    )
    api_key_ids = fields.One2many(
        "mfg.integration.api.key", "system_id", string="API Keys"
    )
    endpoint_count = fields.Integer(compute="_compute_counts")
    api_key_count = fields.Integer(compute="_compute_counts")
    slo_ids = fields.One2many(
        "mfg.integration.slo", "system_id", string="Service Level Objectives"
    )
    silence_minutes = fields.Integer(
        string="Expected to Send Every (min)",
        help="The longest silence expected of the system, in minutes (a machine "
        "heartbeat, at least one event per shift): beyond it the responsible person "
        "gets an activity and integration.system_silent is emitted (0: the system "
        "may stay silent).",
    )
    silent_since = fields.Datetime(readonly=True, copy=False)
    onboarded_at = fields.Datetime(
        readonly=True,
        copy=False,
        tracking=True,
        help="When the onboarding wizard's two tests passed: an event from Odoo "
        "delivered to the system, and an event from the system received by Odoo.",
    )
    last_message_at = fields.Datetime(
        string="Last Received", compute="_compute_last_message_at"
    )

    _retry_positive = models.Constraint(
        "CHECK(retry_max_attempts >= 1 AND retry_base_seconds >= 1 "
        "AND retry_max_seconds >= retry_base_seconds)",
        "Retries need at least one attempt and a maximum delay not below the first.",
    )
    _code_company_uniq = models.Constraint(
        "unique(company_id, code)",
        "A system with this code already exists in this company.",
    )
    _silence_positive = models.Constraint(
        "CHECK(silence_minutes >= 0)", "The expected silence cannot be negative."
    )

    @api.depends("endpoint_ids", "api_key_ids")
    def _compute_counts(self):
        for system in self:
            system.endpoint_count = len(system.endpoint_ids)
            system.api_key_count = len(system.api_key_ids)

    def _compute_last_message_at(self):
        last = self._last_message_times()
        for system in self:
            system.last_message_at = last.get(system.id)

    def _last_message_times(self):
        """``{system id: when its last inbound message was received}``, one index
        lookup per system."""
        if not self.ids:
            return {}
        self.env["mfg.integration.message"].flush_model()
        self.env.cr.execute(
            """
            SELECT s.id, (SELECT max(m.create_date) FROM mfg_integration_message m
                           WHERE m.system_id = s.id AND m.direction = 'inbound')
              FROM unnest(%s::int[]) AS s(id)
            """,
            [list(self.ids)],
        )
        return {system_id: when for system_id, when in self.env.cr.fetchall() if when}

    @api.model
    def _check_silence(self, now):
        """Raise the silent-system alarm of each system expected to send that has
        been silent longer than expected, and lower it when it sends again."""
        systems = self.sudo().search(
            ["|", ("silence_minutes", ">", 0), ("silent_since", "!=", False)]
        )
        last = systems._last_message_times()
        for system in systems:
            heard = last.get(system.id)
            since = heard or system.create_date
            limit = timedelta(minutes=system.silence_minutes)
            silent = bool(system.silence_minutes) and now - since > limit
            summary = self.env._("System silent: %(name)s", name=system.name)
            if silent and not system.silent_since:
                system.silent_since = now
                system._notify_responsible(
                    summary,
                    self.env._(
                        "%(system)s has sent nothing since %(since)s (UTC), but is "
                        "expected to send at least every %(minutes)s minutes. Check "
                        "the system, its network and its API key.",
                        system=system.name,
                        since=fields.Datetime.to_string(heard) if heard else "-",
                        minutes=system.silence_minutes,
                    ),
                )
                data = {
                    "expected_every_minutes": system.silence_minutes,
                    "detected_at": iso_utc(now),
                }
                if heard:
                    data["last_message_at"] = iso_utc(heard)
                system._emit_meta("integration.system_silent", **data)
            elif not silent and system.silent_since:
                system.silent_since = False
                system._close_activities(
                    summary,
                    self.env._(
                        "The system sent again (%(when)s UTC).",
                        when=fields.Datetime.to_string(heard) if heard else "-",
                    ),
                )

    def _close_activities(self, summary, feedback):
        """Mark done the open to-dos of ``summary`` (what :meth:`_notify_responsible`
        scheduled), with ``feedback``."""
        for system in self.sudo():
            system.activity_ids.filtered(
                lambda a: a.summary == summary
            ).action_feedback(feedback=feedback)

    def _compute_dead_letter_count(self):
        counts = dict(
            self.env["mfg.integration.message"]._read_group(
                [("system_id", "in", self.ids), ("state", "=", "dead")],
                ["system_id"],
                ["__count"],
            )
        )
        for system in self:
            system.dead_letter_count = counts.get(system, 0)

    def _check_dead_letter_threshold(self):
        """Give the responsible person an activity when dead letters pile up, and
        emit ``integration.dead_letter_threshold`` (once per activity)."""
        for system in self.sudo():
            threshold = system.dead_letter_threshold
            if not threshold or system.dead_letter_count < threshold:
                continue
            notified = system._notify_responsible(
                self.env._("Dead letters to review"),
                self.env._(
                    "%(count)s messages of %(system)s are dead letters. Review them "
                    "under Integration > Dead Letters, then replay or discard them.",
                    count=system.dead_letter_count,
                    system=system.name,
                ),
            )
            if notified:
                system._emit_meta(
                    "integration.dead_letter_threshold",
                    dead_letters=system.dead_letter_count,
                    threshold=threshold,
                    detected_at=iso_utc(fields.Datetime.now()),
                )

    def _notify_responsible(self, summary, note):
        """Schedule a to-do for the system's responsible person, once: no new activity
        while one with the same summary is still open.

        :return: the systems that got a new activity
        """
        activity_type = self.env.ref("mail.mail_activity_data_todo")
        notified = self.browse()
        for system in self.sudo():
            if system.activity_ids.filtered(
                lambda a: a.activity_type_id == activity_type and a.summary == summary
            ):
                continue
            system.activity_schedule(
                activity_type_id=activity_type.id,
                summary=summary,
                note=note,
                user_id=(system.responsible_id or self.env.ref("base.user_admin")).id,
            )
            notified |= system
        return notified

    def _meta_reference(self):
        """The system as operational events name it."""
        self.ensure_one()
        return {"code": self.code, "name": self.name}

    def _emit_meta(self, code, **data):
        """Emit an operational event of the hub (``integration.*``) about this
        system, to the endpoints subscribed to it (none: nothing is written)."""
        self.ensure_one()
        return (
            self.env["mfg.integration.event.type"]
            .sudo()
            .emit(code, {"system": self._meta_reference(), **data}, subject=self.code)
        )

    def action_view_dead_letters(self):
        self.ensure_one()
        action = self.env["ir.actions.act_window"]._for_xml_id(
            "mfg_integration_core.mfg_integration_message_dead_action"
        )
        action["domain"] = [("system_id", "=", self.id), ("state", "=", "dead")]
        return action

    @api.constrains("code")
    def _check_code(self):
        for system in self:
            if not CODE_RE.match(system.code or ""):
                raise ValidationError(
                    self.env._(
                        "The system code '%(code)s' is invalid: use lower-case "
                        "letters, digits and underscores.",
                        code=system.code,
                    )
                )

    @api.model_create_multi
    def create(self, vals_list):
        systems = super().create(vals_list)
        for system in systems:
            system.user_id = system._create_technical_user()
        return systems

    def write(self, vals):
        res = super().write(vals)
        if {"active", "name", "company_id", "kind"} & set(vals):
            self._sync_technical_user()
        return res

    def unlink(self):
        users = self.user_id
        res = super().unlink()
        # Technical users may have authored records: archive them rather than delete.
        users.sudo().write({"active": False})
        return res

    def _technical_user_values(self):
        self.ensure_one()
        return {
            "name": self.env._("Integration: %(name)s", name=self.name),
            "active": self.active,
            "company_id": self.company_id.id,
            "company_ids": [Command.set(self.company_id.ids)],
        }

    def _technical_user_groups(self):
        """The groups of this system's technical user: the ingress group, plus what
        the domain modules add for the flows of the system's kind (least privilege:
        an MES gets the MES flows' rights, nothing else)."""
        self.ensure_one()
        return self.env.ref("mfg_integration_core.group_mfg_integration_ingress")

    def _create_technical_user(self):
        """Create the technical user of this system (without password: no login)."""
        self.ensure_one()
        values = self._technical_user_values()
        values.update(
            login=f"mfg_integration_system_{self.id}",
            group_ids=[Command.set(self._technical_user_groups().ids)],
        )
        # Creating users needs the administration rights that an integration manager
        # may lack; the values above are fully controlled here.
        users = self.env["res.users"].sudo().with_context(no_reset_password=True)
        return users.create(values)

    def _sync_technical_user(self):
        for system in self.filtered("user_id"):
            values = system._technical_user_values()
            values["group_ids"] = [Command.set(system._technical_user_groups().ids)]
            system.user_id.sudo().write(values)

    def action_view_endpoints(self):
        self.ensure_one()
        action = self.env["ir.actions.act_window"]._for_xml_id(
            "mfg_integration_core.mfg_integration_endpoint_action"
        )
        action["domain"] = [("system_id", "=", self.id)]
        action["context"] = {"default_system_id": self.id}
        return action

    def action_view_api_keys(self):
        self.ensure_one()
        action = self.env["ir.actions.act_window"]._for_xml_id(
            "mfg_integration_core.mfg_integration_api_key_action"
        )
        action["domain"] = [("system_id", "=", self.id)]
        action["context"] = {"default_system_id": self.id}
        return action

    def action_generate_api_key(self):
        """Open the wizard that generates an API key for this system."""
        self.ensure_one()
        return {
            "type": "ir.actions.act_window",
            "name": self.env._("Generate API Key"),
            "res_model": "mfg.integration.api.key.wizard",
            "view_mode": "form",
            "target": "new",
            "context": {"default_system_id": self.id},
        }
