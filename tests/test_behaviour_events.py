"""The `behaviour_window` payload: what a browser can send decodes, what none can is refused with
the field and the expected-versus-got in the message."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from actors.behaviour_events import (
    BEHAVIOUR_WINDOW_DECODER,
    BUCKETS,
    INTERVAL_EDGES_MS,
    PAUSE_MS,
    BehaviourWindowData,
)
from actors.events import CANDIDATE_EVENT_DECODER, BehaviourWindow
from tests.test_behaviour_support import keystroke_timing


def decode(payload: dict[str, Any]) -> BehaviourWindowData:
    return BEHAVIOUR_WINDOW_DECODER.decode(msgspec.json.encode(payload))


def refused(payload: dict[str, Any]) -> str:
    with pytest.raises(msgspec.ValidationError) as caught:
        decode(payload)
    return str(caught.value)


def histogram(**buckets: int) -> list[int]:
    counts = [0] * BUCKETS
    for name, n in buckets.items():
        counts[int(name[1:])] = n
    return counts


def test_an_empty_window_needs_only_its_length() -> None:
    window = decode({"windowMs": 10_000})
    assert window.keys.keydowns == 0 and window.keys.intervals == (0,) * BUCKETS
    assert window.text.answerLength == 0 and window.untrusted.total == 0


def test_a_full_window_decodes() -> None:
    window = decode(
        {
            "windowMs": 10_000,
            "keys": {
                "keydowns": 4,
                "intervals": histogram(b3=2, b13=1),  # 100-124 ms twice, one pause
                "burstSumMs": 230,
                "burstSumSqMs": 110**2 + 120**2,
            },
            "text": {"charsTyped": 3, "charsPasted": 40, "pastes": 1, "answerLength": 43},
            "pointer": {
                "moves": 30,
                "distancePx": 500.0,
                "displacementPx": 420.0,
                "strokes": 2,
                "pauses": 1,
                "movingMs": 800,
                "maxSpeedPxPerS": 1200.0,
            },
            "untrusted": {"keyboard": 1},
        }
    )
    assert window.keys.burst_count == 2 and window.text.charsPasted == 40


def test_the_bucket_edges_are_fixed_and_rising() -> None:
    assert INTERVAL_EDGES_MS[0] == 0 and PAUSE_MS == 2000 and BUCKETS == 14
    assert list(INTERVAL_EDGES_MS) == sorted(set(INTERVAL_EDGES_MS))


@pytest.mark.parametrize(
    ("payload", "says"),
    [
        ({"windowMs": 0}, "`int` >= 1 - at `$.windowMs`"),
        ({"windowMs": 10_001}, "`int` <= 10000 - at `$.windowMs`"),
        ({"windowMs": 10_000, "keys": {"keydowns": -1}}, "`int` >= 0 - at `$.keys.keydowns`"),
        ({"windowMs": 10_000, "text": {"charsTyped": -3}}, "at `$.text.charsTyped`"),
        ({"windowMs": 10_000, "untrusted": {"pointer": -1}}, "at `$.untrusted.pointer`"),
        (
            {"windowMs": 10_000, "keys": {"intervals": [1, 2]}},
            "length >= 14 - at `$.keys.intervals`",
        ),
        ({"windowMs": 10_000, "keys": {"keydowns": 1, "shift": 3}}, "unknown field `shift`"),
        ({"windowMs": 10_000, "pointer": {"distancePx": 1e12}}, "at `$.pointer.distancePx`"),
    ],
)
def test_impossible_fields_are_refused_by_their_bounds(payload: dict[str, Any], says: str) -> None:
    assert says in refused(payload)


def test_a_histogram_with_more_intervals_than_keydowns_is_refused() -> None:
    message = refused({"windowMs": 10_000, "keys": {"keydowns": 2, "intervals": histogram(b13=5)}})
    assert "`keys.intervals`: expected at most keydowns=2 intervals in all, got 5" in message
    assert "at `$.keys`" in message


def test_burst_sums_outside_what_the_buckets_allow_are_refused() -> None:
    # Two intervals in 100-124 ms sum to 200-248 ms.
    keys = {"keydowns": 3, "intervals": histogram(b3=2), "burstSumSqMs": 0}
    message = refused({"windowMs": 10_000, "keys": {**keys, "burstSumMs": 900}})
    assert "`keys.burstSumMs`: expected between 200 and 248 for these buckets, got 900" in message
    # 110 and 120: the squares must sum to at least 230^2 / 2.
    message = refused({"windowMs": 10_000, "keys": {**keys, "burstSumMs": 230, "burstSumSqMs": 1}})
    assert "`keys.burstSumSqMs`: expected between 26450 and" in message


def test_more_keydowns_than_a_window_can_hold_are_refused() -> None:
    message = refused({"windowMs": 1_000, "keys": {"keydowns": 500}})
    assert "`keys.keydowns`: expected at most 101 in 1000 ms (100 a second), got 500" in message


@pytest.mark.parametrize(
    ("pointer", "says"),
    [
        (
            {"moves": 3, "strokes": 1, "distancePx": 10, "displacementPx": 50},
            "`pointer.displacementPx`: expected at most distancePx=10.0",
        ),
        ({"moves": 1, "strokes": 4}, "`pointer.strokes`: expected at most moves=1, got 4"),
        ({"moves": 5, "distancePx": 10}, "`pointer.strokes`: expected at least 1 when distancePx"),
        (
            {"moves": 5, "strokes": 1, "distancePx": 1000, "movingMs": 100, "maxSpeedPxPerS": 5},
            "`pointer.maxSpeedPxPerS`: expected at least the mean speed",
        ),
    ],
)
def test_a_pointer_path_that_cannot_be_is_refused(pointer: dict[str, Any], says: str) -> None:
    assert says in refused({"windowMs": 10_000, "pointer": pointer})


def test_moving_longer_than_the_window_is_refused() -> None:
    pointer = {"moves": 2, "strokes": 1, "distancePx": 10, "movingMs": 9000, "maxSpeedPxPerS": 9}
    message = refused({"windowMs": 5000, "pointer": pointer})
    assert "`pointer.movingMs`: expected at most windowMs=5000, got 9000" in message


def test_pasted_characters_without_a_paste_are_refused_and_an_empty_paste_is_not() -> None:
    message = refused({"windowMs": 10_000, "text": {"charsPasted": 5}})
    assert "`text.pastes`: expected at least 1 when charsPasted=5, got 0" in message
    assert decode({"windowMs": 10_000, "text": {"pastes": 1}}).text.pastes == 1


def test_the_support_summary_of_raw_intervals_is_valid() -> None:
    keys = keystroke_timing(5, [49, 50, 1999, 2000])
    assert keys.intervals[0] == 1 and keys.intervals[1] == 1 and keys.intervals[-1] == 1
    assert keys.intervals[12] == 1 and keys.burstSumMs == 49 + 50 + 1999


def test_the_candidate_decoder_takes_behaviour_windows() -> None:
    event = CANDIDATE_EVENT_DECODER.decode(
        b'{"type": "behaviour_window", "seq": 7, "ts": "2026-12-07T10:00:00.000Z",'
        b' "questionId": "q3", "data": {"windowMs": 10000, "text": {"charsTyped": 12}}}'
    )
    assert isinstance(event, BehaviourWindow)
    assert event.data.text.charsTyped == 12 and isinstance(event.ts, datetime)
    with pytest.raises(msgspec.ValidationError, match=r"text.pastes"):
        CANDIDATE_EVENT_DECODER.decode(
            b'{"type": "behaviour_window", "seq": 8, "ts": "2026-12-07T10:00:10.000Z",'
            b' "questionId": "q3", "data": {"windowMs": 10000, "text": {"charsPasted": 9}}}'
        )
    with pytest.raises(msgspec.ValidationError, match=r"questionId"):
        CANDIDATE_EVENT_DECODER.decode(
            b'{"type": "behaviour_window", "seq": 9, "ts": "2026-12-07T10:00:10.000Z",'
            b' "data": {"windowMs": 10000}}'
        )


numbers = st.one_of(
    st.integers(-(2**70), 2**70),
    st.integers(0, 3000),
    st.floats(allow_nan=False),
    st.just(0),
)
parts = {
    "keys": st.fixed_dictionaries(
        {},
        optional={
            "keydowns": numbers,
            "intervals": st.lists(st.integers(-5, 2000), min_size=12, max_size=15),
            "burstSumMs": numbers,
            "burstSumSqMs": numbers,
        },
    ),
    "text": st.dictionaries(
        st.sampled_from(["charsTyped", "charsPasted", "charsOther", "pastes", "answerLength"]),
        numbers,
    ),
    "pointer": st.dictionaries(
        st.sampled_from(
            [
                "moves",
                "distancePx",
                "displacementPx",
                "strokes",
                "pauses",
                "movingMs",
                "maxSpeedPxPerS",
            ]
        ),
        numbers,
    ),
    "untrusted": st.dictionaries(st.sampled_from(["keyboard", "pointer", "input"]), numbers),
}
payloads = st.fixed_dictionaries({"windowMs": numbers}, optional=parts)


@settings(max_examples=500, deadline=None)
@given(payloads)
def test_any_payload_decodes_or_is_refused_with_a_validation_error(payload: dict[str, Any]) -> None:
    try:
        decode(payload)
    except msgspec.ValidationError as error:
        # Either msgspec's own ("Expected `int` >= 0 - at `$.keys.keydowns`") or a check's
        # ("`keys.keydowns`: expected at most 101 ..."): always a field, always what was expected.
        message = str(error)
        assert "`" in message and "xpected" in message, message
