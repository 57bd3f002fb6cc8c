import json
from datetime import date, timedelta

from psycopg2 import IntegrityError

from odoo.exceptions import ValidationError
from odoo.tests import tagged
from odoo.tools import mute_logger

from mfg_integration.schemas import validate

from .common import SCHEMA, MfgIntegrationCase


@tagged("post_install", "-at_install")
class TestEventType(MfgIntegrationCase):
    def _add_version(self, version, schema, event_type=None):
        return self.env["mfg.integration.event.schema"].create(
            {
                "event_type_id": (event_type or self.event_type).id,
                "version": version,
                "schema_json": schema
                if isinstance(schema, str)
                else json.dumps(schema),
            }
        )

    def test_current_schema_is_the_highest_active_version(self):
        self.assertEqual(self.event_type.current_version, 1)
        v2 = self._add_version(2, SCHEMA)
        self.assertEqual(self.event_type.current_schema_id, v2)
        self.assertEqual(v2.display_name, "test.order_started v2")
        v2.active = False
        self.assertEqual(self.event_type.current_version, 1)

    def test_invalid_json_refused(self):
        with self.assertRaisesRegex(ValidationError, "not valid JSON"):
            self._add_version(2, "{not json")

    def test_invalid_schema_refused_with_pointer(self):
        bad = json.loads(json.dumps(SCHEMA))
        bad["properties"]["quantity"]["type"] = "decimal"
        with self.assertRaisesRegex(ValidationError, "/properties/quantity/type"):
            self._add_version(2, bad)

    def test_invalid_example_refused(self):
        bad = json.loads(json.dumps(SCHEMA))
        bad["examples"] = [{"order": "WH/MO/1", "quantity": -1}]
        with self.assertRaisesRegex(ValidationError, "/examples/0/quantity"):
            self._add_version(2, bad)

    def test_editing_a_version_is_checked_too(self):
        version = self.event_type.schema_ids
        with self.assertRaisesRegex(ValidationError, "2020-12"):
            version.schema_json = json.dumps(
                dict(SCHEMA, **{"$schema": "http://json-schema.org/draft-04/schema#"})
            )

    def test_duplicate_version_refused(self):
        with (
            mute_logger("odoo.sql_db"),
            self.assertRaises(IntegrityError),
            self.env.cr.savepoint(),
        ):
            self._add_version(1, SCHEMA)

    def test_code_format(self):
        for bad in ("Inspection.Failed", "inspection", "inspection..failed", "1a.b"):
            with self.subTest(code=bad), self.assertRaises(ValidationError):
                self.env["mfg.integration.event.type"].create(
                    {"name": bad, "code": bad}
                )

    def test_lifecycle(self):
        today = date.today()
        self.assertEqual(self.event_type.lifecycle_state, "live")
        self.event_type.deprecation_date = today - timedelta(days=1)
        self.assertEqual(self.event_type.lifecycle_state, "deprecated")
        self.event_type.sunset_date = today
        self.assertEqual(self.event_type.lifecycle_state, "sunset")
        with self.assertRaisesRegex(ValidationError, "sunset date"):
            self.event_type.sunset_date = today - timedelta(days=2)

    def test_get_by_code(self):
        Types = self.env["mfg.integration.event.type"]
        self.assertEqual(Types.get_by_code("test.order_started"), self.event_type)
        self.assertFalse(Types.get_by_code("test.unknown"))

    def test_installed_catalogue_examples_are_valid(self):
        """Every event type installed (core tests run with the domain addons) has a
        current schema with at least one example, and its examples validate."""
        catalogue = self.env["mfg.integration.event.type"].search(
            [("code", "not like", "test.%")]
        )
        for event_type in catalogue:
            with self.subTest(code=event_type.code):
                schema = event_type.current_schema_id.get_schema()
                self.assertTrue(schema.get("examples"))
                self.assertTrue(schema.get("required"))
                for example in schema["examples"]:
                    self.assertEqual(validate(schema, example), [])
