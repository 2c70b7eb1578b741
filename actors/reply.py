"""One-shot answers to asks, and the errors an ask can end with."""

from __future__ import annotations

from typing import Generic, TypeVar

import anyio

T = TypeVar("T")


class ActorStopped(Exception):
    """The session's actor stopped before it answered; the caller may retry."""

    def __init__(self, session_id: str, why: str) -> None:
        super().__init__(f"session {session_id} actor stopped before answering: {why}")
        self.session_id = session_id


class Rejected(Exception):
    """The actor refused a request; `code` is the error code to show the caller."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class Reply(Generic[T]):
    """A one-shot answer slot. An ask fails loudly (ActorStopped) if the actor stops first."""

    __slots__ = ("_error", "_event", "_value")

    def __init__(self) -> None:
        self._event = anyio.Event()
        self._value: T | None = None
        self._error: BaseException | None = None

    def set(self, value: T) -> None:
        if not self._event.is_set():
            self._value = value
            self._event.set()

    def fail(self, error: BaseException) -> None:
        if not self._event.is_set():
            self._error = error
            self._event.set()

    async def wait(self) -> T:
        await self._event.wait()
        if self._error is not None:
            raise self._error
        return self._value  # type: ignore[return-value]
