"""A session's answers, the latest per question: what the answer-reading factors share
(consistent exact timing, unusual answer patterns, collaboration)."""

from __future__ import annotations

import msgspec

from actors.behaviour.observations import AnswerSeen


class AnswerSheet(msgspec.Struct, frozen=True, kw_only=True):
    answers: dict[str, AnswerSeen] = {}  # question -> its latest answer, in first-answered order


def fold(sheet: AnswerSheet, seen: AnswerSeen) -> AnswerSheet:
    return AnswerSheet(answers={**sheet.answers, seen.questionId: seen})
