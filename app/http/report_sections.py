"""The parts of the HTML report a proctor hands on (issue 23 item 6): the human verdict beside
the automatic recommendation, the exam's score and graded answers, and a readable timeline of
events. Times are written in UTC inside <time> elements; the page's one script (allowed by a
nonce in its CSP) shows them in the viewer's zone, with UTC on hover."""

from __future__ import annotations

from collections.abc import Iterable
from html import escape
from typing import Any, Final

from actors.event_types import EVENT_TYPE_BY_NAME
from actors.events import StoredEvent
from actors.report import ProctorAnalysisReport

_RECOMMENDATION_TEXT: Final = {
    "accept": "Accept the results",
    "review": "Review manually",
    "investigate": "Investigate / reject",
}
_STATUS_TEXT: Final = {
    "verified": "Verified",
    "rejected": "Rejected",
    "needs_review": "Needs review",
}
_MAX_DETAIL: Final = 160  # characters of an event's details shown in the timeline
LOCAL_TIMES_SCRIPT: Final = """
for (const t of document.querySelectorAll("time[datetime]")) {
  const d = new Date(t.dateTime);
  if (isNaN(d)) continue;
  t.title = "UTC: " + t.dateTime;
  t.textContent = d.toLocaleString(undefined, {dateStyle: "medium", timeStyle: "medium"});
}
"""
SECTIONS_STYLE: Final = """
time { text-decoration: underline dotted #9aa4ae; }
.pass { color: #15803d; } .fail { color: #b91c1c; }
@media print { time { text-decoration: none; } tr { break-inside: avoid; }
               .frames figure { break-inside: avoid; } a { color: inherit; } }
"""


def when(ts: str | None, missing: str = "?") -> str:
    """A time as UTC text that the page's script turns into the viewer's zone."""
    if not ts:
        return escape(missing)
    return f"<time datetime='{escape(ts)}'>{escape(ts)}</time>"


def verdict_section(report: ProctorAnalysisReport) -> str:
    recommended = _RECOMMENDATION_TEXT[report.recommendation]
    html = (
        f"<p>Automatic recommendation (trust {escape(report.trustLevel)}): "
        f"<b>{escape(recommended)}</b> ({escape(report.recommendation)}).</p>"
    )
    if report.review is None:
        return html + "<p class='muted'>No reviewer has given a verdict yet.</p>"
    review = report.review
    html += (
        f"<p>Reviewer's verdict: <b>{escape(_STATUS_TEXT[review.status])}</b> by "
        f"{escape(review.reviewer)} at {when(review.at)}: {escape(review.reason)}</p>"
    )
    if len(report.reviewHistory) > 1:
        rows = [
            f"<tr><td>{when(item.at)}</td><td>{escape(_STATUS_TEXT[item.status])}</td>"
            f"<td>{escape(item.reviewer)}</td><td>{escape(item.reason)}</td></tr>"
            for item in report.reviewHistory
        ]
        html += _table(("When", "Verdict", "By", "Reason"), rows)
    return html


def exam_section(report: ProctorAnalysisReport) -> str:
    summary = report.scoreSummary
    if summary is None and not report.answers:
        return "<p class='muted'>No answers were recorded.</p>"
    html = ""
    if summary is not None:
        if summary.passStatus is None:
            verdict = f"pending: {summary.pendingManualGrading} answer(s) wait for a grader"
            css = "muted"
        else:
            verdict, css = ("passed", "pass") if summary.passStatus else ("failed", "fail")
        html += (
            f"<p>Score <b>{summary.totalScore:g} / {summary.maxPossibleScore:g}</b> "
            f"({summary.percentage:.0f}%), pass mark {summary.passMark:g}%: "
            f"<b class='{css}'>{escape(verdict)}</b>.</p>"
        )
    rows = [
        f"<tr><td>{escape(answer.questionId)}</td><td>{escape(_text(answer.response))}</td>"
        f"<td class='num'>{_grade(answer.score, answer.maxScore)}</td>"
        f"<td>{escape(answer.scoringMethod or '')}</td>"
        f"<td class='num'>{answer.timeSpent:g} s</td><td>{when(answer.submittedAt)}</td></tr>"
        for answer in report.answers
    ]
    if rows:
        html += _table(("Question", "Answer", "Grade", "Graded", "Time spent", "Submitted"), rows)
    return html


def events_section(events: Iterable[StoredEvent]) -> str:
    """Every event but the routine ones, in words; the CSV export has them all."""
    rows, routine = [], 0
    for event in events:
        entry = EVENT_TYPE_BY_NAME.get(event.type)
        if entry is not None and entry.kind == "routine":
            routine += 1
            continue
        kind = entry.kind if entry is not None else "info"
        css = " class='event warn'" if kind in ("warning", "intervention") else ""
        rows.append(
            f"<tr{css}><td class='num'>{event.offset}</td><td>{when(event.ts)}</td>"
            f"<td>{escape(event.type.replace('_', ' '))}</td><td>{escape(event.origin)}</td>"
            f"<td>{escape(_details(event))}</td></tr>"
        )
    html = _table(("#", "Time", "Event", "From", "Details"), rows) if rows else ""
    if routine:
        html += (
            f"<p class='muted'>{routine} routine event(s) (heartbeats, frame and audio "
            "verdicts) are left out here; the CSV export lists every event.</p>"
        )
    return html or "<p class='muted'>No events were recorded.</p>"


def _details(event: StoredEvent) -> str:
    parts = [] if event.questionId is None else [f"question {event.questionId}"]
    for key, value in (event.data or {}).items():
        parts.append(f"{key}: {_text(value)}")
    text = "; ".join(parts)
    return text if len(text) <= _MAX_DETAIL else text[: _MAX_DETAIL - 1] + "…"


def _text(value: Any) -> str:
    """A value in words: mappings as `key value` pairs, lists joined, never raw JSON."""
    if isinstance(value, dict):
        if set(value) == {"answer"}:
            return _text(value["answer"])
        return ", ".join(f"{k} {_text(v)}" for k, v in value.items())
    if isinstance(value, list):
        return ", ".join(_text(v) for v in value)
    if isinstance(value, bool):
        return "yes" if value else "no"
    return "" if value is None else str(value)


def _grade(score: float | None, max_score: float | None) -> str:
    if score is None:
        return "not graded yet" if max_score is not None else ""
    return f"{score:g} / {max_score:g}" if max_score is not None else f"{score:g}"


def _table(headers: Iterable[str], rows: list[str]) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"
