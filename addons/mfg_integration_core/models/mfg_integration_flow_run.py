import json
import logging
import time
import traceback
from datetime import timedelta

from psycopg2 import Error as DatabaseError

from odoo import api, fields, models
from odoo.exceptions import AccessError, UserError, ValidationError
from odoo.fields import Domain

from mfg_integration import errors
from mfg_integration.flows import evaluate, truthy
from mfg_integration.redaction import redact
from mfg_integration.retry import backoff_delay

from ..tools import delay_once
from .mfg_integration_message import (
    CONCURRENCY_ERRORS,
    PERMANENT_EXCEPTIONS,
    TRANSIENT_EXCEPTIONS,
)

_logger = logging.getLogger(__name__)

RUN_STATES = [
    ("running", "Running"),
    ("waiting", "Waiting"),
    ("incident", "Incident"),
    ("done", "Done"),
    ("cancelled", "Cancelled"),
]
#: steps one job runs at most before it hands over to a new job
STEPS_PER_JOB = 50
CHANNEL = "root.mfg_integration.flow"
#: what makes a step fail for good (transient errors are caught first): a
#: message's permanent errors, and any error of the suite (a flow misconfigured)
FLOW_PERMANENT = (*PERMANENT_EXCEPTIONS, errors.IntegrationError, AccessError)
RETRY_BASE_SECONDS = 30
#: messages at most looked at for an event that arrived before its wait
EARLY_EVENTS = 200
RETRY_MAX_SECONDS = 3600


class MfgIntegrationFlowRun(models.Model):
    """A run of a process flow: durable, advanced by queue_job jobs, one step at a
    time. A wait leaves the run ``waiting`` (no job is blocked); an event, a
    decision or a timeout moves it on. A permanent failure makes it an incident a
    functional user resolves: retry the step, skip it, edit the run's data, or
    cancel the run (the compensations of the steps done run in reverse order).
    """

    _name = "mfg.integration.flow.run"
    _description = "Integration Flow Run"
    _inherit = ["mail.thread", "mail.activity.mixin"]
    _order = "id desc"

    flow_id = fields.Many2one(
        "mfg.integration.flow", required=True, ondelete="restrict", index=True
    )
    company_id = fields.Many2one(related="flow_id.company_id", store=True)
    state = fields.Selection(
        RUN_STATES, required=True, default="running", index=True, tracking=True
    )
    current_step_id = fields.Many2one(
        "mfg.integration.flow.step", string="Current Step", tracking=True
    )
    current_run_step_id = fields.Many2one("mfg.integration.flow.run.step")
    deadline = fields.Datetime(related="current_run_step_id.deadline")
    res_model = fields.Char(string="Record Model", index=True)
    res_id = fields.Many2oneReference(model_field="res_model", string="Record ID")
    record_name = fields.Char(string="Record", compute="_compute_record_name")
    key = fields.Char(index="btree_not_null", help="What waits match events by.")
    correlation_id = fields.Char(index="btree_not_null")
    data_json = fields.Text(
        string="Data",
        default="{}",
        help="The run's data (a JSON object): the trigger event's data under "
        "'trigger', each awaited event's under 'events', and what actions returned. "
        "Editable while the run is an incident.",
    )
    start_message_id = fields.Many2one(
        "mfg.integration.message",
        string="Started By",
        ondelete="set null",
        index="btree_not_null",
    )
    integration_message_ids = fields.Many2many(
        "mfg.integration.message",
        "mfg_integration_flow_run_message_rel",
        "run_id",
        "message_id",
        string="Integration Messages",
    )
    run_step_ids = fields.One2many(
        "mfg.integration.flow.run.step", "run_id", string="Timeline"
    )
    attempts = fields.Integer(help="Attempts of the current step.")
    next_attempt_at = fields.Datetime()
    error_class = fields.Char(readonly=True)
    error_message = fields.Text(readonly=True)
    finished_at = fields.Datetime(readonly=True)
    can_decide = fields.Boolean(compute="_compute_can_decide")

    def _compute_display_name(self):
        for run in self:
            label = f"{run.flow_id.name} #{run.id or '-'}"
            run.display_name = f"{label} ({run.key})" if run.key else label

    def _compute_record_name(self):
        for run in self:
            record = run._record()
            run.record_name = record.display_name if record else False

    @api.depends_context("uid")
    def _compute_can_decide(self):
        for run in self:
            step = run.current_step_id
            run.can_decide = (
                run.state == "waiting" and step.kind == "approval" and run._may_decide()
            )

    @api.constrains("data_json")
    def _check_data_json(self):
        for run in self:
            try:
                value = json.loads(run.data_json or "{}")
            except ValueError as exc:
                raise ValidationError(
                    self.env._("The run's data is not JSON: %(error)s", error=exc)
                ) from exc
            if not isinstance(value, dict):
                raise ValidationError(self.env._("The run's data must be an object."))

    @api.model
    def _dump(self, value):
        return json.dumps(value, ensure_ascii=False, indent=1, sort_keys=True)

    def _data(self):
        self.ensure_one()
        return json.loads(self.data_json or "{}")

    @api.model
    def _kept_data(self, message, data):
        """What a run keeps of an event's ``data``: its redacted values masked (the
        run's data is shown to its users)."""
        pointers = message.event_type_id._redaction_pointers()
        return redact(data, pointers) if pointers else data

    def _record(self):
        self.ensure_one()
        if not self.res_model or not self.res_id or self.res_model not in self.env:
            return None
        record = self.env[self.res_model].browse(self.res_id).exists()
        return record or None

    def _record_of(self, model, needs):
        """The run's record, which a step needs to be a ``model`` record.

        :param needs: what the flow must start from, for the error text
        :raise ConfigurationError: the run is about no such record
        """
        record = self._record()
        if not record or record._name != model:
            raise errors.ConfigurationError(
                f"This step works on a {model} record: start the flow from {needs}."
            )
        return record

    def _post(self, body):
        self.message_post(body=body, subtype_xmlid="mail.mt_note")

    def _form_action(self):
        self.ensure_one()
        return {
            "type": "ir.actions.act_window",
            "res_model": self._name,
            "res_id": self.id,
            "view_mode": "form",
        }

    # ------------------------------------------------------------------
    # Jobs
    # ------------------------------------------------------------------

    def _enqueue_advance(self, eta=None):
        for run in self:
            delay_once(
                self,
                "_job_advance",
                "flow",
                run,
                CHANNEL,
                f"Advance flow run {run.display_name}",
                eta=eta,
            )

    def _lock(self):
        """Lock the run's row until the transaction ends: one job, one signal or
        one user moves a run at a time."""
        self.ensure_one()
        self.flush_recordset()
        self.env.cr.execute(
            "SELECT id FROM mfg_integration_flow_run WHERE id = %s FOR UPDATE",
            (self.id,),
        )
        self.invalidate_recordset()

    def _job_advance(self, run_id):
        """Job: run the run's steps until it waits, ends or fails. Steps run as the
        engine (superuser rights): the flow's administrator chose them, the
        modules wrote them; the job's user is whoever started or moved the run."""
        run = self.sudo().browse(run_id).exists()
        if not run:
            return "run deleted"
        run._lock()
        if run.state != "running":
            return f"nothing to do: the run is {run.state}"
        if run.next_attempt_at and run.next_attempt_at > fields.Datetime.now():
            return "not due yet"
        return run._advance()

    def _job_timeout(self, run_step_id):
        """Job: apply the timeout of a wait that is still waiting at its deadline."""
        run_step = self.env["mfg.integration.flow.run.step"].sudo().browse(run_step_id)
        if not run_step.exists():
            return "step deleted"
        run = run_step.run_id
        run._lock()
        return run._time_out(run_step)

    @api.model
    def _cron_timeouts(self):
        """Apply every timeout that is due (a safety net for lost timeout jobs)."""
        overdue = (
            self.env["mfg.integration.flow.run.step"]
            .sudo()
            .search(
                [("state", "=", "waiting"), ("deadline", "<=", fields.Datetime.now())]
            )
        )
        for run_step in overdue:
            run_step.run_id._lock()
            run_step.run_id._time_out(run_step)
        return len(overdue)

    # ------------------------------------------------------------------
    # The engine
    # ------------------------------------------------------------------

    def _advance(self):
        """Run steps from the current one; stop at a wait, the end or a failure."""
        self.ensure_one()
        for _count in range(STEPS_PER_JOB):
            if self.state != "running":
                return f"run {self.state}"
            step = self.current_step_id
            if not step:
                self._finish()
                return "run done"
            if not self._run_step(step):
                return f"stopped at {step.code}"
        self._enqueue_advance()  # a long flow: hand over to a new job
        return f"{STEPS_PER_JOB} steps run, continued in a new job"

    def _start_step(self, step):
        """The execution record of ``step`` (the current one when it is already
        running, for instance a retry)."""
        current = self.current_run_step_id
        if current and current.step_id == step and current.state == "running":
            return current
        run_step = self.env["mfg.integration.flow.run.step"].create(
            {"run_id": self.id, "step_id": step.id}
        )
        self.current_run_step_id = run_step
        return run_step

    def _run_step(self, step):
        """Run one step; True when the run goes on at once."""
        run_step = self._start_step(step)
        started = time.monotonic()
        try:
            with self.env.cr.savepoint():
                outcome = self._execute(step, run_step)
        except DatabaseError as exc:
            if isinstance(exc, CONCURRENCY_ERRORS):
                raise  # queue_job retries the whole job in a new transaction
            self.env.invalidate_all()
            self._fail(run_step, exc, permanent=True, started=started)
            return False
        except TRANSIENT_EXCEPTIONS as exc:
            self.env.invalidate_all()
            self._fail(run_step, exc, permanent=False, started=started)
            return False
        except FLOW_PERMANENT as exc:
            self.env.invalidate_all()
            self._fail(run_step, exc, permanent=True, started=started)
            return False
        return outcome

    def _execute(self, step, run_step):
        """What each kind of step does; True when the run goes on at once."""
        kind = step.kind
        if kind == "action":
            action = self.env["mfg.integration.flow.action"]._get(step.function)
            if action is None:
                raise errors.ConfigurationError(
                    f"Step {step.code}: no installed module provides the action "
                    f"'{step.function}'."
                )
            result = action(self, step)
            if result:
                self._merge(result)
            self._complete(run_step, self._next_of(step), outcome="done")
            return True
        if kind == "emit":
            data = evaluate(step.expression, self._data()) if step.expression else {}
            if not isinstance(data, dict):
                raise errors.ConfigurationError(
                    f"Step {step.code}: its expression gives {type(data).__name__}, "
                    "not the object an event's data is."
                )
            record = self._record()
            messages = (
                self.env["mfg.integration.event.type"]
                .with_context(mfg_integration_correlation_id=self.correlation_id)
                .emit(step.event_type_id.code, data, subject=self.key, record=record)
            )
            run_step.message_id = messages[:1]
            self.integration_message_ids = [(4, m.id) for m in messages]
            self._complete(
                run_step,
                self._next_of(step),
                outcome=self.env._("%(n)s message(s)", n=len(messages)),
            )
            return True
        if kind == "condition":
            value = truthy(evaluate(step.expression, self._data()))
            target = step.on_true_id if value else step.on_false_id
            self._complete(
                run_step, target or step._following(), outcome=str(value).lower()
            )
            return True
        return self._wait(step, run_step)

    def _next_of(self, step):
        return step.next_step_id or step._following()

    def _merge(self, values):
        data = self._data()
        data.update(values)
        self.with_context(mfg_flow_engine=True).data_json = self._dump(data)

    def _complete(self, run_step, target, outcome, state="done"):
        """End ``run_step`` and move the run to ``target`` (empty: the end)."""
        run_step.write(
            {
                "state": state,
                "finished_at": fields.Datetime.now(),
                "outcome": outcome,
                "error_class": False,
                "error_message": False,
            }
        )
        self.write(
            {
                "current_step_id": target.id,
                "attempts": 0,
                "next_attempt_at": False,
                "state": "running",
            }
        )
        self._post(
            self.env._(
                "%(step)s: %(state)s%(outcome)s.",
                step=run_step.step_id.name,
                state=dict(run_step._fields["state"].selection)[state],
                outcome=f" ({outcome})" if outcome and outcome != "done" else "",
            )
        )

    def _count_ended(self, outcome):
        self.env["mfg.integration.metric"]._count(
            "flow_runs_ended", flow=self.flow_id.code, outcome=outcome
        )

    def _finish(self):
        self._count_ended("done")
        self.write(
            {
                "state": "done",
                "finished_at": fields.Datetime.now(),
                "current_run_step_id": False,
            }
        )
        self._post(self.env._("Flow done."))

    def _fail(self, run_step, exc, permanent, started):
        """Record a failed attempt: try again later, raise an incident, or undo the
        earlier steps, as the step says."""
        Message = self.env["mfg.integration.message"]
        attempts = run_step.attempts + 1
        detail = getattr(exc, "detail", None) or str(exc) or type(exc).__name__
        error_class = Message._error_class(exc)
        run_step.write(
            {
                "attempts": attempts,
                "error_class": error_class,
                "error_message": detail[:2000],
            }
        )
        _logger.info(
            "Flow run %s, step %s failed (%s) after %.3f s:\n%s",
            self.id,
            run_step.step_id.code,
            error_class,
            time.monotonic() - started,
            "".join(traceback.format_exception_only(exc)).strip(),
        )
        if not permanent and attempts < self.flow_id.retry_max_attempts:
            delay = backoff_delay(
                attempts, base=RETRY_BASE_SECONDS, cap=RETRY_MAX_SECONDS
            )
            eta = fields.Datetime.now() + timedelta(seconds=delay)
            self.write({"attempts": attempts, "next_attempt_at": eta})
            self._post(
                self.env._(
                    "%(step)s: attempt %(n)s failed, trying again in %(s)s s: "
                    "%(error)s",
                    step=run_step.step_id.name,
                    n=attempts,
                    s=int(delay),
                    error=detail[:500],
                )
            )
            self._enqueue_advance(eta=eta)
            return
        if permanent and run_step.step_id.on_failure == "compensate":
            run_step.write({"state": "failed", "finished_at": fields.Datetime.now()})
            self._post(
                self.env._(
                    "%(step)s failed: %(error)s. Undoing the earlier steps.",
                    step=run_step.step_id.name,
                    error=detail[:500],
                )
            )
            self._compensate(reason=detail[:500])
            return
        self._raise_incident(run_step, error_class, detail)

    def _raise_incident(self, run_step, error_class, detail, step_state="failed"):
        self.env["mfg.integration.metric"]._count(
            "flow_incidents",
            flow=self.flow_id.code,
            step=run_step.step_id.code,
            error_class=error_class,
        )
        run_step.write({"state": step_state, "finished_at": fields.Datetime.now()})
        self.write(
            {
                "state": "incident",
                "attempts": run_step.attempts,
                "next_attempt_at": False,
                "error_class": error_class,
                "error_message": detail[:2000],
            }
        )
        self._post(
            self.env._(
                "Incident at %(step)s (%(cls)s): %(error)s",
                step=run_step.step_id.name,
                cls=error_class,
                error=detail[:500],
            )
        )
        responsible = self._responsible()
        if responsible:
            self.activity_schedule(
                "mfg_integration_core.mail_activity_type_flow_incident",
                summary=self.env._(
                    "Flow incident: %(step)s", step=run_step.step_id.name
                ),
                note=detail[:500],
                user_id=responsible.id,
            )

    def _responsible(self):
        """Who resolves this run's incidents: the responsible person of the system
        that started it, else the flow's creator."""
        return self.start_message_id.system_id.responsible_id or self.flow_id.create_uid

    # ------------------------------------------------------------------
    # Waits: events, approvals, timeouts
    # ------------------------------------------------------------------

    def _wait(self, step, run_step):
        """Wait at ``step``; True when an event that arrived early ends the wait
        at once (the run goes on)."""
        if step.kind == "wait_event":
            early = self._earlier_event(step)
            if early:
                self._take_event(run_step, *early)
                return True
        deadline = fields.Datetime.now() + timedelta(minutes=step.timeout_minutes)
        run_step.write({"state": "waiting", "deadline": deadline})
        self.write({"state": "waiting", "attempts": 0, "next_attempt_at": False})
        if step.kind == "approval":
            self._ask_approval(step, step._approvers(), deadline)
        self._post(
            self.env._(
                "%(step)s: waiting until %(deadline)s.",
                step=step.name,
                deadline=fields.Datetime.to_string(deadline),
            )
        )
        self._enqueue_timeout(run_step)
        return False

    def _enqueue_timeout(self, run_step):
        delay_once(
            self,
            "_job_timeout",
            "flowtimeout",
            run_step,
            CHANNEL,
            f"Timeout of {run_step.step_id.code} in flow run {self.display_name}",
            eta=run_step.deadline,
        )

    def _ask_approval(self, step, users, deadline):
        for user in users:
            self.activity_schedule(
                "mfg_integration_core.mail_activity_type_flow_approval",
                date_deadline=deadline.date(),
                summary=self.env._("Approve: %(step)s", step=step.name),
                note=self.env._(
                    "Flow %(flow)s asks for your decision (record %(record)s).",
                    flow=self.flow_id.name,
                    record=self.record_name or "-",
                ),
                user_id=user.id,
            )

    def _close_activities(self, kind, feedback):
        """Mark the run's open ``approval`` or ``incident`` activities done."""
        kind = self.env.ref(f"mfg_integration_core.mail_activity_type_flow_{kind}")
        activities = self.activity_ids.filtered(lambda a: a.activity_type_id == kind)
        if activities:
            activities.sudo().action_feedback(feedback=feedback)

    def _may_decide(self):
        """Whether the current user may decide the current approval."""
        self.ensure_one()
        step = self.current_step_id
        user = self.env.user
        if user.has_group("mfg_integration_core.group_mfg_integration_manager"):
            return True
        if user in step._approvers():
            return True
        return bool(
            self.current_run_step_id.escalated and user == step.escalation_user_id
        )

    def _decide(self, approved, comment=None):
        """Record the current user's decision on the current approval (approvers
        need no rights on runs: the decision is checked, then written as the
        engine)."""
        self.ensure_one()
        self._lock()
        step = self.current_step_id
        if self.state != "waiting" or step.kind != "approval":
            raise UserError(
                self.env._(
                    "%(run)s is not waiting for an approval.", run=self.display_name
                )
            )
        if not self._may_decide():
            raise AccessError(
                self.env._("You are not an approver of %(step)s.", step=step.name)
            )
        run = self.sudo()  # checked above: the engine writes
        run_step = run.current_run_step_id
        verdict = self.env._("approved") if approved else self.env._("rejected")
        outcome = self.env._(
            "%(verdict)s by %(user)s", verdict=verdict, user=self.env.user.name
        )
        if comment:
            outcome = f"{outcome}: {comment}"
        run._close_activities("approval", outcome)
        run._merge(
            {
                "approvals": {
                    **run._data().get("approvals", {}),
                    step.code: {
                        "approved": approved,
                        "by": self.env.user.login,
                        "at": fields.Datetime.to_string(fields.Datetime.now()),
                    },
                }
            }
        )
        if approved:
            run._complete(run_step, run._next_of(step), outcome=outcome)
        elif step.on_reject_id:
            run._complete(run_step, step.on_reject_id, outcome, state="rejected")
        else:
            run_step.write(
                {
                    "state": "rejected",
                    "finished_at": fields.Datetime.now(),
                    "outcome": outcome,
                }
            )
            run._compensate(reason=outcome)
            return True
        run._enqueue_advance()
        return True

    def _time_out(self, run_step):
        """Apply ``run_step``'s timeout if it is still waiting and due."""
        run_step.invalidate_recordset()  # as the locked run's moves left it
        if (
            run_step.state != "waiting"
            or self.current_run_step_id != run_step
            or not run_step.deadline
            or run_step.deadline > fields.Datetime.now()
        ):
            return "nothing to do"
        step = run_step.step_id
        outcome = step.on_timeout
        if outcome == "escalate" and not run_step.escalated and step.escalation_user_id:
            deadline = fields.Datetime.now() + timedelta(minutes=step.timeout_minutes)
            run_step.write({"escalated": True, "deadline": deadline})
            self._close_activities("approval", self.env._("timed out: escalated"))
            self._ask_approval(step, step.escalation_user_id, deadline)
            self._post(
                self.env._(
                    "%(step)s: nobody decided in time; escalated to %(user)s until "
                    "%(deadline)s.",
                    step=step.name,
                    user=step.escalation_user_id.name,
                    deadline=fields.Datetime.to_string(deadline),
                )
            )
            self._enqueue_timeout(run_step)
            return "escalated"
        if outcome in ("incident", "escalate"):
            self._close_activities("approval", self.env._("timed out"))
            self._raise_incident(
                run_step,
                "flow.timeout",
                self.env._(
                    "%(step)s timed out after %(minutes)s minute(s).",
                    step=step.name,
                    minutes=step.timeout_minutes,
                ),
                step_state="timed_out",
            )
            return "incident"
        self._close_activities("approval", self.env._("timed out"))
        target = step.timeout_step_id if outcome == "goto" else self._next_of(step)
        self._complete(
            run_step, target, outcome=self.env._("timed out"), state="timed_out"
        )
        self._enqueue_advance()
        return "moved on"

    @api.model
    def _signal(self, message, data, record):
        """Hand a processed inbound message to the runs waiting for its event type
        (inside the message's transaction). A message already handed to a run is
        not handed again (a replay moves nothing twice).

        :return: the runs it moved on
        """
        # only the waits this message can end: by its record, by its correlation
        # id, or by expression (evaluated below), not every wait of its type
        matching = Domain("step_id.match", "=", "expression")
        if record:
            matching |= (
                Domain("step_id.match", "=", "record")
                & Domain("run_id.res_model", "=", record._name)
                & Domain("run_id.res_id", "in", record.ids)
            )
        if message.correlation_id:
            matching |= Domain("step_id.match", "=", "correlation") & Domain(
                "run_id.correlation_id", "=", message.correlation_id
            )
        RunStep = self.env["mfg.integration.flow.run.step"].sudo()
        waiting = RunStep.search(
            Domain("state", "=", "waiting")
            & Domain("step_id.kind", "=", "wait_event")
            & Domain("step_id.event_type_id", "=", message.event_type_id.id)
            & matching,
            order="id",
        )
        moved = self.browse()
        for run_step in waiting:
            run = run_step.run_id
            if message in run.integration_message_ids or not run._matches(
                run_step.step_id, message, data, record
            ):
                continue
            run._lock()
            run_step.invalidate_recordset()
            if run_step.state != "waiting":
                continue  # a concurrent signal or timeout won
            run._take_event(run_step, message, data)
            run._enqueue_advance()
            moved |= run
        return moved

    def _take_event(self, run_step, message, data):
        """End the wait ``run_step`` with ``message`` (its ``data`` kept in the
        run's data under ``events.<step code>``)."""
        events = self._data().get("events", {})
        events[run_step.step_id.code] = self._kept_data(message, data)
        self._merge({"events": events})
        self.integration_message_ids = [(4, message.id)]
        run_step.message_id = message
        self._complete(
            run_step,
            self._next_of(run_step.step_id),
            outcome=self.env._("%(msg)s received", msg=message.display_name),
        )

    def _earlier_event(self, step):
        """A message that ends the wait ``step`` but was processed before the run
        reached it (after the run started), and that the run has not used: events
        are not lost for arriving early (the message log keeps them).

        :return: ``(message, data)`` or None
        """
        Message = self.env["mfg.integration.message"].sudo()
        domain = [
            ("direction", "=", "inbound"),
            ("state", "=", "done"),
            ("event_type_id", "=", step.event_type_id.id),
            ("create_date", ">=", self.create_date),
            ("id", "not in", self.integration_message_ids.ids),
        ]
        record = self._record()
        if step.match == "record":
            if not record:
                return None
            domain += [
                ("result_model", "=", record._name),
                ("result_id", "=", record.id),
            ]
        elif step.match == "correlation":
            if not self.correlation_id:
                return None
            domain.append(("correlation_id", "=", self.correlation_id))
        for message in Message.search(domain, order="id", limit=EARLY_EVENTS):
            try:
                data = message._canonical_data(json.loads(message.payload))
            except (*PERMANENT_EXCEPTIONS, errors.IntegrationError):
                continue  # its mapping changed since: it cannot be read as it was
            result = (
                self.env[message.result_model].browse(message.result_id)
                if message.result_model in self.env and message.result_id
                else None
            )
            if self._matches(step, message, data, result):
                return message, data
        return None

    @api.model
    def _awaiting(self, record, event_type):
        """The runs about ``record`` that wait for an ``event_type`` event now (a
        handler may refuse an event no run awaits)."""
        return (
            self.sudo()
            .search(
                [
                    ("res_model", "=", record._name),
                    ("res_id", "=", record.id),
                    ("state", "=", "waiting"),
                    ("current_step_id.kind", "=", "wait_event"),
                    ("current_step_id.event_type_id", "=", event_type.id),
                ]
            )
            .with_env(self.env)
        )

    def _matches(self, step, message, data, record):
        self.ensure_one()
        if step.match == "correlation":
            return bool(self.correlation_id) and (
                message.correlation_id == self.correlation_id
            )
        if step.match == "expression":
            try:
                value = evaluate(step.expression, data)
            except ValueError:
                return False
            return value is not None and str(value) == (self.key or "")
        target = self._record()
        return bool(record and target and record._name == target._name) and (
            target.id in record.ids
        )

    # ------------------------------------------------------------------
    # Compensation and incidents
    # ------------------------------------------------------------------

    def _compensate(self, reason):
        """Undo the steps done, last first, then end the run as cancelled. A
        compensation that fails makes the run an incident again (cancel retries
        the compensations not yet done)."""
        self.ensure_one()
        Action = self.env["mfg.integration.flow.action"]
        done = self.run_step_ids.filtered(
            lambda s: s.state == "done" and s.step_id.compensation_function
        ).sorted("id", reverse=True)
        for run_step in done:
            action = Action._get(run_step.step_id.compensation_function)
            started = time.monotonic()
            try:
                if action is None:
                    raise errors.ConfigurationError(
                        "No installed module provides the compensation "
                        f"'{run_step.step_id.compensation_function}'."
                    )
                with self.env.cr.savepoint():
                    action(self, run_step.step_id)
            except (*TRANSIENT_EXCEPTIONS, *FLOW_PERMANENT) as exc:
                self.env.invalidate_all()
                detail = getattr(exc, "detail", None) or str(exc)
                _logger.info(
                    "Flow run %s: compensation of %s failed after %.3f s",
                    self.id,
                    run_step.step_id.code,
                    time.monotonic() - started,
                )
                self._raise_incident(
                    run_step,
                    self.env["mfg.integration.message"]._error_class(exc),
                    self.env._(
                        "Undoing %(step)s failed: %(error)s",
                        step=run_step.step_id.name,
                        error=detail[:500],
                    ),
                    step_state="done",
                )
                return False
            run_step.write({"state": "compensated"})
            self._post(self.env._("%(step)s undone.", step=run_step.step_id.name))
        self._close_activities("approval", self.env._("run cancelled"))
        self._count_ended("cancelled")
        self.write(
            {
                "state": "cancelled",
                "finished_at": fields.Datetime.now(),
                "next_attempt_at": False,
            }
        )
        self._post(self.env._("Run cancelled: %(reason)s", reason=reason))
        return True

    def _as_engine(self):
        """These runs, for the engine to move on behalf of a user who may resolve
        their incidents (write access to runs)."""
        self.check_access("write")
        return self.sudo()

    def _check_incident(self):
        for run in self:
            if run.state != "incident":
                raise UserError(
                    self.env._("%(run)s is not an incident.", run=run.display_name)
                )

    def action_retry(self):
        """Incident: try the failed step again (with the run's data as it is now)."""
        self._check_incident()
        for run in self._as_engine():
            run._lock()
            run._close_activities(
                "incident", self.env._("retried by %(user)s", user=self.env.user.name)
            )
            run.write(
                {
                    "state": "running",
                    "attempts": 0,
                    "next_attempt_at": False,
                    "error_class": False,
                    "error_message": False,
                    "current_run_step_id": False,
                }
            )
            run._post(
                self.env._("Retry requested by %(user)s.", user=self.env.user.name)
            )
            run._enqueue_advance()
        return True

    def action_skip(self):
        """Incident: leave the failed step out and go on with the next one."""
        self._check_incident()
        for run in self._as_engine():
            run._lock()
            run._close_activities(
                "incident", self.env._("skipped by %(user)s", user=self.env.user.name)
            )
            run_step = run.current_run_step_id
            step = run.current_step_id
            if run_step:
                run_step.state = "skipped"
            run.write({"error_class": False, "error_message": False})
            run._complete(
                run_step,
                run._next_of(step),
                outcome=self.env._("skipped by %(user)s", user=self.env.user.name),
                state="skipped",
            )
            run._enqueue_advance()
        return True

    def action_cancel(self):
        """Cancel the run: the compensations of the steps done run, last first."""
        for run in self._as_engine():
            if run.state in ("done", "cancelled"):
                raise UserError(
                    self.env._("%(run)s has ended already.", run=run.display_name)
                )
            run._lock()
            run._close_activities(
                "incident", self.env._("cancelled by %(user)s", user=self.env.user.name)
            )
            if run.current_run_step_id.state == "waiting":
                run.current_run_step_id.write(
                    {"state": "skipped", "finished_at": fields.Datetime.now()}
                )
            run._compensate(
                reason=self.env._("cancelled by %(user)s", user=self.env.user.name)
            )
        return True

    def action_approve(self):
        for run in self:
            run._decide(True)
        return True

    def action_reject(self):
        for run in self:
            run._decide(False)
        return True

    def action_view_record(self):
        self.ensure_one()
        record = self._record()
        if not record:
            raise UserError(self.env._("This run is about no record."))
        return {
            "type": "ir.actions.act_window",
            "res_model": record._name,
            "res_id": record.id,
            "view_mode": "form",
        }

    def write(self, vals):
        if "data_json" in vals and not self.env.context.get("mfg_flow_engine"):
            for run in self:
                if run.state != "incident" and not self.env.su:
                    raise UserError(
                        self.env._(
                            "The data of %(run)s can be edited only while it is an "
                            "incident.",
                            run=run.display_name,
                        )
                    )
        return super().write(vals)
