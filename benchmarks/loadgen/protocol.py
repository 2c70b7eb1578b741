"""What crosses the sockets: the server's frames, decoded only as far as the load generator reads
them, and the candidate event frames it sends, mixed in the proportions of a real exam. The
event types are the server's own (actors/events.py), never copied here."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from typing import Final

import msgspec

from actors import events
from actors.event_types import tag_of

EVENT_MIX: Final = (
    (tag_of(events.Heartbeat), 60.0),
    (tag_of(events.QuestionViewed), 36.0),
    (tag_of(events.TabSwitchDetected), 1.2),
    (tag_of(events.CopyAttempt), 0.8),
    (tag_of(events.PasteAttempt), 0.8),
    (tag_of(events.FullscreenExit), 0.6),
    (tag_of(events.RightClickAttempt), 0.6),
)
QUESTIONS: Final = 20


class ServerMessage(msgspec.Struct):
    type: str
    seq: int | None = None
    code: str | None = None
    message: str | None = None


class EventData(msgspec.Struct):
    sentNs: int | None = None


class AdminEvent(msgspec.Struct):
    data: EventData | None = None


class AdminMessage(msgspec.Struct):
    type: str
    event: AdminEvent | None = None


SERVER_DECODER: Final = msgspec.json.Decoder(ServerMessage)
ADMIN_DECODER: Final = msgspec.json.Decoder(AdminMessage)


def event_prefixes(seed: int, size: int = 1000) -> list[str]:
    """A shuffled cycle of frame prefixes in the proportions of EVENT_MIX; each ends at `seq":`."""
    rng = random.Random(seed)
    total = sum(weight for _, weight in EVENT_MIX)
    out: list[str] = []
    for kind, weight in EVENT_MIX:
        for _ in range(max(1, round(size * weight / total))):
            question = ""
            if kind == tag_of(events.QuestionViewed):
                question = f'"questionId":"q{rng.randint(1, QUESTIONS)}",'
            out.append(f'{{"type":"{kind}",{question}"seq":')
    rng.shuffle(out)
    return out


def iso_now() -> str:
    now = datetime.now(UTC)
    return f"{now:%Y-%m-%dT%H:%M:%S}.{now.microsecond // 1000:03d}Z"
