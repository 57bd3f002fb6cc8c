"""The functional users' journeys, in a real browser (Odoo tours on Chromium): see
:class:`~.common.TourMixin`."""

import uuid
from urllib.parse import quote

from odoo.tests import HttpCase, tagged

from odoo.addons.queue_job.tests.common import trap_jobs

from mfg_integration import errors
from mfg_integration.simulators import StubServer

from .common import (
    MfgIntegrationCase,
    TourMixin,
    event_handler,
    flow_actions,
    run_jobs,
)

CODE = "test.order_started"


def closed_order(handler, message, data):
    raise errors.BusinessRuleError(f"Order {data['order']} is closed.")


@tagged("post_install", "-at_install")
class TestTours(TourMixin, MfgIntegrationCase, HttpCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.key, _token = cls.env["mfg.integration.api.key"].generate(cls.system, "k")
        cls.system.responsible_id = cls.manager
        cls.Message = cls.env["mfg.integration.message"]
        cls.mapping = cls.env["mfg.integration.mapping"].create(
            {
                "name": "Test MES orders",
                "event_type_id": cls.event_type.id,
                "system_id": cls.system.id,
                "sample_payload": '{"mo": "MO-77", "qty": 3}',
                "line_ids": [
                    (0, 0, {"sequence": 1, "target": "order", "source": "mo"}),
                    (0, 0, {"sequence": 2, "target": "quantity", "source": "qty"}),
                ],
            }
        )
        # the sample's order, as the mapping's test shows it
        cls.mapping.line_ids[0].transform_ids = [
            (
                0,
                0,
                {
                    "kind": "value_map",
                    "strict": False,
                    "map_ids": [
                        (0, 0, {"source_value": "MO-77", "target_value": "WH/MO/00077"})
                    ],
                },
            )
        ]

    def receive(self, payloads, ids=None):
        events = [
            {
                "specversion": "1.0",
                "id": (ids or {}).get(n) or str(uuid.uuid4()),
                "source": "urn:test",
                "type": CODE,
                "subject": payload.get("mo"),
                "data": payload,
            }
            for n, payload in enumerate(payloads)
        ]
        return self.receive_batch(self.key, *events)

    def drain(self, handler=None):
        """Process the waiting messages, as the job runner does (one job takes
        DRAIN_BATCH messages, and the next job the rest)."""
        waiting = [
            ("system_id", "=", self.system.id),
            ("state", "in", ["received", "queued"]),
        ]
        with event_handler(self.env, CODE, handler or (lambda h, m, d: None)):
            with trap_jobs():
                for _round in range(20):
                    if not self.Message.search_count(waiting):
                        break
                    self.Message._job_drain(self.system.id)
                else:
                    self.fail("messages still wait after 20 processing jobs")

    def test_a_notification_leads_to_the_repair_of_500_dead_letters(self):
        # the MES renamed qty to quantity_done: 500 events fail the schema
        messages = self.receive(
            [{"mo": f"MO-{n}", "quantity_done": n + 1} for n in range(500)]
        )
        self.drain()
        self.assertEqual(set(messages.mapped("state")), {"dead"})
        incident = messages.incident_id
        self.assertEqual(len(incident), 1)
        self.tour("mfg_integration_incident_repair")
        line = self.mapping.line_ids.filtered(lambda ln: ln.target == "quantity")
        self.assertEqual(line.source, "quantity_done")
        self.assertEqual(set(messages.mapped("state")), {"queued"})
        # the job runner's part
        self.drain()
        self.assertEqual(set(messages.mapped("state")), {"done"})
        self.assertEqual(incident.state, "resolved")
        self.tour("mfg_integration_incident_resolved")

    def test_a_dead_letter_is_edited_and_replayed(self):
        message = self.receive([{"mo": "MO-1", "qty": 3}], ids={0: "tour-dead-1"})
        self.drain(closed_order)
        self.assertEqual(message.state, "dead")
        self.tour("mfg_integration_dead_letter_edit_replay")
        self.assertEqual(message.state, "queued")
        self.assertTrue(message.payload_edited)
        self.assertEqual(
            message.sudo().payload, '{"order": "WH/MO/00077", "quantity": 3}'
        )

    def test_the_dead_letters_of_an_error_class_are_replayed_at_once(self):
        messages = self.receive([{"mo": f"MO-{n}", "qty": n + 1} for n in range(3)])
        self.Message._job_drain(self.system.id)  # no handler: no-handler errors
        self.assertEqual(set(messages.mapped("error_class")), {"no-handler"})
        self.tour("mfg_integration_replay_error_class")
        self.assertEqual(set(messages.mapped("state")), {"queued"})

    def test_an_api_key_is_shown_once(self):
        self.tour("mfg_integration_api_key_once")
        key = self.env["mfg.integration.api.key"].search(
            [("name", "=", "Tour line controller")]
        )
        self.assertEqual(key.system_id, self.system)

    def test_a_mapping_is_tested_on_its_sample(self):
        self.tour("mfg_integration_mapping_test")

    def test_the_dashboard_opens(self):
        self.receive([{"mo": "MO-1", "qty": 3}])
        self.drain(closed_order)
        self.tour("mfg_integration_dashboard")

    def test_a_system_is_onboarded_in_one_wizard(self):
        server = StubServer()
        server.start()
        self.addCleanup(server.stop)
        receiver = server.url("/odoo-events")
        self.tour(
            "mfg_integration_onboarding", cookies={"mfg_tour_receiver": quote(receiver)}
        )
        system = self.env["mfg.integration.system"].search([("code", "=", "press_mes")])
        self.assertTrue(system.onboarded_at)
        self.assertEqual(len(server.requests), 1)
        messages = self.Message.search([("system_id", "=", system.id)])
        self.assertEqual(
            sorted(messages.mapped("event_code")),
            ["integration.connection_test", "integration.ping"],
        )

    def test_a_flow_incident_is_resolved(self):
        state = {"fixed": False}

        def needs_line(_actions, run, _step):
            """Need a line"""
            if not state["fixed"]:
                raise errors.BusinessRuleError("no line assigned to the order yet")
            return {"line": "L1"}

        flow = self.env["mfg.integration.flow"].create(
            {
                "name": "Tour flow",
                "code": "tour-flow",
                "trigger_event_type_id": self.event_type.id,
                "key_expression": "order",
                "step_ids": [
                    (
                        0,
                        0,
                        {
                            "sequence": 10,
                            "code": "line",
                            "name": "Line",
                            "kind": "action",
                            "function": "needs_line",
                        },
                    )
                ],
            }
        )
        with flow_actions(self.env, needs_line=needs_line):
            self.receive([{"mo": "MO-TOUR", "qty": 2}])
            with (
                event_handler(self.env, CODE, lambda h, m, d: None),
                trap_jobs() as trap,
            ):
                self.Message._job_drain(self.system.id)
                run_jobs(trap)
            run = self.env["mfg.integration.flow.run"].search(
                [("flow_id", "=", flow.id)]
            )
            self.assertEqual(run.state, "incident")
            state["fixed"] = True  # the line is assigned
            self.tour("mfg_integration_flow_incident")
            self.assertEqual(run.state, "running")
            # the job runner's part: the job the retry enqueued
            with trap_jobs() as trap:
                run._job_advance(run.id)
                run_jobs(trap)
            self.assertEqual(run.state, "done")
