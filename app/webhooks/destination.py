"""Where a webhook may go: never to a private, loopback, link-local, multicast or reserved
address (the server's own network) unless `[webhooks] allow_private`. Every address the host
resolves to is checked before each delivery, redirects are never followed, and the delivery
connects to the very address that was checked (`Destination`): resolving the name again to
connect would let a DNS answer that changes in between (rebinding) reach an internal address."""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import SplitResult, urlsplit, urlunsplit

import anyio
import msgspec


class RefusedDestination(Exception):
    """The endpoint's address may not be delivered to; the message says which and why."""


class Destination(msgspec.Struct, frozen=True, kw_only=True):
    """What to connect to: `url` with the checked address in place of the name, the `Host`
    header the receiver expects, and for https the name its certificate must carry."""

    url: str
    host_header: str | None = None
    tls_name: str | None = None

    def extensions(self) -> dict[str, str]:
        return {"sni_hostname": self.tls_name} if self.tls_name else {}


async def check_destination(url: str, allow_private: bool) -> Destination:
    parts = urlsplit(url)
    host = parts.hostname
    if parts.scheme not in ("http", "https") or not host:
        raise RefusedDestination(f"{url!r} is not an http(s) URL with a host")
    if allow_private:
        return Destination(url=url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        found = await anyio.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise RefusedDestination(f"{host} does not resolve: {exc}") from None
    addresses = [ipaddress.ip_address(address[0]) for *_, address in found]
    for ip in addresses:
        if not ip.is_global or ip.is_multicast:
            raise RefusedDestination(
                f"{host} resolves to {ip}, a private, loopback or reserved address; set "
                "[webhooks] allow_private = true to deliver there"
            )
    if not addresses:
        raise RefusedDestination(f"{host} resolves to no address")
    return pinned(parts, addresses[0])


def pinned(parts: SplitResult, ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> Destination:
    """`parts` sent to `ip`: the name moves to the Host header (and to TLS's server name)."""
    if ip.version == 4 and parts.hostname == str(ip):
        return Destination(url=urlunsplit(parts))
    literal = f"[{ip}]" if ip.version == 6 else str(ip)
    netloc = literal if parts.port is None else f"{literal}:{parts.port}"
    host = parts.netloc.rpartition("@")[2]  # as the URL names it, port included
    return Destination(
        url=urlunsplit(parts._replace(netloc=netloc)),
        host_header=host,
        tls_name=parts.hostname if parts.scheme == "https" else None,
    )
