"""The webcam path end to end: JPEG frames of real pictures through the real candidate socket,
the real process pool and detectors, to stored events, episodes, the report, kept frames, and
the fallback when a worker dies."""

from __future__ import annotations

import os
import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import cv2
import numpy as np
import psutil
import pytest
from skimage import data as skdata

from tests.support import Peer, RunningServer, eventually, running_server

pytestmark = pytest.mark.anyio


def jpeg(image: Any) -> bytes:
    ok, encoded = cv2.imencode(".jpg", np.asarray(image), [cv2.IMWRITE_JPEG_QUALITY, 90])
    assert ok
    return encoded.tobytes()


def bgr(image: Any) -> Any:
    return cv2.cvtColor(np.asarray(image), cv2.COLOR_RGB2BGR)


FACE = jpeg(bgr(skdata.astronaut()))  # one face, looking at the camera
NO_FACE = jpeg(bgr(skdata.coffee()))  # a cup of coffee
DARK = jpeg(np.full((480, 640, 3), 8, dtype=np.uint8))  # a covered lens: couldn't tell

VISION = {
    "enabled": True,
    "episode_seconds": 0.5,
    "episode_min_frames": 2,
    "object_every_seconds": 1000.0,  # objects on the first frame and after anomalies only
    "skipped_report_seconds": 0.5,
}


@asynccontextmanager
async def vision_server(tmp_path: Path, **vision: Any) -> AsyncIterator[RunningServer]:
    async with running_server(tmp_path, vision={**VISION, **vision}) as server:
        service = server.services.vision
        assert service is not None
        await eventually(lambda: service.available, timeout=90)  # the models are loaded
        yield server


async def analysed(admin: Peer, candidate: Peer, frame: bytes) -> dict[str, Any]:
    """Send one frame and wait for its `frame_analyzed` event; return the event."""
    await candidate.ws.send(frame)
    message, _ = await admin.recv_until(
        lambda m: m["type"] == "event" and m["event"]["type"] == "frame_analyzed", timeout=30
    )
    event: dict[str, Any] = message["event"]
    return event


async def stored_types(server: RunningServer, session_id: str) -> list[str]:
    return [event.type for event in await server.services.store.events(session_id)]


async def test_a_missing_face_is_one_episode_with_its_frames_kept(tmp_path: Path) -> None:
    async with vision_server(tmp_path) as server:
        session_id, token = await server.create_session()
        async with server.admin() as admin, server.candidate(session_id, token) as candidate:
            await admin.subscribe(f"session:{session_id}")
            first = await analysed(admin, candidate, FACE)
            assert first["origin"] == "vision"
            assert first["data"]["faces"] == 1 and first["data"]["usable"] is True
            again = await analysed(admin, candidate, FACE)
            assert again["data"]["reused"] is True  # the same picture: the verdict is reused
            assert again["data"]["objects"] is None  # ...but no object check ran on it
            away_frames, checked = 0, []
            with anyio.fail_after(30):
                while "face_not_detected" not in await stored_types(server, session_id):
                    away = await analysed(admin, candidate, NO_FACE)
                    assert away["data"]["faces"] == 0
                    checked.append(away["data"]["objects"] is not None)
                    away_frames += 1
            assert away_frames >= 2  # never on a single frame
            still_away = await analysed(admin, candidate, NO_FACE)
            checked.append(still_away["data"]["objects"] is not None)
            away_frames += 1
            # Objects are looked for once after the face went missing, not on every such frame.
            assert checked[:2] == [False, True] and not any(checked[2:])
            back = await analysed(admin, candidate, FACE)
            assert back["data"]["faces"] == 1
            ended, _ = await admin.recv_until(
                lambda m: m["type"] == "event" and m["event"]["type"] == "vision_episode_ended"
            )
        types = await stored_types(server, session_id)
        assert types.count("face_not_detected") == 1  # once per episode, not per frame
        assert types.count("frame_analyzed") == 3 + away_frames
        async with server.http() as client:
            report = (await client.get(f"/candidate-sessions/{session_id}/report")).json()
            [entry] = [
                e for e in report["ledger"]["verification"] if e["type"] == "FACE_NOT_DETECTED"
            ]
            assert entry["points"] == -15 and entry["severity"] == "HIGH"
            episode = entry["episode"]
            assert episode["frames"] == away_frames
            assert episode["end"] == ended["event"]["data"]["episode"]["end"]
            assert episode["durationMs"] >= 500
            assert entry["offsets"][-1] == ended["event"]["offset"]
            completeness = report["completeness"]
            frames_sent = 3 + away_frames
            assert completeness["framesReceived"] == completeness["framesAnalyzed"] == frames_sent
            assert completeness["framesReused"] >= 1 and completeness["framesSkipped"] == 0
            frames = report["detailedFindings"]["flaggedFrames"]
            assert len(frames) == 2  # the frame that raised the episode and the one that ended it
            raised_at = await client.get(frames[0])
            assert raised_at.status_code == 200 and raised_at.content == NO_FACE
            ended_at = await client.get(frames[1])
            assert ended_at.content == FACE
            assert raised_at.headers["content-type"] == "image/jpeg"
            page = await client.get(
                f"/candidate-sessions/{session_id}/report", params={"format": "html"}
            )
            assert page.text.count("<img src='data:image/jpeg;base64,") == 2
            # Each caption names the event the frame raised or ended (not "event #?").
            assert "face not detected (event " in page.text and "#?" not in page.text
        assert all("signature=" in frame for frame in frames)  # signed, expiring links
        async with server.http(token=None) as anyone:  # an <img> carries no token
            assert (await anyone.get(frames[0])).content == NO_FACE
        unsigned = frames[0].split("?")[0]
        async with server.http(token=token) as own:  # frames show faces: not the candidate's
            assert (await own.get(unsigned)).status_code == 403
        async with server.http() as client:
            assert (await client.delete(f"/candidate-sessions/{session_id}")).status_code == 204
        assert not (tmp_path / "frames" / session_id).exists()  # erased with the session


async def test_a_dark_camera_is_unusable_not_a_missing_face(tmp_path: Path) -> None:
    async with vision_server(tmp_path) as server:
        session_id, token = await server.create_session()
        async with server.admin() as admin, server.candidate(session_id, token) as candidate:
            await admin.subscribe(f"session:{session_id}")
            with anyio.fail_after(30):  # dark frames are judged in ~2 ms: send until 0.5 s
                while "camera_unusable" not in await stored_types(server, session_id):
                    dark = await analysed(admin, candidate, DARK)
                    assert dark["data"]["usable"] is False and dark["data"]["faces"] is None
                    assert dark["data"]["quality"] == "dark"
            await analysed(admin, candidate, FACE)
            await admin.recv_until(
                lambda m: m["type"] == "event" and m["event"]["type"] == "vision_episode_ended"
            )
        types = await stored_types(server, session_id)
        assert "camera_unusable" in types and "face_not_detected" not in types
        async with server.http() as client:
            report = (await client.get(f"/candidate-sessions/{session_id}/report")).json()
        assert report["verificationScore"] == 100  # alerted, not penalised
        assert report["completeness"]["cameraUnusableSeconds"] > 0
        assert report["riskBreakdown"]["faceAnomalies"] == 0.0  # dark frames are no evidence


async def test_overflow_skips_the_newest_frames_and_counts_them(tmp_path: Path) -> None:
    async with vision_server(tmp_path, queue_size=1) as server:
        session_id, token = await server.create_session()
        async with server.candidate(session_id, token) as candidate:
            for _ in range(12):
                await candidate.ws.send(NO_FACE)  # far faster than a worker analyses

            figures: dict[str, Any] = {}
            with anyio.fail_after(30):  # the sweep reports skipped frames every 0.5 s
                while figures.get("framesReceived") != 12:
                    async with server.http() as client:
                        answer = await client.get(f"/candidate-sessions/{session_id}/report")
                    figures = answer.json()["completeness"]
                    await anyio.sleep(0.1)
        assert figures["framesSkipped"] > 0
        assert figures["framesAnalyzed"] + figures["framesSkipped"] == 12
        metrics = server.services.vision
        assert metrics is not None and metrics.stats.skipped == figures["framesSkipped"]


async def test_a_dead_worker_means_manual_review_and_the_pool_comes_back(tmp_path: Path) -> None:
    async with vision_server(tmp_path) as server:
        service = server.services.vision
        assert service is not None
        session_id, token = await server.create_session()
        async with server.admin() as admin, server.candidate(session_id, token) as candidate:
            await admin.subscribe(f"session:{session_id}")
            await analysed(admin, candidate, FACE)
            workers = [
                child
                for child in psutil.Process(os.getpid()).children(recursive=True)
                if "spawn_main" in " ".join(child.cmdline())  # not the resource tracker
            ]
            assert len(workers) == server.settings.vision.workers
            for worker in workers:
                os.kill(worker.pid, signal.SIGKILL)
            await candidate.ws.send(NO_FACE)
            told, _ = await admin.recv_until(
                lambda m: m["type"] == "event" and m["event"]["type"] == "vision_unavailable",
                timeout=30,
            )
            assert told["state"]["manualReviewRequired"] is True
            assert "died" in told["event"]["data"]["reason"]
            await eventually(lambda: service.available, timeout=90)  # rebuilt
            back = await analysed(admin, candidate, FACE)
            assert back["data"]["faces"] == 1
        async with server.http() as client:
            report = (await client.get(f"/candidate-sessions/{session_id}/report")).json()
        assert any("review the session manually" in line
                   for line in report["detailedFindings"]["recommendations"])  # fmt: skip
