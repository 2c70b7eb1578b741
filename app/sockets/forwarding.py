"""What a candidate's connection says about proxies, for the VPN/proxy factor (issue 28).

uvicorn already replaced the peer by the client `X-Forwarded-For` names when the peer is one of
`[server] forwarded_allow_ips`; the address it put in the scope is then one of the header's, which
a direct peer's own address never is. So `proxied` says the peer was ours and the address is the
client's, and the factor (actors/behaviour/network.py) reads the rest of the chain."""

from __future__ import annotations

import re
from typing import Any, Final

from starlette.datastructures import Headers

# At most this many addresses are kept: a longer chain says no more, and the event stays small.
MAX_CHAIN: Final = 20
_FORWARDED_FOR: Final = re.compile(r'for="?\[?([^\]";,]+)', re.IGNORECASE)


def forwarding(headers: Headers, peer: str | None) -> dict[str, Any]:
    chain: list[str] = []
    for value in headers.getlist("x-forwarded-for"):
        chain += [part.strip() for part in value.split(",") if part.strip()]
    for value in headers.getlist("forwarded"):
        chain += [match.strip() for match in _FORWARDED_FOR.findall(value)]
    found: dict[str, Any] = {}
    if chain:
        found["forwardedFor"] = [_host(address) for address in chain[:MAX_CHAIN]]
        if peer is not None and peer in found["forwardedFor"]:
            found["proxied"] = True
    if "via" in headers:
        found["via"] = True
    return found


def _host(address: str) -> str:
    """`203.0.113.7:4711` and `[2001:db8::1]:443` name hosts with ports; the port says nothing."""
    if address.startswith("["):
        return address[1:].split("]", 1)[0]
    if address.count(":") == 1:
        return address.split(":", 1)[0]
    return address
