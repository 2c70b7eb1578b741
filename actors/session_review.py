"""A reviewer's verdict on a whole session (CONTRACT.md 9.3): `session_reviewed` events, folded
into the session's current review and its history, beside the automatic recommendation that
document 001's trust level gives (accept / review / investigate)."""

from __future__ import annotations

from typing import Final, Literal

import msgspec

from actors.events import StoredEvent
from actors.scoring import TrustLevel

SESSION_REVIEWED: Final = "session_reviewed"

Decision = Literal["verify", "reject", "needs_review"]
ReviewStatus = Literal["verified", "rejected", "needs_review"]
Recommendation = Literal["accept", "review", "investigate"]

STATUS_OF: Final[dict[str, ReviewStatus]] = {
    "verify": "verified",
    "reject": "rejected",
    "needs_review": "needs_review",
}
# Document 001, "Trust Level Classification": its Action column, one word each.
RECOMMENDATION_OF: Final[dict[str, Recommendation]] = {
    "HIGH": "accept",
    "MEDIUM": "review",
    "LOW": "investigate",
}


class SessionReview(msgspec.Struct, frozen=True, kw_only=True):
    """One decision, as the session shows it (`review`) and as the history keeps it."""

    status: ReviewStatus
    reviewer: str  # the role that decided ("admin" or "reviewer") and its token id
    reason: str
    at: str
    decision: Decision
    offset: int  # the `session_reviewed` event's offset in the session's log


class ReviewRecord(msgspec.Struct, frozen=True, kw_only=True):
    """The verdict a human gave (None until one did), every decision, and the automatic one."""

    review: SessionReview | None
    history: list[SessionReview]
    recommendation: Recommendation


def recommendation(trust_level: TrustLevel | str) -> Recommendation:
    return RECOMMENDATION_OF.get(trust_level, "investigate")


def review_data(decision: str, reviewer: str, reason: str, at: str) -> dict[str, str]:
    """The data of a `session_reviewed` event: the webhooks relay it as it is."""
    return {
        "decision": decision,
        "status": STATUS_OF[decision],
        "reviewer": reviewer,
        "reason": reason,
        "at": at,
    }


def review_history(events: list[StoredEvent]) -> list[SessionReview]:
    """Every decision in log order; the last one is the session's review."""
    history = []
    for event in events:
        if event.type != SESSION_REVIEWED or not isinstance(event.data, dict):
            continue
        data = event.data
        decision = str(data.get("decision", ""))
        if decision not in STATUS_OF:
            continue  # not one this server made
        history.append(
            SessionReview(
                status=STATUS_OF[decision],
                reviewer=str(data.get("reviewer", "")),
                reason=str(data.get("reason", "")),
                at=str(data.get("at", event.ts)),
                decision=decision,  # type: ignore[arg-type]
                offset=event.offset,
            )
        )
    return history


def review_record(events: list[StoredEvent], trust_level: TrustLevel | str) -> ReviewRecord:
    history = review_history(events)
    return ReviewRecord(
        review=history[-1] if history else None,
        history=history,
        recommendation=recommendation(trust_level),
    )
