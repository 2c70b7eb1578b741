"""Screen recordings on the server (issue 24): numbered chunks over HTTP, each stored once and
in order, sealed, within a quota; `screenRecording` kept by the server; the video served by
byte range; erased with the session. Bad input stores nothing."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from tests.support import RunningServer, running_server

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(60)]

WEBM = {"content-type": "video/webm;codecs=vp8"}
CHUNKS = [b"\x1aE\xdf\xa3" + os.urandom(3000), os.urandom(2500), os.urandom(4000)]  # < 4095


def chunk_path(session_id: str, n: int) -> str:
    return f"/candidate-sessions/{session_id}/screen-recording/chunks/{n}"


async def put(server: RunningServer, token: str, path: str, body: bytes, **headers: str) -> Any:
    async with server.http(token) as client:
        return await client.put(path, content=body, headers={**WEBM, **headers})


async def session_of(server: RunningServer, session_id: str) -> dict[str, Any]:
    async with server.http() as client:
        body: dict[str, Any] = (await client.get(f"/candidate-sessions/{session_id}")).json()
    return body


async def test_chunks_upload_once_in_order_and_play_back_by_range(
    server: RunningServer, tmp_path: Path
) -> None:
    session_id, token = await server.create_session()
    for n, data in enumerate(CHUNKS):
        response = await put(server, token, chunk_path(session_id, n), data)
        assert response.status_code == 200, response.text
        assert response.json()["next"] == n + 1 and response.json()["stored"] is True
    again = await put(server, token, chunk_path(session_id, 1), CHUNKS[1])  # after a lost answer
    assert again.status_code == 200 and again.json() == {
        "stored": False, "next": 3, "fileSize": sum(map(len, CHUNKS)),
    }  # fmt: skip

    whole = b"".join(CHUNKS)
    video = f"/candidate-sessions/{session_id}/screen-recording/video"
    async with server.http() as client:
        full = await client.get(video)
        assert full.status_code == 200 and full.content == whole
        assert full.headers["accept-ranges"] == "bytes"
        middle = await client.get(video, headers={"range": "bytes=2990-5600"})
        assert middle.status_code == 206 and middle.content == whole[2990:5601]
        assert middle.headers["content-range"] == f"bytes 2990-5600/{len(whole)}"
        tail = await client.get(video, headers={"range": "bytes=-100"})
        assert tail.content == whole[-100:]
        outside = await client.get(video, headers={"range": f"bytes={len(whole)}-"})
        assert outside.status_code == 416
    async with server.http(token=None) as anonymous:
        assert (await anonymous.get(video)).status_code == 401

    recording = (await session_of(server, session_id))["screenRecording"]
    assert recording["fileSize"] == len(whole) and recording["format"] == "video/webm"
    assert recording["uploadStatus"] == "uploading"
    assert recording["recordingUrl"] == video
    # The client's word no longer counts for what the server measures.
    async with server.http(token) as client:
        lied = await client.put(
            f"/candidate-sessions/{session_id}/screen-recording",
            json={"fileSize": 1, "quality": "720p"},
        )
        assert lied.status_code == 200, lied.text
    recording = (await session_of(server, session_id))["screenRecording"]
    assert recording["fileSize"] == len(whole) and recording["quality"] == "720p"

    sealed = (tmp_path / "screen" / session_id / "0.chunk").read_bytes()
    assert CHUNKS[0][:64] not in sealed
    async with server.http() as client:
        assert (await client.delete(f"/candidate-sessions/{session_id}")).status_code == 204
    assert not (tmp_path / "screen" / session_id).exists()


@pytest.mark.parametrize(
    ("n", "body", "headers", "status", "code"),
    [
        (1, CHUNKS[1], {}, 409, "chunk_out_of_order"),
        (0, CHUNKS[0], {"content-type": "image/png"}, 415, "wrong_type"),
        (0, bytes(4096), {}, 413, "too_large"),
        ("x", CHUNKS[0], {}, 404, "not_found"),
    ],
)
async def test_bad_chunks_are_refused_and_store_nothing(
    tmp_path: Path, n: Any, body: bytes, headers: dict[str, str], status: int, code: str
) -> None:
    async with running_server(tmp_path, screen={"max_chunk_bytes": 4095}) as server:
        session_id, token = await server.create_session()
        response = await put(server, token, chunk_path(session_id, n), body, **headers)
        assert response.status_code == status, response.text
        assert response.json()["error"]["code"] == code
        assert not (tmp_path / "screen" / session_id / "0.chunk").exists()
        assert (await session_of(server, session_id)).get("screenRecording") is None


async def test_a_chunk_sent_again_with_other_bytes_or_for_another_session_is_refused(
    server: RunningServer,
) -> None:
    session_id, token = await server.create_session()
    other, other_token = await server.create_session(name="Grace Hopper")
    empty = await put(server, token, chunk_path(session_id, 0), b"")  # MediaRecorder's empty blob
    assert empty.status_code == 200 and empty.json() == {"stored": False, "next": 0, "fileSize": 0}
    assert (await put(server, token, chunk_path(session_id, 0), CHUNKS[0])).status_code == 200
    conflict = await put(server, token, chunk_path(session_id, 0), CHUNKS[1])
    assert conflict.status_code == 409 and conflict.json()["error"]["code"] == "chunk_conflict"
    foreign = await put(server, other_token, chunk_path(session_id, 1), CHUNKS[1])
    assert foreign.status_code == 403
    recording = (await session_of(server, session_id))["screenRecording"]
    assert recording["fileSize"] == len(CHUNKS[0])
    assert (await session_of(server, other)).get("screenRecording") is None


async def test_a_full_quota_stops_the_recording_not_the_exam(tmp_path: Path) -> None:
    async with running_server(tmp_path, screen={"quota_mb": 1}) as server:
        session_id, token = await server.create_session()
        big = os.urandom(700 * 1024)
        assert (await put(server, token, chunk_path(session_id, 0), big)).status_code == 200
        full = await put(server, token, chunk_path(session_id, 1), big)
        assert full.status_code == 507 and full.json()["error"]["code"] == "quota_exceeded"
        recording = (await session_of(server, session_id))["screenRecording"]
        assert recording["uploadStatus"] == "quota_exceeded" and recording["fileSize"] == len(big)
        async with server.candidate(session_id, token) as candidate:  # the exam goes on
            await candidate.event(1, "assessment_started")
            await candidate.acked(1)
