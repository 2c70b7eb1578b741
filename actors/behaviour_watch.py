"""Behaviour evidence in the session actor (issue 28): stored events folded into the factors'
states as they are stored, and the findings stored once, as `behaviour_flagged` events, when
the assessment is submitted.

Pure: the actor calls `observe` on every event it stores and on every event it replays after a
restart, so the state in its snapshot and the state a replay builds are the same. The findings
wait for the submission because most factors read the whole session (its rhythm, its answers);
each factor is flagged at most once per session (`flagged`). Collaboration needs the other
sessions of the assessment and is found outside the actor (app/sessions/cohort.py), which
stores its finding through the actor like any other `behaviour_flagged`.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Final

import msgspec

from actors.behaviour import evidence
from actors.behaviour.config import BehaviourConfig
from actors.behaviour.evidence import BehaviourRecord, OutsideData
from actors.behaviour.findings import Finding
from actors.behaviour.observations import AnswerSeen, ConnectionSeen, WindowSeen, answer_seen
from actors.behaviour_events import BehaviourWindowData
from actors.events import StoredEvent
from actors.grading import Question, matches
from actors.scoring import BEHAVIOUR_FLAGGED

BEHAVIOUR_WINDOW: Final = "behaviour_window"
SUBMITTED: Final = "assessment_submitted"


class BehaviourRules(msgspec.Struct, frozen=True, kw_only=True):
    """`[behaviour]` and what the operator's files hold, loaded once by the edge."""

    config: BehaviourConfig = BehaviourConfig()
    data: OutsideData = OutsideData()


def observe(
    rules: BehaviourRules,
    record: BehaviourRecord,
    event: StoredEvent,
    questions: Mapping[str, Question],
) -> None:
    kind, data = event.type, event.data or {}
    if kind == BEHAVIOUR_WINDOW and event.questionId is not None:
        window = msgspec.convert(data, BehaviourWindowData)
        seen = WindowSeen(offset=event.offset, questionId=event.questionId, window=window)
        record.state = evidence.fold_window(record.state, seen)
    elif kind == "answer_submitted" and event.questionId is not None:
        answer = answered(event, questions.get(event.questionId))
        record.state = evidence.fold_answer(record.state, answer, rules.data)
    elif kind == "device_info":
        record.state = evidence.fold_connection(record.state, connection_seen(event))
    elif kind == BEHAVIOUR_FLAGGED:
        key = flag_key(data)
        if key not in record.flagged:
            record.flagged.append(key)


def due(rules: BehaviourRules, record: BehaviourRecord) -> list[Finding]:
    """The session-local findings not yet stored."""
    found = evidence.findings(record.state, rules.config, rules.data)
    return [f for f in found if flag_key(msgspec.to_builtins(f)) not in record.flagged]


def flag_key(data: Mapping[str, Any]) -> str:
    other = data.get("otherSessionId")
    return f"{data.get('check')}:{other}" if other else str(data.get("check"))


def answered(event: StoredEvent, question: Question | None) -> AnswerSeen:
    """An `answer_submitted` as the factors read it, graded against the assessment's key."""
    data = event.data or {}
    response = data.get("response")
    correct = None
    if question is not None and question.auto_graded:
        correct = matches(question.correctAnswer, response)
    spent = data.get("timeSpent", 0)
    return answer_seen(
        offset=event.offset,
        question_id=str(event.questionId),
        response=response,
        time_spent_seconds=float(spent) if isinstance(spent, int | float) else 0.0,
        submitted_at_ms=_epoch_ms(event.ts),
        correct=correct,
        difficulty=None if question is None else question.difficulty,
    )


def connection_seen(event: StoredEvent) -> ConnectionSeen:
    """A stored `device_info`: the server wrote the peer and its forwarding headers into it
    (actors/events.py `stored_from_candidate`), the browser its time zone."""
    data = event.data or {}
    forwarded = data.get("forwardedFor") or ()
    zone = data.get("timezone")
    return ConnectionSeen(
        offset=event.offset,
        peer=_text(data.get("ipAddress")),
        forwardedFor=tuple(str(a) for a in forwarded)[:20],
        via=bool(data.get("via")),
        proxied=bool(data.get("proxied")),
        timeZone=_text(zone),
    )


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _epoch_ms(ts: str) -> int:
    try:
        return round(datetime.fromisoformat(ts).timestamp() * 1000)
    except ValueError:
        return 0
