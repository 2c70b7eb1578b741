"""Who was on camera, as the post-test report tells it: the session's identity status, its
reference, every comparison made (document 001's facialRecognitionData: the match history), and
the mismatch episodes. Scores only: no embedding ever reaches a report."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Final

import msgspec

from actors.events import StoredEvent
from actors.identity import IDENTITY_ENROLLED, IDENTITY_MISMATCH, IdentityState, IdentityStatus
from actors.scoring import FRAME_ANALYZED

NOT_CHECKED: Final = (
    "Identity was not checked: no reference face was taken (no reference photo, and no run of "
    "usable one-face frames to enrol from), or no face recognition model runs "
    "([vision] recognition_model)."
)


class MatchRecord(msgspec.Struct, frozen=True, kw_only=True):
    offset: int  # the frame_analyzed event
    ts: str
    score: float
    match: bool


class FacialRecognitionData(msgspec.Struct, frozen=True, kw_only=True):
    """Document 001's facialRecognitionData: the comparisons with the reference, in order."""

    reference: str | None
    enrolledAt: str | None
    matches: list[MatchRecord]
    matched: int
    mismatched: int
    mismatchEpisodes: int


class IdentityReport(msgspec.Struct, frozen=True, kw_only=True):
    status: IdentityStatus
    reference: str | None
    lastMatchScore: float | None
    checked: bool  # False: identity was never compared, and `note` says why
    note: str | None
    facialRecognitionData: FacialRecognitionData


def facial_recognition_data(events: Iterable[StoredEvent]) -> FacialRecognitionData:
    matches: list[MatchRecord] = []
    reference: str | None = None
    enrolled_at: str | None = None
    episodes = 0
    for event in events:
        data: dict[str, Any] = event.data or {}
        if event.type == FRAME_ANALYZED and isinstance(data.get("identity"), dict):
            found = data["identity"]
            if isinstance(found.get("score"), int | float):
                matches.append(
                    MatchRecord(
                        offset=event.offset,
                        ts=event.ts,
                        score=float(found["score"]),
                        match=bool(found.get("match")),
                    )
                )
        elif event.type == IDENTITY_ENROLLED:
            reference, enrolled_at = data.get("reference"), event.ts
        elif event.type == IDENTITY_MISMATCH:
            episodes += 1
    matched = sum(1 for found in matches if found.match)
    return FacialRecognitionData(
        reference=reference if isinstance(reference, str) else None,
        enrolledAt=enrolled_at,
        matches=matches,
        matched=matched,
        mismatched=len(matches) - matched,
        mismatchEpisodes=episodes,
    )


def identity_report(state: IdentityState, events: Iterable[StoredEvent]) -> IdentityReport:
    data = facial_recognition_data(events)
    checked = bool(data.matches)
    note = None
    if state.status == "none":
        note = NOT_CHECKED
    elif not checked:
        note = "A reference was taken, but no later frame showed one usable face to compare."
    return IdentityReport(
        status=state.status,
        reference=state.reference,
        lastMatchScore=state.lastMatchScore,
        checked=checked,
        note=note,
        facialRecognitionData=data,
    )
