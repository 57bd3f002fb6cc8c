"""Allow-lists of client networks (CIDR notation), as set on API keys."""

import ipaddress
import re

_SEPARATORS = re.compile(r"[\s,;]+")


def parse_networks(text):
    """Parse a list of networks separated by commas, semicolons, spaces or new lines.

    A bare address counts as a single-host network (``/32`` or ``/128``).

    :return: a tuple of :class:`ipaddress.IPv4Network` / :class:`ipaddress.IPv6Network`
    :raise ValueError: naming the first entry that is not a network
    """
    networks = []
    for entry in _SEPARATORS.split(text or ""):
        if not entry:
            continue
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            raise ValueError(
                f"'{entry}' is not an IP network in CIDR notation (like 10.0.0.0/8)."
            ) from None
    return tuple(networks)


def address_allowed(address, networks):
    """Tell whether ``address`` lies in one of ``networks``.

    An empty allow-list allows every address; an unparsable address is refused.
    """
    if not networks:
        return True
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return any(ip.version == net.version and ip in net for net in networks)


# Addresses an outbound delivery must not reach unless an administrator allows them
# (server-side request forgery, OWASP API7): the hub's own machine, link-local
# networks where cloud metadata services answer, and addresses that are no single
# host. Private networks (10.0.0.0/8, 192.168.0.0/16, fc00::/7 …) are NOT refused:
# the plant's MES, CMMS and QMS live there.
_RESTRICTED = (
    ("0.0.0.0/8", "an unspecified address"),
    ("127.0.0.0/8", "a loopback address (this machine)"),
    ("169.254.0.0/16", "a link-local address (where cloud metadata services answer)"),
    ("100.100.100.200/32", "a cloud metadata address"),
    ("224.0.0.0/4", "a multicast address"),
    ("240.0.0.0/4", "a reserved address"),
    ("::/128", "an unspecified address"),
    ("::1/128", "a loopback address (this machine)"),
    ("fe80::/10", "a link-local address (where cloud metadata services answer)"),
    ("fd00:ec2::254/128", "a cloud metadata address"),
    ("ff00::/8", "a multicast address"),
)
RESTRICTED_NETWORKS = tuple(
    (ipaddress.ip_network(network), reason) for network, reason in _RESTRICTED
)
#: host names that always mean this machine (RFC 6761)
_LOCAL_NAMES = ("localhost", "localhost.localdomain")


def restricted_reason(address, allowed=()):
    """Tell why an outbound delivery may not reach ``address``.

    :param address: an IP address (text or :mod:`ipaddress` object)
    :param allowed: networks an administrator opened (see :func:`parse_networks`);
        an address in one of them is never refused
    :return: ``None`` when the address may be reached, else a short reason such as
        ``"a loopback address (this machine)"``
    :raise ValueError: ``address`` is not an IP address
    """
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    if any(ip.version == net.version and ip in net for net in allowed):
        return None
    for network, reason in RESTRICTED_NETWORKS:
        if ip.version == network.version and ip in network:
            return reason
    return None


def restricted_host_reason(host, allowed=()):
    """Like :func:`restricted_reason` for the host of a URL, without resolving it:
    an IP literal is judged as such, ``localhost`` as the loopback address, and any
    other name is left to the check made when connecting (it resolves then).

    :return: ``None`` or the reason
    """
    host = (host or "").strip("[]").rstrip(".").lower()
    if host in _LOCAL_NAMES or host.endswith(".localhost"):
        return restricted_reason("127.0.0.1", allowed)
    try:
        return restricted_reason(host, allowed)
    except ValueError:
        return None  # a name: checked on each connection, once resolved
