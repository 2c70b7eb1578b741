"""The report's behaviour section (issue 28): a small chart of typing against pasting per
question, and every behaviour finding with its rule, what it cost, and the other session of a
collaborating pair, linked to that session's report."""

from __future__ import annotations

from html import escape
from typing import Final
from urllib.parse import quote

from actors.behaviour_report import BehaviourEvidence, QuestionInput

_BAR_HEIGHT: Final = 18
_WIDTH: Final = 640
_LABEL: Final = 120
_COLOURS: Final = (("typed", "#2f7d4f"), ("pasted", "#c0392b"), ("other", "#7f8c9a"))


def behaviour_section(evidence: BehaviourEvidence) -> str:
    if not evidence.questions and not evidence.findings:
        return "<p class='muted'>No behaviour windows were received for this session.</p>"
    return _chart(evidence.questions) + _findings(evidence)


def _chart(questions: list[QuestionInput]) -> str:
    if not questions:
        return ""
    most = max(max(q.typed + q.pasted + q.other for q in questions), 1)
    scale = (_WIDTH - _LABEL - 90) / most
    rows = []
    for n, q in enumerate(questions):
        y = n * (_BAR_HEIGHT + 6)
        x = _LABEL
        parts = [f"<text x='0' y='{y + 13}' font-size='12'>{escape(q.questionId)}</text>"]
        for name, colour in _COLOURS:
            value = getattr(q, name)
            width = value * scale
            if value:
                parts.append(
                    f"<rect x='{x:.1f}' y='{y}' width='{max(width, 1):.1f}' "
                    f"height='{_BAR_HEIGHT}' fill='{colour}'><title>{escape(q.questionId)}: "
                    f"{value} characters {name}</title></rect>"
                )
            x += width
        label = f"{q.typed} typed · {q.pasted} pasted" + (
            f" · {q.untrusted} synthetic" if q.untrusted else ""
        )
        parts.append(f"<text x='{x + 6:.1f}' y='{y + 13}' font-size='11'>{escape(label)}</text>")
        rows.append("".join(parts))
    height = len(questions) * (_BAR_HEIGHT + 6) + 4
    legend = " ".join(f"<span style='color:{colour}'>■</span> {name}" for name, colour in _COLOURS)
    return (
        "<h3>Typing against pasting, per question</h3>"
        f"<svg role='img' aria-label='characters typed and pasted per question' "
        f"viewBox='0 0 {_WIDTH} {height}' style='max-width:{_WIDTH}px'>{''.join(rows)}</svg>"
        f"<p class='muted'>{legend} (characters that reached each answer; never the text)</p>"
    )


def _findings(evidence: BehaviourEvidence) -> str:
    if not evidence.findings:
        return "<p>No behaviour factor found anything.</p>"
    rows = []
    for f in evidence.findings:
        cost = f"{f.points}" if f.counted else "0 (evidence only: the factor is off)"
        other = ""
        if f.otherSessionId is not None:
            href = f"/candidate-sessions/{quote(f.otherSessionId)}/report?format=html"
            other = f"with <a href='{escape(href)}'>{escape(f.otherSessionId)}</a>"
        questions = ", ".join(f.questionIds[:10]) + (" …" if len(f.questionIds) > 10 else "")
        rows.append(
            f"<tr><td>{escape(f.factor)}</td><td class='num'>{escape(cost)}</td>"
            f"<td>{escape(f.rule)}</td><td>{escape(questions)}</td><td>{other}</td>"
            f"<td><code>{escape(f.violationId)}</code></td></tr>"
        )
    return (
        "<h3>Findings</h3><table><thead><tr><th>Factor</th><th>Points</th><th>Rule</th>"
        "<th>Questions</th><th>Pair</th><th>Violation id (to review)</th></tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table>"
    )
