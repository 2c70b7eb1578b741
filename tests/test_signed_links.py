"""Signed, expiring links to webcam frames: they work without a token for their one path until
they expire; a tampered or expired link is 403, and every use is in the audit log."""

from __future__ import annotations

import sqlite3
import time

import pytest

from app.storage.schema import database_path
from tests.support import RunningServer, eventually

pytestmark = pytest.mark.anyio

JPEG = b"\xff\xd8 a kept frame \xff\xd9"


async def kept_frame(server: RunningServer) -> tuple[str, str]:
    session_id, _ = await server.create_session()
    frames = server.services.frames
    assert frames is not None
    for offset in (1, 2):
        frames.keep(session_id, offset, JPEG + bytes([offset]), flagged=True)
    await eventually(lambda: 2 in frames.kept(session_id))
    return session_id, f"/candidate-sessions/{session_id}/frames/1.jpg"


async def test_a_signed_link_needs_no_token_until_it_expires(server: RunningServer) -> None:
    session_id, path = await kept_frame(server)
    signer = server.services.signer
    assert signer is not None
    link = signer.sign(path, int(time.time()) + 60)
    async with server.http(token=None) as anyone:
        fetched = await anyone.get(link)
        assert fetched.status_code == 200 and fetched.content == JPEG + b"\x01"
        assert (await anyone.get(path)).status_code == 401  # unsigned: a token is needed
        expired = await anyone.get(signer.sign(path, int(time.time()) - 1))
        assert expired.status_code == 403 and expired.json()["error"]["code"] == "url_expired"
        other_frame = link.replace("/frames/1.jpg", "/frames/2.jpg")  # same signature
        assert (await anyone.get(other_frame)).status_code == 403
        forged = link[:-4] + ("0000" if not link.endswith("0000") else "1111")
        refused = await anyone.get(forged)
        assert refused.status_code == 403
        assert refused.json()["error"] == {
            "code": "invalid_signature",
            "message": "the signature does not match this path and expiry",
            "field": "signature",
        }
        later = link.replace("expires=", "expires=9")  # a longer life, same signature
        assert (await anyone.get(later)).status_code == 403
    with sqlite3.connect(database_path(server.settings.storage_dir)) as conn:
        used = conn.execute(
            "SELECT actor, action, session_id, status FROM audit WHERE actor = 'signed-link'"
        ).fetchall()
    assert used == [("signed-link", f"GET {path}", session_id, 200)]  # refusals read nothing
