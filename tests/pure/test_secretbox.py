import pytest

from mfg_integration import secretbox
from mfg_integration.errors import ConfigurationError, InvalidSecret


def test_round_trip_and_ciphertext_hides_the_secret():
    box = secretbox.SecretBox(secretbox.generate_key())
    token = box.encrypt("whsec_c2VjcmV0LXRoYXQtaXMtbG9uZy1lbm91Z2g=")
    assert "whsec_" not in token
    assert "c2VjcmV0" not in token
    assert box.decrypt(token) == "whsec_c2VjcmV0LXRoYXQtaXMtbG9uZy1lbm91Z2g="


def test_same_secret_encrypts_differently_each_time():
    box = secretbox.SecretBox(secretbox.generate_key())
    assert box.encrypt("s3cret-value") != box.encrypt("s3cret-value")


def test_missing_key_is_a_clear_configuration_error():
    for empty in ("", "  ", None, [], " , "):
        with pytest.raises(ConfigurationError, match=r"\[mfg_integration\]"):
            secretbox.SecretBox(empty)


def test_invalid_key_names_its_position_not_its_value():
    good = secretbox.generate_key()
    with pytest.raises(ConfigurationError, match="number 2") as info:
        secretbox.SecretBox(f"{good},not-a-key")
    assert "not-a-key" not in str(info.value)


def test_rotation_old_keys_still_decrypt_first_key_encrypts():
    old, new = secretbox.generate_key(), secretbox.generate_key()
    token = secretbox.SecretBox(old).encrypt("value-1")
    rotated_box = secretbox.SecretBox(f"{new}, {old}")
    assert rotated_box.decrypt(token) == "value-1"
    rotated = rotated_box.rotate(token)
    assert secretbox.SecretBox(new).decrypt(rotated) == "value-1"
    with pytest.raises(ConfigurationError):
        secretbox.SecretBox(old).decrypt(rotated)


def test_wrong_key_or_tampering_fails_without_leaking():
    box = secretbox.SecretBox(secretbox.generate_key())
    token = box.encrypt("value-2")
    other = secretbox.SecretBox(secretbox.generate_key())
    with pytest.raises(ConfigurationError, match="cannot be decrypted"):
        other.decrypt(token)
    tampered = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    with pytest.raises(ConfigurationError):
        box.decrypt(tampered)


def test_empty_secret_is_refused():
    box = secretbox.SecretBox(secretbox.generate_key())
    with pytest.raises(InvalidSecret):
        box.encrypt("")


def test_load_keys_environment_wins_over_file(tmp_path):
    conf = tmp_path / "odoo.conf"
    conf.write_text("[options]\ndb_name = x\n\n[mfg_integration]\nsecret_keys = abc\n")
    assert secretbox.load_secret_keys(str(conf), environ={}) == "abc"
    env = {secretbox.ENV_VAR: " xyz "}
    assert secretbox.load_secret_keys(str(conf), environ=env) == "xyz"
    assert secretbox.load_secret_keys(str(tmp_path / "missing.conf"), environ={}) == ""
    assert secretbox.load_secret_keys(None, environ={}) == ""
    bare = tmp_path / "bare.conf"
    bare.write_text("[options]\n")
    assert secretbox.load_secret_keys(str(bare), environ={}) == ""


def test_rotating_a_token_no_key_opens_is_a_clear_configuration_error():
    token = secretbox.SecretBox(secretbox.generate_key()).encrypt("value-3")
    other = secretbox.SecretBox(secretbox.generate_key())
    with pytest.raises(ConfigurationError, match="cannot be re-encrypted") as info:
        other.rotate(token)
    assert "value-3" not in str(info.value)
