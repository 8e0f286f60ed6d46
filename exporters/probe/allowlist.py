"""Which probe targets are allowed: exact hosts, DNS suffixes, or networks every resolved address must fall in."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Sequence

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class TargetPolicy:
    """Answers "may we connect there?" so the exporter is never an open proxy into the cluster network."""

    def __init__(self, hosts: Sequence[str], cidrs: Sequence[str], suffixes: Sequence[str]) -> None:
        self.hosts = {h.lower().rstrip(".") for h in hosts}
        self.networks: list[IPNetwork] = [ipaddress.ip_network(c, strict=False) for c in cidrs]
        self.suffixes = tuple(s.lower() if s.startswith(".") else "." + s.lower() for s in suffixes)

    def address_allowed(self, address: str) -> bool:
        """True when the IP address lies in an allowed network."""
        try:
            ip = ipaddress.ip_address(address.split("%", 1)[0])
        except ValueError:
            return False
        return any(ip in net for net in self.networks)

    async def allows(self, host: str) -> tuple[bool, str]:
        """(allowed, reason). Names pass by exact host or suffix; anything else must resolve only into allowed networks."""
        h = host.lower().rstrip(".").strip("[]")
        if h in self.hosts:
            return True, "host"
        try:
            ipaddress.ip_address(h)
            literal = True
        except ValueError:
            literal = False
        if literal:
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
