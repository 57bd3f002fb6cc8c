import base64
import json
import time
from datetime import datetime, timezone

import pytest
from standardwebhooks.webhooks import Webhook

from mfg_integration import webhooks
from mfg_integration.errors import AuthenticationFailed, InvalidSecret


def test_generated_secret_is_accepted_by_the_reference_library():
    secret = webhooks.generate_webhook_secret()
    key = webhooks.decode_webhook_secret(secret)
    assert len(key) == 32
    # The reference implementation decodes the same bytes from the same text.
    assert Webhook(secret)._whsecret == key


@pytest.mark.parametrize("size", [24, 64])
def test_sizes_at_the_bounds(size):
    secret = webhooks.generate_webhook_secret(size)
    assert len(webhooks.decode_webhook_secret(secret)) == size


@pytest.mark.parametrize("size", [23, 65])
def test_sizes_out_of_bounds(size):
    with pytest.raises(InvalidSecret):
        webhooks.generate_webhook_secret(size)


@pytest.mark.parametrize(
    "bad",
    [
        "",
        None,
        "c2VjcmV0",
        "whsec_",
        "whsec_!!!notbase64!!!",
        "whsec_" + base64.b64encode(b"x" * 10).decode(),
        "whsec_" + base64.b64encode(b"x" * 65).decode(),
    ],
)
def test_bad_secrets_are_refused_without_echo(bad):
    with pytest.raises(InvalidSecret) as info:
        webhooks.decode_webhook_secret(bad)
    if bad and len(bad) > 6:
        assert bad[6:] not in str(info.value)


def test_unpadded_base64_is_accepted():
    secret = webhooks.generate_webhook_secret(25)
    assert secret.endswith("=")
    assert webhooks.decode_webhook_secret(secret.rstrip("=")) == (
        webhooks.decode_webhook_secret(secret)
    )


# Signing and verifying, checked against the standardwebhooks reference library.

BODY = b'{"type":"inspection.failed","timestamp":"2026-11-24T08:00:00Z","data":{}}'


def test_our_signature_verifies_with_the_reference_library():
    secret = webhooks.generate_webhook_secret()
    headers = webhooks.sign_headers(secret, "msg_2Kx9", BODY)
    assert Webhook(secret).verify(BODY, headers) == json.loads(BODY)


def test_reference_signature_verifies_with_ours():
    secret = webhooks.generate_webhook_secret()
    now = int(time.time())
    ref = Webhook(secret)
    signature = ref.sign(
        "msg_abc", datetime.fromtimestamp(now, tz=timezone.utc), BODY.decode()
    )
    headers = {
        "Webhook-Id": "msg_abc",
        "Webhook-Timestamp": str(now),
        "Webhook-Signature": signature,
    }
    assert webhooks.verify_webhook([secret], headers, BODY) == "msg_abc"


def test_rotation_signs_with_every_secret_and_verifies_with_any():
    old, new = webhooks.generate_webhook_secret(), webhooks.generate_webhook_secret()
    headers = webhooks.sign_headers([new, old], "msg_rot", BODY)
    assert len(headers["webhook-signature"].split()) == 2
    for secret in (old, new):
        Webhook(secret).verify(BODY, headers)
        assert webhooks.verify_webhook(secret, headers, BODY) == "msg_rot"
    # A receiver that only knows the old secret refuses a message signed with the new
    # secret alone.
    only_new = webhooks.sign_headers(new, "msg_rot2", BODY)
    with pytest.raises(AuthenticationFailed, match="No webhook signature"):
        webhooks.verify_webhook(old, only_new, BODY)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda h, b: (h, b + b" "), "No webhook signature"),
        (lambda h, b: ({**h, "webhook-id": "other"}, b), "No webhook signature"),
        (
            lambda h, b: ({k: v for k, v in h.items() if k != "webhook-id"}, b),
            "webhook-id",
        ),
        (
            lambda h, b: ({k: v for k, v in h.items() if k != "webhook-signature"}, b),
            "webhook-signature",
        ),
        (lambda h, b: ({**h, "webhook-timestamp": "soon"}, b), "Unix seconds"),
        (
            lambda h, b: ({**h, "webhook-signature": "v2,abc"}, b),
            "No webhook signature",
        ),
    ],
)
def test_tampering_is_refused(change, message):
    secret = webhooks.generate_webhook_secret()
    headers, body = change(webhooks.sign_headers(secret, "msg_t", BODY), BODY)
    with pytest.raises(AuthenticationFailed, match=message) as info:
        webhooks.verify_webhook(secret, headers, body)
    assert secret[6:] not in str(info.value)


def test_timestamp_tolerance_both_ways():
    secret = webhooks.generate_webhook_secret()
    now = 1_800_000_000
    for offset, ok in ((-300, True), (300, True), (-301, False), (301, False)):
        headers = webhooks.sign_headers(secret, "msg_ts", BODY, timestamp=now + offset)
        if ok:
            assert webhooks.verify_webhook(secret, headers, BODY, now=now)
        else:
            with pytest.raises(AuthenticationFailed, match="too old|future"):
                webhooks.verify_webhook(secret, headers, BODY, now=now)


def test_no_secret_configured():
    headers = webhooks.sign_headers(webhooks.generate_webhook_secret(), "m", BODY)
    with pytest.raises(AuthenticationFailed, match="No signing secret"):
        webhooks.verify_webhook([], headers, BODY)
