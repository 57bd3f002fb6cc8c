import json
from datetime import date, timedelta

from odoo import Command, fields
from odoo.tests import HttpCase, tagged

from odoo.addons.queue_job.tests.common import trap_jobs

from mfg_integration.schemas import schema_urn

from .common import SCHEMA, MfgIntegrationCase, event_handler
from .test_ingress_http import BATCH, CE, EVENTS, cloudevent

CODE = "test.order_started"
V1 = schema_urn(CODE, 1)
V2 = schema_urn(CODE, 2)
#: version 2 renames "quantity" into "qty" and adds a required "unit"
SCHEMA_V2 = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": ["order", "qty", "unit"],
    "properties": {
        "order": {"type": "string", "minLength": 1},
        "qty": {"type": "number", "exclusiveMinimum": 0},
        "unit": {"type": "string", "minLength": 1},
    },
    "examples": [{"order": "WH/MO/00001", "qty": 2, "unit": "Units"}],
}


@tagged("post_install", "-at_install")
class TestSchemaVersions(MfgIntegrationCase, HttpCase):
    """Two versions of an event type side by side: negotiation by ``dataschema``,
    deprecation headers, retirement, upcasting before the handler, the usage
    report and the API documents."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.key, cls.token = cls.env["mfg.integration.api.key"].generate(
            cls.system, "MES"
        )
        cls.v1 = cls.event_type.schema_ids
        cls.v2 = cls.env["mfg.integration.event.schema"].create(
            {
                "event_type_id": cls.event_type.id,
                "version": 2,
                "schema_json": json.dumps(SCHEMA_V2),
                "note": "quantity is qty, with its unit",
            }
        )
        cls.upcast = cls.env["mfg.integration.mapping"].create(
            {
                "name": "test.order_started v1 to v2",
                "direction": "upcast",
                "event_type_id": cls.event_type.id,
                "line_ids": [
                    Command.create({"target": "order", "source": "order"}),
                    Command.create({"target": "qty", "source": "quantity"}),
                    Command.create(
                        {
                            "target": "unit",
                            "transform_ids": [
                                Command.create(
                                    {"kind": "constant", "value_json": '"Units"'}
                                )
                            ],
                        }
                    ),
                ],
            }
        )
        cls.v1.upcast_mapping_id = cls.upcast
        cls.Message = cls.env["mfg.integration.message"]

    def post(self, body, content_type=CE):
        return self.url_open(
            EVENTS,
            data=json.dumps(body),
            headers={
                "Content-Type": content_type,
                "Authorization": f"Bearer {self.token}",
            },
            timeout=60,
        )

    def v2_event(self, event_id, **extra):
        data = {"order": "WH/MO/00042", "qty": 3, "unit": "Units"}
        return cloudevent(event_id, data=data, **extra)

    def test_current_version_is_the_default_and_older_ones_are_asked_for(self):
        response = self.post(self.v2_event("v-1"))
        self.assertEqual(response.status_code, 202, response.text)
        self.assertNotIn("Deprecation", response.headers)
        response = self.post(self.v2_event("v-2", dataschema=V2))
        self.assertEqual(response.status_code, 202, response.text)
        # v1 data is refused as v2 (its pointer named) and accepted as v1
        response = self.post(cloudevent("v-3"))
        self.assertEqual(response.status_code, 422, response.text)
        pointers = [e["pointer"] for e in response.json()["errors"]]
        self.assertIn("/data/qty", " ".join(pointers))
        response = self.post(cloudevent("v-3", dataschema=V1))
        self.assertEqual(response.status_code, 202, response.text)
        message = self.Message.browse(response.json()["id"])
        self.assertEqual((message.schema_version, message.ce_dataschema), (1, V1))

    def test_unknown_version_or_dataschema_is_refused_with_its_pointer(self):
        for dataschema, detail in (
            (schema_urn(CODE, 9), "live versions: 1, 2"),
            (schema_urn("test.order_stopped", 1), "must name a version"),
            ("https://example.com/schema.json", "must name a version"),
        ):
            with self.subTest(dataschema=dataschema):
                response = self.post(cloudevent("u-1", dataschema=dataschema))
                self.assertEqual(response.status_code, 422, response.text)
                problem = response.json()
                self.assertIn(detail, problem["detail"])
                self.assertEqual(problem["errors"][0]["pointer"], "/dataschema")

    def test_deprecated_version_is_told_in_every_answer(self):
        self.v1.write(
            {
                "deprecation_date": date(2026, 1, 1),
                "sunset_date": date.today() + timedelta(days=90),
                "documentation_url": "https://docs.example.com/order-started-v2",
            }
        )
        response = self.post(cloudevent("d-1", dataschema=V1))
        self.assertEqual(response.status_code, 202, response.text)
        self.assertEqual(response.headers["Deprecation"], "@1767225600")
        self.assertIn("GMT", response.headers["Sunset"])
        self.assertEqual(
            response.headers["Link"],
            '<https://docs.example.com/order-started-v2>; rel="deprecation", '
            '<https://docs.example.com/order-started-v2>; rel="sunset"',
        )
        # a duplicate answer used the version too
        response = self.post(cloudevent("d-1", dataschema=V1))
        self.assertEqual(response.status_code, 200, response.text)
        self.assertIn("Deprecation", response.headers)
        # the current version is not deprecated
        self.assertNotIn("Deprecation", self.post(self.v2_event("d-2")).headers)
        # in a batch, each item says so, and the answer carries the headers
        response = self.post(
            [cloudevent("d-3", dataschema=V1), self.v2_event("d-4")], BATCH
        )
        self.assertEqual(response.status_code, 200, response.text)
        self.assertIn("Deprecation", response.headers)
        first, second = response.json()["results"]
        self.assertEqual(first["deprecation"]["dataschema"], V1)
        self.assertEqual(first["deprecation"]["deprecated_since"], "2026-01-01")
        self.assertNotIn("deprecation", second)

    def test_retired_version_is_refused_naming_its_replacement(self):
        self.v1.sunset_date = date.today() - timedelta(days=1)
        response = self.post(cloudevent("r-1", dataschema=V1))
        self.assertEqual(response.status_code, 422, response.text)
        problem = response.json()
        self.assertIn("send version 2", problem["detail"])
        self.assertEqual(problem["errors"][0]["pointer"], "/dataschema")
        self.assertIn(V2, problem["errors"][0]["message"])
        self.v1.write({"sunset_date": False, "active": False})
        response = self.post(cloudevent("r-2", dataschema=V1))
        self.assertEqual(response.status_code, 422, response.text)
        self.assertIn("retired already", response.json()["detail"])

    def test_older_data_is_upcast_before_the_handler_runs(self):
        seen = []
        response = self.post(cloudevent("c-1", dataschema=V1))
        self.assertEqual(response.status_code, 202, response.text)
        message = self.Message.browse(response.json()["id"])
        handler = lambda _h, _m, data: seen.append(data)  # noqa: E731
        with event_handler(self.env, CODE, handler), trap_jobs():
            self.Message._job_drain(self.system.id)
        self.assertEqual(message.state, "done", message.error_message)
        self.assertEqual(seen, [{"order": "WH/MO/00042", "qty": 3, "unit": "Units"}])
        # the stored payload stays what the system sent
        self.assertEqual(json.loads(message.sudo().payload)["quantity"], 3)

    def test_without_upcast_mapping_incompatible_data_is_a_dead_letter(self):
        self.v1.upcast_mapping_id = False
        response = self.post(cloudevent("c-2", dataschema=V1))
        message = self.Message.browse(response.json()["id"])
        with event_handler(self.env, CODE, lambda _h, _m, _d: None), trap_jobs():
            self.Message._job_drain(self.system.id)
        self.assertEqual(message.state, "dead")
        self.assertEqual(message.error_class, "validation-failed")
        self.assertIn("upcast to version 2", message.error_message)
        # fixed by setting the mapping, then a replay
        self.v1.upcast_mapping_id = self.upcast
        with event_handler(self.env, CODE, lambda _h, _m, _d: None), trap_jobs():
            message.action_replay()
            self.Message._job_drain(self.system.id)
        self.assertEqual(message.state, "done", message.error_message)

    def test_usage_report_shows_who_sends_a_deprecated_version(self):
        self.v1.deprecation_date = fields.Date.today()
        other = self.env["mfg.integration.system"].create(
            {"name": "Line 2 MES", "code": "mes2", "kind": "mes"}
        )
        _key, other_token = self.env["mfg.integration.api.key"].generate(other, "MES")
        self.post(cloudevent("k-1", dataschema=V1))
        self.post(cloudevent("k-2", dataschema=V1))
        self.post(self.v2_event("k-3"))
        self.url_open(
            EVENTS,
            data=json.dumps(self.v2_event("k-4")),
            headers={"Content-Type": CE, "Authorization": f"Bearer {other_token}"},
            timeout=60,
        )
        Usage = self.env["mfg.integration.version.usage"]
        rows = Usage.search([("event_type_id", "=", self.event_type.id)])
        found = {
            (row.system_id.code, row.version): (row.message_count, row.lifecycle_state)
            for row in rows
        }
        self.assertEqual(
            found,
            {
                ("test_mes", 1): (2, "deprecated"),
                ("test_mes", 2): (1, "live"),
                ("mes2", 2): (1, "live"),
            },
        )
        deprecated = Usage.search([("lifecycle_state", "!=", "live")])
        self.assertEqual(deprecated.system_id.mapped("code"), ["test_mes"])

    def test_api_documents_list_every_live_version(self):
        self.v1.deprecation_date = fields.Date.today()
        spec = self.url_open("/api/mfg/v1/openapi.json").json()
        schemas = spec["components"]["schemas"]
        self.assertEqual(schemas[CODE]["required"], SCHEMA_V2["required"])
        self.assertEqual(schemas[f"{CODE}.v1"]["required"], SCHEMA["required"])
        self.assertTrue(schemas[f"{CODE}.v1"]["deprecated"])
        self.assertIn("integration.circuit_opened", spec["webhooks"])
        response = self.url_open("/api/mfg/v1/asyncapi.json")
        self.assertEqual(response.status_code, 200, response.text)
        asyncapi = response.json()
        self.assertEqual(asyncapi["asyncapi"], "3.0.0")
        self.assertEqual(
            sorted(asyncapi["channels"][CODE]["messages"]), [CODE, f"{CODE}.v1"]
        )
        self.v1.active = False  # retired: no longer listed
        spec = self.url_open("/api/mfg/v1/openapi.json").json()
        self.assertNotIn(f"{CODE}.v1", spec["components"]["schemas"])
