"""VPN/proxy: each signal on hand-made connections, how they weigh, and that folding connections
one at a time with a snapshot anywhere equals a recount of the signals."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from actors.behaviour import network
from actors.behaviour.observations import ConnectionSeen
from tests.test_behaviour_properties import fold_all, fold_with_snapshot

RULES = network.policy(
    network.NetworkLists(
        vpn_cidrs=["198.51.100.0/24", "2001:db8:1::/48"],
        trusted_proxies=["10.0.0.0/8"],
        region_time_zones=["Europe/Paris", "Europe/Brussels"],
    )
)


@pytest.mark.parametrize(
    ("seen", "expected"),
    [
        (ConnectionSeen(offset=1, peer="203.0.113.5", timeZone="Europe/Paris"), []),
        (ConnectionSeen(offset=1, peer="198.51.100.77"), ["listed"]),
        (ConnectionSeen(offset=1, peer="2001:db8:1::5"), ["listed"]),
        (ConnectionSeen(offset=1, peer="10.0.0.2", forwardedFor=("198.51.100.3",)), ["listed"]),
        (ConnectionSeen(offset=1, peer="10.0.0.2", forwardedFor=("203.0.113.5",)), []),
        (
            ConnectionSeen(offset=1, peer="10.0.0.2", forwardedFor=("192.0.2.1", "203.0.113.5")),
            ["forwarded"],
        ),
        (
            ConnectionSeen(offset=1, peer="10.0.0.2", forwardedFor=("203.0.113.5", "10.0.0.9")),
            [],
        ),
        (ConnectionSeen(offset=1, peer="203.0.113.5", forwardedFor=("192.0.2.1",)), ["forwarded"]),
        (ConnectionSeen(offset=1, peer="203.0.113.5", via=True), ["forwarded"]),
        (ConnectionSeen(offset=1, peer="10.0.0.2", via=True, forwardedFor=("203.0.113.5",)), []),
        (ConnectionSeen(offset=1, peer="203.0.113.5", timeZone="Asia/Tokyo"), ["timeZone"]),
        (ConnectionSeen(offset=1, peer="unknown", forwardedFor=()), []),
        (ConnectionSeen(offset=1, peer="10.0.0.2", forwardedFor=("unknown", "_hidden")), []),
    ],
)
def test_each_network_signal(seen: ConnectionSeen, expected: list[str]) -> None:
    assert network.signals(seen, RULES) == expected


def network_of(*seen: ConnectionSeen) -> network.NetworkState:
    state = network.NetworkState()
    for connection in seen:
        state = network.fold(state, connection)
    return state


def test_a_listed_address_is_enough_alone_and_names_its_connection() -> None:
    state = network_of(
        ConnectionSeen(offset=2, peer="203.0.113.5", timeZone="Europe/Paris"),
        ConnectionSeen(offset=9, peer="198.51.100.77", timeZone="Europe/Paris"),
    )
    result = network.finding(state, network.VpnProxyConfig(), RULES)
    assert result is not None and result.offsets == [9]
    assert "listed (2) weigh 2 >= min_weight=2" in result.rule
    assert network.finding(state, network.VpnProxyConfig(listed_weight=1), RULES) is None
    assert (
        network.finding(state, network.VpnProxyConfig(), network.policy(network.NetworkLists()))
        is None
    )


def test_an_office_proxy_or_a_journey_alone_is_not_enough_but_both_are() -> None:
    proxied = ConnectionSeen(offset=3, peer="203.0.113.5", via=True, timeZone="Europe/Paris")
    abroad = ConnectionSeen(offset=5, peer="203.0.113.5", timeZone="Asia/Tokyo")
    config = network.VpnProxyConfig()
    assert network.finding(network_of(proxied), config, RULES) is None
    assert network.finding(network_of(abroad), config, RULES) is None
    both = network.finding(network_of(proxied, abroad), config, RULES)
    assert both is not None and both.offsets == [3, 5]
    assert both.measures["forwarded"] == 1.0 and both.measures["listed"] == 0.0


def test_a_bad_cidr_line_is_an_error_that_names_it() -> None:
    with pytest.raises(
        ValueError, match=r"vpn_cidrs\[1\]: expected an address or CIDR .* got '10.0.0.0/99'"
    ):
        network.policy(network.NetworkLists(vpn_cidrs=["10.0.0.0/8", "10.0.0.0/99"]))


connections = st.builds(
    ConnectionSeen,
    offset=st.integers(1, 50),
    peer=st.sampled_from([None, "203.0.113.7", "10.0.0.2", "198.51.100.9", "not an address"]),
    forwardedFor=st.lists(st.sampled_from(["203.0.113.7", "192.0.2.1", "unknown"]), max_size=3).map(
        tuple
    ),
    via=st.booleans(),
    timeZone=st.sampled_from([None, "Europe/Paris", "Asia/Tokyo"]),
)


@settings(max_examples=100, deadline=None)
@given(st.lists(connections, max_size=12), st.data())
def test_network_folded_equals_recomputed(items: list[ConnectionSeen], data: st.DataObject) -> None:
    cut = data.draw(st.integers(0, len(items)))
    empty = network.NetworkState()
    state = fold_with_snapshot(network.fold, empty, items, cut, network.NetworkState)
    assert state == fold_all(network.fold, empty, items)
    # Seeing a connection again adds nothing.
    assert fold_all(network.fold, state, items) == state
    rules = network.policy(
        network.NetworkLists(
            vpn_cidrs=["198.51.100.0/24"],
            trusted_proxies=["10.0.0.0/8"],
            region_time_zones=["Europe/Paris"],
        )
    )
    kinds = {kind for seen in items for kind in network.signals(seen, rules)}
    config = network.VpnProxyConfig(listed_weight=3, forwarded_weight=1, min_weight=3)
    weight = 3 * ("listed" in kinds) + ("forwarded" in kinds) + ("timeZone" in kinds)
    found = network.finding(state, config, rules)
    assert (found is not None) is (weight >= 3)
