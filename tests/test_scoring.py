"""Scoring as CONTRACT.md section 6 states it, case by case."""

from __future__ import annotations

from typing import Any

import pytest

from actors import scoring
from actors.config import ScoringConfig
from actors.events import StoredEvent

CONFIG = ScoringConfig()


def fold_all(events: list[tuple[str, dict[str, Any] | None, str | None]]) -> scoring.ScoreState:
    state = scoring.ScoreState()
    for offset, (kind, data, question) in enumerate(events, start=1):
        scoring.apply(
            CONFIG,
            state,
            StoredEvent(type=kind, offset=offset, ts="t", data=data, questionId=question),
        )
    return state


@pytest.mark.parametrize(
    ("kind", "data", "violation", "penalty"),
    [
        ("tab_switch_detected", None, "TAB_SWITCH", 8),
        ("copy_attempt", None, "COPY_PASTE", 8),
        ("paste_attempt", None, "COPY_PASTE", 8),
        ("fullscreen_exit", None, "FULLSCREEN_EXIT", 8),
        ("focus_lost", {"durationMs": 4999}, "FOCUS_LOSS", 3),
        ("focus_lost", {"durationMs": 5000}, "FOCUS_LOSS", 8),
        ("inspect_element_opened", None, "DEVTOOLS_OPENED", 15),
        ("right_click_attempt", None, "RIGHT_CLICK", 3),
        ("multiple_tabs_detected", None, "MULTIPLE_TABS", 8),
        ("idle_detected", {"seconds": 120}, "EXCESSIVE_IDLE", 3),
        ("screen_recording_stopped", None, "RECORDING_FAILURE", 15),
        ("face_not_detected", None, "FACE_NOT_DETECTED", 15),
        ("multiple_faces_detected", None, "MULTIPLE_FACES", 15),
        ("violation_reported", {"type": "CUSTOM", "severity": "LOW"}, "CUSTOM", 3),
    ],
)
def test_each_event_maps_to_its_violation(
    kind: str, data: dict[str, Any] | None, violation: str, penalty: int
) -> None:
    state = fold_all([(kind, data, None)])
    assert state.by_type == {violation: 1}
    assert scoring.verification(CONFIG, state).verificationScore == 100 - penalty


@pytest.mark.parametrize(
    "kind",
    [
        "assessment_started",
        "question_viewed",
        "answer_submitted",
        "heartbeat",
        "device_info",
        "user_disconnected",
        "looking_away",
    ],
)
def test_other_events_cost_nothing(kind: str) -> None:
    state = fold_all([(kind, None, "q1")])
    assert state.violations == 0 and scoring.verification(CONFIG, state).riskFactors == []


def test_the_third_violation_on_a_question_adds_one_high_once() -> None:
    state = fold_all(
        [("question_viewed", None, "q1")]
        + [("right_click_attempt", None, None)] * 5
        + [("copy_attempt", None, "q2")] * 2
    )
    # 5 LOW on q1 (15) + 1 MULTIPLE_VIOLATIONS HIGH (15) + 2 MEDIUM on q2 (16)
    assert state.by_type == {"RIGHT_CLICK": 5, "MULTIPLE_VIOLATIONS": 1, "COPY_PASTE": 2}
    verification = scoring.verification(CONFIG, state)
    assert verification.verificationScore == 54
    assert verification.riskFactors == [
        scoring.RiskFactor(factor="Anti-cheat violations", impact=-46, count=8)
    ]


def test_violations_without_a_question_do_not_count_towards_one() -> None:
    state = fold_all([("tab_switch_detected", None, None)] * 3)
    assert "MULTIPLE_VIOLATIONS" not in state.by_type


@pytest.mark.parametrize(
    ("penalty", "score", "level"),
    [
        (0, 100, "HIGH"),
        (20, 80, "HIGH"),
        (21, 79, "MEDIUM"),
        (40, 60, "MEDIUM"),
        (41, 59, "LOW"),
        (500, 0, "LOW"),
    ],
)
def test_score_floor_and_trust_levels(penalty: int, score: int, level: str) -> None:
    verification = scoring.verification(CONFIG, scoring.ScoreState(penalty=penalty, violations=1))
    assert (verification.verificationScore, verification.trustLevel) == (score, level)


def test_risk_formula_of_document_002() -> None:
    state = scoring.ScoreState(
        tab_switches=4, frames=10, object_frames=10, no_face_frames=2, multiple_face_frames=1,
        phone_detections=2, book_detections=1, other_detections=1, audio_samples=4, audio_anomalous=1,
    )  # fmt: skip
    risk = scoring.risk(CONFIG, state)
    tab, face, obj, audio = (
        0.4,
        2 / 10 * 0.4 + 1 / 10 * 0.6,
        (2 * 0.5 + 1 * 0.3 + 1 * 0.2) / 10,
        0.25,
    )
    assert risk.riskBreakdown == scoring.RiskBreakdown(
        tabSwitches=tab,
        faceAnomalies=round(face, 6),
        objectDetections=round(obj, 6),
        audioAnomalies=audio,
    )
    assert risk.riskScore == pytest.approx(0.3 * tab + 0.35 * face + 0.25 * obj + 0.1 * audio)
    assert risk.riskLevel == "low"


@pytest.mark.parametrize(
    ("tabs", "multiple_faces", "phones", "anomalous", "level"),
    [
        (0, 0, 0, 0, "low"),
        (9, 0, 0, 0, "low"),  # 0.27
        (10, 0, 0, 0, "medium"),  # 0.30
        (10, 20, 0, 0, "medium"),  # 0.30 + 0.21
        (10, 20, 40, 0, "high"),  # 0.30 + 0.21 + 0.25
        (10, 20, 40, 4, "critical"),  # 0.30 + 0.21 + 0.25 + 0.10
    ],
)
def test_risk_levels(
    tabs: int, multiple_faces: int, phones: int, anomalous: int, level: str
) -> None:
    state = scoring.ScoreState(
        tab_switches=tabs, frames=20, object_frames=20, multiple_face_frames=multiple_faces, phone_detections=phones,
        audio_samples=4, audio_anomalous=anomalous,
    )  # fmt: skip
    assert scoring.risk(CONFIG, state).riskLevel == level


def test_risk_thresholds_are_inclusive() -> None:
    assert scoring.risk_level(CONFIG, 0.3) == "medium"
    assert scoring.risk_level(CONFIG, 0.6) == "high"
    assert scoring.risk_level(CONFIG, 0.8) == "critical"
    assert scoring.risk_level(CONFIG, 0.2999999) == "low"


def test_frames_and_objects_feed_the_risk_score() -> None:
    state = fold_all(
        [
            ("frame_analyzed", {"faces": 0, "objects": ["cell phone"]}, None),
            ("frame_analyzed", {"faces": 1, "objects": ["book", "person", "laptop"]}, None),
        ]
    )
    assert (
        state.frames,
        state.no_face_frames,
        state.phone_detections,
        state.book_detections,
        state.other_detections,
    ) == (2, 1, 1, 1, 1)
    assert (
        scoring.risk(CONFIG, scoring.ScoreState()).riskScore == 0
    )  # no frames: no face or object risk


def test_penalties_come_from_config() -> None:
    config = ScoringConfig(penalty_medium=10, focus_loss_medium_ms=1000)
    state = scoring.ScoreState()
    scoring.apply(
        config, state, StoredEvent(type="focus_lost", offset=1, ts="t", data={"durationMs": 1500})
    )
    assert scoring.verification(config, state).verificationScore == 90
