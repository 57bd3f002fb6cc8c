import json

from standardwebhooks.webhooks import Webhook

from odoo.exceptions import AccessError, UserError
from odoo.tests import HttpCase, tagged

from odoo.addons.mfg_integration_core.wizards.mfg_integration_onboarding import (
    SECRETS_KEY,
    TEMPLATES,
)

from mfg_integration.simulators import Answer, StubServer

from .common import MfgIntegrationCase


@tagged("post_install", "-at_install")
class TestOnboarding(MfgIntegrationCase, HttpCase):
    """The onboarding wizard, its template, credentials shown once, and its two
    tests over real HTTP: Odoo to a receiver on 127.0.0.1, the system to Odoo's
    ingress."""

    def setUp(self):
        super().setUp()
        self.server = StubServer()
        self.server.start()
        self.addCleanup(self.server.stop)
        self.Wizard = self.env["mfg.integration.onboarding"].with_user(self.manager)

    def start(self, **values):
        wizard = self.Wizard.create(
            {
                "name": "Press line MES",
                "code": "press_mes",
                "kind": "mes",
                "url": self.server.url("/odoo-events"),
                **values,
            }
        )
        wizard.action_next()
        return wizard

    def create_system(self, wizard):
        """Create the system; return the clear ``(api_key, signing_secret)`` as the
        credentials screen shows them."""
        action = wizard.action_create()
        shown = wizard.with_context(**action["context"])
        return shown.api_key_once, shown.signing_secret_once

    def ping(self, api_key, event_id="press-ping-1"):
        event = {
            "specversion": "1.0",
            "id": event_id,
            "source": "urn:press_mes",
            "type": "integration.ping",
            "data": {"message": "Hello from the press line"},
        }
        return self.url_open(
            "/api/mfg/v1/events",
            data=json.dumps(event),
            headers={
                "Authorization": f"Bearer {api_key}",
                "Content-Type": "application/json",
            },
            timeout=60,
        )

    def test_the_kind_gives_a_template_of_installed_event_types(self):
        wizard = self.start()
        self.assertEqual(wizard.step, "template")
        installed = set(
            self.env["mfg.integration.event.type"].search([]).mapped("code")
        )
        inbound, outbound = TEMPLATES["mes"]
        self.assertEqual(
            set(wizard.inbound_event_type_ids.mapped("code")), set(inbound) & installed
        )
        self.assertEqual(
            set(wizard.outbound_event_type_ids.mapped("code")),
            set(outbound) & installed,
        )
        wizard.kind = "iot"
        wizard._onchange_kind()
        self.assertFalse(wizard.outbound_event_type_ids)

    def test_a_system_is_onboarded_once_both_tests_passed(self):
        wizard = self.start()
        api_key, secret = self.create_system(wizard)
        self.assertTrue(api_key.startswith("mfgk_"))
        self.assertTrue(secret.startswith("whsec_"))
        # shown once: without the action's context, the wizard holds no secret
        self.assertFalse(wizard.api_key_once)
        self.assertFalse(wizard.signing_secret_once)
        for field in ("api_key_once", "signing_secret_once"):
            self.assertFalse(self.Wizard._fields[field].store)
        system = wizard.system_id
        self.assertEqual((system.code, system.kind), ("press_mes", "mes"))
        self.assertEqual(wizard.endpoint_id.url, self.server.url("/odoo-events"))
        subscribed = (
            self.env["mfg.integration.subscription"]
            .search([("endpoint_id", "=", wizard.endpoint_id.id)])
            .event_type_id.mapped("code")
        )
        self.assertIn("integration.connection_test", subscribed)
        key = self.env["mfg.integration.api.key"].search(
            [("system_id", "=", system.id)]
        )
        self.assertIn("integration.ping", key.event_type_ids.mapped("code"))
        wizard.action_to_tests()
        self.assertEqual(wizard.step, "tests")
        self.assertFalse(wizard.with_context(**{SECRETS_KEY: "{}"}).api_key_once)
        self.assertIn("$MFG_API_KEY", wizard.curl_command)
        self.assertIn("integration.ping", wizard.curl_command)

        # Odoo to the system: one delivery attempt now, signed
        wizard.action_send_test()
        (request,) = self.server.requests
        body = json.loads(request.body)
        self.assertEqual(body["type"], "integration.connection_test")
        self.assertEqual(body["data"]["system"]["code"], "press_mes")
        Webhook(secret).verify(request.body, dict(request.headers))
        self.assertTrue(wizard.outbound_ok)
        self.assertIn("Delivered: HTTP 200", wizard.outbound_result)
        self.assertEqual(wizard.step, "tests", "the system has not sent yet")
        self.assertFalse(system.onboarded_at)

        # the system to Odoo, with its new key (what the curl line does)
        response = self.ping(api_key)
        self.assertEqual(response.status_code, 202, response.text)
        wizard.action_check()
        self.assertTrue(wizard.inbound_ok)
        self.assertEqual(wizard.step, "done")
        self.assertTrue(system.onboarded_at)
        self.assertIn("Onboarded.", system.message_ids[0].body)

    def test_a_failed_delivery_keeps_the_system_waiting(self):
        self.server.default = Answer(500)
        wizard = self.start()
        api_key, _secret = self.create_system(wizard)
        wizard.action_to_tests()
        wizard.action_send_test()
        self.assertFalse(wizard.outbound_ok)
        self.assertIn("Not delivered (http.500)", wizard.outbound_result)
        self.ping(api_key)
        wizard.action_check()
        self.assertEqual(wizard.step, "tests")
        self.assertFalse(wizard.system_id.onboarded_at)
        # the receiver is fixed: a new test passes
        self.server.default = Answer(200)
        wizard.action_send_test()
        self.assertEqual(wizard.step, "done")

    def test_a_system_that_only_sends_needs_only_its_ping(self):
        wizard = self.start(kind="iot", url=False)
        api_key, secret = self.create_system(wizard)
        self.assertFalse(secret)
        self.assertFalse(wizard.endpoint_id)
        wizard.action_to_tests()
        self.assertTrue(wizard.outbound_ok)
        with self.assertRaises(UserError):
            wizard.action_send_test()
        self.ping(api_key)
        wizard.action_check()
        self.assertTrue(wizard.system_id.onboarded_at)

    def test_a_ping_from_another_system_does_not_count(self):
        wizard = self.start()
        self.create_system(wizard)
        wizard.action_to_tests()
        _key, other_key = self.env["mfg.integration.api.key"].generate(self.system, "x")
        self.assertEqual(self.ping(other_key).status_code, 202)
        wizard.action_check()
        self.assertFalse(wizard.inbound_ok)

    def test_codes_are_checked_before_anything_is_created(self):
        with self.assertRaisesRegex(UserError, "lower-case"):
            self.start(code="Press MES")
        with self.assertRaisesRegex(UserError, "exists"):
            self.start(code="test_mes")

    def test_only_managers_onboard(self):
        with self.assertRaises(AccessError):
            self.env["mfg.integration.onboarding"].with_user(self.user).create(
                {"name": "x", "code": "x", "kind": "mes"}
            )
