from datetime import timedelta
from unittest.mock import patch

from odoo import fields
from odoo.exceptions import AccessError, UserError, ValidationError
from odoo.modules.neutralize import get_neutralization_queries
from odoo.tests import tagged

from mfg_integration.secretbox import generate_key
from mfg_integration.webhooks import generate_webhook_secret

from .common import MfgIntegrationCase, capture_logs


@tagged("post_install", "-at_install")
class TestSecrets(MfgIntegrationCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.Endpoint = cls.env["mfg.integration.endpoint"]

    def _endpoint(self, **values):
        base = {
            "name": "To MES",
            "code": "to_mes",
            "system_id": self.system.id,
            "direction": "outbound",
            "url": "https://mes.example.com/hooks/odoo",
        }
        base.update(values)
        return self.Endpoint.create(base)

    def _raw(self, endpoint, column):
        self.env.flush_all()
        self.env.cr.execute(
            f"SELECT {column} FROM mfg_integration_endpoint WHERE id = %s",  # noqa: S608
            [endpoint.id],
        )
        return self.env.cr.fetchone()[0]

    def test_signing_secret_is_encrypted_in_the_column(self):
        secret = generate_webhook_secret()
        endpoint = self._endpoint(signing_secret=secret)
        raw = self._raw(endpoint, "signing_secret_encrypted")
        self.assertTrue(raw)
        self.assertNotIn(secret, raw)
        self.assertNotIn(secret[6:], raw)
        self.assertEqual(endpoint._get_signing_secrets(), [secret])
        self.assertTrue(endpoint.has_signing_secret)

    def test_secret_is_never_read_back(self):
        secret = generate_webhook_secret()
        endpoint = self._endpoint(signing_secret=secret, credential="tok-123456")
        # Not from the cache of the transaction that saved it…
        self.assertFalse(endpoint.signing_secret)
        self.assertFalse(endpoint.credential)
        # …nor through read() / web_read as the form would.
        values = endpoint.with_user(self.manager).read(["signing_secret", "credential"])
        self.assertEqual(values[0]["signing_secret"], False)
        self.assertEqual(values[0]["credential"], False)
        self.assertTrue(endpoint.with_user(self.manager).has_credential)
        with self.assertRaises(AccessError):
            endpoint.with_user(self.manager).read(["signing_secret_encrypted"])
        exportable = self.Endpoint.fields_get(attributes=["exportable"])
        for name in (
            "signing_secret",
            "credential",
            "signing_secret_encrypted",
            "credential_encrypted",
        ):
            self.assertFalse(exportable[name]["exportable"], name)

    def test_credential_encrypted(self):
        endpoint = self._endpoint(auth_kind="bearer", credential="tok-SECRET-987")
        raw = self._raw(endpoint, "credential_encrypted")
        self.assertNotIn("SECRET-987", raw)
        self.assertEqual(endpoint._get_credential(), "tok-SECRET-987")

    def test_invalid_secret_leaves_nothing(self):
        count = self.Endpoint.search_count([])
        with self.assertRaisesRegex(ValidationError, "whsec_"), self.env.cr.savepoint():
            self._endpoint(signing_secret="hunter2")
        self.env.invalidate_all()
        self.assertEqual(self.Endpoint.search_count([]), count)

    def test_without_configured_key_saving_fails_clearly(self):
        endpoint = self._endpoint()
        with (
            patch(
                "odoo.addons.mfg_integration_core.secret_config.load_secret_keys",
                return_value="",
            ),
            self.assertRaisesRegex(UserError, r"\[mfg_integration\]"),
        ):
            endpoint.signing_secret = generate_webhook_secret()
        self.assertFalse(endpoint.has_signing_secret)

    def test_rotation_keeps_the_previous_secret_for_the_window(self):
        first, second = generate_webhook_secret(), generate_webhook_secret()
        endpoint = self._endpoint(signing_secret=first)
        endpoint.signing_secret = second
        self.assertEqual(endpoint._get_signing_secrets(), [second, first])
        self.assertTrue(endpoint.has_previous_signing_secret)
        expected = fields.Datetime.now() + timedelta(hours=24)
        self.assertAlmostEqual(
            endpoint.previous_secret_expires_at, expected, delta=timedelta(minutes=1)
        )
        endpoint.action_clear_previous_signing_secret()
        self.assertEqual(endpoint._get_signing_secrets(), [second])

    def test_expired_rotation_window(self):
        first, second = generate_webhook_secret(), generate_webhook_secret()
        endpoint = self._endpoint(signing_secret=first)
        endpoint.signing_secret = second
        endpoint.sudo().previous_secret_expires_at = fields.Datetime.now() - timedelta(
            seconds=1
        )
        self.assertEqual(endpoint._get_signing_secrets(), [second])
        self.assertFalse(endpoint.has_previous_signing_secret)

    def test_no_rotation_window(self):
        first, second = generate_webhook_secret(), generate_webhook_secret()
        endpoint = self._endpoint(signing_secret=first, secret_rotation_hours=0)
        endpoint.signing_secret = second
        self.assertEqual(endpoint._get_signing_secrets(), [second])

    def test_rotate_action_reveals_a_new_secret_once(self):
        first = generate_webhook_secret()
        endpoint = self._endpoint(signing_secret=first)
        action = endpoint.with_user(self.manager).action_rotate_signing_secret()
        new = action["context"]["default_secret"]
        self.assertTrue(new.startswith("whsec_"))
        self.assertEqual(endpoint._get_signing_secrets(), [new, first])

    def test_secrets_never_reach_logs_or_chatter(self):
        secret = generate_webhook_secret()
        with capture_logs() as lines:
            endpoint = self._endpoint(signing_secret=secret, credential="tok-LEAK-42")
            endpoint.signing_secret = generate_webhook_secret()
            self.env.flush_all()
        logged = "\n".join(lines)
        self.assertNotIn(secret[6:], logged)
        self.assertNotIn("LEAK-42", logged)
        chatter = " ".join(endpoint.message_ids.mapped("body"))
        self.assertNotIn(secret[6:], chatter)
        self.assertNotIn("LEAK-42", chatter)
        self.assertIn("previous one stays valid", chatter)

    def test_url_rules(self):
        cases = [
            ({"url": "ftp://mes.example.com"}, "http"),
            ({"url": "https://user:pw@mes.example.com/hook"}, "credentials"),
            ({"auth_kind": "header"}, "header name"),
        ]
        for values, message in cases:
            with (
                self.subTest(values=values),
                self.assertRaisesRegex(ValidationError, message),
                self.env.cr.savepoint(),
            ):
                self._endpoint(**values)
        inbound = self.Endpoint.create(
            {
                "name": "From MES",
                "code": "from-mes",
                "system_id": self.system.id,
                "direction": "inbound",
            }
        )
        self.assertFalse(inbound.url)

    def test_neutralize(self):
        endpoint = self._endpoint()
        key, clear = self.env["mfg.integration.api.key"].generate(self.system, "k")
        self.env.flush_all()
        for query in get_neutralization_queries(["mfg_integration_core"]):
            self.env.cr.execute(query)
        self.env.invalidate_all()
        self.assertFalse(endpoint.active)
        self.assertEqual(key.state, "revoked")

    def _keys(self, keys):
        return patch(
            "odoo.addons.mfg_integration_core.secret_config.load_secret_keys",
            return_value=keys,
        )

    def test_reencrypt_moves_every_secret_to_the_first_key(self):
        old, new = generate_key(), generate_key()
        first, second = generate_webhook_secret(), generate_webhook_secret()
        with self._keys(old):
            endpoint = self._endpoint(signing_secret=first, credential="tok-ROT-1")
            endpoint.signing_secret = second
            archived = self._endpoint(code="old_mes", credential="tok-ROT-2")
            archived.active = False
        before = self._raw(endpoint, "credential_encrypted")
        with self._keys(f"{new},{old}"):
            action = self.Endpoint.with_user(self.env.ref("base.user_admin"))
            action = action.action_reencrypt_secrets()
        self.assertIn("4 stored secret", action["params"]["message"])
        self.assertNotEqual(self._raw(endpoint, "credential_encrypted"), before)
        with self._keys(new):
            self.assertEqual(endpoint._get_signing_secrets(), [second, first])
            self.assertEqual(endpoint._get_credential(), "tok-ROT-1")
            self.assertEqual(archived._get_credential(), "tok-ROT-2")

    def test_reencrypt_is_all_or_nothing_and_names_the_endpoint(self):
        old, new = generate_key(), generate_key()
        with self._keys(new):
            opened = self._endpoint(code="a_mes", credential="tok-A")
        with self._keys(old):
            lost = self._endpoint(name="Lost MES", code="b_mes", credential="tok-B")
        before = self._raw(opened, "credential_encrypted")
        with self._keys(new), self.assertRaisesRegex(UserError, "Lost MES") as info:
            self.Endpoint._reencrypt_secrets()
        self.assertNotIn("tok-", str(info.exception))
        self.assertEqual(self._raw(opened, "credential_encrypted"), before)
        self.assertTrue(self._raw(lost, "credential_encrypted"))
