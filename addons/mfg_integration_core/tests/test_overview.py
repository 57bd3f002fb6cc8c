from datetime import timedelta

from odoo import fields
from odoo.exceptions import UserError
from odoo.tests import HttpCase, tagged

from odoo.addons.queue_job.tests.common import trap_jobs

from .common import MfgIntegrationCase, event_handler
from .test_ingress_http import cloudevent

OVERVIEW_URL = "/odoo/action-mfg_integration_core.mfg_integration_overview_action"
#: waits for the system's card, then checks what a functional user reads on it
CARD_CHECK = """
(async () => {
    const deadline = Date.now() + 30000;
    let card;
    while (!card && Date.now() < deadline) {
        card = [...document.querySelectorAll('.o_kanban_record')].find(
            (el) => el.innerText.includes('Test MES'));
        if (!card) { await new Promise((r) => setTimeout(r, 100)); }
    }
    if (!card) { throw new Error('no card for Test MES'); }
    for (const text of ['Critical', 'dead letter', 'business-rule', 'breached']) {
        if (!card.innerText.includes(text)) {
            throw new Error(`the card does not say "${text}": ${card.innerText}`);
        }
    }
    card.querySelector('a[name="action_open_dead_letters"]').click();
    const listDeadline = Date.now() + 30000;
    while (!document.querySelector('.o_list_view') && Date.now() < listDeadline) {
        await new Promise((r) => setTimeout(r, 100));
    }
    if (!document.querySelector('.o_list_view')) {
        throw new Error('the dead letters did not open');
    }
    console.log('test successful');
})()
"""


@tagged("post_install", "-at_install")
class TestOverview(MfgIntegrationCase, HttpCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.Message = cls.env["mfg.integration.message"]
        cls.Overview = cls.env["mfg.integration.overview"]
        cls.key, _token = cls.env["mfg.integration.api.key"].generate(cls.system, "k")
        cls.system.responsible_id = cls.manager

    def receive(self, *events):
        return self.receive_batch(self.key, *events)

    def prepare(self):
        """Two processed events, a dead letter, one waiting; a breached objective."""

        def handle(_handler, _message, data):
            if data["order"] == "rule":
                raise UserError(self.env._("This order is closed."))  # a refusal

        self.receive(
            cloudevent("o-1"),
            cloudevent("o-2"),
            cloudevent("o-3", data={"order": "rule", "quantity": 1}),
        )
        with event_handler(self.env, "test.order_started", handle), trap_jobs():
            self.Message._job_drain(self.system.id)
        self.receive(cloudevent("o-4"))
        self.env["mfg.integration.slo"].create(
            {
                "name": "Nothing waits",
                "system_id": self.system.id,
                "indicator": "backlog_age",
                "target": 60,
            }
        )
        with trap_jobs():
            self.env["mfg.integration.slo"]._cron_check()
            # the waiting event is 10 minutes old for this check
            self.env.cr.execute(
                "UPDATE mfg_integration_message SET create_date = %s "
                "WHERE ce_id = 'o-4'",
                [fields.Datetime.now() - timedelta(minutes=10)],
            )
            self.env["mfg.integration.slo"]._cron_check()
        self.env.flush_all()

    def test_the_card_says_what_is_broken_and_since_when(self):
        self.prepare()
        dead = self.Message.search([("ce_id", "=", "o-3")])
        self.assertEqual((dead.state, dead.error_class), ("dead", "business-rule"))
        row = self.Overview.search([("system_id", "=", self.system.id)])
        self.assertEqual(row.status, "critical")
        self.assertEqual(row.received_24h, 4)
        self.assertEqual(row.success_rate, round(100 * 2 / 3, 1))
        self.assertGreaterEqual(row.latency_p95, row.latency_p50)
        self.assertEqual((row.backlog, row.dead_letters), (1, 1))
        # ten minutes, as of the start of this transaction
        self.assertGreater(row.oldest_due_age, 500)
        self.assertEqual(row.top_error_class, "business-rule")
        self.assertEqual((row.slo_count, row.slo_breached), (1, 1))
        self.assertTrue(row.breached_since)
        # each figure opens the messages behind it
        action = row.action_open_dead_letters()
        self.assertEqual(self.Message.search(action["domain"]), dead)
        waiting = self.Message.search(row.action_open_backlog()["domain"])
        self.assertEqual(waiting.mapped("ce_id"), ["o-4"])
        self.assertEqual(
            len(self.Message.search(row.action_open_recent()["domain"])), 4
        )
        self.assertEqual(
            self.Message.search(row.action_open_failures()["domain"]), dead
        )

    def test_a_quiet_healthy_system_is_ok(self):
        row = self.Overview.search([("system_id", "=", self.system.id)])
        self.assertEqual((row.status, row.received_24h, row.backlog), ("ok", 0, 0))
        self.assertFalse(row.success_rate)

    def place(self, messages, when):
        self.env.cr.execute(
            "UPDATE mfg_integration_message SET create_date = %s WHERE id = ANY(%s)",
            [when, messages.ids],
        )

    def test_an_hour_quieter_than_the_same_hour_of_past_weeks_is_flagged(self):
        hour = fields.Datetime.now().replace(minute=0, second=0, microsecond=0)
        self.env.cr.execute(
            "UPDATE mfg_integration_system SET create_date = %s WHERE id = %s",
            [hour - timedelta(weeks=6, hours=2), self.system.id],
        )
        # 30 events in the same hour of each of the six past weeks (one week 28)
        for week in range(1, 7):
            count = 28 if week == 3 else 30
            messages = self.receive(
                *(cloudevent(f"h-{week}-{n}") for n in range(count))
            )
            self.place(messages, hour - timedelta(weeks=week, minutes=30))
        self.env.invalidate_all()
        row = self.Overview.search([("system_id", "=", self.system.id)])
        self.assertEqual(
            row.anomaly_hint,
            "0 messages in the last hour, usually 30 at this hour of the week "
            "(6 weeks): unusually fewer (robust z -5.5)",
        )
        # the weeks before the system existed are not zeros
        self.env.cr.execute(
            "UPDATE mfg_integration_system SET create_date = %s WHERE id = %s",
            [hour - timedelta(weeks=2, hours=2), self.system.id],
        )
        self.env.invalidate_all()
        self.assertFalse(
            self.Overview.search([("system_id", "=", self.system.id)]).anomaly_hint
        )
        # an hour like the others is not flagged
        self.env.cr.execute(
            "UPDATE mfg_integration_system SET create_date = %s WHERE id = %s",
            [hour - timedelta(weeks=6, hours=2), self.system.id],
        )
        now = self.receive(*(cloudevent(f"h-0-{n}") for n in range(29)))
        self.place(now, hour - timedelta(minutes=30))
        self.env.invalidate_all()
        self.assertFalse(
            self.Overview.search([("system_id", "=", self.system.id)]).anomaly_hint
        )

    def test_the_overview_opens_in_a_browser_without_console_errors(self):
        self.prepare()
        self.browser_js(OVERVIEW_URL, CARD_CHECK, login="mfg_test_manager", timeout=120)
