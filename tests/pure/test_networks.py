import pytest

from mfg_integration.networks import (
    address_allowed,
    parse_networks,
    restricted_host_reason,
    restricted_reason,
)


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


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ("127.0.0.1", "loopback"),
        ("127.8.9.10", "loopback"),
        ("::1", "loopback"),
        ("::ffff:127.0.0.1", "loopback"),  # IPv4-mapped: judged as the IPv4 address
        ("169.254.169.254", "link-local"),  # AWS, GCP, Azure metadata
        ("fe80::1", "link-local"),
        ("fd00:ec2::254", "metadata"),
        ("100.100.100.200", "metadata"),  # Alibaba Cloud
        ("0.0.0.0", "unspecified"),
        ("::", "unspecified"),
        ("224.0.0.1", "multicast"),
        ("255.255.255.255", "reserved"),
    ],
)
def test_restricted_addresses_are_named(address, expected):
    assert expected in restricted_reason(address)


@pytest.mark.parametrize(
    "address",
    # the plant's own systems live on private networks: not refused
    ["10.1.2.3", "192.168.10.20", "172.16.0.5", "fd12:3456::1", "8.8.8.8", "2001::1"],
)
def test_private_and_public_addresses_may_be_reached(address):
    assert restricted_reason(address) is None


def test_an_allowed_network_opens_restricted_addresses():
    allowed = parse_networks("127.0.0.0/8")
    assert restricted_reason("127.0.0.1", allowed) is None
    assert restricted_reason("::ffff:127.0.0.2", allowed) is None
    assert "loopback" in restricted_reason("::1", allowed)  # not in the list
    assert "link-local" in restricted_reason("169.254.169.254", allowed)


def test_restricted_reason_refuses_a_name():
    with pytest.raises(ValueError):
        restricted_reason("example.com")


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("localhost", "loopback"),
        ("LOCALHOST.", "loopback"),
        ("api.localhost", "loopback"),
        ("[::1]", "loopback"),
        ("169.254.169.254", "link-local"),
        ("mes.plant.example", None),  # a name: judged once resolved, when connecting
        ("10.0.0.8", None),
        ("", None),
    ],
)
def test_host_of_a_url_is_judged_without_resolving(host, expected):
    reason = restricted_host_reason(host)
    assert (reason is None) if expected is None else (expected in reason)
    loopback_allowed = parse_networks("127.0.0.0/8, ::1")
    if expected == "loopback":
        assert restricted_host_reason(host, loopback_allowed) is None
