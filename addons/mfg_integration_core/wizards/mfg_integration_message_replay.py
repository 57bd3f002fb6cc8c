from odoo import api, fields, models
from odoo.exceptions import UserError

from ..tools import notify


class MfgIntegrationMessageReplay(models.TransientModel):
    """Replays every message matching a filter (system, event type, error, age)."""

    _name = "mfg.integration.message.replay"
    _description = "Replay Matching Integration Messages"

    state = fields.Selection(
        [("dead", "Dead letters"), ("failed", "Retrying"), ("discarded", "Discarded")],
        required=True,
        default="dead",
    )
    system_id = fields.Many2one("mfg.integration.system")
    event_type_id = fields.Many2one("mfg.integration.event.type")
    error_class = fields.Char(help="Exact error class, e.g. no-handler.")
    date_from = fields.Datetime(string="Received From")
    date_to = fields.Datetime(string="Received Until")
    match_count = fields.Integer(compute="_compute_match_count", string="Matching")

    def _domain(self):
        self.ensure_one()
        domain = [("state", "=", self.state)]
        if self.system_id:
            domain.append(("system_id", "=", self.system_id.id))
        if self.event_type_id:
            domain.append(("event_type_id", "=", self.event_type_id.id))
        if self.error_class:
            domain.append(("error_class", "=", self.error_class))
        if self.date_from:
            domain.append(("create_date", ">=", self.date_from))
        if self.date_to:
            domain.append(("create_date", "<=", self.date_to))
        return domain

    @api.depends(
        "state", "system_id", "event_type_id", "error_class", "date_from", "date_to"
    )
    def _compute_match_count(self):
        Message = self.env["mfg.integration.message"]
        for wizard in self:
            wizard.match_count = Message.search_count(wizard._domain())

    def action_replay(self):
        self.ensure_one()
        messages = self.env["mfg.integration.message"].search(self._domain())
        if not messages:
            raise UserError(self.env._("No message matches these criteria."))
        messages.action_replay()
        return notify(
            self.env._("%(n)s message(s) queued for replay.", n=len(messages)),
            next_action={"type": "ir.actions.act_window_close"},
        )
