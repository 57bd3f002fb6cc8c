import json
import shlex

from odoo import api, fields, models
from odoo.exceptions import UserError

from odoo.addons.queue_job.exception import RetryableJobError

from mfg_integration.webhooks import generate_webhook_secret

from ..models.mfg_integration_endpoint import CODE_RE
from ..models.mfg_integration_system import SYSTEM_KINDS
from ..tools import form_action, iso_utc

#: what each kind of system usually sends (inbound) and receives (outbound); the
#: event types that no installed module offers are left out
TEMPLATES = {
    "mes": (
        [
            "production_order.release_acknowledged",
            "work_order.progress_reported",
            "material.consumed",
            "production_order.completed",
        ],
        ["production_order.released", "production_order.cancelled"],
    ),
    "qms": (
        [
            "inspection.result_recorded",
            "inspection.failed",
            "batch.disposition_approved",
        ],
        ["nonconformance.opened"],
    ),
    "cmms": (
        ["maintenance.work_order_completed", "spare_part.consumed"],
        ["maintenance.work_order_created"],
    ),
    "iot": (["machine.downtime_started", "machine.downtime_ended"], []),
    "supplier_portal": ([], ["supplier_corrective_action.opened"]),
    "wms": (["material.consumed"], []),
    "other": ([], []),
}
#: the event types of the two onboarding tests
PING = "integration.ping"
CONNECTION_TEST = "integration.connection_test"
#: the context key that carries the clear secrets to the one screen that shows them
SECRETS_KEY = "mfg_onboarding_secrets"

STEPS = [
    ("system", "System"),
    ("template", "Template"),
    ("credentials", "Credentials"),
    ("tests", "Tests"),
    ("done", "Onboarded"),
]


class MfgIntegrationOnboarding(models.TransientModel):
    """Onboards an external system in one guided wizard: its kind gives a template
    of endpoint, subscriptions and event scopes; the wizard creates them with an API
    key and a signing secret (shown once), then tests both directions. The system is
    marked onboarded when an event from Odoo was delivered to it and an event from it
    arrived in Odoo."""

    _name = "mfg.integration.onboarding"
    _description = "Onboard an Integration System"

    step = fields.Selection(STEPS, required=True, default="system", readonly=True)
    name = fields.Char(required=True)
    code = fields.Char(required=True, help="Lower-case letters, digits and _.")
    kind = fields.Selection(SYSTEM_KINDS, required=True, default="mes")
    url = fields.Char(
        string="Receiver URL",
        help="Where the system receives events from Odoo (HTTPS, Standard Webhooks "
        "signatures). Empty: the system only sends.",
    )
    responsible_id = fields.Many2one(
        "res.users", default=lambda self: self.env.user, required=True
    )
    inbound_event_type_ids = fields.Many2many(
        "mfg.integration.event.type",
        "mfg_integration_onboarding_inbound_rel",
        string="It Sends",
        domain=[("direction", "=", "inbound")],
        help="The event types its API key may send (the ping of the test is added).",
    )
    outbound_event_type_ids = fields.Many2many(
        "mfg.integration.event.type",
        "mfg_integration_onboarding_outbound_rel",
        string="It Receives",
        domain=[("direction", "=", "outbound")],
        help="The event types its endpoint subscribes to (the connection test is "
        "added).",
    )
    system_id = fields.Many2one("mfg.integration.system", readonly=True)
    endpoint_id = fields.Many2one("mfg.integration.endpoint", readonly=True)
    started_at = fields.Datetime(readonly=True)
    api_key_once = fields.Char(string="API Key", compute="_compute_secrets")
    signing_secret_once = fields.Char(
        string="Signing Secret", compute="_compute_secrets"
    )
    ingress_url = fields.Char(compute="_compute_ingress")
    curl_command = fields.Text(
        string="Test from the System", compute="_compute_ingress"
    )
    outbound_message_id = fields.Many2one("mfg.integration.message", readonly=True)
    outbound_result = fields.Char(string="Odoo → System", compute="_compute_results")
    outbound_ok = fields.Boolean(compute="_compute_results")
    inbound_result = fields.Char(string="System → Odoo", compute="_compute_results")
    inbound_ok = fields.Boolean(compute="_compute_results")

    @api.onchange("kind")
    def _onchange_kind(self):
        inbound, outbound = self._template(self.kind)
        self.inbound_event_type_ids = inbound
        self.outbound_event_type_ids = outbound

    @api.model
    def _template(self, kind):
        Types = self.env["mfg.integration.event.type"]
        inbound, outbound = TEMPLATES.get(kind, ([], []))
        return (
            Types.search([("code", "in", inbound), ("direction", "=", "inbound")]),
            Types.search([("code", "in", outbound), ("direction", "=", "outbound")]),
        )

    @api.depends_context(SECRETS_KEY)
    def _compute_secrets(self):
        # the clear values travel only in the action that opens the credentials
        # step (as JSON text: context values must be hashable); never stored
        try:
            secrets = json.loads(self.env.context.get(SECRETS_KEY) or "{}")
        except (TypeError, ValueError):
            secrets = {}
        for wizard in self:
            mine = secrets.get(str(wizard.id)) or {}
            wizard.api_key_once = mine.get("api_key", False)
            wizard.signing_secret_once = mine.get("signing_secret", False)

    def _compute_ingress(self):
        base = self.env["ir.config_parameter"].sudo().get_param("web.base.url", "")
        for wizard in self:
            wizard.ingress_url = f"{base}/api/mfg/v1/events"
            event = {
                "specversion": "1.0",
                "id": f"{wizard.code or 'system'}-ping-1",
                "source": f"urn:{wizard.code or 'system'}",
                "type": PING,
                "data": {"message": f"Hello from {wizard.name or 'the system'}"},
            }
            wizard.curl_command = (
                f"curl -sS -X POST {shlex.quote(wizard.ingress_url)} \\\n"
                '  -H "Authorization: Bearer $MFG_API_KEY" \\\n'
                '  -H "Content-Type: application/json" \\\n'
                f"  -d {shlex.quote(json.dumps(event))}"
            )

    @api.depends("outbound_message_id", "system_id")
    def _compute_results(self):
        for wizard in self:
            wizard.outbound_ok, wizard.outbound_result = wizard._outbound_result()
            wizard.inbound_ok, wizard.inbound_result = wizard._inbound_result()

    def _outbound_result(self):
        if not self.endpoint_id:
            return True, self.env._("Nothing to test: the system only sends.")
        message = self.outbound_message_id.sudo()
        if not message:
            return False, self.env._("Not sent yet.")
        if message.state == "done":
            return True, self.env._(
                "Delivered: HTTP %(code)s in %(ms)s ms.",
                code=message.response_code,
                ms=message.duration_ms,
            )
        if message.error_class:
            return False, self.env._(
                "Not delivered (%(error)s): %(text)s",
                error=message.error_class,
                text=message.error_message or "",
            )
        return False, self.env._("Waiting for its delivery.")

    def _inbound_result(self):
        ping = self._ping()
        if not ping:
            return False, self.env._("Nothing received yet.")
        return True, self.env._(
            "Received at %(when)s UTC (message %(id)s).",
            when=fields.Datetime.to_string(ping.create_date),
            id=ping.ce_id,
        )

    def _ping(self):
        if not self.system_id:
            return self.env["mfg.integration.message"]
        return (
            self.env["mfg.integration.message"]
            .sudo()
            .search(
                [
                    ("system_id", "=", self.system_id.id),
                    ("direction", "=", "inbound"),
                    ("event_code", "=", PING),
                    ("create_date", ">=", self.started_at),
                    ("state", "!=", "dead"),
                ],
                order="id desc",
                limit=1,
            )
        )

    # ------------------------------------------------------------------
    # Steps
    # ------------------------------------------------------------------

    def _reopen(self, context=None):
        self.ensure_one()
        return {
            "type": "ir.actions.act_window",
            "name": self.env._("Onboard a System"),
            "res_model": self._name,
            "res_id": self.id,
            "view_mode": "form",
            "views": [(False, "form")],
            "target": "new",
            "context": dict(context or {}),
        }

    def action_next(self):
        """From the system's identity to its template."""
        self.ensure_one()
        code = (self.code or "").strip()
        if not CODE_RE.match(code):
            raise UserError(
                self.env._(
                    "The code '%(code)s' may hold lower-case letters, digits and _ "
                    "only.",
                    code=code,
                )
            )
        if self.env["mfg.integration.system"].search_count([("code", "=", code)]):
            raise UserError(
                self.env._("A system with the code '%(code)s' exists.", code=code)
            )
        values = {"code": code, "step": "template"}
        if not self.inbound_event_type_ids and not self.outbound_event_type_ids:
            inbound, outbound = self._template(self.kind)
            values.update(
                inbound_event_type_ids=[fields.Command.set(inbound.ids)],
                outbound_event_type_ids=[fields.Command.set(outbound.ids)],
            )
        self.write(values)
        return self._reopen()

    def action_back(self):
        self.ensure_one()
        self.step = "system"
        return self._reopen()

    def action_create(self):
        """Create the system, its endpoint and subscriptions and its API key; show the
        key and the signing secret once."""
        self.ensure_one()
        if self.system_id:
            raise UserError(self.env._("This wizard already created its system."))
        Types = self.env["mfg.integration.event.type"]
        system = self.env["mfg.integration.system"].create(
            {
                "name": self.name,
                "code": self.code,
                "kind": self.kind,
                "responsible_id": self.responsible_id.id,
            }
        )
        secrets = {}
        endpoint = self.env["mfg.integration.endpoint"]
        if self.url:
            secrets["signing_secret"] = generate_webhook_secret()
            endpoint = endpoint.create(
                {
                    "name": self.env._("%(name)s events", name=self.name),
                    "code": f"{self.code}_events",
                    "system_id": system.id,
                    "direction": "outbound",
                    "url": self.url,
                    "signing_secret": secrets["signing_secret"],
                }
            )
            subscribed = self.outbound_event_type_ids | Types.get_by_code(
                CONNECTION_TEST
            )
            self.env["mfg.integration.subscription"].create(
                [
                    {"event_type_id": event_type.id, "endpoint_id": endpoint.id}
                    for event_type in subscribed
                ]
            )
        _key, secrets["api_key"] = self.env["mfg.integration.api.key"].generate(
            system,
            self.env._("%(name)s (onboarding)", name=self.name),
            event_types=self.inbound_event_type_ids | Types.get_by_code(PING),
        )
        self.write(
            {
                "system_id": system.id,
                "endpoint_id": endpoint.id,
                "started_at": fields.Datetime.now(),
                "step": "credentials",
            }
        )
        system.message_post(
            body=self.env._(
                "Onboarded with the %(kind)s template by %(user)s: %(inbound)s event "
                "type(s) in, %(outbound)s out.",
                kind=dict(SYSTEM_KINDS)[self.kind],
                user=self.env.user.name,
                inbound=len(self.inbound_event_type_ids),
                outbound=len(self.outbound_event_type_ids),
            )
        )
        return self._reopen({SECRETS_KEY: json.dumps({str(self.id): secrets})})

    def action_to_tests(self):
        """Leave the credentials (they are not shown again) for the tests."""
        self.ensure_one()
        self.step = "tests"
        return self._reopen()

    def action_send_test(self):
        """Send a connection test event to the system now (one delivery attempt),
        and show the outcome."""
        self.ensure_one()
        if not self.endpoint_id:
            raise UserError(self.env._("The system has no receiver URL to test."))
        messages = self.env["mfg.integration.event.type"].emit(
            CONNECTION_TEST,
            {
                "system": self.system_id._meta_reference(),
                "message": self.env._(
                    "Connection test by %(user)s", user=self.env.user.name
                ),
                "sent_at": iso_utc(fields.Datetime.now()),
            },
            subject=self.system_id.code,
            endpoints=self.endpoint_id,
        )
        self.outbound_message_id = messages[:1]
        try:
            self.env["mfg.integration.delivery"]._job_deliver(self.endpoint_id.id)
        except RetryableJobError:
            pass  # a delivery job is busy with the endpoint: it delivers the test too
        return self.action_check()

    def action_check(self):
        """Look at the tests' messages again; mark the system onboarded when both
        passed."""
        self.ensure_one()
        self.invalidate_recordset()
        if self.outbound_ok and self.inbound_ok and self.step != "done":
            self.system_id.onboarded_at = fields.Datetime.now()
            self.system_id.message_post(
                body=self.env._(
                    "Onboarded. Odoo to the system: %(outbound)s The system to Odoo: "
                    "%(inbound)s",
                    outbound=self.outbound_result,
                    inbound=self.inbound_result,
                )
            )
            self.step = "done"
        return self._reopen()

    def action_open_messages(self):
        """The system's messages, where the tests arrive."""
        self.ensure_one()
        action = self.env["ir.actions.act_window"]._for_xml_id(
            "mfg_integration_core.mfg_integration_message_action"
        )
        action["domain"] = [("system_id", "=", self.system_id.id)]
        return action

    def action_open_system(self):
        self.ensure_one()
        return form_action(self.system_id)
