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
