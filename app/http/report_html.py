"""The report as a page a person can read and print (`GET .../report?format=html`): the verdict,
a timeline chart of events, warnings and scores over the session, the ledger, the alerts and
interventions, and how complete the record is. One self-contained page: no external file, every
text escaped; its one inline script (CSP nonce) only shows times in the viewer's zone."""

from __future__ import annotations

import base64
from collections.abc import Iterable
from datetime import datetime
from html import escape
from typing import Final

from actors.events import INTERVENTION, StoredEvent
from actors.ledger import LedgerEntry, ScoreLedger
from actors.report import ProctorAnalysisReport
from app.http.report_behaviour import behaviour_section
from app.http.report_sections import (
    LOCAL_TIMES_SCRIPT,
    SECTIONS_STYLE,
    events_section,
    exam_section,
    verdict_section,
    when,
)

_WIDTH: Final = 960
_HEIGHT: Final = 220
_TOP: Final = 20
_PLOT: Final = 140  # height of the score plot; event ticks go below it
_STYLE: Final = """
body { font: 14px/1.45 system-ui, sans-serif; color: #1d232a; margin: 2rem auto; max-width: 1000px;
       padding: 0 1rem; }
h1 { font-size: 1.5rem; margin-bottom: .2rem; } h2 { font-size: 1.15rem; margin-top: 2rem;
     border-bottom: 1px solid #d5dae0; padding-bottom: .2rem; }
table { border-collapse: collapse; width: 100%; margin: .5rem 0; }
th, td { text-align: left; padding: .25rem .5rem; border-bottom: 1px solid #e5e8ec;
         vertical-align: top; }
th { background: #f3f5f7; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
.verdict { display: flex; gap: 1rem; flex-wrap: wrap; }
.verdict div { border: 1px solid #d5dae0; border-radius: 6px; padding: .5rem .9rem; }
.verdict b { display: block; font-size: 1.4rem; }
.muted { color: #66707a; } .dismissed { color: #66707a; text-decoration: line-through; }
.warn { background: #fff4e0; } svg { width: 100%; height: auto; border: 1px solid #e5e8ec; }
.frames { display: flex; flex-wrap: wrap; gap: .5rem; } .frames figure { margin: 0; }
.frames img { width: 224px; height: auto; border: 1px solid #d5dae0; }
@media print { body { margin: 0; max-width: none; } h2 { break-after: avoid; }
               table, svg { break-inside: avoid; } }
"""


def report_page(
    report: ProctorAnalysisReport,
    events: list[StoredEvent],
    images: dict[str, bytes],
    nonce: str | None = None,
) -> str:
    """`images`: the flagged frames' JPEGs by their path, shown inline; `nonce`: the CSP nonce
    of the script that shows times in the viewer's zone (none: times stay in UTC)."""
    ledger = report.ledger
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>Vigil report: {escape(report.candidateName)}</title>",
        f"<style>{_STYLE}{SECTIONS_STYLE}</style></head><body>",
        f"<h1>Proctoring report: {escape(report.candidateName)}</h1>",
        f"<p class='muted'>Session {escape(report.sessionId)} · assessment "
        f"{escape(report.assessmentId)} · {escape(report.status)} · from "
        f"{when(report.startTime)} to {when(report.endTime, 'now (running)')} · "
        f"made {when(report.generatedAt)} · compliance {report.complianceScore}%"
        f"{'' if report.final else ' · <b>provisional: the session is not finished</b>'}</p>",
        _verdict(report),
        verdict_section(report),
        "<h2>Exam result</h2>",
        exam_section(report),
        "<h2>Recommendations</h2><ul>",
        *(f"<li>{escape(text)}</li>" for text in report.detailedFindings.recommendations),
        "</ul>",
        "<h2>Timeline</h2>",
        _timeline(report, events),
        "<h2>Verification score ledger</h2>",
        _ledger_table(ledger),
        "<h2>Behaviour evidence</h2>",
        behaviour_section(report.behaviour),
        "<h2>Risk score</h2>",
        _risk_table(ledger),
        "<h2>Alerts and interventions</h2>",
        _alerts_table(report),
        "<h2>Record completeness</h2>",
        _completeness(report),
        "<h2>Who was on camera</h2>",
        _identity(report),
        "<h2>Flagged frames</h2>",
        _frames(report, images, events),
        "<h2>Events</h2>",
        events_section(events),
        "" if nonce is None else f"<script nonce='{escape(nonce)}'>{LOCAL_TIMES_SCRIPT}</script>",
        "</body></html>",
    ]
    return "".join(parts)


def _verdict(report: ProctorAnalysisReport) -> str:
    automatic, reviewed = report.ledger.automatic, report.ledger.reviewed
    boxes = [
        ("Verification score", f"{reviewed.verificationScore} / 100"),
        ("Trust level", reviewed.trustLevel),
        ("Risk score", f"{reviewed.riskScore:.2f}"),
        ("Risk level", reviewed.riskLevel),
    ]
    html = "<div class='verdict'>" + "".join(
        f"<div>{escape(label)}<b>{escape(value)}</b></div>" for label, value in boxes
    )
    html += "</div>"
    if automatic != reviewed:
        html += (
            f"<p>Automatic verdict before review: {automatic.verificationScore} / 100 "
            f"({escape(automatic.trustLevel)}), risk {automatic.riskScore:.2f} "
            f"({escape(automatic.riskLevel)}).</p>"
        )
    return html


def _timeline(report: ProctorAnalysisReport, events: list[StoredEvent]) -> str:
    """Scores over the session as lines, every event as a tick under them (violations red,
    interventions orange), offline gaps shaded."""
    start = _moment(report.completeness.sessionStart)
    end = _moment(report.completeness.measuredUntil)
    if start is None or end is None or end <= start:
        return "<p class='muted'>Not enough time has passed to draw a timeline.</p>"
    span = (end - start).total_seconds()

    def x(ts: str) -> float:
        moment = _moment(ts)
        seconds = 0.0 if moment is None else (moment - start).total_seconds()
        return round(40 + min(max(seconds / span, 0.0), 1.0) * (_WIDTH - 60), 1)

    def y(fraction: float) -> float:
        return round(_TOP + (1 - fraction) * _PLOT, 1)

    shapes = [
        f"<svg viewBox='0 0 {_WIDTH} {_HEIGHT}' role='img' aria-label='Scores and events over "
        "the session' xmlns='http://www.w3.org/2000/svg' font-size='11'>",
        f"<text x='4' y='{y(1) + 4}'>100</text><text x='4' y='{y(0) + 4}'>0</text>",
        f"<line x1='40' x2='{_WIDTH - 20}' y1='{y(0)}' y2='{y(0)}' stroke='#c8ced6'/>",
    ]
    for gap in report.completeness.offlineGaps:
        left, right = x(gap.start), x(gap.end or report.completeness.measuredUntil)
        shapes.append(
            f"<rect x='{left}' y='{_TOP}' width='{max(right - left, 1)}' height='{_PLOT}' "
            "fill='#e9ecef'><title>offline</title></rect>"
        )
    points = report.ledger.timeline
    if points:
        trust = [(x(report.completeness.sessionStart), y(1.0))]
        risk = [(x(report.completeness.sessionStart), y(0.0))]
        for point in points:
            trust += [(x(point.ts), trust[-1][1]), (x(point.ts), y(point.verificationScore / 100))]
            risk += [(x(point.ts), risk[-1][1]), (x(point.ts), y(point.riskScore))]
        trust.append((x(report.completeness.measuredUntil), trust[-1][1]))
        risk.append((x(report.completeness.measuredUntil), risk[-1][1]))
        shapes.append(_polyline(trust, "#2563eb", "verification score (0-100)"))
        shapes.append(_polyline(risk, "#dc2626", "risk score (0-1)"))
    violating = {entry.offsets[0] for entry in report.ledger.verification if entry.violationId}
    for event in events:
        colour, height = "#9aa4ae", 8
        if event.type == INTERVENTION:
            colour, height = "#ea8c00", 22
        elif event.offset in violating:
            colour, height = "#dc2626", 16
        base = _TOP + _PLOT + 12
        shapes.append(
            f"<line x1='{x(event.ts)}' x2='{x(event.ts)}' y1='{base}' y2='{base + height}' "
            f"stroke='{colour}'><title>{event.offset}: {escape(event.type)} at "
            f"{escape(event.ts)}</title></line>"
        )
    shapes.append(
        f"<text x='40' y='{_HEIGHT - 4}' fill='#2563eb'>verification score</text>"
        f"<text x='170' y='{_HEIGHT - 4}' fill='#dc2626'>risk score x 100</text>"
        f"<text x='290' y='{_HEIGHT - 4}' fill='#dc2626'>| violation</text>"
        f"<text x='370' y='{_HEIGHT - 4}' fill='#ea8c00'>| intervention</text>"
        f"<text x='470' y='{_HEIGHT - 4}' fill='#9aa4ae'>| other event</text></svg>"
    )
    return "".join(shapes)


def _polyline(points: list[tuple[float, float]], colour: str, title: str) -> str:
    coordinates = " ".join(f"{px},{py}" for px, py in points)
    return (
        f"<polyline points='{coordinates}' fill='none' stroke='{colour}' stroke-width='2'>"
        f"<title>{escape(title)}</title></polyline>"
    )


def _ledger_table(ledger: ScoreLedger) -> str:
    rows = [_ledger_row(entry) for entry in ledger.verification]
    total = (
        f"<tr><th colspan='2'>Start</th><td class='num'>{ledger.startingScore}</td>"
        "<td colspan='3'></td></tr>"
    )
    final = (
        f"<tr><th colspan='2'>Verification score</th><td class='num'>{ledger.verificationScore}"
        f"</td><td colspan='3'>{'stopped at 0' if ledger.floored else ''}</td></tr>"
    )
    return _table(("Factor", "What", "Points", "Events", "Rule", "Review"), [total, *rows, final])


def _ledger_row(entry: LedgerEntry) -> str:
    what = entry.type or entry.factor
    if entry.severity:
        what += f" ({entry.severity})"
    if entry.questionId:
        what += f" on {entry.questionId}"
    if entry.episode is not None:
        what += f", {entry.episode.frames or '?'} frames over {entry.episode.durationMs or 0} ms"
        if entry.episode.confidence is not None:
            what += f", confidence {entry.episode.confidence:.2f}"
    review = entry.reviews[-1] if entry.reviews else None
    review_text = (
        f"{review.decision} by {review.by} at {review.at}: {review.reason}" if review else ""
    )
    style = "" if entry.counted else " class='dismissed'"
    return (
        f"<tr{style}><td>{escape(entry.factor)}</td><td>{escape(what)}</td>"
        f"<td class='num'>{entry.points}</td><td>{_offsets(entry.offsets)}</td>"
        f"<td>{escape(entry.rule)}</td><td>{escape(review_text)}</td></tr>"
    )


def _risk_table(ledger: ScoreLedger) -> str:
    rows = [
        f"<tr><td>{escape(part.part)}</td><td class='num'>{part.value:.3f}</td>"
        f"<td class='num'>{part.weight:g}</td><td class='num'>{part.contribution:.3f}</td>"
        f"<td>{escape(part.rule)}</td><td>{_offsets(part.offsets)}</td></tr>"
        for part in ledger.risk
    ]
    rows.append(
        f"<tr><th>Risk score</th><td></td><td></td><td class='num'>{ledger.riskScore:.3f}</td>"
        "<td colspan='2'></td></tr>"
    )
    return _table(("Part", "Value", "Weight", "Share", "Rule", "Events"), rows)


def _alerts_table(report: ProctorAnalysisReport) -> str:
    rows = [
        f"<tr><td class='num'>{alert.offset}</td><td>{when(alert.ts)}</td>"
        f"<td>{escape(alert.severity)}</td><td>{escape(alert.message)}</td></tr>"
        for alert in report.alerts
        if alert.eventType != INTERVENTION  # listed once, as an intervention, below
    ]
    interventions = [
        f"<tr class='warn'><td class='num'>{item.offset}</td><td>{when(item.ts)}</td>"
        f"<td>{escape(item.action)}</td><td>by {escape(item.by)}"
        f"{': ' + escape(item.message) if item.message else ''}</td></tr>"
        for item in report.interventions
    ]
    if not rows and not interventions:
        return "<p class='muted'>No alerts were raised and nobody intervened.</p>"
    return _table(("Event", "Time", "Severity / action", "Message"), rows + interventions)


def _completeness(report: ProctorAnalysisReport) -> str:
    c = report.completeness
    share = "unknown" if c.connectedShare is None else f"{c.connectedShare:.0%}"
    rows = [
        ("Session length", f"{c.sessionSeconds:.0f} s"),
        ("Connected", f"{c.connectedSeconds:.0f} s ({share})"),
        ("Offline", f"{c.offlineSeconds:.0f} s in {len(c.offlineGaps)} gap(s)"),
        ("Events stored", str(c.eventsStored)),
        ("Webcam frames received / analysed / skipped",
         f"{c.framesReceived} / {c.framesAnalyzed} / {c.framesSkipped}"),
        ("Camera unusable", f"{c.cameraUnusableSeconds:.0f} s"),
    ]  # fmt: skip
    html = _table(
        ("Figure", "Value"),
        [f"<tr><th>{escape(k)}</th><td>{escape(v)}</td></tr>" for k, v in rows],
    )
    if c.offlineGaps:
        html += _table(
            ("Offline from", "to", "Seconds", "Events"),
            [
                f"<tr><td>{escape(gap.start)}</td><td>{escape(gap.end or 'the end')}</td>"
                f"<td class='num'>{gap.seconds:.0f}</td><td>{gap.fromOffset}"
                f"{'-' + str(gap.toOffset) if gap.toOffset else ''}</td></tr>"
                for gap in c.offlineGaps
            ],
        )
    return html


def _identity(report: ProctorAnalysisReport) -> str:
    identity = report.identity
    data = identity.facialRecognitionData
    score = "none" if identity.lastMatchScore is None else f"{identity.lastMatchScore:.2f}"
    rows = [
        ("Status", identity.status),
        ("Reference", identity.reference or "none"),
        ("Frames compared: matched / not matched", f"{data.matched} / {data.mismatched}"),
        ("Mismatch episodes", str(data.mismatchEpisodes)),
        ("Last match score", score),
    ]
    html = _table(
        ("Figure", "Value"),
        [f"<tr><th>{escape(k)}</th><td>{escape(v)}</td></tr>" for k, v in rows],
    )
    if identity.note:
        html += f"<p class='muted'>{escape(identity.note)}</p>"
    return html


def _frames(
    report: ProctorAnalysisReport, images: dict[str, bytes], events: list[StoredEvent]
) -> str:
    findings = report.detailedFindings
    if not findings.flaggedFrames:
        return "<p class='muted'>No webcam frame was flagged.</p>"
    # The frame's offset is the `frameId` of the vision event that raised or ended an episode.
    raised = {
        str((event.data or {}).get("frameId")): event
        for event in events
        if event.origin == "vision"
    }
    figures = []
    for index, frame in enumerate(findings.flaggedFrames):
        image = images.get(frame)
        offset = (
            findings.flaggedFrameEvents[index] if index < len(findings.flaggedFrameEvents) else None
        )
        event = raised.get(str(offset))
        caption = f"frame {offset}" if offset is not None else "a flagged frame"
        if event is not None:
            caption = (
                f"{escape(event.type.replace('_', ' '))} (event {event.offset}) at {when(event.ts)}"
            )
        if image is None:
            figures.append(f"<figure><figcaption>{caption}</figcaption></figure>")
            continue
        data = base64.b64encode(image).decode()
        figures.append(
            f"<figure><img src='data:image/jpeg;base64,{data}' alt='flagged webcam frame "
            f"{offset}'><figcaption>{caption}</figcaption></figure>"
        )
    return "<div class='frames'>" + "".join(figures) + "</div>"


def _table(headers: Iterable[str], rows: list[str]) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def _offsets(offsets: list[int]) -> str:
    shown = ", ".join(str(offset) for offset in offsets[:20])
    return shown + (f" and {len(offsets) - 20} more" if len(offsets) > 20 else "")


def _moment(ts: str) -> datetime | None:
    try:
        return datetime.fromisoformat(ts)
    except ValueError:
        return None
