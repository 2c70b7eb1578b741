"""Who is on camera, end to end (issue 22): real pictures of real people, as moving webcam
frames, through the real candidate socket and process pool with the default SFace model, to the
stored events, the session's `identity`, the report, and the sealed, erasable biometrics."""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib import metadata
from pathlib import Path
from typing import Any

import anyio
import cv2
import msgspec
import numpy as np
import pytest
from skimage import data as skdata

from actors.identity_desk import decode_biometrics
from app.vision.faces import BlazeFace
from tests.support import Peer, RunningServer, eventually, running_server

pytestmark = pytest.mark.anyio

VISION = {
    "enabled": True,
    "object_every_seconds": 1000.0,
    "identity_every_seconds": 0.01,  # every frame with one face is compared
    "identity_mismatch_seconds": 0.3,
    "identity_mismatch_min_frames": 2,
    "episode_seconds": 1000.0,  # no vision episodes in the way
    "skipped_report_seconds": 1000.0,
}


def encoded(image: Any, quality: int = 90) -> bytes:
    ok, data = cv2.imencode(".jpg", np.asarray(image), [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    return data.tobytes()


def wheel_image(distribution: str, path: str) -> Any:
    image = cv2.imread(str(metadata.distribution(distribution).locate_file(path)))
    assert image is not None, path
    return image


ASTRONAUT = cv2.cvtColor(np.asarray(skdata.astronaut()), cv2.COLOR_RGB2BGR)
T1 = wheel_image("insightface", "insightface/data/images/t1.jpg")


@functools.cache
def stranger() -> Any:
    """One of the six people of insightface's t1.jpg, alone, cut as a webcam would show them."""
    faces = sorted(
        BlazeFace(min_confidence=0.5, looking_away_yaw=35.0).detect(T1), key=lambda f: f.box.x1
    )
    assert len(faces) == 6
    image = T1.copy()
    h, w = image.shape[:2]
    face = faces[2]
    for other in faces:
        if other is not face:
            b = other.box
            image[round(b.y1 * h) : round(b.y2 * h), round(b.x1 * w) : round(b.x2 * w)] = 128
    b = face.box
    side = (b.x2 - b.x1) * w
    cx, cy = (b.x1 + b.x2) / 2 * w, (b.y1 + b.y2) / 2 * h
    x0, x1 = max(0, round(cx - 1.7 * side)), min(w, round(cx + 1.7 * side))
    y0, y1 = max(0, round(cy - 1.4 * side)), min(h, round(cy + 1.4 * side))
    return np.ascontiguousarray(image[y0:y1, x0:x1])


def moving(image: Any, step: int) -> bytes:
    """The picture as a webcam frame of someone moving: shifted, a little nearer or farther,
    relit, at 640x480, recompressed."""
    h, w = image.shape[:2]
    scale = min(640 / w, 480 / h) * (0.92 + 0.04 * (step % 4))
    dx = 320 - w * scale / 2 + ((step * 7) % 31 - 15)
    dy = 240 - h * scale / 2 + ((step * 5) % 21 - 10)
    matrix = np.float32([[scale, 0, dx], [0, scale, dy]])
    frame = cv2.warpAffine(image, matrix, (640, 480), borderValue=(90, 90, 90))
    lit = cv2.convertScaleAbs(frame, alpha=0.9 + 0.05 * (step % 3), beta=(step % 5) * 3)
    return encoded(lit, quality=75 + step % 15)


DARK = encoded(np.full((480, 640, 3), 8, dtype=np.uint8))
COFFEE = encoded(cv2.cvtColor(np.asarray(skdata.coffee()), cv2.COLOR_RGB2BGR))


@asynccontextmanager
async def identity_server(tmp_path: Path, **vision: Any) -> AsyncIterator[RunningServer]:
    async with running_server(tmp_path, vision={**VISION, **vision}) as server:
        service = server.services.vision
        assert service is not None
        await eventually(lambda: service.available, timeout=90)
        yield server


async def analysed(admin: Peer, candidate: Peer, frame: bytes) -> dict[str, Any]:
    await candidate.ws.send(frame)
    message, _ = await admin.recv_until(
        lambda m: m["type"] == "event" and m["event"]["type"] == "frame_analyzed", timeout=30
    )
    event: dict[str, Any] = message["event"]
    return event


async def types_of(server: RunningServer, session_id: str) -> list[str]:
    return [event.type for event in await server.services.store.events(session_id)]


async def put_photo(
    server: RunningServer, session_id: str, photo: bytes, token: str | None = None
) -> Any:
    client = server.http() if token is None else server.http(token)
    async with client:
        return await client.put(
            f"/candidate-sessions/{session_id}/reference-photo",
            content=photo,
            headers={"content-type": "image/jpeg"},
        )


async def identity_of(server: RunningServer, session_id: str) -> dict[str, Any]:
    async with server.http() as client:
        found: dict[str, Any] = (await client.get(f"/candidate-sessions/{session_id}")).json()
    return found["identity"]


async def test_the_same_person_passes_over_a_minute_of_moving_frames(tmp_path: Path) -> None:
    async with identity_server(tmp_path) as server:
        session_id, token = await server.create_session()
        assert await identity_of(server, session_id) == {"status": "none", "reference": None}
        scores = []
        async with server.admin() as admin, server.candidate(session_id, token) as candidate:
            await admin.subscribe(f"session:{session_id}")
            for step in range(24):  # a minute of frames at one every 2.5 s
                event = await analysed(admin, candidate, moving(ASTRONAUT, step))
                assert event["data"]["faces"] == 1, event["data"]
                assert "embedding" not in event["data"]
                if "identity" in event["data"]:
                    scores.append(event["data"]["identity"]["score"])
                    assert event["data"]["identity"]["match"] is True, event["data"]
        types = await types_of(server, session_id)
        # Enrolled from the first agreeing frames, then matched on every later one.
        assert types.count("identity_enrolled") == 1
        assert "identity_mismatch" not in types
        assert len(scores) >= 18 and min(scores) >= 0.43
        identity = await identity_of(server, session_id)
        assert identity["status"] == "verified" and identity["reference"] == "frames"
        assert identity["lastMatchScore"] == scores[-1]


async def test_another_person_is_flagged_once_per_episode(tmp_path: Path) -> None:
    async with identity_server(tmp_path) as server:
        session_id, token = await server.create_session()
        answer = await put_photo(server, session_id, encoded(ASTRONAUT), token)
        assert answer.status_code == 200, answer.text
        assert answer.json()["faceFound"] is True and answer.json()["reference"] == "photo"
        async with server.admin() as admin, server.candidate(session_id, token) as candidate:
            await admin.subscribe(f"session:{session_id}")
            assert (await analysed(admin, candidate, moving(ASTRONAUT, 1)))["data"]["identity"][
                "match"
            ]
            for episode in range(2):
                for step in range(6):
                    event = await analysed(
                        admin, candidate, moving(stranger(), step + 10 * episode)
                    )
                    assert event["data"]["identity"]["match"] is False, event["data"]
                    if step == 0:
                        await anyio.sleep(0.35)  # the run must last identity_mismatch_seconds
                for step in range(2):
                    await analysed(admin, candidate, moving(ASTRONAUT, step + 3))
                await server.services.journal.flush()
                types = await types_of(server, session_id)
                assert types.count("identity_mismatch") == episode + 1
                assert types.count("identity_episode_ended") == episode + 1
        types = await types_of(server, session_id)
        assert types.count("identity_mismatch") == 2  # once per episode, not per frame
        assert types.count("identity_episode_ended") == 2
        async with server.http() as client:
            report = (await client.get(f"/candidate-sessions/{session_id}/report")).json()
        entries = [e for e in report["ledger"]["verification"] if e["type"] == "IDENTITY_MISMATCH"]
        assert len(entries) == 2
        assert all(e["severity"] == "HIGH" and e["points"] == -15 for e in entries)
        assert entries[0]["episode"]["frames"] >= 2 and entries[0]["episode"]["end"]
        flagged = report["detailedFindings"]["flaggedFrames"]
        assert len(flagged) >= 4  # each episode's raising frame and its ending one
        identity = await identity_of(server, session_id)
        assert identity["status"] == "verified" and identity["reference"] == "photo"


async def test_a_poor_frame_is_not_a_mismatch(tmp_path: Path) -> None:
    async with identity_server(tmp_path) as server:
        session_id, token = await server.create_session()
        assert (await put_photo(server, session_id, encoded(ASTRONAUT))).status_code == 200
        async with server.admin() as admin, server.candidate(session_id, token) as candidate:
            await admin.subscribe(f"session:{session_id}")
            for step in range(4):
                for frame in (DARK, COFFEE):
                    event = await analysed(admin, candidate, frame)
                    assert "identity" not in event["data"]
                    await anyio.sleep(0.1 * step)
        types = await types_of(server, session_id)
        assert "identity_mismatch" not in types
        assert await identity_of(server, session_id) == {"status": "enrolled", "reference": "photo"}


async def test_refused_photos_change_nothing(tmp_path: Path) -> None:
    async with identity_server(tmp_path) as server:
        session_id, token = await server.create_session()
        other_id, other_token = await server.create_session(name="Grace Hopper")
        before = await server.services.store.events(session_id)
        refusals = [
            (COFFEE, "image/jpeg", 422, "no_face"),
            (encoded(T1), "image/jpeg", 422, "multiple_faces"),
            (b"not a jpeg at all", "image/jpeg", 422, "invalid_body"),
            (encoded(ASTRONAUT), "image/png", 415, "unsupported_media_type"),
            (b"", "image/jpeg", 422, "invalid_body"),
        ]
        async with server.http(token) as client:
            for body, media_type, status, code in refusals:
                answer = await client.put(
                    f"/candidate-sessions/{session_id}/reference-photo",
                    content=body,
                    headers={"content-type": media_type},
                )
                assert answer.status_code == status, (code, answer.text)
                error = answer.json()["error"]
                assert error["code"] == code and error["message"]
        # Another session's candidate may not set this one's reference.
        assert (
            await put_photo(server, session_id, encoded(ASTRONAUT), other_token)
        ).status_code == 403
        assert await server.services.store.events(session_id) == before
        assert await identity_of(server, session_id) == {"status": "none", "reference": None}
        loaded = await server.services.store.load(session_id)
        assert loaded is not None and loaded.biometrics is None
        assert other_id != session_id


async def test_the_reference_survives_a_restart_and_erasure_leaves_no_embedding(
    tmp_path: Path,
) -> None:
    async with identity_server(tmp_path) as server:
        session_id, token = await server.create_session()
        assert (await put_photo(server, session_id, encoded(ASTRONAUT))).status_code == 200
        await server.services.journal.flush()
    async with identity_server(tmp_path) as server:
        loaded = await server.services.store.load(session_id)
        assert loaded is not None and loaded.biometrics is not None
        reference = decode_biometrics(loaded.biometrics).reference
        assert reference is not None and len(reference) == 128
        async with server.admin() as admin, server.candidate(session_id, token) as candidate:
            await admin.subscribe(f"session:{session_id}")
            for step in range(6):
                event = await analysed(admin, candidate, moving(stranger(), step))
                assert event["data"]["identity"]["match"] is False
                await anyio.sleep(0.1)
        assert "identity_mismatch" in await types_of(server, session_id)
        await server.services.journal.flush()
        plaintexts = embedding_forms(reference, loaded.biometrics)
        files = storage_files(tmp_path)
        assert not any(form in data for form in plaintexts for data in files.values())
        async with server.http() as client:
            assert (await client.delete(f"/candidate-sessions/{session_id}")).status_code in (
                200,
                204,
            )
        await server.services.journal.flush()
        files = storage_files(tmp_path)
        assert not any(form in data for form in plaintexts for data in files.values())
        assert await server.services.store.load(session_id) is None


def embedding_forms(reference: list[float], biometrics: bytes) -> list[bytes]:
    """The ways an embedding could sit in a file unsealed."""
    vector = np.asarray(reference)
    return [
        biometrics,
        msgspec.msgpack.encode(reference),
        vector.astype(">f8").tobytes()[:32],
        vector.astype("<f8").tobytes()[:32],
        vector.astype("<f4").tobytes()[:16],
        msgspec.json.encode(reference[:3])[1:-1],
    ]


def storage_files(root: Path) -> dict[Path, bytes]:
    return {path: path.read_bytes() for path in root.rglob("*") if path.is_file()}


async def test_the_calibration_frame_says_what_to_fix(tmp_path: Path) -> None:
    async with identity_server(tmp_path) as server:
        session_id, token = await server.create_session()
        path = f"/candidate-sessions/{session_id}/calibration"
        jpeg = {"content-type": "image/jpeg"}
        async with server.http(token) as client:
            check = (await client.get(f"/candidate-sessions/{session_id}/system-check")).json()
            assert check["calibration"] is True and "{kept}" not in check["consentText"]
            good = (await client.post(path, content=encoded(ASTRONAUT), headers=jpeg)).json()
            assert good["passed"] is True and good["faces"] == 1, good
            dark = (await client.post(path, content=DARK, headers=jpeg)).json()
            assert dark["passed"] is False and dark["quality"] == "dark"
            assert "light" in dark["advice"]
            empty = (await client.post(path, content=COFFEE, headers=jpeg)).json()
            assert empty["passed"] is False and empty["faces"] == 0
            crowd = (await client.post(path, content=encoded(T1), headers=jpeg)).json()
            assert crowd["passed"] is False and "only you" in crowd["advice"]
            refused = await client.post(path, content=b"nope", headers=jpeg)
            assert refused.status_code == 422 and refused.json()["error"]["field"] == "body"
            wrong = await client.post(path, content=encoded(ASTRONAUT))
            assert wrong.status_code == 415
        stored = [e for e in await server.services.store.events(session_id)]
        assert [e.data["passed"] for e in stored if e.type == "calibration_checked"] == [
            True, False, False, False,
        ]  # fmt: skip
        async with server.candidate(session_id, token) as candidate:
            await candidate.event(
                1, "permission_checked", data={"camera": "denied", "microphone": "granted"}
            )
            await candidate.event(
                2, "camera_lost", data={"reason": "denied", "detail": "NotAllowedError"}
            )
            await candidate.event(
                3, "consent_given", data={"accepted": True, "textSha256": "not a hash"}
            )
            refusal, _ = await candidate.recv_until(lambda m: m.get("type") == "error")
            assert refusal["code"] == "invalid_event" and refusal["seq"] == 3
            await candidate.acked(2)
