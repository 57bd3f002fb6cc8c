import base64

import pytest
from standardwebhooks.webhooks import Webhook

from mfg_integration import webhooks
from mfg_integration.errors import InvalidSecret


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
