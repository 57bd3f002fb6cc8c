"""Standard Webhooks secrets (https://www.standardwebhooks.com).

A symmetric secret is serialised as ``whsec_`` followed by the base64 of 24 to 64 random
bytes. The hub keeps such secrets encrypted (see :mod:`mfg_integration.secretbox`).
"""

import base64
import binascii
import secrets

from .errors import InvalidSecret

SECRET_PREFIX = "whsec_"
MIN_SECRET_BYTES = 24
MAX_SECRET_BYTES = 64


def generate_webhook_secret(size=32):
    """Return a new ``whsec_`` secret of ``size`` random bytes."""
    if not MIN_SECRET_BYTES <= size <= MAX_SECRET_BYTES:
        raise InvalidSecret(
            f"A webhook secret has {MIN_SECRET_BYTES} to {MAX_SECRET_BYTES} bytes."
        )
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(size)).decode("ascii")


def decode_webhook_secret(secret):
    """Check a ``whsec_`` secret and return its key bytes.

    :raise InvalidSecret: when the prefix, the base64 or the length is wrong; the
        message never repeats the secret
    """
    if not isinstance(secret, str) or not secret.startswith(SECRET_PREFIX):
        raise InvalidSecret(
            f"A webhook signing secret starts with '{SECRET_PREFIX}' and base64."
        )
    encoded = secret[len(SECRET_PREFIX) :].strip()
    try:
        key = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise InvalidSecret(
            "The webhook signing secret is not valid base64 after 'whsec_'."
        ) from None
    if not MIN_SECRET_BYTES <= len(key) <= MAX_SECRET_BYTES:
        raise InvalidSecret(
            f"A webhook signing secret must hold {MIN_SECRET_BYTES} to "
            f"{MAX_SECRET_BYTES} bytes; this one holds {len(key)}."
        )
    return key
