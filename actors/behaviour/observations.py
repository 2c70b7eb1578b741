"""What the factors fold: compact observations the actor makes from stored events.

The factors never read a `StoredEvent` themselves, so they stay independent of the event log's
shape; the actor turns a `behaviour_window` into a `WindowSeen`, an `answer_submitted` (with its
grade) into an `AnswerSeen`, and a connection plus the `device_info` time zone into a
`ConnectionSeen`.
"""

from __future__ import annotations

import unicodedata
from typing import Any, Final

import msgspec

from actors.behaviour_events import BehaviourWindowData

# Enough for any answer a person writes in an assessment; similarity reads no further.
MAX_TEXT_CHARS: Final = 100_000


class WindowSeen(msgspec.Struct, frozen=True, kw_only=True):
    offset: int  # of the stored `behaviour_window` event
    questionId: str
    window: BehaviourWindowData


class AnswerSeen(msgspec.Struct, frozen=True, kw_only=True):
    """One `answer_submitted`. `key` identifies the answer (equal answers, equal keys), `text` is
    its prose for similarity; `correct` is None for a question graded by hand, `difficulty` the
    assessment's label for the question."""

    offset: int
    questionId: str
    timeSpentMs: int
    submittedAtMs: int  # the event's time, ms since the Unix epoch
    key: str
    text: str = ""
    correct: bool | None = None
    difficulty: str | None = None


class ConnectionSeen(msgspec.Struct, frozen=True, kw_only=True):
    """How the candidate reached the server once: the socket's peer, the addresses named by
    `X-Forwarded-For` / `Forwarded` (client first), whether a `Via` header came, and the browser's
    IANA time zone from `device_info`. `proxied`: the server took the peer from forwarding
    headers because the socket came from one of its own proxies (`[server]
    forwarded_allow_ips`), so `peer` is the client the proxy named, not the proxy."""

    offset: int
    peer: str | None = None
    forwardedFor: tuple[str, ...] = ()
    via: bool = False
    proxied: bool = False
    timeZone: str | None = None


def answer_seen(
    *,
    offset: int,
    question_id: str,
    response: Any,
    time_spent_seconds: float,
    submitted_at_ms: int,
    correct: bool | None = None,
    difficulty: str | None = None,
) -> AnswerSeen:
    return AnswerSeen(
        offset=offset,
        questionId=question_id,
        timeSpentMs=round(time_spent_seconds * 1000),
        submittedAtMs=submitted_at_ms,
        key=answer_key(response),
        text=answer_text(response),
        correct=correct,
        difficulty=difficulty,
    )


def answer_key(response: Any) -> str:
    """Equal for answers a person would call the same: text compared without case, width or
    spacing differences, objects without key order."""
    normal = _normalise(response)
    if isinstance(normal, str):
        return "s:" + normal
    return "j:" + msgspec.json.encode(normal, order="sorted").decode()


def answer_text(response: Any) -> str:
    """The prose in a response: its strings, in order, one per line."""
    parts: list[str] = []
    _collect(response, parts)
    return "\n".join(parts)[:MAX_TEXT_CHARS]


def _normalise(value: Any) -> Any:
    if isinstance(value, str):
        return " ".join(unicodedata.normalize("NFKC", value).casefold().split())
    if isinstance(value, list | tuple):
        return [_normalise(item) for item in value]
    if isinstance(value, dict):
        return {str(k): _normalise(v) for k, v in value.items()}
    return value


def _collect(value: Any, parts: list[str]) -> None:
    if isinstance(value, str):
        parts.append(value)
    elif isinstance(value, list | tuple):
        for item in value:
            _collect(item, parts)
    elif isinstance(value, dict):
        for item in value.values():
            _collect(item, parts)
