"""Which probe targets are allowed: exact hosts, DNS suffixes, or networks every resolved address must fall in;
allowed ports; and the address actually connected to, which must never be loopback, link-local, a cloud metadata
endpoint or unspecified unless a CIDR rule inside that range names it."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Callable, Iterable, Sequence

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

DEFAULT_PORTS = (80, 443)
# Never connected to unless an allow_cidrs rule lies inside the range: DNS (an ExternalName Service is a CNAME any
# tenant can create) must not turn an allowed name into the node's loopback or the cloud's metadata service.
SPECIAL_NETWORKS: tuple[IPNetwork, ...] = tuple(ipaddress.ip_network(n) for n in (
    "0.0.0.0/8",          # unspecified / this host
    "127.0.0.0/8",        # loopback
    "169.254.0.0/16",     # link-local, with the metadata endpoint 169.254.169.254 (AWS, GCP, Azure, OpenStack)
    "100.100.100.200/32",  # Alibaba Cloud metadata
    "::/128",             # unspecified
    "::1/128",            # loopback
    "fe80::/10",          # link-local
    "fd00:ec2::254/128",  # AWS metadata over IPv6
))


class BadTarget(ValueError):
    """A host name that cannot be a target (empty, not encodable as IDNA, too long)."""


def canonical_host(host: str) -> str:
    """The one form of a host that is both checked and connected to: lower case, without brackets or a trailing
    dot, IDNA-encoded (ASCII) for names."""
    h = host.strip("[]").rstrip(".").lower()
    if not h or len(h) > 253:
        raise BadTarget(f"host {host[:80]!r} is empty or too long")
    try:
        ipaddress.ip_address(h.split("%", 1)[0])
        return h
    except ValueError:
        pass
    try:
        return h.encode("idna").decode("ascii")
    except UnicodeError:
        raise BadTarget(f"host {host[:80]!r} is not a valid DNS name") from None


def _ip(address: str) -> IPAddress | None:
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


class TargetPolicy:
    """Answers "may we connect there?" so the exporter is never an open proxy into the cluster network."""

    def __init__(self, hosts: Sequence[str], cidrs: Sequence[str], suffixes: Sequence[str],
                 ports: Iterable[int] = DEFAULT_PORTS, discovered_ports: Callable[[], set[int]] | None = None) -> None:
        self.hosts = {canonical_host(h) for h in hosts}
        self.networks: list[IPNetwork] = [ipaddress.ip_network(c, strict=False) for c in cidrs]
        self.suffixes = tuple(s.lower() if s.startswith(".") else "." + s.lower() for s in suffixes)
        self.ports = set(ports)
        self.discovered_ports = discovered_ports

    def port_allowed(self, port: int) -> bool:
        """True for the configured ports and the ports of discovered targets."""
        return port in self.ports or (self.discovered_ports is not None and port in self.discovered_ports())

    def address_allowed(self, address: str) -> bool:
        """True when the IP address lies in an allowed network."""
        ip = _ip(address)
        return ip is not None and any(ip.version == net.version and ip in net for net in self.networks)

    def connect_allowed(self, address: str, by: str) -> bool:
        """May we connect to this resolved address for a target allowed `by` host, suffix or cidr?"""
        ip = _ip(address)
        if ip is None:
            return False
        for special in SPECIAL_NETWORKS:
            if ip.version == special.version and ip in special:
                # Only a rule inside the special range names it; 0.0.0.0/0 does not open loopback or metadata.
                return any(net.version == special.version and net.subnet_of(special) and ip in net  # type: ignore[arg-type]
                           for net in self.networks)
        return by != "cidr" or self.address_allowed(address)

    async def allows(self, host: str) -> tuple[bool, str]:
        """(allowed, reason). Names pass by exact host or suffix; anything else must resolve only into allowed networks."""
        try:
            h = canonical_host(host)
        except BadTarget:
            return False, "bad_target"
        if h in self.hosts:
            return True, "host"
        if _ip(h) is not None:
            return (True, "cidr") if self.address_allowed(h) else (False, "not_allowlisted")
        if h.endswith(self.suffixes):
            return True, "suffix"
        if not self.networks:
            return False, "not_allowlisted"
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(h, None, type=socket.SOCK_STREAM)
        except OSError:
            return False, "unresolvable"
        addresses = {str(info[4][0]) for info in infos}
        if addresses and all(self.address_allowed(a) for a in addresses):
            return True, "cidr"
        return False, "not_allowlisted"
