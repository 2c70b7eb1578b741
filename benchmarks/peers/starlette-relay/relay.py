"""starlette-relay: the Vigil contract's hot path on the design card's own stack, and nothing
else: the ceiling that issue 26's targets are ratios against.

    python -m uvicorn relay:app --app-dir benchmarks/peers/starlette-relay --port 3003 \
        --loop uvloop --http httptools --ws websockets-sansio --ws-per-message-deflate false \
        --no-access-log

A candidate socket (`/ws/candidate/{id}`) decodes each event with msgspec, answers
`{"type":"ack","seq":N}` at once and relays it as Vigil's admin `event` message to the admins
subscribed to its assessment (`/ws/admin`, `{"type":"subscribe","channel":"assessment:<id>"}`,
answered with an empty snapshot). No storage, no scoring, no auth, no writer tasks: a send to an
admin is awaited inline by the candidate's own task.
"""

from __future__ import annotations

from typing import Any

import msgspec
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect


class Event(msgspec.Struct, frozen=True):
    type: str
    seq: int
    ts: str
    questionId: str | None = None
    data: dict[str, Any] | None = None


class Subscribe(msgspec.Struct, frozen=True):
    type: str
    channel: str


class Relayed(msgspec.Struct, frozen=True, kw_only=True):
    type: str = "event"  # first, as Vigil sends it: the generator matches the prefix
    channel: str
    sessionId: str
    event: Event


EVENT = msgspec.json.Decoder(Event)
SUBSCRIBE = msgspec.json.Decoder(Subscribe)
ENCODE = msgspec.json.Encoder().encode
# Subscribed admins and their channel. The generator watches one assessment, and the relay has
# no sessions to look a candidate's assessment up in: every event goes to every admin, on the
# channel that admin subscribed to.
ADMINS: dict[WebSocket, str] = {}


async def candidate(websocket: WebSocket) -> None:
    session_id = websocket.path_params["session_id"]
    await websocket.accept()
    try:
        while True:
            event = EVENT.decode(await websocket.receive_text())
            await websocket.send_text(f'{{"type":"ack","seq":{event.seq}}}')
            for admin, channel in list(ADMINS.items()):
                payload = ENCODE(Relayed(channel=channel, sessionId=session_id, event=event))
                try:
                    await admin.send_text(payload.decode())
                except (WebSocketDisconnect, RuntimeError):
                    ADMINS.pop(admin, None)
    except WebSocketDisconnect:
        pass


async def admin(websocket: WebSocket) -> None:
    await websocket.accept()
    try:
        while True:
            message = SUBSCRIBE.decode(await websocket.receive_text())
            if message.type == "subscribe":
                ADMINS[websocket] = message.channel
                channel = ENCODE(message.channel).decode()
                await websocket.send_text(
                    f'{{"type":"snapshot","channel":{channel},"sessions":[]}}'
                )
    except WebSocketDisconnect:
        pass
    finally:
        ADMINS.pop(websocket, None)


async def healthz(request: Request) -> Response:
    return Response('{"status":"ok"}', media_type="application/json")


app = Starlette(
    routes=[
        Route("/healthz", healthz),
        WebSocketRoute("/ws/candidate/{session_id}", candidate),
        WebSocketRoute("/ws/admin", admin),
    ]
)
