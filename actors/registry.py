"""The registry of live sessions: loads a session's actor on demand, supervises it, and lets it
leave memory when it is finished or idle. The only way to reach a session's actor is `send`."""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Iterator
from typing import Any, TypeVar

import anyio
import msgspec
from anyio.abc import TaskGroup, TaskStatus

from actors.mailbox import Mailbox
from actors.messages import CandidateEventIn, EvictIfIdle, GetState, Message
from actors.ports import CandidateLink, SessionStore, StateEntry
from actors.protocol_codes import CLOSE_NOT_FOUND, CLOSE_SESSION_FAILED
from actors.reply import ActorStopped, Reply
from actors.session import ActorDeps, SessionActor, SessionView
from actors.state import SessionInfo, SessionState

log = logging.getLogger("vigil.registry")
T = TypeVar("T")


class UnknownSession(LookupError):
    def __init__(self, session_id: str) -> None:
        super().__init__(
            f"no session with id {session_id!r}; create it with POST /candidate-sessions"
        )
        self.session_id = session_id


class SessionFailed(RuntimeError):
    def __init__(self, session_id: str) -> None:
        super().__init__(
            f"session {session_id} crashed repeatedly and was stopped; its stored events are "
            "intact, and it becomes available again after a server restart"
        )
        self.session_id = session_id


class RegistryClosed(RuntimeError):
    def __init__(self) -> None:
        super().__init__("the server is shutting down; retry against another node or later")


class SessionHandle:
    """The outside's reference to a live session: its mailbox and its last published state."""

    __slots__ = ("info", "mailbox", "state", "stopped", "stopping")

    def __init__(self, info: SessionInfo, mailbox: Mailbox[Message]) -> None:
        self.info = info
        self.mailbox = mailbox
        self.state: SessionState | None = None
        self.stopping = False
        self.stopped = anyio.Event()

    def publish(self, state: SessionState) -> None:
        self.state = state


class Registry:
    def __init__(self, deps: ActorDeps, store: SessionStore) -> None:
        self._deps = deps
        self._store = store
        self._live: dict[str, SessionHandle] = {}
        self._loading: dict[str, anyio.Event] = {}
        self._failed: set[str] = set()
        self._erased: set[str] = set()
        self._tg: TaskGroup | None = None
        self._closed = False
        self.restarts_total = 0
        self.failed_total = 0
        self.evicted_total = 0

    # --- running -------------------------------------------------------------------------------

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        async with anyio.create_task_group() as tg:
            self._tg = tg
            task_status.started()
            await self._sweep_forever()

    async def _sweep_forever(self) -> None:
        config = self._deps.sessions
        probe = EvictIfIdle(config.idle_evict_seconds, config.finished_evict_seconds)
        while True:
            await anyio.sleep(config.sweep_interval_seconds)
            for handle in list(self._live.values()):
                if handle.stopping or (handle.state is not None and handle.state.connected):
                    continue
                try:
                    handle.mailbox.put_nowait(probe)
                except (anyio.WouldBlock, anyio.ClosedResourceError):
                    pass  # busy or leaving: not idle, or already going

    async def forget(self, session_id: str) -> None:
        """Stop the session's actor for good before its storage is erased: its mailbox is closed
        (pending asks fail), its candidate socket is closed with 4404, and it is never loaded
        again by this process."""
        self._erased.add(session_id)
        while (loading := self._loading.get(session_id)) is not None:
            await loading.wait()
        handle = self._live.get(session_id)
        if handle is not None:
            handle.stopping = True
            handle.mailbox.close()
            await handle.stopped.wait()

    async def close(self) -> None:
        """Stop taking messages; let every actor drain its mailbox, snapshot and leave."""
        self._closed = True
        handles = list(self._live.values())
        for handle in handles:
            handle.stopping = True
            handle.mailbox.close()
        for handle in handles:
            await handle.stopped.wait()
        if self._tg is not None:
            self._tg.cancel_scope.cancel()

    # --- reaching a session --------------------------------------------------------------------

    async def send(self, session_id: str, message: Message) -> None:
        """Deliver to the session's actor, loading it first; waits while its mailbox is full."""
        while True:
            handle = await self._handle_for(session_id)
            try:
                await handle.mailbox.put(message)
                return
            except anyio.ClosedResourceError:
                await handle.stopped.wait()

    async def ask(self, session_id: str, message: Any, reply: Reply[T]) -> T:
        await self.send(session_id, message)
        return await reply.wait()

    async def view(self, session_id: str) -> SessionView:
        reply: Reply[SessionView] = Reply()
        return await self.ask(session_id, GetState(reply), reply)

    def live_states(self) -> Iterator[SessionState]:
        for handle in self._live.values():
            if handle.state is not None:
                yield handle.state

    def live_state(self, session_id: str) -> SessionState | None:
        handle = self._live.get(session_id)
        return None if handle is None else handle.state

    def live_info(self, session_id: str) -> SessionInfo | None:
        handle = self._live.get(session_id)
        return None if handle is None else handle.info

    def mailbox_depths(self) -> list[int]:
        return [len(h.mailbox) for h in self._live.values()]

    @property
    def live_count(self) -> int:
        return len(self._live)

    async def _handle_for(self, session_id: str) -> SessionHandle:
        while True:
            if self._closed:
                raise RegistryClosed()
            if session_id in self._failed:
                raise SessionFailed(session_id)
            if session_id in self._erased:
                raise UnknownSession(session_id)
            handle = self._live.get(session_id)
            if handle is not None:
                if not handle.stopping:
                    return handle
                await handle.stopped.wait()
                continue
            loading = self._loading.get(session_id)
            if loading is not None:
                await loading.wait()
                continue
            return await self._load(session_id)

    async def _load(self, session_id: str) -> SessionHandle:
        assert self._tg is not None, "Registry.run must be started before sessions are reached"
        loading = self._loading[session_id] = anyio.Event()
        try:
            loaded = await self._store.load(session_id)
            if loaded is None:
                raise UnknownSession(session_id)
            # Overflow policy: senders wait (back-pressure up to the candidate's TCP).
            mailbox: Mailbox[Message] = Mailbox(self._deps.sessions.mailbox_size)
            handle = SessionHandle(loaded.info, mailbox)
            try:
                actor = SessionActor(loaded, self._deps, handle.publish)
            except Exception:
                log.exception(
                    "session %s: its stored events cannot be replayed; marking it failed",
                    session_id,
                )
                self.failed_total += 1
                self._failed.add(session_id)
                mailbox.close()
                raise SessionFailed(session_id) from None
            self._live[session_id] = handle
            self._tg.start_soon(self._supervise, handle, actor, name=f"session {session_id}")
            return handle
        finally:
            del self._loading[session_id]
            loading.set()

    # --- supervision ---------------------------------------------------------------------------

    async def _supervise(self, handle: SessionHandle, first: SessionActor) -> None:
        session_id = handle.info.sessionId
        mailbox = handle.mailbox
        crashes: deque[float] = deque()
        config = self._deps.sessions
        actor: SessionActor | None = first
        link = first.link
        try:
            while True:
                try:
                    if actor is None:  # restart: storage holds all it accepted (flushed)
                        actor = await self._reload(handle, link)
                    await actor.run(mailbox, lambda: self._may_stop(handle, mailbox))
                    handle.stopping = True  # evicted, or the mailbox was closed: shutdown
                    await actor.hand_back()
                    self.evicted_total += 1
                    return
                except Exception:
                    # Supervision boundary: the message that crashed it is not retried; a
                    # reload that fails (replaying storage crashes too) counts as a crash.
                    log.exception("session %s: actor crashed; restarting from storage", session_id)
                    if actor is not None:
                        link = actor.link
                        _fail_reply(
                            actor.handling, ActorStopped(session_id, "it crashed handling this")
                        )
                    now = time.monotonic()
                    crashes.append(now)
                    while crashes and now - crashes[0] > config.restart_window_seconds:
                        crashes.popleft()
                    if len(crashes) > config.max_restarts:
                        self._fail(handle, link, mailbox)
                        await self._store_last_state(handle)
                        return
                    self.restarts_total += 1
                    actor = None
        finally:
            handle.stopping = True
            mailbox.close()
            current = actor.link if actor is not None else link
            if session_id in self._erased and current is not None:
                current.close(CLOSE_NOT_FOUND, "the session was erased")
            if self._live.get(session_id) is handle:
                del self._live[session_id]
            handle.stopped.set()

    async def _reload(self, handle: SessionHandle, link: CandidateLink | None) -> SessionActor:
        await self._deps.journal.flush()
        loaded = await self._store.load(handle.info.sessionId)
        if loaded is None:
            raise UnknownSession(handle.info.sessionId)
        return SessionActor(loaded, self._deps, handle.publish, link=link)

    @staticmethod
    def _may_stop(handle: SessionHandle, mailbox: Mailbox[Message]) -> bool:
        # Checked with no await since the last receive: nothing can slip in between.
        if len(mailbox) or mailbox.waiting_senders:
            return False
        handle.stopping = True
        return True

    async def _store_last_state(self, handle: SessionHandle) -> None:
        """A failed session leaves memory without its actor's hand-back: store its last published
        state (every one follows a stored event), disconnected, as `hand_back` would."""
        state = handle.state
        if state is not None:
            state = msgspec.structs.replace(state, connected=False)
            entry = StateEntry(session_id=state.sessionId, offset=state.lastOffset, state=state)
            try:
                await self._deps.journal.append(entry)
            except Exception:  # supervision boundary: the session is failed either way
                log.exception("session %s: its last state could not be stored", state.sessionId)

    def _fail(
        self, handle: SessionHandle, link: CandidateLink | None, mailbox: Mailbox[Message]
    ) -> None:
        session_id = handle.info.sessionId
        log.error(
            "session %s: more than %d crashes in %.0f s; marking it failed",
            session_id,
            self._deps.sessions.max_restarts,
            self._deps.sessions.restart_window_seconds,
        )
        self.failed_total += 1
        self._failed.add(session_id)
        handle.stopping = True
        if link is not None:
            link.close(CLOSE_SESSION_FAILED, "session failed on the server; do not retry")
        stopped = ActorStopped(session_id, "the session failed")
        while True:
            try:
                message = mailbox.get_nowait()
            except (anyio.WouldBlock, anyio.EndOfStream):
                break
            if isinstance(message, CandidateEventIn):
                continue  # never acked, so the client still holds it
            _fail_reply(message, stopped)


def _fail_reply(message: Message | None, error: ActorStopped) -> None:
    reply = getattr(message, "reply", None)
    if isinstance(reply, Reply):
        reply.fail(error)
