"""The SSRF guard: feed URLs (which staff can add) must not reach inside the network.

Before every request, the first and each redirect alike, the host is resolved and every
address it resolves to is checked. Loopback, private (RFC 1918, ULA), link-local (cloud
metadata lives there: 169.254.169.254, fd00:ec2::254), carrier-grade NAT, multicast,
reserved and unspecified addresses are refused, unless the operator allows a network in
``[http] allow_networks`` (tests allow ``127.0.0.0/8``; an intranet feed server would be
allowed by its network). Only http and https are fetched.

Limit: the address is checked when the name is resolved; a name that resolves again to
another address between the check and the connection (DNS rebinding) is not caught.
Pinning the checked address in the transport would close that gap.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Iterable
from urllib.parse import urlsplit

import httpx

from bot.errors import FetchError

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver = Callable[[str, int], list[str]]

#: Named explicitly because they are the classic target, though link-local covers them.
METADATA = frozenset({ipaddress.ip_address("169.254.169.254"),
                      ipaddress.ip_address("fd00:ec2::254")})
CGNAT = ipaddress.ip_network("100.64.0.0/10")


def system_resolver(host: str, port: int) -> list[str]:
    """Every address the system resolves ``host`` to."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return sorted({str(info[4][0]) for info in infos})


def forbidden_reason(address: Address) -> str | None:
    """Why an address may not be fetched from, or None when it may."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    if address in METADATA:
        return "a cloud metadata address"
    for test, name in ((address.is_unspecified, "an unspecified address"),
                       (address.is_loopback, "a loopback address"),
                       (address.is_link_local, "a link-local address"),
                       (address.is_multicast, "a multicast address"),
                       (address.is_reserved, "a reserved address"),
                       (address.is_private, "a private address")):
        if test:
            return name
    if isinstance(address, ipaddress.IPv4Address) and address in CGNAT:
        return "a carrier-grade NAT address"
    return None


class UrlGuard:
    """Checks URLs before Herald fetches them (see the module docstring)."""

    def __init__(self, allow_networks: Iterable[str] = (),
                 resolver: Resolver = system_resolver) -> None:
        self.allowed: tuple[Network, ...] = tuple(
            ipaddress.ip_network(n, strict=False) for n in allow_networks)
        self.resolver = resolver

    def check(self, url: str) -> None:
        """Raise FetchError (permanent) if ``url`` may not be fetched."""
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError:
            raise FetchError("not a valid URL", url=url, permanent=True) from None
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise FetchError("only http and https URLs are fetched", url=url, permanent=True)
        host = parts.hostname
        try:
            addresses = [ipaddress.ip_address(host)]
        except ValueError:
            try:
                found = self.resolver(host, port or (443 if parts.scheme == "https" else 80))
            except OSError as exc:
                raise FetchError(f"cannot resolve {host}: {exc}", url=url) from None
            addresses = [ipaddress.ip_address(a.split("%", 1)[0]) for a in found]
        if not addresses:
            raise FetchError(f"{host} resolves to no address", url=url)
        for address in addresses:
            reason = forbidden_reason(address)
            if reason and not any(address in net for net in self.allowed):
                raise FetchError(
                    f"refused: {host} resolves to {address}, {reason}; allow its network in "
                    "[http] allow_networks if this feed is meant to be inside", url=url,
                    permanent=True)

    def hook(self, request: httpx.Request) -> None:
        """An httpx request hook: runs for the first request and every redirect."""
        self.check(str(request.url))
