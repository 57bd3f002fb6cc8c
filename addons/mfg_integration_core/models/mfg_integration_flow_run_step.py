from odoo import fields, models

STEP_STATES = [
    ("running", "Running"),
    ("waiting", "Waiting"),
    ("done", "Done"),
    ("timed_out", "Timed out"),
    ("rejected", "Rejected"),
    ("failed", "Failed"),
    ("skipped", "Skipped"),
    ("compensated", "Compensated"),
]


class MfgIntegrationFlowRunStep(models.Model):
    """One execution of a step in a run: the run's timeline."""

    _name = "mfg.integration.flow.run.step"
    _description = "Integration Flow Run Step"
    _order = "run_id, id"

    run_id = fields.Many2one(
        "mfg.integration.flow.run", required=True, ondelete="cascade", index=True
    )
    step_id = fields.Many2one(
        "mfg.integration.flow.step", required=True, ondelete="restrict"
    )
    kind = fields.Selection(related="step_id.kind")
    state = fields.Selection(STEP_STATES, required=True, default="running", index=True)
    attempts = fields.Integer(default=0)
    started_at = fields.Datetime(default=fields.Datetime.now, required=True)
    finished_at = fields.Datetime()
    deadline = fields.Datetime(help="When the wait times out.", index="btree_not_null")
    escalated = fields.Boolean(readonly=True)
    duration_s = fields.Float(string="Duration (s)", compute="_compute_duration")
    message_id = fields.Many2one(
        "mfg.integration.message",
        string="Message",
        help="The message that ended the wait, or that the emitted event became.",
        ondelete="set null",
    )
    outcome = fields.Char(help="What the step did or decided.")
    error_class = fields.Char()
    error_message = fields.Text()

    def _compute_duration(self):
        now = fields.Datetime.now()
        for step in self:
            end = step.finished_at or now
            step.duration_s = (end - step.started_at).total_seconds()
