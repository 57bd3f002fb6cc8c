from odoo.exceptions import AccessError
from odoo.tests import new_test_user, tagged
from odoo.tools import mute_logger

from .common import MANAGER, MfgIntegrationCase


@tagged("post_install", "-at_install")
class TestMultiCompany(MfgIntegrationCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.company_a = cls.env.company
        cls.company_b = cls.env["res.company"].create({"name": "Plant B"})
        cls.system_b = (
            cls.env["mfg.integration.system"]
            .with_company(cls.company_b)
            .create({"name": "MES B", "code": "test_mes"})
        )
        cls.key_b, _clear = cls.env["mfg.integration.api.key"].generate(
            cls.system_b, "kb"
        )
        cls.manager_a = new_test_user(
            cls.env,
            login="mfg_manager_a",
            groups=MANAGER,
            company_id=cls.company_a.id,
            company_ids=[(6, 0, cls.company_a.ids)],
        )

    def test_same_code_in_two_companies(self):
        self.assertEqual(self.system_b.code, self.system.code)
        self.assertEqual(self.system_b.company_id, self.company_b)
        self.assertEqual(self.system_b.user_id.company_id, self.company_b)

    def test_manager_of_company_a_does_not_see_company_b(self):
        Systems = self.env["mfg.integration.system"].with_user(self.manager_a)
        self.assertNotIn(self.system_b, Systems.search([]))
        self.assertIn(self.system, Systems.search([]))
        Keys = self.env["mfg.integration.api.key"].with_user(self.manager_a)
        self.assertNotIn(self.key_b, Keys.search([]))
        with self.assertRaises(AccessError), mute_logger("odoo.access"):
            self.system_b.with_user(self.manager_a).read(["name"])

    def test_endpoint_company_follows_its_system(self):
        endpoint = self.env["mfg.integration.endpoint"].create(
            {
                "name": "B in",
                "code": "b-in",
                "system_id": self.system_b.id,
                "direction": "inbound",
            }
        )
        self.assertEqual(endpoint.company_id, self.company_b)
        manager_a_endpoints = self.env["mfg.integration.endpoint"].with_user(
            self.manager_a
        )
        self.assertNotIn(endpoint, manager_a_endpoints.search([]))

    def test_cannot_attach_to_another_company_system(self):
        Endpoints = self.env["mfg.integration.endpoint"].with_user(self.manager_a)
        with self.assertRaises(AccessError), mute_logger("odoo.access"):
            Endpoints.create(
                {
                    "name": "sneaky",
                    "code": "sneaky",
                    "system_id": self.system_b.id,
                    "direction": "inbound",
                }
            )
