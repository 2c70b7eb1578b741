"""A reviewer's decision on one violation: `POST /candidate-sessions/:id/violations/:vid/review`.

The decision is a stored `violation_reviewed` event, through the session's actor like any other,
so the scores are refolded from the log: a dismissed violation stops counting (its penalty comes
back) and a confirmed one counts again. The automatic verdict stays in the ledger beside it."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from actors.config import ScoringConfig
from actors.ledger import Verdict, build_ledger
from actors.record_types import AntiCheatViolation
from actors.scoring import BEHAVIOUR_FLAGGED, VIOLATION_REVIEWED
from app.http.bodies import decode_json, json_response, now_iso
from app.http.endpoints import Endpoint
from app.http.errors import ApiError
from app.http.session_calls import SessionCall, SessionCalls, replayed_if
from app.storage.store import SqliteStore


class ReviewBody(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    decision: Literal["dismiss", "confirm"]
    reason: Annotated[str, msgspec.Meta(min_length=1, max_length=2000)]


class ReviewedViolation(msgspec.Struct, frozen=True, kw_only=True):
    violation: AntiCheatViolation  # with its `review`
    automatic: Verdict  # the scores as the events alone decided them
    reviewed: Verdict  # the scores with every review so far, this one included


class ReviewRoutes:
    """The handlers of this module's endpoints, with what they use."""

    def __init__(self, calls: SessionCalls, store: SqliteStore, scoring: ScoringConfig) -> None:
        self._calls = calls
        self._store = store
        self._scoring = scoring

    async def review_violation(self, request: Request) -> Response:
        call = await self._calls.admitted(request, allow="reviewer")
        violation_id = request.path_params["violation_id"]
        async with call.attempt(200) as attempt:
            body = decode_json(call.raw, ReviewBody)
            if attempt.replay is None:
                violation = await _violation(call, violation_id)
                entry = await call.store_event(
                    attempt,
                    type=VIOLATION_REVIEWED,
                    ts=now_iso(),
                    data={
                        "violationId": violation.id,
                        "decision": body.decision,
                        "reason": body.reason,
                        "by": "admin",
                        "type": violation.type,
                        "severity": violation.severity,
                        "event": violation.details.get("event"),
                        **_behaviour(violation),
                    },
                )
                up_to: int | None = entry.event.offset
            else:
                up_to = attempt.replay.offset
            # As of the review, so that a replayed request answers what the first one did.
            return replayed_if(
                attempt, json_response(await self._answer(call, violation_id, up_to))
            )

    async def _answer(
        self, call: SessionCall, violation_id: str, up_to: int | None
    ) -> ReviewedViolation:
        events = await self._store.events(call.session_id)
        if up_to is not None:
            events = [event for event in events if event.offset <= up_to]
        _, records = await call.records(graded=False, events=events)
        ledger = build_ledger(self._scoring, call.session_id, events)
        violation = next(v for v in records.violations if v.id == violation_id)
        return ReviewedViolation(
            violation=violation, automatic=ledger.automatic, reviewed=ledger.reviewed
        )


def _behaviour(violation: AntiCheatViolation) -> dict[str, Any]:
    """A behaviour finding's riskFactors name and what it cost, so the review can give it back."""
    details = violation.details
    if details.get("event") != BEHAVIOUR_FLAGGED:
        return {}
    costs = bool(details.get("counted")) and not violation.accommodated
    return {"factor": details.get("factor"), "points": details.get("points", 0) if costs else 0}


async def _violation(call: SessionCall, violation_id: str) -> AntiCheatViolation:
    _, records = await call.records(graded=False)
    for violation in records.violations:
        if violation.id == violation_id:
            return violation
    raise ApiError(
        404,
        "not_found",
        f"session {call.session_id!r} has no violation {violation_id!r}; the ids are listed in "
        "GET /candidate-sessions/:id under violations",
    )


ENDPOINTS = [
    Endpoint(
        "POST", "/candidate-sessions/{session_id}/violations/{violation_id}/review",
        ReviewRoutes.review_violation, "Dismiss or confirm a violation", ReviewedViolation,
        body=ReviewBody, errors=(400, 404, 409, 413, 422), idempotent_key=True,
        auth="reviewer",
    ),
]  # fmt: skip
