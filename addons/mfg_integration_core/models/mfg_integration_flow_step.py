from odoo import api, fields, models
from odoo.exceptions import ValidationError

from mfg_integration.flows import WAIT_KINDS

from .mfg_integration_flow import check_codes

KINDS = [
    ("action", "Odoo action"),
    ("emit", "Emit an event"),
    ("wait_event", "Wait for an event"),
    ("approval", "Wait for an approval"),
    ("condition", "Condition"),
]
MATCHES = [
    ("record", "Same business record"),
    ("correlation", "Same correlation id"),
    ("expression", "Expression equals the run key"),
]
TIMEOUT_OUTCOMES = [
    ("incident", "Raise an incident"),
    ("continue", "Go on with the next step"),
    ("goto", "Go to a step"),
    ("escalate", "Escalate, then raise an incident"),
]


class MfgIntegrationFlowStep(models.Model):
    """One step of a process flow."""

    _name = "mfg.integration.flow.step"
    _inherit = ["mfg.integration.cached.mixin"]
    _description = "Integration Flow Step"
    _order = "flow_id, sequence, id"

    flow_id = fields.Many2one(
        "mfg.integration.flow", required=True, ondelete="cascade", index=True
    )
    sequence = fields.Integer(default=10)
    code = fields.Char(required=True, help="Identifier of the step within its flow.")
    name = fields.Char(required=True)
    kind = fields.Selection(KINDS, required=True, default="action")
    function = fields.Selection(
        selection="_selection_function",
        string="Action",
        help="The Odoo action this step runs (registered by the installed modules).",
    )
    event_type_id = fields.Many2one(
        "mfg.integration.event.type",
        string="Event Type",
        help="Emit: the outbound event to send. Wait: the inbound event to wait for.",
    )
    expression = fields.Char(
        help="JMESPath. Condition: over the run's data, true or false. Emit: over the "
        "run's data, the event's data (an object). Wait matching by expression: over "
        "the event's data, the value that must equal the run's key.",
    )
    match = fields.Selection(
        MATCHES,
        default="record",
        help="Which event ends the wait: one whose handler changed the run's record, "
        "one carrying the run's correlation id, or one whose expression gives the "
        "run's key.",
    )
    next_step_id = fields.Many2one(
        "mfg.integration.flow.step",
        string="Then",
        domain="[('flow_id', '=', flow_id), ('id', '!=', id)]",
        help="The step that follows. Empty: the next one in order (the end after the "
        "last one).",
    )
    on_true_id = fields.Many2one(
        "mfg.integration.flow.step",
        string="If True",
        domain="[('flow_id', '=', flow_id), ('id', '!=', id)]",
        help="Empty: the next step in order.",
    )
    on_false_id = fields.Many2one(
        "mfg.integration.flow.step",
        string="If False",
        domain="[('flow_id', '=', flow_id), ('id', '!=', id)]",
        help="Empty: the next step in order.",
    )
    timeout_minutes = fields.Integer(
        string="Timeout (minutes)",
        help="How long a wait lasts before its timeout outcome applies.",
    )
    on_timeout = fields.Selection(TIMEOUT_OUTCOMES, default="incident")
    timeout_step_id = fields.Many2one(
        "mfg.integration.flow.step",
        string="Timeout Goes To",
        domain="[('flow_id', '=', flow_id), ('id', '!=', id)]",
    )
    approver_user_id = fields.Many2one("res.users", string="Approver")
    approver_group_id = fields.Many2one(
        "res.groups",
        string="Approver Group",
        help="Every member of the group gets the approval activity; the first "
        "decision counts.",
    )
    escalation_user_id = fields.Many2one(
        "res.users",
        string="Escalate To",
        help="Who gets the approval when nobody decided within the timeout; an "
        "incident follows when the escalation times out too.",
    )
    on_reject_id = fields.Many2one(
        "mfg.integration.flow.step",
        string="If Rejected",
        domain="[('flow_id', '=', flow_id), ('id', '!=', id)]",
        help="Empty: a rejection cancels the run (its compensations run).",
    )
    compensation_function = fields.Selection(
        selection="_selection_function",
        string="Compensation",
        help="The Odoo action that undoes this step, run when the run is cancelled "
        "or a later step fails with 'compensate'.",
    )
    on_failure = fields.Selection(
        [
            ("incident", "Raise an incident"),
            ("compensate", "Undo the earlier steps and end the run"),
        ],
        default="incident",
        required=True,
        help="What a permanent failure of this step does.",
    )
    is_wait = fields.Boolean(compute="_compute_is_wait")

    _code_uniq = models.Constraint(
        "unique(flow_id, code)", "Another step of this flow has this code."
    )

    @api.model
    def _selection_function(self):
        return self.env["mfg.integration.flow.action"]._functions()

    @api.depends("kind")
    def _compute_is_wait(self):
        for step in self:
            step.is_wait = step.kind in WAIT_KINDS

    @api.constrains("code")
    def _check_code(self):
        check_codes(self, self.env._("Step"))

    @api.constrains(
        "kind", "function", "event_type_id", "approver_user_id", "approver_group_id"
    )
    def _check_kind_fields(self):
        for step in self:
            missing = None
            if step.kind == "action" and not step.function:
                missing = self.env._("an action")
            elif step.kind in ("emit", "wait_event") and not step.event_type_id:
                missing = self.env._("an event type")
            elif step.kind == "emit" and step.event_type_id.direction == "inbound":
                missing = self.env._("an outbound event type")
            elif step.kind == "approval" and not (
                step.approver_user_id or step.approver_group_id
            ):
                missing = self.env._("an approver or an approver group")
            if missing:
                raise ValidationError(
                    self.env._(
                        "Step %(step)s of %(flow)s needs %(what)s.",
                        step=step.name,
                        flow=step.flow_id.name,
                        what=missing,
                    )
                )

    @api.constrains(
        "sequence",
        "kind",
        "expression",
        "match",
        "next_step_id",
        "on_true_id",
        "on_false_id",
        "timeout_minutes",
        "on_timeout",
        "timeout_step_id",
        "on_reject_id",
    )
    def _check_flow(self):
        self.flow_id._check_runnable()

    def _as_definition(self):
        self.ensure_one()
        return {
            "code": self.code,
            "kind": self.kind,
            "next": self.next_step_id.code or None,
            "expression": self.expression or None,
            "match": self.match,
            "on_true": self.on_true_id.code or None,
            "on_false": self.on_false_id.code or None,
            "timeout_minutes": self.timeout_minutes,
            "on_timeout": self.on_timeout,
            "timeout_step": self.timeout_step_id.code or None,
            "on_reject": self.on_reject_id.code or None,
        }

    def _approvers(self):
        """The users an approval step asks (before any escalation)."""
        self.ensure_one()
        step = self.sudo()  # approvers may not read groups
        return (step.approver_user_id | step.approver_group_id.all_user_ids).filtered(
            "active"
        )

    def _following(self):
        """The step after this one in order (empty after the last)."""
        self.ensure_one()
        steps = self.flow_id.step_ids.sorted("sequence")
        index = list(steps).index(self)
        return steps[index + 1] if index + 1 < len(steps) else self.browse()
