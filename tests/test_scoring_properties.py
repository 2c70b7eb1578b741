"""Property: the state the live actor keeps, folded one event at a time and restored from a
snapshot at any point, always equals a recomputation from the whole log written independently
from CONTRACT.md section 6."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from actors import scoring
from actors.config import ScoringConfig
from actors.events import StoredEvent, iso_ms
from actors.lifecycle import fold
from actors.state import SNAPSHOT_DECODER, SessionSnapshot

# The extended factors on, with thresholds the generated logs cross both ways.
CONFIG = ScoringConfig(too_fast_completion_seconds=100, long_idle_seconds=300)
START = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
STEP_SECONDS = 7
SEVERITY = {
    "tab_switch_detected": "MEDIUM", "copy_attempt": "MEDIUM", "paste_attempt": "MEDIUM",
    "fullscreen_exit": "MEDIUM", "inspect_element_opened": "HIGH", "right_click_attempt": "LOW",
    "multiple_tabs_detected": "MEDIUM", "idle_detected": "LOW", "screen_recording_stopped": "HIGH",
    "face_not_detected": "HIGH", "multiple_faces_detected": "HIGH",
}  # fmt: skip
PENALTY = {"HIGH": 15, "MEDIUM": 8, "LOW": 3}
QUIET = [
    "assessment_started",
    "heartbeat",
    "device_info",
    "user_disconnected",
    "looking_away",
    "question_viewed",
    "answer_submitted",
    "assessment_submitted",
]

questions = st.sampled_from([None, "q1", "q2", "q3"])
event_specs = st.one_of(
    st.tuples(st.sampled_from(sorted(SEVERITY) + QUIET), st.none(), questions),
    st.tuples(
        st.just("focus_lost"),
        st.builds(lambda ms: {"durationMs": ms}, st.integers(0, 20_000)),
        questions,
    ),
    st.tuples(
        st.just("frame_analyzed"),
        st.builds(
            lambda f, o: {"faces": f, "objects": o},
            st.integers(0, 3),
            st.lists(st.sampled_from(["cell phone", "book", "laptop", "person"]), max_size=3),
        ),
        st.none(),
    ),
    st.tuples(
        st.just("violation_reported"),
        st.builds(
            lambda t, s: {"type": t, "severity": s},
            st.sampled_from(["TAB_SWITCH", "OTHER"]),
            st.sampled_from(["LOW", "MEDIUM", "HIGH"]),
        ),
        questions,
    ),
    st.tuples(
        st.just("audio_analyzed"), st.builds(lambda a: {"anomalous": a}, st.booleans()), st.none()
    ),
    st.tuples(
        st.just("device_info"),
        st.fixed_dictionaries(
            {},
            optional={
                "deviceFingerprint": st.sampled_from(["A", "B"]),
                "userAgent": st.sampled_from(["Chrome", "Firefox"]),
                "ipAddress": st.sampled_from(["10.0.0.1", "10.0.0.2"]),
            },
        ),
        st.none(),
    ),
    st.tuples(
        st.just("ip_changed"),
        st.builds(lambda to: {"to": to}, st.sampled_from(["10.0.0.1", "10.0.0.2"])),
        st.none(),
    ),
    st.tuples(
        st.just("idle_detected"),
        st.builds(lambda s: {"seconds": s}, st.integers(0, 900)),
        questions,
    ),
)


def log_of(specs: list[tuple[str, dict[str, Any] | None, str | None]]) -> list[StoredEvent]:
    return [
        StoredEvent(
            type=k,
            offset=i,
            ts=iso_ms(START + timedelta(seconds=STEP_SECONDS * i)),
            data=d,
            questionId=q,
        )
        for i, (k, d, q) in enumerate(specs, start=1)
    ]


def recompute(log: list[StoredEvent]) -> dict[str, Any]:
    """The contract's formulas over the whole log, sharing no code with actors.scoring."""
    penalties: list[int] = []
    current: str | None = None
    per_question: dict[str, int] = {}
    tabs = frames = no_face = multi = phone = book = other = samples = anomalous = 0
    fingerprint = agent = address = None
    device_changes = ip_changes = long_idles = 0
    too_fast = submitted = False
    for event in log:
        data = event.data or {}
        if event.type == "device_info":
            if data.get("deviceFingerprint"):
                device_changes += fingerprint not in (None, data["deviceFingerprint"])
                fingerprint = data["deviceFingerprint"]
            elif data.get("userAgent"):
                device_changes += agent not in (None, data["userAgent"])
            agent = data.get("userAgent", agent)
        if event.type in ("device_info", "ip_changed"):
            new_address = data.get("ipAddress", data.get("to"))
            if new_address:
                ip_changes += address not in (None, new_address)
                address = new_address
        if event.type == "idle_detected" and data and data["seconds"] >= 300:
            long_idles += 1
        if event.type == "assessment_submitted" and not submitted:
            submitted = True
            too_fast = (event.offset - 1) * STEP_SECONDS < 100
        if event.type in ("question_viewed", "answer_submitted") and event.questionId:
            current = event.questionId
        severity = SEVERITY.get(event.type)
        if event.type == "focus_lost":
            severity = "MEDIUM" if data["durationMs"] >= 5000 else "LOW"
        if event.type == "violation_reported":
            severity = data["severity"]
        if event.type == "tab_switch_detected":
            tabs += 1
        if event.type == "frame_analyzed":
            frames += 1
            no_face += data["faces"] == 0
            multi += data["faces"] > 1
            phone += data["objects"].count("cell phone")
            book += data["objects"].count("book")
            other += data["objects"].count("laptop")
        if event.type == "audio_analyzed":
            samples += 1
            anomalous += data["anomalous"]
        if severity is None:
            continue
        penalties.append(PENALTY[severity])
        question = event.questionId or current
        if question:
            per_question[question] = per_question.get(question, 0) + 1
            if per_question[question] == 3:
                penalties.append(15)
    tab = min(tabs * 0.1, 1.0)
    face = min((no_face * 0.4 + multi * 0.6) / frames, 1.0) if frames else 0.0
    obj = min((phone * 0.5 + book * 0.3 + other * 0.2) / frames, 1.0) if frames else 0.0
    audio = anomalous / samples if samples else 0.0
    extended = 20 * device_changes + 15 * ip_changes + 5 * long_idles + 10 * too_fast
    score = max(0, 100 - sum(penalties) - extended)
    return {
        "verificationScore": score,
        "trustLevel": "HIGH" if score >= 80 else "MEDIUM" if score >= 60 else "LOW",
        "violations": len(penalties),
        "riskScore": 0.3 * tab + 0.35 * face + 0.25 * obj + 0.1 * audio,
    }


@settings(max_examples=300, deadline=None)
@given(specs=st.lists(event_specs, max_size=60), cut=st.integers(0, 60))
def test_incremental_with_snapshot_equals_recomputation(specs: list[Any], cut: int) -> None:
    log = log_of(specs)
    record = SessionSnapshot()
    for event in log[: min(cut, len(log))]:
        fold(CONFIG, record, event)
    # Recovery: encode the snapshot, decode it, replay the tail on top.
    record = SNAPSHOT_DECODER.decode(msgspec.json.encode(record))
    for event in log[min(cut, len(log)) :]:
        fold(CONFIG, record, event)
    verification = scoring.verification(CONFIG, record.score)
    risk = scoring.risk(CONFIG, record.score)
    expected = recompute(log)
    assert verification.verificationScore == expected["verificationScore"]
    assert verification.trustLevel == expected["trustLevel"]
    assert record.score.violations == expected["violations"]
    assert abs(risk.riskScore - expected["riskScore"]) < 1e-5
    assert record.offset == len(log)


@settings(max_examples=100, deadline=None)
@given(specs=st.lists(event_specs, max_size=40))
def test_fold_refuses_a_gap_in_offsets(specs: list[Any]) -> None:
    log = log_of(specs)
    record = SessionSnapshot()
    for event in log:
        fold(CONFIG, record, event)
    gap = StoredEvent(type="heartbeat", offset=len(log) + 2, ts="t")
    try:
        fold(CONFIG, record, gap)
    except ValueError as exc:
        assert "does not follow" in str(exc)
    else:
        raise AssertionError("a gap in offsets must be refused")
