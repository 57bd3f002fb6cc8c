"""Standard Webhooks (https://www.standardwebhooks.com): secrets, signing, verifying.

A symmetric secret is serialised as ``whsec_`` followed by the base64 of 24 to 64
random bytes. The hub keeps such secrets encrypted (see
:mod:`mfg_integration.secretbox`). A request is signed with HMAC-SHA256 over
``{webhook-id}.{webhook-timestamp}.{body}``; during a secret rotation it carries one
signature per valid secret.
"""

import base64
import binascii
import hashlib
import hmac
import time
from secrets import token_bytes

from .errors import AuthenticationFailed, InvalidSecret

SECRET_PREFIX = "whsec_"
MIN_SECRET_BYTES = 24
MAX_SECRET_BYTES = 64


def generate_webhook_secret(size=32):
    """Return a new ``whsec_`` secret of ``size`` random bytes."""
    if not MIN_SECRET_BYTES <= size <= MAX_SECRET_BYTES:
        raise InvalidSecret(
            f"A webhook secret has {MIN_SECRET_BYTES} to {MAX_SECRET_BYTES} bytes."
        )
    return SECRET_PREFIX + base64.b64encode(token_bytes(size)).decode("ascii")


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


#: accepted clock difference between sender and receiver, in seconds
TIMESTAMP_TOLERANCE = 5 * 60


def _signing_keys(secrets):
    if isinstance(secrets, str):
        secrets = [secrets]
    return [decode_webhook_secret(s) for s in secrets if s]


def sign_payload(secrets, msg_id, timestamp, body):
    """Compute the ``webhook-signature`` header value for one delivery attempt.

    :param secrets: one ``whsec_`` secret, or several during a rotation (all of them
        sign, so a receiver that knows any one of them accepts the message)
    :param msg_id: the ``webhook-id`` (stable across retries)
    :param timestamp: the ``webhook-timestamp`` of this attempt, in Unix seconds
    :param body: the exact body bytes sent
    :return: space-separated ``v1,<base64>`` signatures
    """
    if isinstance(body, str):
        body = body.encode("utf-8")
    signed = f"{msg_id}.{int(timestamp)}.".encode() + body
    signatures = []
    for key in _signing_keys(secrets):
        digest = hmac.new(key, signed, hashlib.sha256).digest()
        signatures.append("v1," + base64.b64encode(digest).decode("ascii"))
    return " ".join(signatures)


def sign_headers(secrets, msg_id, body, timestamp=None):
    """Return the three Standard Webhooks headers for a delivery attempt."""
    timestamp = int(time.time() if timestamp is None else timestamp)
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign_payload(secrets, msg_id, timestamp, body),
    }


def verify_webhook(secrets, headers, body, tolerance=TIMESTAMP_TOLERANCE, now=None):
    """Verify a Standard Webhooks request; receivers call this before trusting a body.

    :param secrets: the ``whsec_`` secret(s) currently valid for the sender (during a
        rotation, the new and the previous one)
    :param headers: the request headers (any mapping; names are matched without case)
    :param body: the exact body bytes received
    :param tolerance: accepted clock difference in seconds (default 5 minutes)
    :return: the ``webhook-id`` (use it to drop replays)
    :raise AuthenticationFailed: missing header, stale or future timestamp, or no
        matching signature; the message never contains a secret or a signature
    """
    lower = {str(k).lower(): v for k, v in dict(headers).items()}
    msg_id = lower.get("webhook-id")
    stamp = lower.get("webhook-timestamp")
    signature = lower.get("webhook-signature")
    missing = [
        name
        for name, value in (
            ("webhook-id", msg_id),
            ("webhook-timestamp", stamp),
            ("webhook-signature", signature),
        )
        if not value
    ]
    if missing:
        raise AuthenticationFailed(
            "Missing Standard Webhooks header(s): " + ", ".join(missing) + "."
        )
    if "." in msg_id:
        raise AuthenticationFailed("The webhook-id must not contain '.'.")
    try:
        timestamp = int(stamp)
    except ValueError:
        raise AuthenticationFailed(
            "The webhook-timestamp is not Unix seconds."
        ) from None
    now = int(time.time() if now is None else now)
    if timestamp < now - tolerance:
        raise AuthenticationFailed("The webhook-timestamp is too old.")
    if timestamp > now + tolerance:
        raise AuthenticationFailed("The webhook-timestamp is in the future.")
    if isinstance(body, str):
        body = body.encode("utf-8")
    expected = sign_payload(secrets, msg_id, timestamp, body).split()
    if not expected:
        raise AuthenticationFailed("No signing secret is configured for this sender.")
    for candidate in signature.split():
        version, _sep, value = candidate.partition(",")
        if version != "v1":
            continue
        for good in expected:
            if hmac.compare_digest(good[3:], value):
                return msg_id
    raise AuthenticationFailed("No webhook signature matches.")
