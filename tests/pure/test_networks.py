import pytest

from mfg_integration.networks import address_allowed, parse_networks


def test_parse_mixed_separators_and_bare_addresses():
    nets = parse_networks("10.0.0.0/8, 192.168.1.7\n2001:db8::/32;127.0.0.1")
    assert [str(n) for n in nets] == [
        "10.0.0.0/8",
        "192.168.1.7/32",
        "2001:db8::/32",
        "127.0.0.1/32",
    ]


def test_host_bits_are_tolerated():
    assert str(parse_networks("10.1.2.3/8")[0]) == "10.0.0.0/8"


def test_bad_entry_is_named():
    with pytest.raises(ValueError, match="'10.0.0.300/8'"):
        parse_networks("10.0.0.0/8, 10.0.0.300/8")


def test_empty_list_allows_all():
    assert parse_networks("  ") == ()
    assert address_allowed("203.0.113.5", ())


@pytest.mark.parametrize(
    ("address", "allowed"),
    [
        ("10.20.30.40", True),
        ("11.0.0.1", False),
        ("::ffff:10.0.0.1", True),
        ("2001:db8::1", True),
        ("2001:db9::1", False),
        ("not-an-ip", False),
        ("", False),
    ],
)
def test_membership(address, allowed):
    nets = parse_networks("10.0.0.0/8 2001:db8::/32")
    assert address_allowed(address, nets) is allowed
