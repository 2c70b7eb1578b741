"""Document 001's extended risk factors: device change, IP change, long idle periods and too fast
completion; each in `riskFactors` with its impact, each configurable, none of them touching a
session that shows none of them (CONTRACT.md section 6's formula stays exact there)."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from actors import scoring
from actors.config import ScoringConfig
from actors.events import StoredEvent
from actors.lifecycle import fold
from actors.state import SessionSnapshot
from tests.support import RunningServer

pytestmark = pytest.mark.anyio


def folded(config: ScoringConfig, *specs: tuple[str, str, dict[str, Any] | None]) -> Any:
    record = SessionSnapshot()
    for offset, (kind, ts, data) in enumerate(specs, start=1):
        fold(config, record, StoredEvent(type=kind, offset=offset, ts=ts, data=data))
    return scoring.verification(config, record.score)


def factors(verification: scoring.Verification) -> dict[str, tuple[int, int]]:
    return {f.factor: (f.impact, f.count) for f in verification.riskFactors}


T0, T1, T2 = "2026-11-22T10:00:00.000Z", "2026-11-22T10:00:30.000Z", "2026-11-22T10:05:00.000Z"


def test_each_change_of_device_costs_its_penalty() -> None:
    result = folded(
        ScoringConfig(),
        ("device_info", T0, {"deviceFingerprint": "A", "ipAddress": "10.0.0.1"}),
        ("device_info", T0, {"deviceFingerprint": "A", "userAgent": "other"}),  # same device
        ("device_info", T0, {"deviceFingerprint": "B"}),
        ("device_info", T0, {"userAgent": "other"}),  # no fingerprint: the agent decides
        ("device_info", T0, {"deviceFingerprint": "A", "ipAddress": "10.0.0.2"}),
    )
    assert factors(result) == {"Device change": (-40, 2), "IP address change": (-15, 1)}
    assert result.verificationScore == 45 and result.trustLevel == "LOW"


def test_user_agent_and_platform_identify_a_device_without_fingerprint() -> None:
    result = folded(
        ScoringConfig(device_change_penalty=7),
        ("device_info", T0, {"userAgent": "Chrome", "platform": "Linux"}),
        ("device_info", T0, {"userAgent": "Chrome", "platform": "Windows"}),
    )
    assert factors(result) == {"Device change": (-7, 1)}


def test_a_reconnection_from_another_address_is_an_ip_change() -> None:
    result = folded(
        ScoringConfig(),
        ("device_info", T0, {"ipAddress": "10.0.0.1"}),
        ("ip_changed", T0, {"from": "10.0.0.1", "to": "10.0.0.9"}),
        ("device_info", T0, {"ipAddress": "10.0.0.9"}),  # the new address, already counted
    )
    assert factors(result) == {"IP address change": (-15, 1)}


def test_long_idle_periods_add_to_the_idle_violation() -> None:
    config = ScoringConfig(long_idle_seconds=300)
    result = folded(
        config,
        ("idle_detected", T0, {"seconds": 299}),
        ("idle_detected", T0, {"seconds": 300}),
        ("idle_detected", T0, {"seconds": 900}),
    )
    assert factors(result) == {
        "Anti-cheat violations": (-9, 3),
        "Long idle periods": (-10, 2),
    }


def test_too_fast_completion_only_when_configured() -> None:
    specs = [("assessment_started", T0, None), ("assessment_submitted", T1, None)]
    assert factors(folded(ScoringConfig(), *specs)) == {}
    on = ScoringConfig(too_fast_completion_seconds=60)
    assert factors(folded(on, *specs)) == {"Too fast completion": (-10, 1)}
    slow = [("assessment_started", T0, None), ("assessment_submitted", T2, None)]
    assert factors(folded(on, *slow)) == {}
    # The candidate's clock ahead of the server's: a negative time is not speed.
    skewed = [("assessment_started", T1, None), ("assessment_submitted", T0, None)]
    assert factors(folded(on, *skewed)) == {}
    assert factors(folded(ScoringConfig(), *skewed)) == {}


def test_a_session_without_extended_signals_scores_exactly_by_the_contract() -> None:
    result = folded(
        ScoringConfig(),
        ("assessment_started", T0, None),
        ("device_info", T0, {"deviceFingerprint": "A", "ipAddress": "10.0.0.1"}),
        ("idle_detected", T0, {"seconds": 120}),
        ("tab_switch_detected", T0, None),
        ("assessment_submitted", T1, None),
    )
    assert result.verificationScore == 100 - 3 - 8
    assert factors(result) == {"Anti-cheat violations": (-11, 2)}


async def test_device_captured_once_and_changes_scored_live(server: RunningServer) -> None:
    session_id, token = await server.create_session()
    first = {"deviceFingerprint": "fp-1", "platform": "Linux", "userAgent": "Chrome"}
    async with server.candidate(session_id, token, source="127.0.0.1") as candidate:
        await candidate.event(1, "device_info", data=first)
        await candidate.acked(1)
    async with server.admin() as admin:
        await admin.subscribe(f"session:{session_id}")
        async with server.candidate(session_id, token, source="127.0.0.2") as candidate:
            changed, _ = await admin.recv_until(
                lambda m: m["type"] == "event" and m["event"]["type"] == "ip_changed"
            )
            assert changed["event"]["data"] == {"from": "127.0.0.1", "to": "127.0.0.2"}
            assert changed["state"]["verificationScore"] == 85
            await candidate.event(2, "device_info", data={**first, "deviceFingerprint": "fp-2"})
            await candidate.acked(2)
    async with server.http() as client:
        response = await client.put(
            f"/candidate-sessions/{session_id}/device-info",
            json={"deviceFingerprint": "fp-2", "timezone": "UTC"},
        )
        assert response.status_code == 200
        device = response.json()
        verification = (
            await client.post(f"/candidate-sessions/{session_id}/calculate-verification-score")
        ).json()
    # Captured once: the first report stands, a later one of the same device fills a gap.
    assert device["deviceFingerprint"] == "fp-1" and device["ipAddress"] == "127.0.0.1"
    assert [(c["offset"], c["kinds"]) for c in device["changes"]] == [
        # 2 and 3 are the first connection's user_disconnected and the second's user_reconnected
        (4, ["IP_ADDRESS"]),
        (5, ["DEVICE"]),
    ]
    assert device["changes"][1]["deviceFingerprint"] == "fp-2"
    assert "timezone" not in device  # the PUT came from fp-2: another device, not merged
    assert {f["factor"]: f["impact"] for f in verification["riskFactors"]} == {
        "Device change": -20,
        "IP address change": -15,
    }
    assert verification["verificationScore"] == 65 and verification["trustLevel"] == "MEDIUM"


async def test_an_admin_device_report_does_not_count_the_backend_address(
    server: RunningServer,
) -> None:
    session_id, token = await server.create_session()
    async with server.candidate(session_id, token, source="127.0.0.3") as candidate:
        await candidate.event(1, "device_info", data={"deviceFingerprint": "fp-1"})
        await candidate.acked(1)
    async with server.http() as client:  # the institution's backend, from its own address
        await client.put(
            f"/candidate-sessions/{session_id}/device-info", json={"deviceFingerprint": "fp-1"}
        )
        stored = (await client.get(f"/candidate-sessions/{session_id}")).json()
    assert stored["verification"]["riskFactors"] == []
    assert stored["deviceInfo"]["changes"] == []


def test_the_factors_are_settings() -> None:
    names = set(msgspec.structs.asdict(ScoringConfig()))
    assert {
        "device_change_penalty", "ip_change_penalty", "long_idle_penalty", "long_idle_seconds",
        "too_fast_penalty", "too_fast_completion_seconds",
    } <= names  # fmt: skip
