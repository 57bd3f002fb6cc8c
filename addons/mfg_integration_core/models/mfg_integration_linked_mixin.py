from odoo import api, fields, models
from odoo.fields import Domain

from .mfg_integration_flow_run import RUN_STATES
from .mfg_integration_message import STATES


class MfgIntegrationLinkedMixin(models.AbstractModel):
    """Business records that integration messages change or are about (a
    manufacturing order, a maintenance request…): a count, the state of the latest
    message and a smart button to the messages.

    A message belongs to a record when the record is its result (what a handler
    changed, what an emitted event was about); :meth:`_mfg_integration_records`
    may add related records (an order shows its work orders' messages too).
    """

    _name = "mfg.integration.linked.mixin"
    _description = "Records with Integration Messages"

    mfg_integration_message_count = fields.Integer(
        string="Integration Messages",
        compute="_compute_mfg_integration_messages",
        groups="mfg_integration_core.group_mfg_integration_user",
    )
    mfg_integration_last_state = fields.Selection(
        STATES,
        string="Last Integration State",
        compute="_compute_mfg_integration_messages",
        groups="mfg_integration_core.group_mfg_integration_user",
    )

    mfg_flow_run_count = fields.Integer(
        string="Process Runs", compute="_compute_mfg_flow_runs"
    )
    mfg_flow_state = fields.Selection(
        RUN_STATES,
        string="Process",
        compute="_compute_mfg_flow_runs",
        help="Where the latest process flow about this record stands.",
    )

    def _mfg_integration_records(self):
        """The records whose messages this record shows: a list of recordsets, one
        per model (itself by default)."""
        self.ensure_one()
        return [self]

    def _mfg_integration_message_domain(self):
        self.ensure_one()
        return Domain.OR(
            Domain("result_model", "=", records._name)
            & Domain("result_id", "in", records.ids)
            for records in self._mfg_integration_records()
        )

    @api.depends_context("uid")
    def _compute_mfg_integration_messages(self):
        Message = self.env["mfg.integration.message"]
        for record in self:
            if not record.id:
                record.mfg_integration_message_count = 0
                record.mfg_integration_last_state = False
                continue
            domain = record._mfg_integration_message_domain()
            record.mfg_integration_message_count = Message.search_count(domain)
            last = Message.search(domain, limit=1, order="id desc")
            record.mfg_integration_last_state = last.state

    def _mfg_open(self, xmlid, domain):
        """The window action ``xmlid`` on the records of ``domain``."""
        action = self.env["ir.actions.act_window"]._for_xml_id(xmlid)
        action["domain"] = list(domain)
        action["context"] = {}
        return action

    def action_view_mfg_integration_messages(self):
        self.ensure_one()
        return self._mfg_open(
            "mfg_integration_core.mfg_integration_message_action",
            self._mfg_integration_message_domain(),
        )

    def _mfg_flow_run_domain(self):
        self.ensure_one()
        return [("res_model", "=", self._name), ("res_id", "=", self.id)]

    def _compute_mfg_flow_runs(self):
        Run = self.env["mfg.integration.flow.run"]
        for record in self:
            runs = (
                Run.search(record._mfg_flow_run_domain(), order="id desc")
                if record.id
                else Run
            )
            record.mfg_flow_run_count = len(runs)
            record.mfg_flow_state = runs[:1].state

    def action_view_mfg_flow_runs(self):
        """The record's process runs (the run itself when there is one)."""
        self.ensure_one()
        action = self._mfg_open(
            "mfg_integration_core.mfg_integration_flow_run_action",
            self._mfg_flow_run_domain(),
        )
        runs = self.env["mfg.integration.flow.run"].search(action["domain"])
        if len(runs) == 1:
            action.update(view_mode="form", views=[(False, "form")], res_id=runs.id)
        return action
