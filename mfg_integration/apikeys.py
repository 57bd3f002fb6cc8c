"""API keys of external systems.

A key looks like ``mfgk_<43 random characters><8 hex checksum>``: 32 random bytes
(256 bits) in URL-safe base64, then the CRC-32 of that body. The recognisable prefix
lets secret scanners find leaked keys; the checksum lets the hub refuse a mistyped
or truncated key without touching the database.

At rest only two things are kept: the *lookup*, the first 12 characters of the body
(indexed, not secret enough to authenticate on its own), and the SHA-256 digest of
the whole key. A random 256-bit key needs no slow key-derivation function: a single
hash makes verification cheap while leaving nothing useful in a database dump."""

import binascii
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

from .errors import AuthenticationFailed

PREFIX = "mfgk_"
BODY_LENGTH = 43
LOOKUP_LENGTH = 12
KEY_LENGTH = len(PREFIX) + BODY_LENGTH + 8
_KEY_RE = re.compile(r"^mfgk_([A-Za-z0-9_-]{43})([0-9a-f]{8})$")


@dataclass(frozen=True)
class ApiKeyParts:
    """What the hub stores of a key (``lookup``, ``digest``), and once the key."""

    key: str
    lookup: str
    digest: str


def _checksum(body):
    return f"{binascii.crc32(body.encode('ascii')) & 0xFFFFFFFF:08x}"


def digest_api_key(key):
    """Return the hex SHA-256 digest stored for ``key``."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def generate_api_key():
    """Create a new random key.

    :return: an :class:`ApiKeyParts` whose ``key`` must be shown once and then forgotten
    """
    body = secrets.token_urlsafe(32)
    key = PREFIX + body + _checksum(body)
    return ApiKeyParts(key=key, lookup=body[:LOOKUP_LENGTH], digest=digest_api_key(key))


def parse_api_key(key):
    """Check the format and checksum of a presented key.

    :param key: the clear key as received
    :return: its :class:`ApiKeyParts`
    :raise AuthenticationFailed: when the format or the checksum is wrong; the message
        never repeats the key
    """
    match = _KEY_RE.match(key or "")
    if not match:
        raise AuthenticationFailed("The API key is malformed.")
    body, checksum = match.groups()
    if not hmac.compare_digest(checksum, _checksum(body)):
        raise AuthenticationFailed("The API key is malformed.")
    return ApiKeyParts(key=key, lookup=body[:LOOKUP_LENGTH], digest=digest_api_key(key))


def verify_api_key(key, digest):
    """Compare a presented key with a stored digest in constant time.

    :return: True when ``key`` hashes to ``digest``
    """
    if not key or not digest:
        return False
    return hmac.compare_digest(digest_api_key(key), digest)


def mask_api_key(lookup):
    """Return the displayable form of a key: ``mfgk_AbCdEfGhIjKl…``."""
    return f"{PREFIX}{lookup}…"
