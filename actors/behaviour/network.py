"""VPN/proxy (document 001: -10): the candidate reached the server through someone else's relay.

Three signals, each from data the operator or the connection supplies:
- listed: the socket's peer (unless it is one of the operator's own `trusted_proxies`) or an
  address the forwarding headers name falls in one of the operator's `vpn_cidrs`;
- forwarded: forwarding headers that disagree with the peer. Behind none of the operator's
  proxies there should be none at all (`X-Forwarded-For`, `Forwarded`, `Via`); behind them the
  chain should name one client, so more than one address outside `trusted_proxies` means
  another proxy stood between the candidate and the operator's;
- timeZone: the browser's IANA time zone is not one of `region_time_zones` (not checked when
  that list is empty).

Each signal seen over the session's connections weighs its setting (`listed_weight` 2,
`forwarded_weight` 1, `time_zone_weight` 1); the session shows the factor when they weigh at
least `min_weight` (2). So the operator's own VPN list is enough alone, while a forwarding
header (an office proxy adds one for honest candidates too) or a foreign time zone (people
travel) needs the other beside it. Addresses that do not parse (`unknown`, obfuscated names) are no evidence.
Evidence: the connections (event offsets) that gave a signal.
"""

from __future__ import annotations

import ipaddress
from typing import Annotated, Final

import msgspec

from actors.behaviour.findings import Factor, FactorConfig, Finding, Penalty, found
from actors.behaviour.observations import ConnectionSeen

FACTOR = Factor(name="VPN/proxy detected", check="VPN_PROXY")
Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
SIGNALS: Final = ("listed", "forwarded", "timeZone")
# More distinct connections than this are a reconnect storm, not more evidence.
MAX_CONNECTIONS: Final = 100
Weight = Annotated[int, msgspec.Meta(ge=0, le=100)]


class VpnProxyConfig(FactorConfig, frozen=True, kw_only=True, forbid_unknown_fields=True):
    # On: benchmarks/behaviour.py measured under 1% of honest candidates losing points to it.
    enabled: bool = True
    penalty: Penalty = 10
    listed_weight: Weight = 2
    forwarded_weight: Weight = 1
    time_zone_weight: Weight = 1
    min_weight: Annotated[int, msgspec.Meta(ge=1)] = 2

    def weight(self, kind: str) -> int:
        return {
            "listed": self.listed_weight,
            "forwarded": self.forwarded_weight,
            "timeZone": self.time_zone_weight,
        }[kind]


class NetworkLists(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The operator's lists, as the edge read them from the files config names."""

    vpn_cidrs: list[str] = []
    trusted_proxies: list[str] = []
    region_time_zones: list[str] = []


class NetworkPolicy(msgspec.Struct, frozen=True, kw_only=True):
    vpn: tuple[Network, ...]
    trusted: tuple[Network, ...]
    time_zones: frozenset[str]


def policy(lists: NetworkLists) -> NetworkPolicy:
    """Parses the lists once; an entry that is not a CIDR is an error naming it."""
    return NetworkPolicy(
        vpn=_networks("vpn_cidrs", lists.vpn_cidrs),
        trusted=_networks("trusted_proxies", lists.trusted_proxies),
        time_zones=frozenset(lists.region_time_zones),
    )


def _networks(name: str, entries: list[str]) -> tuple[Network, ...]:
    parsed = []
    for index, entry in enumerate(entries):
        try:
            parsed.append(ipaddress.ip_network(entry.strip(), strict=False))
        except ValueError as error:
            raise ValueError(
                f"{name}[{index}]: expected an address or CIDR such as 10.0.0.0/8, got "
                f"{entry!r} ({error}); fix or remove that line"
            ) from None
    return tuple(parsed)


class NetworkState(msgspec.Struct, frozen=True, kw_only=True):
    connections: tuple[ConnectionSeen, ...] = ()  # distinct ones, first seen first


def fold(state: NetworkState, seen: ConnectionSeen) -> NetworkState:
    if len(state.connections) >= MAX_CONNECTIONS or any(
        _same(seen, known) for known in state.connections
    ):
        return state
    return NetworkState(connections=(*state.connections, seen))


def _same(a: ConnectionSeen, b: ConnectionSeen) -> bool:
    return (a.peer, a.forwardedFor, a.via, a.proxied, a.timeZone) == (
        b.peer,
        b.forwardedFor,
        b.via,
        b.proxied,
        b.timeZone,
    )


def signals(seen: ConnectionSeen, rules: NetworkPolicy) -> list[str]:
    peer = _address(seen.peer)
    # Proxied: the server already replaced its proxy's address by the client the proxy named.
    behind_ours = seen.proxied or (peer is not None and _within(peer, rules.trusted))
    chain = [a for a in map(_address, seen.forwardedFor) if a is not None]
    outside = [a for a in chain if not _within(a, rules.trusted)]
    kinds: list[str] = []
    client_side = outside + ([peer] if peer is not None and not behind_ours else [])
    if seen.proxied and peer is not None and peer not in outside:
        client_side.append(peer)
    if any(_within(a, rules.vpn) for a in client_side):
        kinds.append("listed")
    if behind_ours:
        if len(outside) > 1:
            kinds.append("forwarded")
    elif seen.forwardedFor or seen.via:
        kinds.append("forwarded")
    if rules.time_zones and seen.timeZone is not None and seen.timeZone not in rules.time_zones:
        kinds.append("timeZone")
    return kinds


def finding(state: NetworkState, config: VpnProxyConfig, rules: NetworkPolicy) -> Finding | None:
    kinds: set[str] = set()
    offsets: list[int] = []
    for seen in state.connections:
        these = signals(seen, rules)
        if these:
            kinds.update(these)
            offsets.append(seen.offset)
    weight = sum(config.weight(kind) for kind in kinds)
    if not kinds or weight < config.min_weight:
        return None
    named = ", ".join(f"{kind} ({config.weight(kind)})" for kind in SIGNALS if kind in kinds)
    return found(
        config,
        FACTOR,
        f"signals {named} weigh {weight} >= min_weight={config.min_weight}",
        offsets,
        measures={kind: float(kind in kinds) for kind in SIGNALS},
    )


def _address(text: str | None) -> Address | None:
    if text is None:
        return None
    try:
        return ipaddress.ip_address(text.strip())
    except ValueError:
        return None


def _within(address: Address, networks: tuple[Network, ...]) -> bool:
    return any(address.version == n.version and address in n for n in networks)
