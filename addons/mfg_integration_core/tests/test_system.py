from psycopg2 import IntegrityError

from odoo.exceptions import ValidationError
from odoo.tests import tagged
from odoo.tools import mute_logger

from .common import MfgIntegrationCase


@tagged("post_install", "-at_install")
class TestSystem(MfgIntegrationCase):
    def test_technical_user_created_without_login(self):
        user = self.system.user_id
        self.assertTrue(user)
        self.assertEqual(user.login, f"mfg_integration_system_{self.system.id}")
        self.assertIn(
            self.env.ref("mfg_integration_core.group_mfg_integration_ingress"),
            user.group_ids,
        )
        self.assertTrue(user._is_internal())
        self.assertFalse(
            user.has_group("mfg_integration_core.group_mfg_integration_user")
        )
        self.env.cr.execute("SELECT password FROM res_users WHERE id = %s", [user.id])
        self.assertFalse(self.env.cr.fetchone()[0])

    def test_technical_user_follows_the_system(self):
        self.system.name = "Renamed MES"
        self.assertIn("Renamed MES", self.system.user_id.name)
        self.system.active = False
        self.assertFalse(self.system.user_id.active)
        self.system.active = True
        self.assertTrue(self.system.user_id.active)

    def test_unlink_archives_the_technical_user(self):
        user = self.system.user_id
        self.system.unlink()
        self.assertTrue(user.exists())
        self.assertFalse(user.active)

    def test_created_by_an_integration_manager_without_admin_rights(self):
        system = (
            self.env["mfg.integration.system"]
            .with_user(self.manager)
            .create({"name": "QMS", "code": "qms", "kind": "qms"})
        )
        self.assertTrue(system.user_id)
        self.assertFalse(self.manager.has_group("base.group_erp_manager"))

    def test_code_rules(self):
        with self.assertRaises(ValidationError):
            self.env["mfg.integration.system"].create(
                {"name": "Bad", "code": "Bad Code"}
            )
        with mute_logger("odoo.sql_db"), self.assertRaises(IntegrityError) as info:
            with self.env.cr.savepoint():
                self.env["mfg.integration.system"].create(
                    {"name": "Dup", "code": "test_mes"}
                )
        self.assertIn("code_company_uniq", str(info.exception))

    def test_counts_and_actions(self):
        self.env["mfg.integration.api.key"].generate(self.system, "k1")
        self.assertEqual(self.system.api_key_count, 1)
        action = self.system.action_view_api_keys()
        self.assertEqual(action["domain"], [("system_id", "=", self.system.id)])
        action = self.system.action_generate_api_key()
        self.assertEqual(action["res_model"], "mfg.integration.api.key.wizard")
