"""`/ws/admin`: channels of live sessions, and interventions (CONTRACT.md section 5)."""

from __future__ import annotations

import logging
from typing import Final

import anyio
import httpx
import msgspec
from starlette.websockets import WebSocket, WebSocketDisconnect

from actors import outbound
from actors.bounds import BoundedDecoder
from actors.fanout import ALERTS, ALL_SESSIONS, Fanout, parse_channel
from actors.mailbox import Mailbox
from actors.messages import Intervene, InterventionAction
from actors.protocol_codes import (
    CLOSE_FORBIDDEN,
    CLOSE_SLOW,
    CLOSE_UNAUTHORIZED,
    ELSEWHERE,
    FORBIDDEN,
    INVALID_CHANNEL,
    INVALID_COMMAND,
    INVALID_JSON,
    NODE_UNREACHABLE,
    NOT_FOUND,
    TOO_MANY_SUBSCRIPTIONS,
    UNAVAILABLE,
    UNKNOWN_TYPE,
)
from actors.registry import Registry, RegistryClosed, SessionFailed, UnknownSession
from actors.reply import ActorStopped, Rejected, Reply
from actors.state import SessionState
from app.access.gate import AccessGate, Principal
from app.access.socket_guard import SocketGuard
from app.access.socket_token import socket_token
from app.access.tokens import Access, token_id
from app.http.bodies import TOO_DEEP
from app.http.errors import ErrorEnvelope, validation_field
from app.http.forwarding import ForwardingSlot
from app.http.routes.audit import WriteAudit, audit_socket_action
from app.http.routes.interventions import intervened
from app.kafka.cluster_view import ClusterView
from app.sessions.directory import SessionDirectory
from app.settings import AdminSettings
from app.sockets.candidate_writer import closed_under_us
from app.storage.store import SqliteStore
from app.telemetry.metrics import Metrics

log = logging.getLogger("vigil.admin")
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
        self,
        websocket: WebSocket,
        outbox_size: int,
        principal: Principal,
        address: str | None,
        token: str,
    ) -> None:
        self._websocket = websocket
        self.principal = principal  # a reviewer watches but does not intervene
        self.token = token  # sent with an intervention forwarded to the session's own node
        self.address = address
        # Overflow policy: the fan-out evicts this admin when the outbox is full.
        self._outbox: Mailbox[bytes] = Mailbox(outbox_size)
        self.evicted: str | None = None
        self.told_nodes = False  # the cluster's node statuses, sent after its first subscribe

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


class AdminSocket:
    """Serves `/ws/admin`, with what it uses."""

    def __init__(
        self,
        gate: AccessGate,
        guard: SocketGuard,
        registry: Registry,
        fanout: Fanout,
        directory: SessionDirectory,
        store: SqliteStore,
        cluster: ClusterView | None,
        audit: WriteAudit,
        metrics: Metrics,
        settings: AdminSettings,
        forwarding: ForwardingSlot | None = None,
    ) -> None:
        self._gate = gate
        self._guard = guard
        self._registry = registry
        self._fanout = fanout
        self._directory = directory
        self._store = store
        self._cluster = cluster
        self._audit = audit
        self._metrics = metrics
        self._settings = settings
        self._forwarding = forwarding

    async def serve(self, websocket: WebSocket) -> None:
        async with self._guard.admitted(websocket) as admitted:
            if admitted:
                await self._serve(websocket)

    async def _serve(self, websocket: WebSocket) -> None:
        token, subprotocol = socket_token(websocket)
        access = await self._gate.resolve(token)
        await websocket.accept(subprotocol)
        refused = self._gate.refusal(access, "reviewer", "socket")
        if refused is not None:
            code = CLOSE_UNAUTHORIZED if refused.status == 401 else CLOSE_FORBIDDEN
            await websocket.close(code, refused.message)
            return
        client = websocket.client
        connection = AdminConnection(
            websocket,
            self._settings.outbox_size,
            Principal(access, token_id(token or "")),
            client.host if client else None,
            token or "",
        )
        self._metrics.admin_connections += 1
        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(_write_then_stop, connection, tg.cancel_scope)
                await self._read_commands(websocket, connection)
                tg.cancel_scope.cancel()
        finally:
            self._fanout.remove(connection)
            connection.close()
            self._metrics.admin_connections -= 1

    async def _read_commands(self, websocket: WebSocket, connection: AdminConnection) -> None:
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                return
            text = message.get("text")
            if text is None or len(text) > MAX_COMMAND_BYTES:
                connection.reply(
                    _error(
                        INVALID_COMMAND,
                        f"send JSON text commands of at most {MAX_COMMAND_BYTES} bytes",
                    )
                )
                continue
            try:
                command = COMMAND_DECODER.decode(text)
            except msgspec.ValidationError as exc:
                field = validation_field(exc)
                code = UNKNOWN_TYPE if field == "type" else INVALID_COMMAND
                connection.reply(_error(code, str(exc), field=field))
                continue
            except msgspec.DecodeError as exc:
                connection.reply(_error(INVALID_JSON, f"command is not valid JSON: {exc}"))
                continue
            except RecursionError:
                connection.reply(_error(INVALID_JSON, TOO_DEEP))
                continue
            match command:
                case Subscribe(channel=channel):
                    await self._subscribe(connection, channel)
                case Unsubscribe(channel=channel):
                    self._fanout.unsubscribe(connection, channel)
                    connection.reply(outbound.Unsubscribed(channel=channel))
                case InterveneCommand() if connection.principal.access is not Access.ADMIN:
                    connection.reply(
                        _error(FORBIDDEN, "a reviewer token may watch but not intervene")
                    )
                case InterveneCommand():
                    await self._intervene(connection, command)

    async def _subscribe(self, connection: AdminConnection, channel: str) -> None:
        parsed = parse_channel(channel)
        if parsed is None:
            connection.reply(
                _error(
                    INVALID_CHANNEL,
                    f"unknown channel {channel!r}; expected session:<id>, assessment:<id>, "
                    "alerts or sessions",
                    field="channel",
                )
            )
            return
        if self._fanout.subscription_count(connection) >= self._settings.max_subscriptions:
            connection.reply(
                _error(
                    TOO_MANY_SUBSCRIPTIONS,
                    f"at most {self._settings.max_subscriptions} channels per socket",
                )
            )
            return
        kind, ident = parsed
        # On record before anything is read: the snapshot that follows is session data.
        await audit_socket_action(
            self._audit,
            connection.principal,
            f"subscribe {channel}",
            ident if kind == "session" else None,
            connection.address,
        )
        states = await self._snapshot(kind, ident)
        if states is None:
            connection.reply(_error(NOT_FOUND, f"no session with id {ident!r}", field="channel"))
            return
        # No await since the states were read: the snapshot is at least as new as any event
        # after it.
        self._fanout.subscribe(connection, channel, states)
        if self._cluster is not None and not connection.told_nodes:
            connection.told_nodes = True
            for status in self._cluster.nodes.statuses():
                connection.reply(status)

    async def _snapshot(self, kind: str, ident: str) -> list[SessionState] | None:
        """The states a new subscriber of the channel starts from; None: no such session."""
        cluster = self._cluster
        if kind == "session":
            record = await self._store.session(ident)
            live = self._registry.live_state(ident)
            if live is not None:
                return [live]
            if record is not None:
                return [self._directory.current_state(record.state)]
            # Hosted by another node (its events come through Kafka), perhaps created a moment
            # ago: the view reads the cluster topic to its end before saying it is nowhere.
            remote = await cluster.find(ident) if cluster is not None else None
            if remote is None or cluster is None:
                return None
            cluster.watch_from([remote])
            return [remote]
        if kind == "assessment":
            # Every session of it is watched: other nodes' events follow from these states on.
            states = await self._directory.session_states(ident)
            if cluster is not None:
                cluster.watch_from(states)
            return states
        if kind == ALL_SESSIONS:
            return await self._directory.unfinished_states()
        assert kind == ALERTS
        elsewhere = cluster.states() if cluster is not None else []
        return [
            s
            for s in (*self._registry.live_states(), *elsewhere)
            if s.violationCount or s.riskLevel != "low"
        ]

    async def _intervene(self, connection: AdminConnection, command: InterveneCommand) -> None:
        await audit_socket_action(
            self._audit,
            connection.principal,
            "intervene",
            command.sessionId,
            connection.address,
            {"action": command.action, "message": command.message},
        )
        reply: Reply[int] = Reply()
        try:
            offset = await self._registry.ask(
                command.sessionId,
                Intervene(action=command.action, message=command.message, by="admin", reply=reply),
                reply,
            )
        except UnknownSession as exc:
            connection.reply(await self._elsewhere(connection, command, exc))
        except Rejected as exc:
            connection.reply(_error(exc.code, exc.message, field="action"))
        except (SessionFailed, ActorStopped, RegistryClosed) as exc:
            connection.reply(_error(UNAVAILABLE, str(exc)))
        else:
            connection.reply(
                outbound.Intervened(
                    sessionId=command.sessionId, action=command.action, offset=offset
                )
            )

    async def _elsewhere(
        self, connection: AdminConnection, command: InterveneCommand, exc: UnknownSession
    ) -> outbound.Intervened | outbound.Error:
        """A session another node hosts: the intervention is sent there, and answered as that
        node answers."""
        session_id = command.sessionId
        host = self._cluster.host_of(session_id) if self._cluster else None
        if host is None:
            return _error(NOT_FOUND, str(exc), field="sessionId")
        forwarder = self._forwarding.forwarder if self._forwarding else None
        if forwarder is None:
            return _error(
                ELSEWHERE,
                f"session {session_id!r} is hosted by node {host!r}; intervene through an "
                "admin socket on that node",
                field="sessionId",
            )
        answer = await forwarder.intervene(
            host, session_id, connection.token, command.action, command.message
        )
        if answer is None:
            return _error(
                NODE_UNREACHABLE,
                f"node {host!r} that hosts session {session_id!r} is not answering; nothing "
                "was done: retry once it is back (a `node` message says so)",
                field="sessionId",
            )
        if answer.status_code == 200:
            return intervened(answer.content)
        return _forwarded_error(host, answer)


def _forwarded_error(host: str, answer: httpx.Response) -> outbound.Error:
    """The owner's refusal, as the admin socket would have said it."""
    try:
        body = msgspec.json.decode(answer.content, type=ErrorEnvelope).error
    except msgspec.DecodeError:
        return _error(UNAVAILABLE, f"node {host!r} answered {answer.status_code}; retry later")
    field = {409: "action", 404: "sessionId"}.get(answer.status_code, body.field)
    return _error(body.code, body.message, field=field)


async def _write_then_stop(connection: AdminConnection, scope: anyio.CancelScope) -> None:
    await connection.run_writer()
    scope.cancel()  # evicted: stop reading too


def _error(code: str, message: str, field: str | None = None) -> outbound.Error:
    return outbound.Error(code=code, message=message, field=field)
