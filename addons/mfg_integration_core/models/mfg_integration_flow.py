from odoo import api, fields, models, tools
from odoo.exceptions import UserError, ValidationError

from mfg_integration.flows import check_definition, evaluate, truthy

from ..tools import notify
from .mfg_integration_endpoint import CODE_RE

RUN_COUNTS = ("running", "waiting", "incident", "done", "cancelled")


def check_codes(records, label):
    """Refuse the records (flows, steps) whose code is not made of lower-case
    letters, digits, '_' and '-'."""
    for record in records:
        if not CODE_RE.match(record.code or ""):
            raise ValidationError(
                records.env._(
                    "%(what)s code '%(code)s': use lower-case letters, digits, '_' "
                    "and '-', starting with a letter or digit.",
                    what=label,
                    code=record.code,
                )
            )


class MfgIntegrationFlow(models.Model):
    """A process that spans systems, as an administrator defines it: ordered steps
    (Odoo actions, emitted events, waits for an event or an approval, conditions),
    each wait with a timeout, each step with an optional compensation.

    A flow starts on an inbound event of its trigger type (when its trigger
    expression holds), or when a domain module's business action starts it by code
    (:meth:`_start_by_code`). Its runs are ``mfg.integration.flow.run`` records,
    advanced by queue_job jobs.
    """

    _name = "mfg.integration.flow"
    _description = "Integration Process Flow"
    _inherit = ["mail.thread", "mfg.integration.cached.mixin"]
    _order = "name, id"

    name = fields.Char(required=True, tracking=True)
    code = fields.Char(
        required=True,
        tracking=True,
        help="Identifier of the flow: lower-case letters, digits, '_' and '-'. "
        "Modules start business-triggered flows by this code.",
    )
    active = fields.Boolean(default=True, tracking=True)
    description = fields.Text()
    company_id = fields.Many2one(
        "res.company", default=lambda self: self.env.company, required=True
    )
    trigger = fields.Selection(
        [("event", "An inbound event"), ("business", "A business action")],
        required=True,
        default="event",
        tracking=True,
        help="An inbound event: every processed event of the trigger type starts a "
        "run (when the trigger expression holds). A business action: a module starts "
        "runs by the flow's code (for instance when an order is confirmed).",
    )
    trigger_event_type_id = fields.Many2one(
        "mfg.integration.event.type",
        string="Trigger Event",
        domain=[("direction", "!=", "outbound")],
        tracking=True,
    )
    trigger_expression = fields.Char(
        help="JMESPath over the event's data; a run starts only when it is true "
        "(not null, false, empty). Empty: every event starts a run. Example: "
        "contains(['major', 'critical'], severity)",
    )
    key_expression = fields.Char(
        string="Run Key",
        help="JMESPath over the event's data giving the run's key (for instance a "
        "lot or an order name): waits that match by expression compare with it. "
        "Empty: the name of the record the event changed.",
    )
    retry_max_attempts = fields.Integer(
        default=5,
        help="Attempts of a step that fails for a passing reason (a lock, an "
        "unreachable service) before the run becomes an incident.",
    )
    step_ids = fields.One2many("mfg.integration.flow.step", "flow_id", copy=True)
    run_ids = fields.One2many("mfg.integration.flow.run", "flow_id")
    run_count = fields.Integer(compute="_compute_run_counts")
    running_count = fields.Integer(compute="_compute_run_counts")
    waiting_count = fields.Integer(compute="_compute_run_counts")
    incident_count = fields.Integer(compute="_compute_run_counts")
    done_count = fields.Integer(compute="_compute_run_counts")
    cancelled_count = fields.Integer(compute="_compute_run_counts")

    _code_uniq = models.Constraint(
        "unique(code, company_id)", "Another flow of this company has this code."
    )
    _attempts_positive = models.Constraint(
        "CHECK(retry_max_attempts > 0)", "A step is attempted at least once."
    )

    def _compute_run_counts(self):
        groups = self.env["mfg.integration.flow.run"]._read_group(
            [("flow_id", "in", self.ids)], ["flow_id", "state"], ["__count"]
        )
        counts = {(flow.id, state): count for flow, state, count in groups}
        for flow in self:
            total = 0
            for state in RUN_COUNTS:
                count = counts.get((flow.id, state), 0)
                flow[f"{state}_count"] = count
                total += count
            flow.run_count = total

    @api.constrains("code")
    def _check_code(self):
        check_codes(self, self.env._("Flow"))

    @api.constrains("trigger", "trigger_event_type_id", "trigger_expression")
    def _check_trigger(self):
        for flow in self:
            if flow.trigger == "event" and not flow.trigger_event_type_id:
                raise ValidationError(
                    self.env._(
                        "Flow %(flow)s starts on an event: choose its event type.",
                        flow=flow.name,
                    )
                )
            for label, text in (
                (self.env._("trigger expression"), flow.trigger_expression),
                (self.env._("run key"), flow.key_expression),
            ):
                if text:
                    try:
                        evaluate(text, {})
                    except ValueError as exc:
                        raise ValidationError(
                            self.env._(
                                "Flow %(flow)s, %(what)s: %(problem)s",
                                flow=flow.name,
                                what=label,
                                problem=str(exc),
                            )
                        ) from exc

    def _definition(self):
        """The steps as :func:`mfg_integration.flows.check_definition` reads them."""
        self.ensure_one()
        return [step._as_definition() for step in self.step_ids.sorted("sequence")]

    def _check_runnable(self):
        """Raise when the flow's steps cannot run (named step, named problem)."""
        for flow in self:
            problems = check_definition(flow._definition())
            if problems:
                raise ValidationError(
                    self.env._("Flow %(flow)s cannot run:", flow=flow.name)
                    + "\n"
                    + "\n".join(
                        f"- {code or flow.name}: {problem}"
                        for code, problem in problems
                    )
                )

    # ------------------------------------------------------------------
    # Starting runs
    # ------------------------------------------------------------------

    def _start(self, record=None, data=None, message=None, key=None):
        """Start a run of this flow about ``record`` (a business record, optional),
        with ``data`` as the run's first data, and make sure a job advances it.

        :param message: the inbound message that started it (a replay of it
            starts nothing more)
        :return: the run
        """
        self.ensure_one()
        self._check_runnable()
        Run = self.env["mfg.integration.flow.run"].sudo()
        if message:
            existing = Run.search(
                [("flow_id", "=", self.id), ("start_message_id", "=", message.id)]
            )
            if existing:
                return existing
        if record:
            live = Run.search(
                [
                    ("flow_id", "=", self.id),
                    ("res_model", "=", record._name),
                    ("res_id", "=", record.id),
                    ("state", "in", ("running", "waiting", "incident")),
                ],
                limit=1,
            )
            if live:  # one live run per flow and record: a second trigger joins it
                if message:
                    live.integration_message_ids = [(4, message.id)]
                return live
        first = self.step_ids.sorted("sequence")[:1]
        run = Run.create(
            {
                "flow_id": self.id,
                "res_model": record._name if record else False,
                "res_id": record.id if record else False,
                "key": key or (record.display_name if record else False),
                "data_json": Run._dump({"trigger": data or {}}),
                "correlation_id": message.correlation_id if message else False,
                "start_message_id": message.id if message else False,
                "integration_message_ids": [(4, message.id)] if message else [],
                "current_step_id": first.id,
                "state": "running",
            }
        )
        run._post(
            self.env._("Started by %(cause)s.", cause=message.display_name)
            if message
            else self.env._("Started by %(user)s.", user=self.env.user.name)
        )
        run._enqueue_advance()
        return run

    @api.model
    def _start_by_code(self, code, record, data=None, key=None):
        """Start the active flow ``code`` of the record's company about ``record``
        (a business trigger); nothing when no such flow is active.

        :return: the run, or an empty recordset
        """
        company = (
            record.company_id
            if "company_id" in record and record.company_id
            else self.env.company
        )
        flow = self.sudo().search(
            [("code", "=", code), ("company_id", "=", company.id)], limit=1
        )
        if not flow or flow.trigger != "business":
            return self.env["mfg.integration.flow.run"]
        return flow._start(record=record, data=data, key=key)

    @api.model
    @tools.ormcache("event_type_id", "company_id")
    def _trigger_flow_ids(self, event_type_id, company_id):
        """The active flows an event type starts in a company (cached: the
        processing of every inbound message asks)."""
        return tuple(
            self.sudo()
            .search(
                [
                    ("trigger", "=", "event"),
                    ("trigger_event_type_id", "=", event_type_id),
                    ("company_id", "=", company_id),
                ]
            )
            .ids
        )

    @api.model
    @tools.ormcache()
    def _awaited_event_type_ids(self):
        """The event types some step waits for (archived flows included: their
        runs still wait)."""
        steps = (
            self.env["mfg.integration.flow.step"]
            .sudo()
            .with_context(active_test=False)
            .search([("kind", "=", "wait_event")])
        )
        return frozenset(steps.event_type_id.ids)

    @api.model
    def _on_processed(self, message, data, result):
        """An inbound message was processed (in its transaction): start the flows it
        triggers, and hand it to the runs waiting for it. Messages no flow cares
        about cost no query."""
        event_type_id = message.event_type_id.id
        flows = self.sudo().browse(
            self._trigger_flow_ids(event_type_id, message.system_id.company_id.id)
        )
        record = result if isinstance(result, models.BaseModel) else None
        for flow in flows:
            if flow.trigger_expression and not truthy(
                evaluate(flow.trigger_expression, data)
            ):
                continue
            key = evaluate(flow.key_expression, data) if flow.key_expression else None
            flow._start(
                record=record if record and len(record) == 1 else None,
                data=self.env["mfg.integration.flow.run"]._kept_data(message, data),
                message=message,
                key=key if isinstance(key, str) else None,
            )
        if event_type_id in self._awaited_event_type_ids():
            self.env["mfg.integration.flow.run"]._signal(message, data, record)

    # ------------------------------------------------------------------
    # Actions
    # ------------------------------------------------------------------

    def action_check(self):
        """Check that the steps can run, and say so."""
        self._check_runnable()
        return notify(self.env._("The flow's steps can run."))

    def _runs_action(self, state=None):
        self.ensure_one()
        action = self.env["ir.actions.act_window"]._for_xml_id(
            "mfg_integration_core.mfg_integration_flow_run_action"
        )
        domain = [("flow_id", "=", self.id)]
        if state:
            domain.append(("state", "=", state))
        action["domain"] = domain
        action["context"] = {}
        return action

    def action_view_runs(self):
        return self._runs_action()

    def action_view_incidents(self):
        return self._runs_action("incident")

    def action_start(self):
        """Start a run by hand (flows started by a business action)."""
        self.ensure_one()
        if self.trigger != "business":
            raise UserError(
                self.env._(
                    "Flow %(flow)s starts on %(event)s events: send one instead.",
                    flow=self.name,
                    event=self.trigger_event_type_id.code,
                )
            )
        run = self._start()
        return run._form_action()
