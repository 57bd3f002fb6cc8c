import json
import uuid

from odoo.exceptions import AccessError
from odoo.tests import tagged

from odoo.addons.queue_job.tests.common import trap_jobs

from .common import MfgIntegrationCase, event_handler

CODE = "test.order_progress"

SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": ["order", "quantity", "state"],
    "properties": {
        "order": {"type": "string", "minLength": 1},
        "quantity": {"type": "number"},
        "state": {"enum": ["in_progress", "done"]},
        "product": {"type": "string"},
        "uom": {"type": "string"},
    },
    "examples": [{"order": "WH/MO/00001", "quantity": 2, "state": "done"}],
}


@tagged("post_install", "-at_install")
class TestIncidentRepair(MfgIntegrationCase):
    """Suggested fixes: found from the failing payloads, tested on them, applied in
    one click, and the replayed dead letters go through."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.progress = cls._create_event_type(CODE, SCHEMA)
        cls.key, _token = cls.env["mfg.integration.api.key"].generate(cls.system, "k")
        cls.mapping = cls.env["mfg.integration.mapping"].create(
            {
                "name": "Test MES progress",
                "event_type_id": cls.progress.id,
                "system_id": cls.system.id,
                "line_ids": [
                    (0, 0, {"sequence": 1, "target": "order", "source": "mo"}),
                    (0, 0, {"sequence": 2, "target": "quantity", "source": "qty"}),
                    (0, 0, {"sequence": 3, "target": "state", "source": "status"}),
                    (0, 0, {"sequence": 4, "target": "product", "source": "part"}),
                    (0, 0, {"sequence": 5, "target": "uom", "source": "unit"}),
                ],
            }
        )
        cls.product = cls.env["product.product"].create(
            {"name": "Bracket", "default_code": "BR1002"}
        )
        cls.Message = cls.env["mfg.integration.message"]
        cls.Incident = cls.env["mfg.integration.incident"]

    def receive(self, count, **fields):
        events = []
        for n in range(count):
            payload = {
                "mo": f"WH/MO/{n:05d}",
                "qty": n + 1,
                "status": "done",
                "part": "BR1002",
                "unit": "Units",
            }
            payload.update({k: v for k, v in fields.items() if v is not None})
            for name in [k for k, v in fields.items() if v is None]:
                payload.pop(name)
            events.append(
                {
                    "specversion": "1.0",
                    "id": str(uuid.uuid4()),
                    "source": "urn:test",
                    "type": CODE,
                    "subject": payload["mo"],
                    "data": payload,
                }
            )
        return self.receive_batch(self.key.sudo(), *events)

    def drain(self):
        system = self.system

        def handle(handler, message, data):
            Resolver = handler.env["mfg.integration.resolver"]
            Resolver.resolve(system, "product", data["product"], "/data/product")
            Resolver.unit(data["uom"], "/data/uom")

        with event_handler(self.env, CODE, handle):
            self.Message._job_drain(self.system.id)

    def suggest(self, messages):
        incident = messages.incident_id
        self.assertEqual(len(incident), 1)
        action = incident.with_user(self.manager).action_suggest()
        repair = self.env[action["res_model"]].browse(action["res_id"])
        return incident, repair

    def apply_and_replay(self, incident, line):
        line.with_user(self.manager).action_apply()
        with trap_jobs():
            incident.with_user(self.user).action_replay_all()
        self.drain()

    def test_a_renamed_field_is_found_applied_and_the_replay_goes_through(self):
        # the MES renamed qty to quantity_done: every event fails the schema
        messages = self.receive(12, qty=None, quantity_done=4.5, operator="A. Smith")
        self.drain()
        self.assertEqual(set(messages.mapped("state")), {"dead"})
        self.assertEqual(
            messages[0].error_details,
            [{"pointer": "/data/quantity", "message": "None is not of type 'number'"}],
        )
        incident, repair = self.suggest(messages)
        best = repair.line_ids[0]
        self.assertEqual(best.kind, "source")
        self.assertEqual(best.suggestion["change"], {"source": "quantity_done"})
        self.assertEqual((best.repaired_count, best.tested_count), (12, 12))
        self.assertIn("'quantity_done' is named like 'quantity'", best.reason)
        self.assertNotIn("operator", repair.line_ids.mapped("title"))
        version = self.mapping.version
        self.apply_and_replay(incident, best)
        line = self.mapping.line_ids.filtered(lambda ln: ln.target == "quantity")
        self.assertEqual(line.source, "quantity_done")
        self.assertGreater(self.mapping.version, version)
        self.assertEqual(set(messages.mapped("state")), {"done"})
        self.assertEqual(incident.state, "resolved")
        self.assertIn("Fix applied", " ".join(incident.message_ids.mapped("body")))

    def test_an_enum_value_spelled_otherwise_gets_a_value_map_entry(self):
        messages = self.receive(5, status="In-Progress")
        self.drain()
        incident, repair = self.suggest(messages)
        best = repair.line_ids[0]
        self.assertEqual(best.kind, "value_map")
        self.assertEqual(
            best.suggestion["change"], {"from": "In-Progress", "to": "in_progress"}
        )
        self.assertEqual(best.repaired_count, 5)
        self.apply_and_replay(incident, best)
        definition = self.mapping.export_definition()
        state_line = next(ln for ln in definition["lines"] if ln["target"] == "state")
        self.assertEqual(
            state_line["transforms"],
            [
                {
                    "type": "value_map",
                    "map": [["In-Progress", "in_progress"]],
                    "strict": False,
                }
            ],
        )
        self.assertEqual(set(messages.mapped("state")), {"done"})

    def test_a_unit_alias_is_mapped_to_odoos_unit(self):
        messages = self.receive(3, unit="pcs")
        self.drain()
        self.assertEqual(messages.mapped("error_class"), ["uom.unknown"] * 3)
        incident, repair = self.suggest(messages)
        best = repair.line_ids[0]
        self.assertEqual(best.kind, "unit")
        self.assertEqual(best.suggestion["change"], {"from": "pcs", "to": "Units"})
        self.assertEqual(best.repaired_count, 3)
        self.apply_and_replay(incident, best)
        self.assertEqual(set(messages.mapped("state")), {"done"})

    def test_an_unresolved_reference_is_bound_with_a_cross_reference(self):
        messages = self.receive(4, part="BR-1002")
        self.drain()
        incident, repair = self.suggest(messages)
        best = repair.line_ids[0]
        self.assertEqual(best.kind, "xref")
        self.assertEqual(best.suggestion["change"]["record_id"], self.product.id)
        self.assertIn("'BR1002' is the same letters and digits", best.reason)
        self.assertEqual(best.repaired_count, 4)
        self.apply_and_replay(incident, best)
        xref = self.env["mfg.integration.xref"].search(
            [("system_id", "=", self.system.id), ("external_id", "=", "BR-1002")]
        )
        self.assertEqual(
            (xref.res_model, xref.res_id), ("product.product", self.product.id)
        )
        self.assertEqual(set(messages.mapped("state")), {"done"})

    def test_nothing_alike_gives_no_suggestion(self):
        messages = self.receive(2, qty=None, colour="red")
        self.drain()
        _incident, repair = self.suggest(messages)
        self.assertFalse(repair.line_ids)

    def test_suggestions_never_show_redacted_values(self):
        self.progress.redact_pointers = "/product"
        messages = self.receive(2, part="SECRET-PART-1")
        self.drain()
        details = json.dumps(messages.mapped("error_details"))
        self.assertNotIn("SECRET-PART-1", details)
        self.assertNotIn("SECRET-PART-1", " ".join(messages.mapped("error_message")))

    def test_only_managers_apply_a_fix(self):
        messages = self.receive(2, status="In-Progress")
        self.drain()
        _incident, repair = self.suggest(messages)
        with self.assertRaises(AccessError):
            repair.line_ids[0].with_user(self.user).action_apply()
