"""The candidate event decoder and the one time format Vigil emits."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import msgspec
import pytest

from actors.events import (
    CANDIDATE_EVENT_DECODER,
    CANDIDATE_EVENT_TYPES,
    iso_ms,
    stored_from_candidate,
)


@pytest.mark.parametrize(
    ("moment", "text"),
    [
        (datetime(2026, 1, 15, 10, 25, 30, 123456, tzinfo=UTC), "2026-01-15T10:25:30.123Z"),
        (datetime(2026, 1, 15, 10, 25, 30, tzinfo=UTC), "2026-01-15T10:25:30.000Z"),
        (datetime(2026, 1, 15, 10, 25, 30, 999, tzinfo=UTC), "2026-01-15T10:25:30.000Z"),
        (
            datetime(2026, 1, 15, 12, 25, 30, 5000, tzinfo=timezone(timedelta(hours=2))),
            "2026-01-15T10:25:30.005Z",
        ),
        (
            datetime(2026, 1, 1, 0, 30, tzinfo=timezone(timedelta(hours=1))),
            "2025-12-31T23:30:00.000Z",
        ),
    ],
)
def test_iso_ms(moment: datetime, text: str) -> None:
    assert iso_ms(moment) == text


def test_the_decoder_knows_exactly_the_contract_event_types() -> None:
    assert CANDIDATE_EVENT_TYPES == {
        "assessment_started", "question_viewed", "answer_submitted", "assessment_submitted",
        "tab_switch_detected", "copy_attempt", "paste_attempt", "inspect_element_opened",
        "fullscreen_exit", "focus_lost", "right_click_attempt", "multiple_tabs_detected",
        "idle_detected", "screen_recording_stopped", "device_info", "heartbeat",
        # The system check before the exam (issue 22): not in CONTRACT.md section 4's list.
        "permission_checked", "consent_given", "camera_lost",
        "pause_acknowledged",  # contract section 9.3: the candidate ends a pause
        "multiple_monitors_detected",  # issue 24, contract section 9.2
        "behaviour_window",  # issue 28, docs/behaviour.md
    }  # fmt: skip


@pytest.mark.parametrize(
    "server_made", ["intervention", "user_disconnected", "face_not_detected", "violation_reported"]
)
def test_a_client_cannot_send_server_made_events(server_made: str) -> None:
    with pytest.raises(msgspec.ValidationError, match=r"\$\.type"):
        CANDIDATE_EVENT_DECODER.decode(
            f'{{"type": "{server_made}", "seq": 1, "ts": "2026-01-01T00:00:00Z"}}'
        )


def test_stored_form_keeps_the_data_and_normalises_the_time() -> None:
    event = CANDIDATE_EVENT_DECODER.decode(
        b'{"type": "answer_submitted", "seq": 4, "ts": "2026-01-15T12:25:30.5+02:00", "questionId": "q1",'
        b' "data": {"response": {"answer": "Paris"}, "timeSpent": 45}}'
    )
    stored = stored_from_candidate(event, offset=9)
    assert (stored.type, stored.offset, stored.seq, stored.questionId) == (
        "answer_submitted",
        9,
        4,
        "q1",
    )
    assert stored.ts == "2026-01-15T10:25:30.500Z"
    assert stored.data == {"response": {"answer": "Paris"}, "timeSpent": 45}
