import json

from odoo.exceptions import AccessError
from odoo.tests import tagged
from odoo.tools import mute_logger

from .common import SCHEMA, MfgIntegrationCase


class _Undo(Exception):
    """Raised to roll back an operation that succeeded."""


@tagged("post_install", "-at_install")
class TestAccess(MfgIntegrationCase):
    """The access matrix: integration user (read), manager (all), outsider (nothing),
    and the technical user of a system (reads its own configuration only)."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.endpoint = cls.env["mfg.integration.endpoint"].create(
            {
                "name": "In",
                "code": "access-in",
                "system_id": cls.system.id,
                "direction": "inbound",
            }
        )
        cls.key, _clear = cls.env["mfg.integration.api.key"].generate(cls.system, "k")
        cls.records = {
            "mfg.integration.system": cls.system,
            "mfg.integration.endpoint": cls.endpoint,
            "mfg.integration.api.key": cls.key,
            "mfg.integration.event.type": cls.event_type,
            "mfg.integration.event.schema": cls.event_type.schema_ids,
        }

    def _new_values(self, model):
        return {
            "mfg.integration.system": {"name": "S", "code": "s_new"},
            "mfg.integration.endpoint": {
                "name": "E",
                "code": "e-new",
                "system_id": self.system.id,
                "direction": "inbound",
            },
            "mfg.integration.event.type": {"name": "T", "code": "test.created"},
            "mfg.integration.event.schema": {
                "event_type_id": self.event_type.id,
                "version": 2,
                "schema_json": json.dumps(SCHEMA),
            },
        }[model]

    def _can(self, user, model, operation):
        """Try ``operation`` as ``user`` and undo it: True if it was allowed."""
        records = self.records[model].with_user(user)
        try:
            with self.env.cr.savepoint(), mute_logger("odoo.models", "odoo.access"):
                if operation == "read":
                    records.read(["display_name"])
                elif operation == "write":
                    field = (
                        "note" if model == "mfg.integration.event.schema" else "name"
                    )
                    records.write({field: "changed"})
                elif operation == "create" and model == "mfg.integration.api.key":
                    self.env[model].with_user(user).generate(self.system, "K")
                elif operation == "create":
                    self.env[model].with_user(user).create(self._new_values(model))
                elif operation == "unlink":
                    records.unlink()
                self.env.flush_all()
                raise _Undo
        except _Undo:
            return True
        except AccessError:
            return False
        finally:
            self.env.invalidate_all()

    def test_matrix(self):
        operations = ("read", "write", "create", "unlink")
        for model in self.records:
            for operation in operations:
                with self.subTest(model=model, operation=operation):
                    self.assertTrue(self._can(self.manager, model, operation))
                    self.assertEqual(
                        self._can(self.user, model, operation), operation == "read"
                    )
                    self.assertFalse(self._can(self.outsider, model, operation))

    def test_wizards_are_manager_only(self):
        Wizard = self.env["mfg.integration.api.key.wizard"]
        Wizard.with_user(self.manager).create(
            {"system_id": self.system.id, "name": "x"}
        )
        for user in (self.user, self.outsider):
            with self.assertRaises(AccessError), mute_logger("odoo.access"):
                Wizard.with_user(user).create(
                    {"system_id": self.system.id, "name": "x"}
                )

    def test_technical_user_reads_only_its_own_system(self):
        other = self.env["mfg.integration.system"].create(
            {"name": "Other", "code": "other_sys"}
        )
        technical = self.system.user_id
        Systems = self.env["mfg.integration.system"].with_user(technical)
        self.assertEqual(Systems.search([]), self.system)
        with self.assertRaises(AccessError), mute_logger("odoo.access"):
            other.with_user(technical).read(["name"])
        Endpoints = self.env["mfg.integration.endpoint"].with_user(technical)
        self.assertEqual(Endpoints.search([]), self.endpoint)
        self.assertTrue(
            self.env["mfg.integration.event.type"].with_user(technical).search([])
        )
        with self.assertRaises(AccessError), mute_logger("odoo.access"):
            self.key.with_user(technical).read(["name"])
        with self.assertRaises(AccessError), mute_logger("odoo.access"):
            self.system.with_user(technical).write({"name": "hijack"})

    def test_only_system_administrators_read_key_digests(self):
        with self.assertRaises(AccessError), mute_logger("odoo.access"):
            self.key.with_user(self.manager).read(["key_digest"])
