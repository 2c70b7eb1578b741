"""Where a webhook may go: never to a private, loopback, link-local, multicast or reserved
address (the server's own network) unless `[webhooks] allow_private`. Every address the host
resolves to is checked before each delivery, and redirects are never followed."""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

import anyio


class RefusedDestination(Exception):
    """The endpoint's address may not be delivered to; the message says which and why."""


async def check_destination(url: str, allow_private: bool) -> None:
    parts = urlsplit(url)
    host = parts.hostname
    if parts.scheme not in ("http", "https") or not host:
        raise RefusedDestination(f"{url!r} is not an http(s) URL with a host")
    if allow_private:
        return
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        found = await anyio.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise RefusedDestination(f"{host} does not resolve: {exc}") from None
    for *_, address in found:
        ip = ipaddress.ip_address(address[0])
        if not ip.is_global or ip.is_multicast:
            raise RefusedDestination(
                f"{host} resolves to {ip}, a private, loopback or reserved address; set "
                "[webhooks] allow_private = true to deliver there"
            )
