import hashlib
from datetime import timedelta
from unittest.mock import patch

from odoo import fields
from odoo.exceptions import UserError, ValidationError
from odoo.tests import tagged

from odoo.addons.mfg_integration_core.models import (
    mfg_integration_api_key as api_key_module,
)

from mfg_integration.apikeys import generate_api_key
from mfg_integration.errors import AuthenticationFailed, Forbidden

from .common import MfgIntegrationCase


@tagged("post_install", "-at_install")
class TestApiKey(MfgIntegrationCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.Key = cls.env["mfg.integration.api.key"]

    def _generate(self, **kw):
        return self.Key.generate(self.system, "MES server", **kw)

    def test_generate_stores_only_digest_and_lookup(self):
        key, clear = self._generate()
        self.assertTrue(clear.startswith("mfgk_"))
        self.assertEqual(key.lookup, clear[5:17])
        self.env.flush_all()
        self.env.cr.execute(
            "SELECT row_to_json(k)::text FROM mfg_integration_api_key k WHERE id = %s",
            [key.id],
        )
        row = self.env.cr.fetchone()[0]
        self.assertNotIn(clear, row)
        self.assertNotIn(clear[17:], row)
        self.assertIn(hashlib.sha256(clear.encode()).hexdigest(), row)
        self.assertEqual(key.key_hint, f"mfgk_{key.lookup}…")

    def test_generate_logs_the_hint_not_the_key(self):
        key, clear = self._generate()
        bodies = " ".join(self.system.message_ids.mapped("body"))
        self.assertIn(key.lookup, bodies)
        self.assertNotIn(clear, bodies)

    def test_authenticate_returns_the_key_and_its_technical_user(self):
        key, clear = self._generate()
        found = self.Key._authenticate(clear, remote_addr="127.0.0.1")
        self.assertEqual(found, key)
        self.assertEqual(found.user_id, self.system.user_id)

    def test_missing_malformed_and_unknown_keys(self):
        self._generate()
        with self.assertRaisesRegex(AuthenticationFailed, "required"):
            self.Key._authenticate("")
        with self.assertRaisesRegex(AuthenticationFailed, "malformed"):
            self.Key._authenticate("not-a-key")
        with self.assertRaisesRegex(AuthenticationFailed, "unknown"):
            self.Key._authenticate(generate_api_key().key)

    def test_same_lookup_different_secret_is_unknown(self):
        key, clear = self._generate()
        forged = generate_api_key()
        # Make a well-formed key that shares the stored lookup but not the secret.
        self.env.cr.execute(
            "UPDATE mfg_integration_api_key SET lookup = %s WHERE id = %s",
            [forged.lookup, key.id],
        )
        self.Key.invalidate_model()
        with self.assertRaisesRegex(AuthenticationFailed, "unknown"):
            self.Key._authenticate(forged.key)

    def test_expired_key(self):
        past = fields.Datetime.now() - timedelta(seconds=1)
        key, clear = self._generate(expires_at=past)
        self.assertEqual(key.state, "expired")
        with self.assertRaisesRegex(AuthenticationFailed, "expired"):
            self.Key._authenticate(clear)
        future = fields.Datetime.now() + timedelta(days=1)
        key2, clear2 = self._generate(expires_at=future)
        self.assertEqual(key2.state, "active")
        self.assertEqual(self.Key._authenticate(clear2), key2)

    def test_revoke(self):
        key, clear = self._generate()
        key.with_user(self.manager).action_revoke()
        self.assertEqual(key.state, "revoked")
        self.assertEqual(key.revoked_by_id, self.manager)
        self.assertTrue(key.revoked_at)
        with self.assertRaisesRegex(AuthenticationFailed, "revoked"):
            self.Key._authenticate(clear)
        with self.assertRaises(UserError):
            key.revoked = False
        self.assertIn("revoked", self.system.message_ids[0].body)

    def test_key_material_is_immutable(self):
        key, _clear = self._generate()
        with self.assertRaises(UserError):
            key.lookup = "x" * 12
        with self.assertRaises(UserError):
            key.system_id = self.env["mfg.integration.system"].create(
                {"name": "Other", "code": "other"}
            )
        key.name = "renamed is fine"

    def test_scopes(self):
        key, clear = self._generate(event_types=self.event_type)
        self.assertEqual(
            self.Key._authenticate(clear, event_type_code=self.event_type.code), key
        )
        with self.assertRaisesRegex(Forbidden, "not allowed to send"):
            self.Key._authenticate(clear, event_type_code=self.other_event_type.code)
        _open, open_clear = self._generate()
        self.Key._authenticate(open_clear, event_type_code=self.other_event_type.code)

    def test_allowed_networks(self):
        key, clear = self._generate(allowed_networks="10.0.0.0/8, 2001:db8::/32")
        self.assertEqual(self.Key._authenticate(clear, remote_addr="10.1.2.3"), key)
        self.assertEqual(self.Key._authenticate(clear, remote_addr="2001:db8::7"), key)
        with self.assertRaisesRegex(Forbidden, "network"):
            self.Key._authenticate(clear, remote_addr="192.168.1.1")
        with self.assertRaisesRegex(ValidationError, "'10.0.0.0/33'"):
            key.allowed_networks = "10.0.0.0/33"

    def test_archived_system_keys_stop_working(self):
        _key, clear = self._generate()
        self.system.active = False
        with self.assertRaisesRegex(AuthenticationFailed, "archived"):
            self.Key._authenticate(clear)

    def test_last_used_is_recorded_at_most_once_a_minute(self):
        key, clear = self._generate()
        self.assertFalse(key.last_used_at)
        self.Key._authenticate(clear, remote_addr="10.0.0.1")
        first = key.last_used_at
        self.assertTrue(first)
        self.assertEqual(key.last_used_ip, "10.0.0.1")
        self.Key._authenticate(clear, remote_addr="10.0.0.2")
        self.assertEqual(key.last_used_at, first)
        self.assertEqual(key.last_used_ip, "10.0.0.1")
        self.env.cr.execute(
            "UPDATE mfg_integration_api_key SET last_used_at = last_used_at - "
            "interval '2 minutes' WHERE id = %s",
            [key.id],
        )
        key.invalidate_recordset()
        # a minute later for this worker too
        with patch.dict(api_key_module._LAST_TOUCH, clear=True):
            self.Key._authenticate(clear, remote_addr="10.0.0.2")
        self.assertEqual(key.last_used_ip, "10.0.0.2")

    def test_state_search(self):
        active, _c1 = self._generate()
        expired, _c2 = self._generate(
            expires_at=fields.Datetime.now() - timedelta(hours=1)
        )
        revoked, _c3 = self._generate()
        revoked.action_revoke()
        mine = [("system_id", "=", self.system.id)]
        self.assertEqual(self.Key.search(mine + [("state", "in", ["active"])]), active)
        self.assertEqual(
            self.Key.search(mine + [("state", "in", ["expired"])]), expired
        )
        self.assertEqual(
            self.Key.search(mine + [("state", "in", ["revoked"])]), revoked
        )
        self.assertEqual(
            self.Key.search(mine + [("state", "not in", ["active"])]),
            expired | revoked,
        )

    def test_wizard_shows_the_key_once_and_stores_it_nowhere(self):
        wizard = (
            self.env["mfg.integration.api.key.wizard"]
            .with_user(self.manager)
            .create(
                {
                    "system_id": self.system.id,
                    "name": "From the UI",
                    "event_type_ids": [(6, 0, self.event_type.ids)],
                }
            )
        )
        action = wizard.action_generate()
        self.assertEqual(action["res_model"], "mfg.integration.secret.reveal")
        clear = action["context"]["default_secret"]
        key = self.Key._authenticate(clear, event_type_code=self.event_type.code)
        self.assertEqual(key.name, "From the UI")
        self.assertTrue(key.expires_at, "the wizard proposes an expiry by default")
        self.env.flush_all()
        self.env.cr.execute(
            "SELECT row_to_json(w)::text FROM mfg_integration_api_key_wizard w"
        )
        for (row,) in self.env.cr.fetchall():
            self.assertNotIn(clear, row)
        self.assertTrue(self.env["mfg.integration.secret.reveal"]._abstract)
