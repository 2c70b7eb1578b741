"""Camera off (contract section 9.1, issue 22 item 5) through the real socket and the real vision
pool: a connected session of a camera-required assessment that sends no frame for
`[vision] camera_off_seconds` gets one `camera_off` (CAMERA_OFF, HIGH) per episode, ended by its
next frame; an assessment whose camera is off never does."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.support import RunningServer
from tests.test_vision_pipeline import FACE, vision_server

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(120)]


async def types(server: RunningServer, session_id: str) -> list[str]:
    return [event.type for event in await server.services.store.events(session_id)]


async def open_session(server: RunningServer, assessment_id: str) -> tuple[str, str]:
    return await server.create_session(assessment_id=assessment_id)


async def define(server: RunningServer, assessment_id: str, camera: str) -> None:
    body: dict[str, Any] = {
        "id": assessment_id,
        "questions": [{"id": "q1", "correctAnswer": "yes"}],
        "camera": camera,
    }
    async with server.http() as client:
        assert (await client.post("/assessments", json=body)).status_code == 201


async def test_camera_off_once_per_episode_and_back_on(tmp_path: Path) -> None:
    async with vision_server(tmp_path, camera_off_seconds=0.5) as server:
        await define(server, "cam-required", "required")
        await define(server, "cam-off", "off")
        watched, token = await open_session(server, "cam-required")
        unwatched, other_token = await open_session(server, "cam-off")
        async with (
            server.admin() as admin,
            server.candidate(watched, token) as candidate,
            server.candidate(unwatched, other_token, source="127.0.0.2"),
        ):
            await admin.subscribe(f"session:{watched}")
            raised, _ = await admin.recv_until(
                lambda m: m["type"] == "event" and m["event"]["type"] == "camera_off", timeout=15
            )
            assert raised["event"]["origin"] == "server"
            assert raised["event"]["data"]["episode"]["everSentFrame"] is False
            # Still dark: no second camera_off in this episode, however long it lasts.
            await candidate.event(1)
            await candidate.acked(1)
            await candidate.ws.send(FACE)
            ended, _ = await admin.recv_until(
                lambda m: m["type"] == "event" and m["event"]["type"] == "camera_off_ended",
                timeout=30,
            )
            assert ended["event"]["data"]["violationOffset"] == raised["event"]["offset"]
            assert ended["event"]["data"]["episode"]["darkMs"] >= 500
            # Dark again: a new episode.
            again, _ = await admin.recv_until(
                lambda m: m["type"] == "event" and m["event"]["type"] == "camera_off", timeout=15
            )
            assert again["event"]["data"]["episode"]["everSentFrame"] is True
            await candidate.event(2)
            await candidate.acked(2)
        stored = await types(server, watched)
        assert stored.count("camera_off") == 2 and stored.count("camera_off_ended") == 1
        assert "camera_off" not in await types(server, unwatched)
        async with server.http() as client:
            found = (await client.get(f"/candidate-sessions/{watched}")).json()
        cameras = [v for v in found["violations"] if v["type"] == "CAMERA_OFF"]
        assert [v["severity"] for v in cameras] == ["HIGH", "HIGH"]


def test_record_completeness_counts_camera_dark_time() -> None:
    from actors.completeness import measure
    from actors.events import StoredEvent

    events = [
        StoredEvent(type="camera_off", offset=1, ts="2026-01-01T10:00:20.000Z",
                    data={"episode": {"secondsWithoutFrame": 20.0}}, origin="server"),
        StoredEvent(type="camera_off_ended", offset=2, ts="2026-01-01T10:00:30.000Z",
                    data={"episode": {"darkMs": 30000}, "violationOffset": 1}, origin="vision"),
        StoredEvent(type="camera_off", offset=3, ts="2026-01-01T10:01:20.000Z",
                    data={"episode": {"secondsWithoutFrame": 20.0}}, origin="server"),
    ]  # fmt: skip
    found = measure(events, "2026-01-01T10:00:00.000Z", "2026-01-01T10:01:30.000Z", "")
    assert found.cameraDarkSeconds == 30 + 20 + 10
