"""Alert rules and automatic interventions (issue 7, item 1): each rule fires once per session,
what it does is a stored event on the alerts channel, and a warned candidate learns how many
warnings are left."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec
import pytest

from actors.alert_rules import AlertRule, AlertsConfig, due
from actors.scoring import ScoreState
from tests.support import RunningServer, running_server

pytestmark = pytest.mark.anyio

RULES: list[dict[str, Any]] = [
    {"name": "first-medium", "action": "warn", "severity": "MEDIUM", "category": "behaviour"},
    {"name": "devtools", "action": "alert", "violation": "DEVTOOLS_OPENED", "alertSeverity": "critical"},
    {"name": "two-high", "action": "terminate", "severity": "HIGH", "count": 2, "category": "integrity"},
]  # fmt: skip


def test_a_rule_is_due_once_its_count_is_reached_and_until_it_fired() -> None:
    config = msgspec.convert({"rules": RULES}, AlertsConfig)
    score = ScoreState(violations=1, by_severity={"HIGH": 1}, by_type={"DEVTOOLS_OPENED": 1})
    assert [r.name for r in due(config, score, "low", [])] == ["devtools"]
    score.by_severity["HIGH"] = 2
    assert [r.name for r in due(config, score, "low", ["devtools"])] == ["two-high"]
    assert due(config, score, "low", ["devtools", "two-high"]) == []


def test_a_risk_rule_fires_at_its_level_or_above() -> None:
    config = AlertsConfig(rules=[AlertRule(name="risky", action="pause", riskLevel="high")])
    assert due(config, ScoreState(), "medium", []) == []
    assert [r.name for r in due(config, ScoreState(), "critical", [])] == ["risky"]


@pytest.mark.parametrize(
    ("rules", "complaint"),
    [
        ([{"name": "a", "action": "warn"}, {"name": "a", "action": "pause"}], "used twice"),
        ([{"name": "a", "action": "warn", "riskLevel": "high", "count": 2}], "make two rules"),
        ([{"name": "a", "action": "explode"}], "action"),
        ([{"name": "A B", "action": "warn"}], "name"),
    ],
)
def test_bad_rules_are_refused_with_a_reason(rules: list[dict[str, Any]], complaint: str) -> None:
    with pytest.raises(msgspec.ValidationError, match=complaint):
        msgspec.convert({"rules": rules}, AlertsConfig)


async def stored_types(server: RunningServer, session_id: str) -> list[str]:
    return [e.type for e in await server.services.store.events(session_id)]


async def test_rules_warn_alert_and_terminate(tmp_path: Path) -> None:
    async with running_server(tmp_path, alerts={"rules": RULES}) as server:
        session_id, token = await server.create_session()
        async with server.admin() as admin, server.candidate(session_id, token) as candidate:
            await admin.subscribe("alerts")
            await candidate.event(1, "tab_switch_detected")
            warning, _ = await candidate.recv_until(lambda m: m["type"] == "warning")
            assert warning["reason"] == "behaviour" and warning["warningsLeft"] == 2
            alert, _ = await admin.recv_until(
                lambda m: m["type"] == "alert" and m["event"]["type"] == "intervention"
            )
            assert alert["event"]["data"]["by"] == "rule:first-medium"
            await candidate.event(2, "copy_attempt")  # a second MEDIUM: the rule has fired
            await candidate.event(3, "inspect_element_opened")
            raised, _ = await admin.recv_until(
                lambda m: m["type"] == "alert" and m["event"]["type"] == "alert_raised"
            )
            assert raised["severity"] == "critical" and "devtools" in raised["message"]
            await candidate.event(4, "inspect_element_opened")
            _, skipped = await candidate.recv_until(lambda m: m["type"] == "terminate")
            assert not [m for m in skipped if m["type"] == "warning"]
        async with server.http() as client:
            body = (await client.get(f"/candidate-sessions/{session_id}")).json()
        assert body["status"] == "TERMINATED"
        types = await stored_types(server, session_id)
    assert types.count("intervention") == 2 and types.count("alert_raised") == 1


async def test_a_fired_rule_stays_fired_after_a_restart(tmp_path: Path) -> None:
    async with running_server(tmp_path, alerts={"rules": RULES}) as server:
        session_id, token = await server.create_session()
        async with server.candidate(session_id, token) as candidate:
            await candidate.event(1, "tab_switch_detected")
            await candidate.recv_until(lambda m: m["type"] == "warning")
    async with running_server(tmp_path, alerts={"rules": RULES}) as server:
        async with server.candidate(session_id, token) as candidate:
            await candidate.event(2, "tab_switch_detected")
            messages = await candidate.acked(2)
        assert not [m for m in messages if m["type"] == "warning"]
        assert (await stored_types(server, session_id)).count("intervention") == 1


async def test_no_rules_no_interventions(server: RunningServer) -> None:
    session_id, token = await server.create_session()
    async with server.candidate(session_id, token) as candidate:
        for seq in range(1, 6):
            await candidate.event(seq, "inspect_element_opened")
        messages = await candidate.acked(5)
    assert [m["type"] for m in messages] == ["ack"] * len(messages)
    assert "intervention" not in await stored_types(server, session_id)
