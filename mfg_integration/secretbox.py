"""Encryption at rest of the secrets the hub keeps (credentials, signing secrets).

Secrets are encrypted with Fernet (AES-128-CBC with HMAC-SHA256, from
``cryptography``) under keys that live in the server configuration, never in the
database: a dump or a copy of the database alone reveals nothing. Several keys may
be configured, separated by commas; the first one encrypts, all of them decrypt, so
keys can be rotated without downtime."""

import configparser
import os

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from .errors import ConfigurationError, InvalidSecret

ENV_VAR = "MFG_INTEGRATION_SECRET_KEYS"
CONFIG_SECTION = "mfg_integration"
CONFIG_OPTION = "secret_keys"


def generate_key():
    """Return a new random encryption key, ready for the ``secret_keys`` option."""
    return Fernet.generate_key().decode("ascii")


def load_secret_keys(config_path=None, environ=None):
    """Read the configured encryption keys.

    The environment variable ``MFG_INTEGRATION_SECRET_KEYS`` wins over the
    ``secret_keys`` option of the ``[mfg_integration]`` section of the Odoo
    configuration file.

    :param config_path: path of the Odoo configuration file, if any
    :param environ: mapping used instead of ``os.environ`` (tests)
    :return: the raw option text, or an empty string when nothing is configured
    """
    environ = os.environ if environ is None else environ
    value = environ.get(ENV_VAR, "").strip()
    if value:
        return value
    if config_path and os.path.exists(config_path):
        parser = configparser.RawConfigParser()
        parser.read(config_path)
        if parser.has_option(CONFIG_SECTION, CONFIG_OPTION):
            return parser.get(CONFIG_SECTION, CONFIG_OPTION).strip()
    return ""


class SecretBox:
    """Encrypts and decrypts short secrets with the configured keys.

    :param keys: the option text (comma or whitespace separated keys) or a list of keys
    :raise ConfigurationError: when no key is given or a key is not a valid Fernet key
    """

    def __init__(self, keys):
        if isinstance(keys, str):
            keys = keys.replace(",", " ").split()
        keys = [k.strip() for k in keys or () if k and k.strip()]
        if not keys:
            raise ConfigurationError(
                "No encryption key is configured for stored secrets. Set 'secret_keys' "
                f"in the [{CONFIG_SECTION}] section of the Odoo configuration file (or "
                f"the {ENV_VAR} environment variable) to a key made with "
                "'mfg-integration keygen'."
            )
        fernets = []
        for position, key in enumerate(keys, start=1):
            try:
                fernets.append(Fernet(key.encode("ascii")))
            except (ValueError, UnicodeEncodeError, TypeError) as exc:
                raise ConfigurationError(
                    f"Encryption key number {position} of '{CONFIG_OPTION}' is not a "
                    "valid key (32 bytes in URL-safe base64 are expected)."
                ) from exc
        self._fernet = MultiFernet(fernets)

    def encrypt(self, clear):
        """Encrypt ``clear`` (a string) and return the token as a string."""
        if not isinstance(clear, str) or not clear:
            raise InvalidSecret("An empty secret cannot be stored.")
        return self._fernet.encrypt(clear.encode("utf-8")).decode("ascii")

    def decrypt(self, token):
        """Decrypt a token made by :meth:`encrypt` with any of the configured keys.

        :raise ConfigurationError: when none of the keys opens the token (the key that
            encrypted it was removed from the configuration, or the value was altered)
        """
        return self._open(self._fernet.decrypt, token, "decrypted").decode("utf-8")

    def rotate(self, token):
        """Re-encrypt ``token`` under the first configured key.

        :raise ConfigurationError: when none of the keys opens the token
        """
        return self._open(self._fernet.rotate, token, "re-encrypted").decode("ascii")

    @staticmethod
    def _open(operation, token, done):
        try:
            return operation(token.encode("ascii"))
        except (InvalidToken, UnicodeError, AttributeError):
            raise ConfigurationError(
                f"A stored secret cannot be {done} with the configured keys: the key "
                "that encrypted it is no longer configured, or the value was altered."
            ) from None
