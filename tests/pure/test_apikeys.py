import pytest

from mfg_integration import apikeys
from mfg_integration.errors import AuthenticationFailed


def test_generated_key_has_prefix_length_and_parts():
    parts = apikeys.generate_api_key()
    assert parts.key.startswith("mfgk_")
    assert len(parts.key) == apikeys.KEY_LENGTH
    assert parts.lookup == parts.key[5:17]
    assert parts.digest == apikeys.digest_api_key(parts.key)
    assert parts.key not in parts.digest


def test_keys_are_random():
    keys = {apikeys.generate_api_key().key for _ in range(200)}
    assert len(keys) == 200
    lookups = {k[5:17] for k in keys}
    assert len(lookups) == 200


def test_parse_round_trip():
    parts = apikeys.generate_api_key()
    assert apikeys.parse_api_key(parts.key) == parts


@pytest.mark.parametrize(
    "mutate",
    [
        lambda k: k[:-1],  # truncated
        lambda k: k + "0",  # too long
        lambda k: "mfgx_" + k[5:],  # wrong prefix
        lambda k: k[:10] + ("A" if k[10] != "A" else "B") + k[11:],  # typo in body
        lambda k: k[:-1] + ("0" if k[-1] != "0" else "1"),  # typo in checksum
        lambda k: "",
        lambda k: None,
    ],
)
def test_malformed_keys_are_refused_without_echo(mutate):
    key = apikeys.generate_api_key().key
    bad = mutate(key)
    with pytest.raises(AuthenticationFailed) as info:
        apikeys.parse_api_key(bad)
    assert info.value.status == 401
    assert key[5:] not in str(info.value)
    if bad:
        assert bad not in str(info.value)


def test_verify_is_exact():
    parts = apikeys.generate_api_key()
    other = apikeys.generate_api_key()
    assert apikeys.verify_api_key(parts.key, parts.digest)
    assert not apikeys.verify_api_key(other.key, parts.digest)
    assert not apikeys.verify_api_key("", parts.digest)
    assert not apikeys.verify_api_key(parts.key, "")


def test_mask_shows_only_the_lookup():
    parts = apikeys.generate_api_key()
    masked = apikeys.mask_api_key(parts.lookup)
    assert masked.startswith("mfgk_" + parts.lookup)
    assert parts.key not in masked
