"""The behaviour evidence of one session as the report and the dashboard show it (issue 28):
per question how the answer was entered (characters typed, pasted and otherwise, keys, pastes,
synthetic input) and every behaviour finding with the session it names. Pure, from the log."""

from __future__ import annotations

from typing import Any

import msgspec

from actors.events import StoredEvent
from actors.scoring import BEHAVIOUR_FLAGGED, violation_identity

BEHAVIOUR_WINDOW = "behaviour_window"


class QuestionInput(msgspec.Struct, kw_only=True):
    questionId: str
    windows: int = 0
    keydowns: int = 0
    typed: int = 0
    pasted: int = 0
    other: int = 0  # composition, autocorrect, dictation
    pastes: int = 0
    untrusted: int = 0  # input events a script made
    answerLength: int = 0  # at the latest window


class BehaviourFindingView(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    violationId: str  # what a reviewer dismisses
    offset: int
    ts: str
    factor: str
    check: str
    points: int
    counted: bool
    rule: str
    questionIds: list[str] = []
    otherSessionId: str | None = None  # collaboration: the other session of the pair


class BehaviourEvidence(msgspec.Struct, kw_only=True):
    questions: list[QuestionInput] = msgspec.field(default_factory=list)
    findings: list[BehaviourFindingView] = msgspec.field(default_factory=list)


def behaviour_evidence(session_id: str, events: list[StoredEvent]) -> BehaviourEvidence:
    questions: dict[str, QuestionInput] = {}
    findings: list[BehaviourFindingView] = []
    for event in events:
        data = event.data or {}
        if event.type == BEHAVIOUR_WINDOW and event.questionId is not None:
            q = questions.setdefault(event.questionId, QuestionInput(questionId=event.questionId))
            _add_window(q, data)
        elif event.type == BEHAVIOUR_FLAGGED:
            findings.append(_finding(session_id, event, data))
    return BehaviourEvidence(questions=list(questions.values()), findings=findings)


def _add_window(q: QuestionInput, data: dict[str, Any]) -> None:
    keys, text = data.get("keys") or {}, data.get("text") or {}
    untrusted = data.get("untrusted") or {}
    q.windows += 1
    q.keydowns += int(keys.get("keydowns", 0))
    q.typed += int(text.get("charsTyped", 0))
    q.pasted += int(text.get("charsPasted", 0))
    q.other += int(text.get("charsOther", 0))
    q.pastes += int(text.get("pastes", 0))
    q.untrusted += sum(int(n) for n in untrusted.values())
    if "answerLength" in text:
        q.answerLength = int(text["answerLength"])


def _finding(session_id: str, event: StoredEvent, data: dict[str, Any]) -> BehaviourFindingView:
    other = data.get("otherSessionId")
    return BehaviourFindingView(
        violationId=violation_identity(session_id, event.offset, 0),
        offset=event.offset,
        ts=event.ts,
        factor=str(data.get("factor", "")),
        check=str(data.get("check", "")),
        points=int(data.get("points", 0)),
        counted=bool(data.get("counted")),
        rule=str(data.get("rule", "")),
        questionIds=[str(q) for q in data.get("questionIds") or []],
        otherSessionId=None if other is None else str(other),
    )
