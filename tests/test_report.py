"""The post-test report, end to end: a scripted session whose every figure was worked out by hand
from CONTRACT.md section 6, a reviewer's dismissal and confirmation, an offline gap, and the HTML
and CSV forms."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from typing import Any

import anyio
import pytest

from actors.events import iso_ms
from tests.support import Peer, RunningServer

pytestmark = pytest.mark.anyio
NAME = "Ada <script>alert(1)</script> Lovelace"  # the page must escape it


def now() -> str:
    return iso_ms(datetime.now(UTC))


async def send(candidate: Peer, seq: int, kind: str, **fields: Any) -> str:
    ts = now()
    await candidate.send({"type": kind, "seq": seq, "ts": ts, **fields})
    await candidate.acked(seq)
    return ts


async def stored(admin: Peer, kind: str) -> dict[str, Any]:
    message, _ = await admin.recv_until(
        lambda m: m["type"] == "event" and m["event"]["type"] == kind
    )
    return message


async def scripted_session(server: RunningServer) -> tuple[str, dict[str, str]]:
    """Offsets 1-6 on the first connection, 7 its drop, 8 the reconnection, 9-11 the second
    connection, 12 the submission. The candidate's timestamps are kept by offset."""
    session_id, token = await server.create_session(name=NAME)
    ts: dict[str, str] = {}
    async with server.admin() as admin:
        await admin.subscribe(f"session:{session_id}")
        async with server.candidate(session_id, token) as candidate:
            ts["1"] = await send(candidate, 1, "assessment_started")
            ts["2"] = await send(candidate, 2, "question_viewed", questionId="q1")
            ts["3"] = await send(candidate, 3, "tab_switch_detected")  # TAB_SWITCH MEDIUM -8
            ts["4"] = await send(candidate, 4, "copy_attempt")  # COPY_PASTE MEDIUM -8
            # DEVTOOLS_OPENED HIGH -15, the 3rd on q1: MULTIPLE_VIOLATIONS HIGH -15 as well
            ts["5"] = await send(candidate, 5, "inspect_element_opened")
            ts["6"] = await send(candidate, 6, "focus_lost", data={"durationMs": 6000})  # -8
        ts["7"] = (await stored(admin, "user_disconnected"))["event"]["ts"]
        await anyio.sleep(1.5)  # offline
        async with server.candidate(session_id, token) as candidate:
            ts["8"] = (await stored(admin, "user_reconnected"))["event"]["ts"]
            ts["9"] = await send(candidate, 7, "question_viewed", questionId="q2")
            ts["10"] = await send(candidate, 8, "tab_switch_detected")  # TAB_SWITCH MEDIUM -8
            ts["11"] = await send(candidate, 9, "right_click_attempt")  # RIGHT_CLICK LOW -3
            async with server.http(token=token) as own:
                response = await own.post(
                    f"/candidate-sessions/{session_id}/submit", json={"answers": []}
                )
                assert response.status_code == 200, response.text
            ts["12"] = (await stored(admin, "assessment_submitted"))["event"]["ts"]
    return session_id, ts


async def report_of(server: RunningServer, session_id: str, **params: str) -> Any:
    async with server.http() as admin:
        response = await admin.get(f"/candidate-sessions/{session_id}/report", params=params)
    assert response.status_code == 200, response.text
    return response.json() if not params else response


def seconds(start: str, end: str) -> float:
    return (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()


async def test_every_figure_of_a_scripted_report(server: RunningServer) -> None:
    session_id, ts = await scripted_session(server)
    report = await report_of(server, session_id)

    # Contract section 6 by hand: 100 - 8 - 8 - 15 - 15 - 8 - 8 - 3 = 35, trust LOW;
    # risk = 0.30 x min(2 x 0.1, 1) = 0.06, low; no frames, no audio.
    assert (report["verificationScore"], report["trustLevel"]) == (35, "LOW")
    # Compliance is a share of minutes (actors/compliance.py): the session is under a minute
    # long and that minute holds violations, so no minute was compliant.
    assert report["complianceScore"] == 0
    assert (report["overallRiskScore"], report["riskLevel"]) == (0.06, "low")
    assert report["riskBreakdown"] == {
        "tabSwitches": 0.2, "faceAnomalies": 0.0, "objectDetections": 0.0, "audioAnomalies": 0.0,
    }  # fmt: skip
    assert report["riskFactors"] == [{"factor": "Anti-cheat violations", "impact": -65, "count": 7}]
    assert report["violationsByType"] == {
        "COPY_PASTE": 1, "DEVTOOLS_OPENED": 1, "FOCUS_LOSS": 1, "MULTIPLE_VIOLATIONS": 1,
        "RIGHT_CLICK": 1, "TAB_SWITCH": 2,
    }  # fmt: skip
    assert report["violationsBySeverity"] == {"HIGH": 2, "LOW": 1, "MEDIUM": 4}
    assert report["status"] == "COMPLETED" and report["final"] is True
    assert report["endTime"] == ts["12"]
    findings = report["detailedFindings"]
    assert findings["suspiciousTimestamps"] == sorted(
        {ts[o] for o in ("3", "4", "5", "6", "10", "11")}
    )
    assert findings["flaggedFrames"] == []

    ledger = report["ledger"]
    assert ledger["startingScore"] == 100 and ledger["verificationScore"] == 35
    assert ledger["floored"] is False
    rows = [
        (e["violationId"].rsplit(":", 2)[1:], e["type"], e["severity"], e["points"], e["offsets"])
        for e in ledger["verification"]
    ]
    assert rows == [
        (["3", "0"], "TAB_SWITCH", "MEDIUM", -8, [3]),
        (["4", "0"], "COPY_PASTE", "MEDIUM", -8, [4]),
        (["5", "0"], "DEVTOOLS_OPENED", "HIGH", -15, [5]),
        (["5", "1"], "MULTIPLE_VIOLATIONS", "HIGH", -15, [5]),
        (["6", "0"], "FOCUS_LOSS", "MEDIUM", -8, [6]),
        (["10", "0"], "TAB_SWITCH", "MEDIUM", -8, [10]),
        (["11", "0"], "RIGHT_CLICK", "LOW", -3, [11]),
    ]
    assert ledger["verification"][0]["rule"] == "MEDIUM violation: -8 ([scoring] penalty_medium)"
    assert ledger["verification"][3]["questionId"] == "q1"
    assert ledger["verification"][5]["questionId"] == "q2"
    assert all(
        e["counted"] and e["factor"] == "Anti-cheat violations" for e in ledger["verification"]
    )
    parts = {part["part"]: part for part in ledger["risk"]}
    assert parts["tabSwitches"]["offsets"] == [3, 10]
    assert parts["tabSwitches"]["contribution"] == 0.06
    assert parts["tabSwitches"]["rule"] == "min(2 tab switches x 0.1, 1) x weight 0.3"
    assert parts["faceAnomalies"]["rule"] == "0: no webcam frames were analysed"
    assert ledger["automatic"] == ledger["reviewed"] == {
        "verificationScore": 35, "trustLevel": "LOW", "riskScore": 0.06, "riskLevel": "low",
    }  # fmt: skip
    # [offset, ts, verification, risk] after each event that moved a score
    assert ledger["timeline"] == [
        [1, ts["1"], 100, 0.0], [3, ts["3"], 92, 0.03], [4, ts["4"], 84, 0.03],
        [5, ts["5"], 54, 0.03], [6, ts["6"], 46, 0.03], [10, ts["10"], 38, 0.06],
        [11, ts["11"], 35, 0.06],
    ]  # fmt: skip

    # One alert per violation, none for anything else (no rules configured, nobody intervened).
    assert [(a["offset"], a["severity"]) for a in report["alerts"]] == [
        (3, "medium"), (4, "medium"), (5, "high"), (5, "high"), (6, "medium"), (10, "medium"),
        (11, "low"),
    ]  # fmt: skip
    assert report["alerts"][3]["message"] == "MULTIPLE_VIOLATIONS (HIGH) on question q1"
    assert report["interventions"] == []

    completeness = report["completeness"]
    [gap] = completeness["offlineGaps"]
    assert (gap["fromOffset"], gap["toOffset"]) == (7, 8)
    assert (gap["start"], gap["end"]) == (ts["7"], ts["8"])
    assert gap["seconds"] == round(seconds(ts["7"], ts["8"]), 3) and gap["seconds"] >= 1.5
    assert completeness["offlineSeconds"] == gap["seconds"]
    assert completeness["measuredUntil"] == ts["12"]
    assert completeness["firstConnectedAt"] == ts["1"]
    session_seconds = seconds(report["startTime"], ts["12"])
    assert abs(completeness["sessionSeconds"] - session_seconds) < 1e-3
    connected = seconds(ts["1"], ts["12"]) - gap["seconds"]
    assert abs(completeness["connectedSeconds"] - connected) < 2e-3
    assert completeness["eventsStored"] == 12
    assert (completeness["framesReceived"], completeness["framesAnalyzed"]) == (0, 0)

    advice = findings["recommendations"]
    assert advice[0].startswith("Flag for investigation")
    assert any(line.startswith("The candidate was offline") for line in advice)
    assert any("No webcam frames were analysed" in line for line in advice)


async def test_a_dismissal_raises_the_score_by_exactly_its_penalty(server: RunningServer) -> None:
    session_id, _ = await scripted_session(server)
    devtools, tab_switch = f"{session_id}:5:0", f"{session_id}:10:0"
    path = f"/candidate-sessions/{session_id}/violations"
    async with server.http() as admin, server.admin() as watcher:
        await watcher.subscribe(f"session:{session_id}")
        response = await admin.post(
            f"{path}/{devtools}/review",
            json={"decision": "dismiss", "reason": "An accessibility tool, agreed beforehand."},
            headers={"Idempotency-Key": "review-1"},
        )
        assert response.status_code == 200, response.text
        first = response.json()
        assert first["automatic"]["verificationScore"] == 35
        assert first["reviewed"]["verificationScore"] == 35 + 15  # exactly its HIGH penalty
        assert first["violation"]["resolved"] is True
        assert first["violation"]["review"]["decision"] == "dismiss"
        event = await stored(watcher, "violation_reviewed")
        assert event["event"]["data"]["violationId"] == devtools
        assert event["state"]["verificationScore"] == 50 and event["state"]["violationCount"] == 6

        # Dismissing a tab switch also takes it out of the risk score's tab part.
        response = await admin.post(
            f"{path}/{tab_switch}/review", json={"decision": "dismiss", "reason": "Proctor's call"}
        )
        assert response.json()["reviewed"] == {
            "verificationScore": 58, "trustLevel": "LOW", "riskScore": 0.03, "riskLevel": "low",
        }  # fmt: skip
        report = await report_of(server, session_id)
        assert report["verificationScore"] == 58 and report["overallRiskScore"] == 0.03
        assert report["ledger"]["automatic"]["verificationScore"] == 35
        entries = {e["violationId"]: e for e in report["ledger"]["verification"]}
        assert entries[devtools]["counted"] is False
        assert entries[devtools]["reviews"][0]["reason"].startswith("An accessibility tool")
        assert report["ledger"]["risk"][0]["offsets"] == [3]
        assert any(line.startswith("Reviewers changed the verdict") for line in
                   report["detailedFindings"]["recommendations"])  # fmt: skip

        # Confirming puts it back; the same request again is answered as the first time.
        response = await admin.post(
            f"{path}/{tab_switch}/review", json={"decision": "confirm", "reason": "Second look"}
        )
        assert response.json()["reviewed"]["verificationScore"] == 50
        replay = await admin.post(
            f"{path}/{devtools}/review",
            json={"decision": "dismiss", "reason": "An accessibility tool, agreed beforehand."},
            headers={"Idempotency-Key": "review-1"},
        )
        assert replay.json() == first

        # Refusals change nothing.
        before = (await admin.get(f"/candidate-sessions/{session_id}")).json()["state"][
            "lastOffset"
        ]
        missing = await admin.post(
            f"{path}/{session_id}:99:0/review", json={"decision": "dismiss", "reason": "x"}
        )
        assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
        empty = await admin.post(
            f"{path}/{devtools}/review", json={"decision": "dismiss", "reason": ""}
        )
        assert empty.status_code == 422 and empty.json()["error"]["field"] == "reason"
        after = (await admin.get(f"/candidate-sessions/{session_id}")).json()["state"]["lastOffset"]
        assert after == before


async def test_a_candidate_cannot_review_its_own_violations(server: RunningServer) -> None:
    session_id, token = await server.create_session()
    async with server.candidate(session_id, token) as candidate:
        await send(candidate, 1, "tab_switch_detected")
    async with server.http(token=token) as own:
        response = await own.post(
            f"/candidate-sessions/{session_id}/violations/{session_id}:1:0/review",
            json={"decision": "dismiss", "reason": "it was not me"},
        )
    assert response.status_code == 403


async def test_the_report_as_a_page_and_as_csv(server: RunningServer) -> None:
    session_id, token = await server.create_session(name=NAME)
    async with server.candidate(session_id, token) as candidate:
        await send(candidate, 1, "assessment_started")
        await send(candidate, 2, "question_viewed", questionId='=HYPERLINK("http://x")')
        await send(candidate, 3, "tab_switch_detected", questionId="q1")
    async with server.admin() as admin:
        await admin.send({"type": "intervene", "sessionId": session_id, "action": "warn",
                          "message": "Eyes on your own screen"})  # fmt: skip
        await admin.recv_until(lambda m: m["type"] == "intervened")
    page = await report_of(server, session_id, format="html")
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert "default-src 'none'" in page.headers["content-security-policy"]
    html = page.text
    assert "<script>" not in html and "Ada &lt;script&gt;alert(1)&lt;/script&gt; Lovelace" in html
    # One script, the page's own (local times), let in by this page's nonce only.
    nonce = page.headers["content-security-policy"].split("'nonce-", 1)[1].split("'", 1)[0]
    assert html.count("<script") == 1 and f"<script nonce='{nonce}'>" in html
    # The warning is listed once among the alerts and interventions (it raised an alert too).
    alerts = html.split("<h2>Alerts and interventions</h2>", 1)[1].split("<h2>", 1)[0]
    assert alerts.count("<td class='num'>5</td>") == 1
    assert "<svg" in html and "TAB_SWITCH (MEDIUM) on q1" in html
    assert "MEDIUM violation: -8 ([scoring] penalty_medium)" in html
    assert "Eyes on your own screen" in html and "provisional" in html

    exported = await report_of(server, session_id, format="csv")
    assert exported.headers["content-type"] == "text/csv; charset=utf-8"
    assert f'filename="{session_id}-events.csv"' in exported.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert [row["type"] for row in rows] == [
        "assessment_started", "question_viewed", "tab_switch_detected", "user_disconnected",
        "intervention",
    ]  # fmt: skip
    assert [row["offset"] for row in rows] == ["1", "2", "3", "4", "5"]
    assert rows[1]["questionId"] == '\'=HYPERLINK("http://x")'  # never run as a formula
    assert rows[4]["origin"] == "admin" and '"action":"warn"' in rows[4]["data"]

    async with server.http() as admin:
        wrong = await admin.get(f"/candidate-sessions/{session_id}/report?format=pdf")
    assert wrong.status_code == 422 and wrong.json()["error"]["field"] == "format"
