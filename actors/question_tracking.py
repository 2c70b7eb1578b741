"""Document 001's QuestionTracking, derived from a session's events, question by question.

Time on a question runs from its `question_viewed` to the next view of another question, the
submission, or a disconnection (and resumes with the candidate's next event); it is measured on
the candidate's own timestamps, the only clock that saw the page. Counters of violations come from
the violations the scoring raised on the question. What the client reports itself (PUT
.../tracking-data) adds only what the server cannot see (`flagged`, `metadata`); its counts are
kept beside the server's under `reported`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final

from actors import scoring
from actors.events import USER_DISCONNECTED, StoredEvent

TRACKING_REPORTED: Final = "question_tracking_reported"
_COUNTED: Final = {
    "FOCUS_LOSS": "focusLossEvents",
    "COPY_PASTE": "copyPasteAttempts",
    "TAB_SWITCH": "tabSwitches",
}
_CLIENT_ONLY: Final = ("flagged", "metadata")


class QuestionTracker:
    def __init__(self, session_id: str) -> None:
        self.session_id = session_id
        self.questions: dict[str, dict[str, Any]] = {}
        self.current: str | None = None
        self.since: datetime | None = None
        self.last_response: dict[str, Any] = {}
        self.finished = False

    def add(self, event: StoredEvent, raised: list[scoring.Violation]) -> None:
        kind = event.type
        if kind == "question_viewed" and event.questionId is not None:
            self._view(event.questionId, event.ts)
        elif kind == "answer_submitted" and event.questionId is not None:
            self._answer(event.questionId, (event.data or {}).get("response"), event.ts)
        elif kind == "assessment_submitted":
            self._pause(event.ts)
            self.finished = True
        elif kind == USER_DISCONNECTED:
            self._pause(event.ts)
        elif kind == TRACKING_REPORTED and event.questionId is not None:
            self._question(event.questionId, event.ts)["_reported"].update(event.data or {})
        elif event.origin == "candidate" and self.current is not None and self.since is None:
            self.since = _moment(event.ts)  # back after a disconnection
        for violation in raised:
            if violation.questionId is not None:
                self._count(violation)

    def _question(self, question: str, ts: str) -> dict[str, Any]:
        found = self.questions.get(question)
        if found is None:
            found = self.questions[question] = {
                "id": f"{self.session_id}:{question}", "sessionId": self.session_id,
                "questionId": question, "firstViewedAt": None, "lastViewedAt": None,
                "timeSpent": 0.0, "views": 0, "attempts": 0, "changedAnswerCount": 0,
                "focusLossEvents": 0, "copyPasteAttempts": 0, "tabSwitches": 0,
                "violations": 0, "movedOn": False, "_reported": {},
            }  # fmt: skip
        return found

    def _view(self, question: str, ts: str) -> None:
        self._pause(ts)
        if self.current is not None and self.current != question:
            self._question(self.current, ts)["movedOn"] = True
        record = self._question(question, ts)
        record["views"] += 1
        record["firstViewedAt"] = record["firstViewedAt"] or ts
        record["lastViewedAt"] = ts
        self.current, self.since = question, _moment(ts)

    def _answer(self, question: str, response: Any, ts: str) -> None:
        record = self._question(question, ts)
        record["attempts"] += 1
        if question in self.last_response and self.last_response[question] != response:
            record["changedAnswerCount"] += 1
        self.last_response[question] = response
        record["lastViewedAt"] = max(record["lastViewedAt"] or ts, ts)

    def _pause(self, ts: str) -> None:
        if self.current is not None and self.since is not None:
            elapsed = (_moment(ts) - self.since).total_seconds()
            self._question(self.current, ts)["timeSpent"] += max(elapsed, 0.0)
        self.since = None

    def _count(self, violation: scoring.Violation) -> None:
        record = self._question(violation.questionId or "", "")
        record["violations"] += 1
        field = _COUNTED.get(violation.type)
        if field is not None:
            record[field] += 1

    def records(self) -> list[dict[str, Any]]:
        return [self._public(record) for record in self.questions.values()]

    def _public(self, record: dict[str, Any]) -> dict[str, Any]:
        reported = record["_reported"]
        public = {
            key: value
            for key, value in record.items()
            if key not in ("_reported", "views", "violations", "movedOn")
        }
        public["timeSpent"] = round(record["timeSpent"], 3)
        public["revisitCount"] = max(record["views"] - 1, 0)
        public["skipped"] = record["attempts"] == 0 and (record["movedOn"] or self.finished)
        public["suspiciousActivity"] = record["violations"] > 0
        public["flagged"] = bool(reported.get("flagged", False))
        public["metadata"] = reported.get("metadata") or {}
        public["reported"] = {k: v for k, v in reported.items() if k not in _CLIENT_ONLY}
        return public


def _moment(ts: str) -> datetime:
    return datetime.fromisoformat(ts)
