"""`/ws/admin`: channels of live sessions, and interventions (CONTRACT.md section 5)."""

from __future__ import annotations

import logging
from typing import Final

import anyio
import msgspec
from starlette.websockets import WebSocket, WebSocketDisconnect

from actors import outbound
from actors.bounds import BoundedDecoder
from actors.fanout import ALERTS, ALL_SESSIONS, parse_channel
from actors.mailbox import Mailbox
from actors.messages import Intervene, InterventionAction
from actors.registry import RegistryClosed, SessionFailed, UnknownSession
from actors.reply import ActorStopped, Rejected, Reply
from actors.state import SessionState
from app.access.socket_token import socket_token
from app.access.tokens import Access, token_id
from app.http.bodies import TOO_DEEP
from app.http.errors import validation_field
from app.http.routes.audit import audit_socket_action
from app.http.session_calls import Principal
from app.services import Services
from app.sockets.candidate_writer import closed_under_us

log = logging.getLogger("vigil.admin")

CLOSE_UNAUTHORIZED: Final = 4401
CLOSE_FORBIDDEN: Final = 4403
CLOSE_SLOW: Final = 4408
MAX_COMMAND_BYTES: Final = 16 * 1024


class Subscribe(msgspec.Struct, frozen=True, tag_field="type", tag="subscribe"):
    channel: str


class Unsubscribe(msgspec.Struct, frozen=True, tag_field="type", tag="unsubscribe"):
    channel: str


class InterveneCommand(
    msgspec.Struct, frozen=True, kw_only=True, tag_field="type", tag="intervene"
):
    sessionId: str
    action: InterventionAction
    message: str = ""


Command = Subscribe | Unsubscribe | InterveneCommand
COMMAND_DECODER: Final = BoundedDecoder[Command](Command)


class AdminConnection:
    """Implements `actors.fanout.Subscriber`: a bounded outbox drained by one writer task."""

    def __init__(
        self, websocket: WebSocket, outbox_size: int, principal: Principal, address: str | None
    ) -> None:
        self._websocket = websocket
        self.principal = principal  # a reviewer watches but does not intervene
        self.address = address
        # Overflow policy: the fan-out evicts this admin when the outbox is full.
        self._outbox: Mailbox[bytes] = Mailbox(outbox_size)
        self.evicted: str | None = None

    def offer(self, payload: bytes) -> bool:
        try:
            self._outbox.put_nowait(payload)
            return True
        except (anyio.WouldBlock, anyio.ClosedResourceError):
            return False

    def evict(self, reason: str) -> None:
        self.evicted = reason
        self._outbox.close()

    def close(self) -> None:
        self._outbox.close()

    def reply(self, message: msgspec.Struct) -> None:
        if not self.offer(outbound.encode(message)):
            self.evict("too slow: outbox full")

    async def run_writer(self) -> None:
        send = self._websocket.send
        try:
            while True:
                try:
                    payload = await self._outbox.get()
                except anyio.EndOfStream:
                    break
                await send({"type": "websocket.send", "text": payload.decode()})
            if self.evicted is not None:
                await self._websocket.close(CLOSE_SLOW, self.evicted[:120])
        except WebSocketDisconnect:
            pass  # the admin went away; the reader sees the disconnect and cleans up
        except RuntimeError as exc:
            if not closed_under_us(exc):
                raise


async def admin_socket(websocket: WebSocket) -> None:
    services: Services = websocket.app.state.services
    async with services.sockets.admitted(websocket) as admitted:
        if admitted:
            await _admin_socket(websocket, services)


async def _admin_socket(websocket: WebSocket, services: Services) -> None:
    token, subprotocol = socket_token(websocket)
    access = await services.access(token)
    await websocket.accept(subprotocol)
    if access is Access.NONE:
        await websocket.close(CLOSE_UNAUTHORIZED, "missing or invalid token")
        return
    if access not in (Access.ADMIN, Access.REVIEWER):
        await websocket.close(CLOSE_FORBIDDEN, "admin channels need an admin or reviewer token")
        return
    client = websocket.client
    connection = AdminConnection(
        websocket,
        services.settings.admin.outbox_size,
        Principal(access, token_id(token or "")),
        client.host if client else None,
    )
    services.metrics.admin_connections += 1
    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(_write_then_stop, connection, tg.cancel_scope)
            await _read_commands(websocket, services, connection)
            tg.cancel_scope.cancel()
    finally:
        services.fanout.remove(connection)
        connection.close()
        services.metrics.admin_connections -= 1


async def _write_then_stop(connection: AdminConnection, scope: anyio.CancelScope) -> None:
    await connection.run_writer()
    scope.cancel()  # evicted: stop reading too


async def _read_commands(
    websocket: WebSocket, services: Services, connection: AdminConnection
) -> None:
    while True:
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            return
        text = message.get("text")
        if text is None or len(text) > MAX_COMMAND_BYTES:
            connection.reply(
                _error(
                    "invalid_command",
                    f"send JSON text commands of at most {MAX_COMMAND_BYTES} bytes",
                )
            )
            continue
        try:
            command = COMMAND_DECODER.decode(text)
        except msgspec.ValidationError as exc:
            field = validation_field(exc)
            code = "unknown_type" if field == "type" else "invalid_command"
            connection.reply(_error(code, str(exc), field=field))
            continue
        except msgspec.DecodeError as exc:
            connection.reply(_error("invalid_json", f"command is not valid JSON: {exc}"))
            continue
        except RecursionError:
            connection.reply(_error("invalid_json", TOO_DEEP))
            continue
        match command:
            case Subscribe(channel=channel):
                await _subscribe(services, connection, channel)
            case Unsubscribe(channel=channel):
                services.fanout.unsubscribe(connection, channel)
                connection.reply(outbound.Unsubscribed(channel=channel))
            case InterveneCommand() if connection.principal.access is not Access.ADMIN:
                connection.reply(
                    _error("forbidden", "a reviewer token may watch but not intervene")
                )
            case InterveneCommand():
                await _intervene(services, connection, command)


async def _subscribe(services: Services, connection: AdminConnection, channel: str) -> None:
    parsed = parse_channel(channel)
    if parsed is None:
        connection.reply(
            _error(
                "invalid_channel",
                f"unknown channel {channel!r}; expected session:<id>, assessment:<id>, alerts or "
                "sessions",
                field="channel",
            )
        )
        return
    if services.fanout.subscription_count(connection) >= services.settings.admin.max_subscriptions:
        connection.reply(
            _error(
                "too_many_subscriptions",
                f"at most {services.settings.admin.max_subscriptions} channels per socket",
            )
        )
        return
    kind, ident = parsed
    # On record before anything is read: the snapshot that follows is session data.
    await audit_socket_action(
        services,
        connection.principal,
        f"subscribe {channel}",
        ident if kind == "session" else None,
        connection.address,
    )
    states: list[SessionState]
    if kind == "session":
        record = await services.store.session(ident)
        live = services.registry.live_state(ident)
        remote = services.cluster.state(ident) if services.cluster is not None else None
        if live is not None:
            states = [live]
        elif record is not None:
            states = [services.current_state(record.state)]
        elif remote is not None:
            states = [remote]  # hosted by another node; its events come through Kafka
        else:
            connection.reply(_error("not_found", f"no session with id {ident!r}", field="channel"))
            return
    elif kind == "assessment":
        states = await services.session_states(ident)
    elif kind == ALL_SESSIONS:
        states = await services.unfinished_states()
    else:
        assert kind == ALERTS
        elsewhere = services.cluster.states() if services.cluster is not None else []
        states = [
            s
            for s in (*services.registry.live_states(), *elsewhere)
            if s.violationCount or s.riskLevel != "low"
        ]
    # No await since the states were read: the snapshot is at least as new as any event after it.
    services.fanout.subscribe(connection, channel, states)


async def _intervene(
    services: Services, connection: AdminConnection, command: InterveneCommand
) -> None:
    await audit_socket_action(
        services,
        connection.principal,
        "intervene",
        command.sessionId,
        connection.address,
        {"action": command.action, "message": command.message},
    )
    reply: Reply[int] = Reply()
    try:
        offset = await services.registry.ask(
            command.sessionId,
            Intervene(action=command.action, message=command.message, by="admin", reply=reply),
            reply,
        )
    except UnknownSession as exc:
        host = services.cluster.hosts.get(command.sessionId) if services.cluster else None
        if host is None:
            connection.reply(_error("not_found", str(exc), field="sessionId"))
        else:
            connection.reply(
                _error(
                    "elsewhere",
                    f"session {command.sessionId!r} is hosted by node {host!r}; intervene "
                    "through an admin socket on that node",
                    field="sessionId",
                )
            )
    except Rejected as exc:
        connection.reply(_error(exc.code, exc.message, field="action"))
    except (SessionFailed, ActorStopped, RegistryClosed) as exc:
        connection.reply(_error("unavailable", str(exc)))
    else:
        connection.reply(
            outbound.Intervened(sessionId=command.sessionId, action=command.action, offset=offset)
        )


def _error(code: str, message: str, field: str | None = None) -> outbound.Error:
    return outbound.Error(code=code, message=message, field=field)
