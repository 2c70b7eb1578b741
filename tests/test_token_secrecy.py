"""Tokens never reach the log (issue 21, item 6), and a browser can authenticate a socket
without putting its token in the URL: the subprotocol `vigil.token.<token>` beside `vigil`,
answered with `vigil`. `?token=` keeps working."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import httpx
import pytest
from websockets.asyncio.client import connect

from app.telemetry.log_redaction import REDACTED, RedactTokens, redact
from tests.support import ADMIN_TOKEN, TS, RunningServer, ServerProcess, free_port

pytestmark = pytest.mark.anyio


def test_redact_hides_every_spelling_of_a_token() -> None:
    line = (
        '127.0.0.1:5 - "WebSocket /ws/candidate/s1?token=vct_abc&x=1" [accepted] '
        "Authorization: Bearer s3cr3t subprotocols vigil.token.vct_def, vigil TOKEN=up"
    )
    redacted = redact(line)
    for secret in ("vct_abc", "s3cr3t", "vct_def", "=up"):
        assert secret not in redacted, redacted
    assert redacted.count(REDACTED) == 4 and "&x=1" in redacted


def test_the_filter_rewrites_records_with_arguments() -> None:
    record = logging.LogRecord(
        "uvicorn.error",
        logging.INFO,
        __file__,
        1,
        '%s - "WebSocket %s"',
        ("a", "/ws?token=t"),
        None,
    )
    assert RedactTokens().filter(record)
    assert record.getMessage() == f'a - "WebSocket /ws?token={REDACTED}"'


async def test_a_served_socket_logs_no_token(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "storage", free_port(), {"VIGIL_SERVER_LOG_LEVEL": "info"})
    server.start()
    try:
        async with httpx.AsyncClient(
            base_url=server.url, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}
        ) as client:
            response = await client.post(
                "/candidate-sessions",
                json={"candidateEmail": "a@b.c", "candidateName": "A", "assessmentId": "exam-1"},
            )
        created = response.json()
        session_id, token = created["id"], created["candidateToken"]
        url = f"{server.ws_url}/ws/candidate/{session_id}"
        async with connect(f"{url}?token={token}") as ws:
            await ws.send(json.dumps({"type": "heartbeat", "seq": 1, "ts": TS}))
            assert json.loads(await ws.recv())["type"] == "ack"
        async with connect(f"{server.ws_url}/ws/admin?token={ADMIN_TOKEN}") as ws:
            await ws.send(json.dumps({"type": "subscribe", "channel": "alerts"}))
            assert json.loads(await ws.recv())["type"] == "snapshot"
        async with connect(url, subprotocols=["vigil", f"vigil.token.{token}"]) as ws:  # type: ignore[list-item]
            assert ws.subprotocol == "vigil"
            await ws.send(json.dumps({"type": "heartbeat", "seq": 2, "ts": TS}))
            while (ack := json.loads(await ws.recv())) != {"type": "ack", "seq": 2}:
                assert ack == {"type": "ack", "seq": 1}  # the reconnect's ack of what is stored
    finally:
        server.terminate()
    log = server.log.read_text()
    assert '"WebSocket /ws/candidate/' in log, log  # the lines are there, their tokens not
    assert token not in log and ADMIN_TOKEN not in log, log
    assert f"token={REDACTED}" in log


async def test_a_subprotocol_token_authenticates_both_sockets(server: RunningServer) -> None:
    session_id, token = await server.create_session()
    url = f"{server.ws_url}/ws/candidate/{session_id}"
    async with connect(url, subprotocols=["vigil", f"vigil.token.{token}"]) as ws:  # type: ignore[list-item]
        assert ws.subprotocol == "vigil"
        await ws.send(json.dumps({"type": "heartbeat", "seq": 1, "ts": TS}))
        assert json.loads(await ws.recv()) == {"type": "ack", "seq": 1}
    async with connect(url, subprotocols=["vigil", "vigil.token.vct_wrong"]) as ws:  # type: ignore[list-item]
        await ws.wait_closed()
        assert ws.close_code == 4401
    admin = f"{server.ws_url}/ws/admin"
    async with connect(admin, subprotocols=["vigil", f"vigil.token.{ADMIN_TOKEN}"]) as ws:  # type: ignore[list-item]
        assert ws.subprotocol == "vigil"
        await ws.send(json.dumps({"type": "subscribe", "channel": "alerts"}))
        assert json.loads(await ws.recv())["type"] == "snapshot"
