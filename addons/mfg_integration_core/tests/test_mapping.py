import json

from psycopg2 import IntegrityError

from odoo.exceptions import AccessError, UserError, ValidationError
from odoo.tests import tagged
from odoo.tools import mute_logger

from mfg_integration.errors import MappingError
from mfg_integration.mapping import compile_mapping

from .common import MfgIntegrationCase, capture_logs, event_handler

CODE = "test.order_started"

DEFINITION = {
    "format": "mfg-integration-mapping/1",
    "name": "Test vendor orders",
    "event_type": CODE,
    "direction": "inbound",
    "lines": [
        {
            "target": "order",
            "source": "wo.number",
            "transforms": [{"type": "required"}],
        },
        {
            "target": "quantity",
            "source": "qty_g",
            "transforms": [
                {"type": "uom", "from": "g", "to": "kg"},
                {"type": "round", "digits": 3},
            ],
        },
        {
            "target": "status",
            "source": "st",
            "transforms": [
                {"type": "value_map", "map": [["R", "running"], ["P", "paused"]]}
            ],
        },
        {
            "target": "at",
            "source": "ts",
            "transforms": [
                {
                    "type": "datetime",
                    "input_format": "%d.%m.%Y %H:%M",
                    "input_tz": "Europe/Berlin",
                }
            ],
        },
        {
            "target": "run_minutes",
            "source": "run_s",
            "transforms": [{"type": "uom", "from": "s", "to": "min"}],
        },
    ],
}
VENDOR = {
    "wo": {"number": "WH/MO/00042"},
    "qty_g": 12500,
    "st": "R",
    "ts": "24.11.2026 09:15",
    "run_s": 90,
}


@tagged("post_install", "-at_install")
class TestMapping(MfgIntegrationCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.Mapping = cls.env["mfg.integration.mapping"]
        cls.mapping = cls.Mapping.import_definition(DEFINITION)

    def test_import_builds_lines_and_apply_maps(self):
        self.assertEqual(len(self.mapping.line_ids), 5)
        self.assertEqual(self.mapping.version, 1)
        self.assertEqual(
            self.mapping.apply(VENDOR),
            {
                "order": "WH/MO/00042",
                "quantity": 12.5,
                "status": "running",
                "at": "2026-11-24T08:15:00Z",
                "run_minutes": 1.5,
            },
        )

    def test_export_import_round_trip(self):
        exported = self.mapping.export_definition()
        self.assertEqual(exported["format"], "mfg-integration-mapping/1")
        copy = dict(exported, name="Copy of the vendor orders")
        other = self.Mapping.import_definition(json.dumps(copy))
        self.assertNotEqual(other, self.mapping)
        self.assertEqual(other.apply(VENDOR), self.mapping.apply(VENDOR))
        again = self.Mapping.import_definition(copy)
        self.assertEqual(again, other, "same name: updated, not duplicated")
        self.assertEqual(
            compile_mapping(other.export_definition()).apply(
                VENDOR, uom_converter=other._convert_uom
            ),
            other.apply(VENDOR),
        )

    def test_errors_name_the_line(self):
        with self.assertRaisesRegex(MappingError, r"^Line 3 \(status\)"):
            self.mapping.apply(dict(VENDOR, st="X"))
        with self.assertRaisesRegex(
            MappingError, r"Line 1 \(order\): a value is required"
        ):
            self.mapping.apply({"qty_g": 1, "st": "R", "ts": "24.11.2026 09:15"})

    def test_validation_on_save(self):
        line = self.mapping.line_ids[0]
        unit = self.mapping.line_ids[1].transform_ids[0]
        Transform = self.env["mfg.integration.mapping.transform"]
        cases = [
            ("Line 1", lambda: line.write({"source": "wo.[number"})),
            ("Line 2", lambda: unit.write({"uom_to": "parsecs"})),
            # the same target as line 1
            ("Line 5", lambda: self.mapping.line_ids[4].write({"target": "order"})),
            (
                "Line 1",
                lambda: Transform.create(
                    {"line_id": line.id, "kind": "template", "template": "{x.a}"}
                ),
            ),
        ]
        for message, change in cases:
            with (
                self.subTest(message=message),
                self.assertRaisesRegex(ValidationError, message),
                self.env.cr.savepoint(),
            ):
                change()
            self.env.invalidate_all()

    def test_every_change_is_a_new_version(self):
        version = self.mapping.version
        self.mapping.line_ids[2].transform_ids.map_ids[0].target_value = "in_progress"
        self.assertEqual(self.mapping.version, version + 1)
        self.mapping.description = "Vendor MES format of line 1"
        self.assertEqual(self.mapping.version, version + 2)
        self.assertEqual(self.mapping.apply(VENDOR)["status"], "in_progress")

    def test_import_refuses_bad_definitions(self):
        with self.assertRaisesRegex(UserError, "format"):
            self.Mapping.import_definition(dict(DEFINITION, format="other/2"))
        with self.assertRaisesRegex(UserError, "not in the catalogue"):
            self.Mapping.import_definition(dict(DEFINITION, event_type="test.nope"))

    def test_wizard_shows_result_or_failing_line(self):
        wizard = (
            self.env["mfg.integration.mapping.test"]
            .with_user(self.user)
            .create({"mapping_id": self.mapping.id, "sample": json.dumps(VENDOR)})
        )
        wizard.action_run()
        self.assertEqual(json.loads(wizard.result)["quantity"], 12.5)
        self.assertFalse(wizard.error)
        wizard.sample = json.dumps(dict(VENDOR, st="X"))
        wizard.action_run()
        self.assertFalse(wizard.result)
        self.assertIn("Line 3 (status)", wizard.error)
        wizard.sample = "{oops"
        wizard.action_run()
        self.assertIn("not JSON", wizard.error)
        self.assertEqual(wizard.example_count, 0, "inbound: input is not canonical")
        self.mapping.sample_payload = json.dumps(VENDOR)
        # as the Test Mapping button opens it
        other = (
            self.env["mfg.integration.mapping.test"]
            .with_context(**self.mapping.action_test()["context"])
            .create({})
        )
        self.assertEqual(json.loads(other.sample), VENDOR)
        self.mapping.direction = "outbound"
        other.action_use_example()
        self.assertEqual(json.loads(other.sample)["order"], "WH/MO/00001")

    def test_transfer_wizard_export_and_import(self):
        action = self.mapping.with_user(self.manager).action_export()
        text = action["context"]["default_definition"]
        self.assertEqual(json.loads(text)["name"], "Test vendor orders")
        imported = (
            self.env["mfg.integration.mapping.transfer"]
            .with_user(self.manager)
            .create({"definition": text.replace("Test vendor", "Imported vendor")})
            .action_import()
        )
        mapping = self.Mapping.browse(imported["res_id"])
        self.assertEqual(mapping.name, "Imported vendor orders")

    def test_access(self):
        self.mapping.with_user(self.user).read(["name"])
        with self.assertRaises(AccessError), mute_logger("odoo.access"):
            self.mapping.with_user(self.user).write({"name": "x"})
        with self.assertRaises(AccessError), mute_logger("odoo.access"):
            self.mapping.with_user(self.outsider).read(["name"])
        self.mapping.with_user(self.manager).write({"description": "ok"})


@tagged("post_install", "-at_install")
class TestXref(MfgIntegrationCase):
    def test_lookup_bind_and_uniqueness(self):
        Xref = self.env["mfg.integration.xref"]
        partner = self.env["res.partner"].create({"name": "WO-17/3 partner"})
        self.assertIsNone(Xref.lookup(self.system, "work_order", "WO-17/3"))
        Xref.bind(self.system, "work_order", "WO-17/3", partner)
        self.assertEqual(Xref.lookup(self.system, "work_order", "WO-17/3"), partner)
        Xref.bind(self.system, "work_order", "WO-17/3", partner)  # idempotent
        other = self.env["res.partner"].create({"name": "Other"})
        with self.assertRaisesRegex(ValidationError, "already bound"):
            Xref.bind(self.system, "work_order", "WO-17/3", other)
        with (
            mute_logger("odoo.sql_db"),
            self.assertRaises(IntegrityError),
            self.env.cr.savepoint(),
        ):
            Xref.create(
                {
                    "system_id": self.system.id,
                    "external_model": "work_order",
                    "external_id": "WO-17/3",
                    "res_model": "res.partner",
                    "res_id": other.id,
                }
            )
        second = self.env["mfg.integration.system"].create({"name": "2", "code": "s2"})
        self.assertIsNone(Xref.lookup(second, "work_order", "WO-17/3"))

    def test_mapping_lookup_and_binding_by_name(self):
        partner = self.env["res.partner"].create({"name": "ACME Plastics"})
        mapping = self.env["mfg.integration.mapping"].import_definition(
            {
                "format": "mfg-integration-mapping/1",
                "name": "Supplier lookup",
                "event_type": CODE,
                "direction": "inbound",
                "lines": [
                    {
                        "target": "order",
                        "source": "supplier",
                        "transforms": [
                            {
                                "type": "xref",
                                "model": "res.partner",
                                "create": True,
                                "external_model": "supplier",
                            }
                        ],
                    }
                ],
            }
        )
        mapping.system_id = self.system
        self.assertEqual(
            mapping.apply({"supplier": "ACME Plastics"})["order"], "ACME Plastics"
        )
        xref = self.env["mfg.integration.xref"].search(
            [("system_id", "=", self.system.id), ("external_model", "=", "supplier")]
        )
        self.assertEqual(xref._record(), partner)
        with self.assertRaisesRegex(MappingError, "Line 1"):
            mapping.apply({"supplier": "Unknown Ltd"})


@tagged("post_install", "-at_install")
class TestMappingPipelines(MfgIntegrationCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.key, _token = cls.env["mfg.integration.api.key"].generate(cls.system, "k")
        cls.mapping = cls.env["mfg.integration.mapping"].import_definition(
            {
                "format": "mfg-integration-mapping/1",
                "name": "Vendor to canonical",
                "event_type": CODE,
                "direction": "inbound",
                "lines": [
                    {"target": "order", "source": "wo"},
                    {
                        "target": "quantity",
                        "source": "qty_g",
                        "transforms": [{"type": "uom", "from": "g", "to": "kg"}],
                    },
                ],
            }
        )
        cls.mapping.system_id = cls.system

    def ingest(self, event_id, data):
        body = json.dumps(
            {
                "specversion": "1.0",
                "id": event_id,
                "source": "urn:test",
                "type": CODE,
                "data": data,
            }
        ).encode()
        status, answer, _h = self.env["mfg.integration.ingress"].receive_events(
            self.key.sudo(), "application/json", lambda _limit: body, "c", None
        )
        self.assertEqual(status, 202, answer)
        return self.env["mfg.integration.message"].browse(answer["id"])

    def test_inbound_mapping_before_the_handler(self):
        message = self.ingest("m1", {"wo": "WH/MO/7", "qty_g": 2500})
        received = []
        with event_handler(self.env, CODE, lambda h, m, d: received.append(d)):
            self.env["mfg.integration.message"]._job_drain(self.system.id)
        self.assertEqual(received, [{"order": "WH/MO/7", "quantity": 2.5}])
        self.assertEqual(message.state, "done")

    def test_mapping_error_is_dead_then_replays_once_fixed(self):
        self.mapping.line_ids[0].transform_ids = [(0, 0, {"kind": "required"})]
        message = self.ingest("m2", {"qty_g": 2500})
        with event_handler(self.env, CODE, lambda h, m, d: None):
            self.env["mfg.integration.message"]._job_drain(self.system.id)
            self.assertEqual(message.state, "dead")
            self.assertEqual(message.error_class, "mapping-error")
            self.assertIn("Line 1 (order)", message.error_message)
            self.mapping.line_ids[0].transform_ids.write(
                {"kind": "default", "value_json": '"WH/MO/UNKNOWN"'}
            )
            message.action_replay()
            self.env["mfg.integration.message"]._job_drain(self.system.id)
        self.assertEqual(message.state, "done")

    def test_mapped_data_is_checked_against_the_schema(self):
        message = self.ingest("m3", {"wo": "WH/MO/8", "qty_g": -5})
        with event_handler(self.env, CODE, lambda h, m, d: None):
            self.env["mfg.integration.message"]._job_drain(self.system.id)
        self.assertEqual(message.state, "dead")
        self.assertEqual(message.error_class, "validation-failed")
        self.assertIn("/data/quantity", message.error_message)

    def test_redacted_values_leave_no_trace_for_a_mapped_system(self):
        # the system's pointers cover its own format, the event type's the canonical
        self.system.redact_pointers = "/wo"
        self.event_type.redact_pointers = "/quantity"
        message = self.ingest("m4", {"wo": "WH/MO/SECRET-4", "qty_g": -123456})
        self.assertNotIn("SECRET-4", message.payload_display)
        with (
            capture_logs() as logs,
            event_handler(self.env, CODE, lambda h, m, d: None),
        ):
            self.env["mfg.integration.message"]._job_drain(self.system.id)
        self.assertEqual(message.error_class, "validation-failed")
        self.assertIn("/data/quantity", message.error_message)
        texts = [
            message.error_message,
            message.error_traceback,
            *message.message_ids.mapped("body"),
            *logs,
        ]
        for text in texts:
            self.assertNotIn("-123.456", text)  # the mapped (canonical) value
            self.assertNotIn("SECRET-4", text)
