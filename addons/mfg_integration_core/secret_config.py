"""Access to the encryption keys of stored secrets, from the server configuration."""

from functools import lru_cache

from odoo.exceptions import UserError
from odoo.tools import config

from mfg_integration.errors import ConfigurationError
from mfg_integration.secretbox import SecretBox, load_secret_keys


@lru_cache(maxsize=4)
def _box_for(keys_text):
    return SecretBox(keys_text)


def get_secret_box():
    """Return the :class:`~mfg_integration.secretbox.SecretBox` of the configured keys.

    The keys come from the ``MFG_INTEGRATION_SECRET_KEYS`` environment variable or from
    the ``secret_keys`` option of the ``[mfg_integration]`` section of the Odoo
    configuration file.

    :return: a ready :class:`~mfg_integration.secretbox.SecretBox`
    :raise UserError: saying how to configure a key when none is usable
    """
    try:
        return _box_for(load_secret_keys(config.get("config")))
    except ConfigurationError as exc:
        raise UserError(exc.detail) from None
