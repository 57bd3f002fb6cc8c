import uuid

from odoo.exceptions import AccessError, UserError
from odoo.tests import tagged

from odoo.addons.queue_job.tests.common import trap_jobs

from mfg_integration import errors
from mfg_integration.simulators import Answer

from .common import MfgIntegrationCase, event_handler

CODE = "test.order_started"


def missing_order(handler, message, data):
    """A handler that cannot find the order: the error names the pointer and the
    order's number, as the resolver's errors do."""
    raise errors.ReferenceNotFound(
        f"/data/order: no manufacturing order '{data['order']}' in company "
        f"YourCompany for system test_mes (checked {len(data['order'])} keys)."
    )


def handler_bug(handler, message, data):
    raise KeyError("order_ref")


def bad_quantity(handler, message, data):
    raise errors.ReferenceNotFound(
        f"/data/quantity: no unit for {data['quantity']} in company YourCompany."
    )


@tagged("post_install", "-at_install")
class TestIncidents(MfgIntegrationCase):
    """Dead letters filed under incidents by cause, and the incidents' bulk actions."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.key, _token = cls.env["mfg.integration.api.key"].generate(cls.system, "k")
        cls.system.responsible_id = cls.user
        cls.Incident = cls.env["mfg.integration.incident"]
        cls.Message = cls.env["mfg.integration.message"]

    def receive(self, *orders, quantity=3):
        events = [
            {
                "specversion": "1.0",
                "id": str(uuid.uuid4()),
                "source": "urn:test",
                "type": CODE,
                "subject": order,
                "data": {"order": order, "quantity": quantity},
            }
            for order in orders
        ]
        return self.receive_batch(self.key.sudo(), *events)

    def drain(self, handler):
        with event_handler(self.env, CODE, handler):
            self.Message._job_drain(self.system.id)

    def incidents(self):
        return self.Incident.search([("system_id", "=", self.system.id)])

    def todos(self, incident):
        return incident.activity_ids.filtered(
            lambda a: a.summary == "New integration incident"
        )

    def test_the_same_cause_with_other_values_is_one_incident_with_one_todo(self):
        messages = self.receive(*(f"WH/MO/{n:05d}" for n in range(1, 8)))
        self.drain(missing_order)
        self.assertEqual(set(messages.mapped("state")), {"dead"})
        incident = self.incidents()
        self.assertEqual(len(incident), 1)
        self.assertEqual(messages.incident_id, incident)
        self.assertEqual(
            incident.signature,
            "/data/order: no manufacturing order '<value>' in company YourCompany "
            "for system test_mes (checked <n> keys).",
        )
        self.assertEqual(incident.pointers, "/data/order")
        self.assertEqual(incident.error_class, "reference.not-found")
        self.assertEqual(incident.event_type_id, self.event_type)
        self.assertEqual(incident.state, "open")
        self.assertEqual((incident.dead_count, incident.occurrences), (7, 7))
        self.assertEqual(incident.subject_count, 7)
        self.assertIn("WH/MO/00003 (1)", incident.subjects)
        self.assertIn("WH/MO/00007", incident.sample_error)
        todo = self.todos(incident)
        self.assertEqual(len(todo), 1, "one to-do for the incident, not one a message")
        self.assertEqual(todo.user_id, self.user)
        self.assertIn("'&lt;value&gt;'", str(todo.note))

    def test_another_pointer_or_error_class_is_another_incident(self):
        self.receive("WH/MO/00001", "WH/MO/00002")
        self.drain(missing_order)
        self.receive("WH/MO/00003", quantity=5)
        self.drain(bad_quantity)
        self.receive("WH/MO/00004")
        self.drain(handler_bug)  # another error class
        incidents = self.incidents()
        self.assertEqual(len(incidents), 3)
        self.assertEqual(
            sorted(incidents.mapped("pointers"), key=str),
            sorted(["/data/order", "/data/quantity", False], key=str),
        )
        self.assertEqual(
            sorted(incidents.mapped("dead_count")), [1, 1, 2], incidents.read()
        )
        self.assertEqual(len(incidents.activity_ids), 3)

    def test_replay_all_resolves_the_incident_once_every_message_is_done(self):
        messages = self.receive(*(f"WH/MO/{n:05d}" for n in range(1, 6)))
        self.drain(missing_order)
        incident = self.incidents()
        with trap_jobs() as trap:
            action = incident.with_user(self.user).action_replay_all()
            trap.assert_jobs_count(1)
        self.assertIn("5 dead letter(s)", action["params"]["message"])
        self.assertEqual(set(messages.mapped("state")), {"queued"})
        incident.invalidate_recordset()
        self.assertEqual((incident.dead_count, incident.pending_count), (0, 5))
        self.assertEqual(incident.state, "open", "the replay is not processed yet")
        self.drain(lambda h, m, d: None)
        self.assertEqual(set(messages.mapped("state")), {"done"})
        incident.invalidate_recordset()
        self.assertEqual(incident.state, "resolved")
        self.assertTrue(incident.resolved_at)
        self.assertEqual(incident.done_count, 5)
        self.assertFalse(self.todos(incident), "the to-do is marked done")
        with self.assertRaises(UserError):
            incident.action_replay_all()

    def test_a_replay_that_fails_again_stays_in_its_incident_without_a_new_todo(self):
        messages = self.receive("WH/MO/00001", "WH/MO/00002")
        self.drain(missing_order)
        incident = self.incidents()
        with trap_jobs():
            incident.action_replay_all()
        self.drain(missing_order)
        self.assertEqual(self.incidents(), incident)
        self.assertEqual(messages.incident_id, incident)
        self.assertEqual((incident.occurrences, incident.dead_count), (4, 2))
        self.assertEqual(incident.state, "open")
        self.assertEqual(len(self.todos(incident)), 1)

    def test_a_cause_that_comes_back_reopens_its_incident_and_notifies_again(self):
        first = self.receive("WH/MO/00001")
        self.drain(missing_order)
        incident = self.incidents()
        with trap_jobs():
            incident.action_replay_all()
        self.drain(lambda h, m, d: None)
        self.assertEqual(incident.state, "resolved")
        second = self.receive("WH/MO/00009")
        self.drain(missing_order)
        self.assertEqual(second.incident_id, incident)
        self.assertEqual(incident.state, "open")
        self.assertFalse(incident.resolved_at)
        self.assertEqual((incident.dead_count, incident.done_count), (1, 1))
        self.assertEqual(len(self.todos(incident)), 1)
        self.assertEqual(first.state, "done")

    def test_discard_all_asks_a_reason_and_resolves(self):
        messages = self.receive("WH/MO/00001", "WH/MO/00002", "WH/MO/00003")
        self.drain(missing_order)
        incident = self.incidents().with_user(self.user)
        action = incident.action_discard_all()
        self.assertEqual(action["res_model"], "mfg.integration.message.discard")
        wizard = (
            self.env["mfg.integration.message.discard"]
            .with_user(self.user)
            .with_context(action["context"], active_model=incident._name)
            .create({"reason": "orders cancelled in the MES"})
        )
        self.assertEqual(wizard.message_ids, messages)
        wizard.action_discard()
        self.assertEqual(set(messages.mapped("state")), {"discarded"})
        self.assertEqual(incident.state, "resolved")
        self.assertEqual(incident.discarded_count, 3)
        with self.assertRaises(UserError):
            incident.action_discard_all()

    def test_open_mapping_offers_a_new_one_prefilled_then_the_existing_one(self):
        self.receive("WH/MO/00001")
        self.drain(missing_order)
        incident = self.incidents()
        action = incident.action_open_mapping()
        self.assertFalse(action.get("res_id"))
        context = action["context"]
        self.assertEqual(context["default_system_id"], self.system.id)
        self.assertEqual(context["default_event_type_id"], self.event_type.id)
        self.assertIn("WH/MO/00001", context["default_sample_payload"])
        mapping = self.env["mfg.integration.mapping"].create(
            {
                "name": "MES orders",
                "event_type_id": self.event_type.id,
                "system_id": self.system.id,
                "line_ids": [
                    (0, 0, {"target": "order", "source": "order"}),
                    (0, 0, {"target": "quantity", "source": "quantity"}),
                ],
            }
        )
        self.assertEqual(incident.action_open_mapping()["res_id"], mapping.id)
        self.assertEqual(incident.mapping_id, mapping)

    def test_outbound_dead_letters_are_filed_too(self):
        endpoint, server = self.outbound_endpoint(
            retry_schedule="0, 1s", breaker_threshold=0
        )
        server.default = Answer(500)
        Types = self.env["mfg.integration.event.type"]
        messages = self.Message.browse()
        for n in range(3):
            messages |= Types.emit(
                "test.order_released", {"order": f"WH/MO/{n}", "quantity": 1}
            )
        Delivery = self.env["mfg.integration.delivery"]
        Delivery._job_deliver(endpoint.id)
        messages.sudo().write({"next_attempt_at": False})
        endpoint.sudo().circuit_open_until = False
        Delivery._job_deliver(endpoint.id)
        self.assertEqual(set(messages.mapped("state")), {"dead"})
        incident = messages.incident_id
        self.assertEqual(len(incident), 1)
        self.assertEqual(
            (incident.direction, incident.error_class, incident.dead_count),
            ("outbound", "http.500", 3),
        )
        self.assertEqual(incident.signature, "The receiver answered HTTP <n>.")
        server.default = Answer(200)
        incident.action_replay_all()
        Delivery._job_deliver(endpoint.id)
        self.assertEqual(set(messages.mapped("state")), {"done"})
        self.assertEqual(incident.state, "resolved")

    def test_only_integration_users_read_incidents(self):
        self.receive("WH/MO/00001")
        self.drain(missing_order)
        incident = self.incidents()
        self.assertEqual(
            incident.with_user(self.user).read(["name"])[0]["id"], incident.id
        )
        with self.assertRaises(AccessError):
            incident.with_user(self.outsider).read(["name"])
        with self.assertRaises(AccessError):
            incident.with_user(self.user).write({"signature": "x"})
