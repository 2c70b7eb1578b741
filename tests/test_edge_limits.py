"""Values at and past the limits of their types (issue 21, items 1 to 4): a timestamp whose offset
pushes it outside years 1..9999 UTC, an integer past SQLite's 64 bits, a NUL inside a string, a
float whose sum overflows. Each is refused at the edge with a clean error naming the field, on
the socket and over REST, and nothing a refused request sent is ever stored."""

from __future__ import annotations

import math
from typing import Any

import msgspec
import pytest

from actors.bounds import MAX_INT, MIN_INT
from actors.config import ScoringConfig
from actors.events import AnyCandidateEvent, StoredEvent
from actors.records import related_records
from app.server import ENDPOINTS
from tests.support import TS, RunningServer

pytestmark = pytest.mark.anyio

PAST_9999 = "9999-12-31T23:59:59-23:59"
BEFORE_1 = "0001-01-01T00:00:00+00:01"
NUL = "q\u0000z"


async def stored_events(server: RunningServer, session_id: str) -> list[Any]:
    return list(await server.services.store.events(session_id))


@pytest.mark.parametrize("ts", [PAST_9999, BEFORE_1])
async def test_a_socket_ts_past_the_calendar_is_refused_and_the_session_lives(
    server: RunningServer, ts: str
) -> None:
    session_id, token = await server.create_session()
    async with server.candidate(session_id, token) as candidate:
        for _ in range(6):  # four of them used to fail the session (4500)
            await candidate.send({"type": "heartbeat", "seq": 1, "ts": ts})
            error = await candidate.recv()
            assert error["type"] == "error" and error["code"] == "invalid_event", error
            assert error["field"] == "ts" and "9999" in error["message"], error
        await candidate.event(1, "assessment_started")
        await candidate.acked(1)
    async with server.http() as client:
        assert (await client.get(f"/candidate-sessions/{session_id}")).status_code == 200
    stored = await stored_events(server, session_id)
    assert [e.seq for e in stored if e.origin == "candidate"] == [1]


@pytest.mark.parametrize(
    ("method", "path", "body", "field"),
    [
        ("POST", "violations", {"type": "X", "severity": "LOW", "timestamp": PAST_9999}, "timestamp"),
        ("PUT", "screen-recording", {"recordingStartTime": PAST_9999}, "recordingStartTime"),
        ("PUT", "screen-recording", {"recordingEndTime": BEFORE_1}, "recordingEndTime"),
        (
            "POST",
            "submit",
            {"answers": [{"questionId": "q1", "submittedAt": PAST_9999}]},
            "answers[0].submittedAt",
        ),
    ],
)  # fmt: skip
async def test_a_rest_time_past_the_calendar_is_a_422_naming_the_field(
    server: RunningServer, method: str, path: str, body: dict[str, Any], field: str
) -> None:
    session_id, _ = await server.create_session()
    async with server.http() as client:
        response = await client.request(
            method, f"/candidate-sessions/{session_id}/{path}", json=body
        )
    assert response.status_code == 422, response.text
    assert response.json()["error"]["field"] == field, response.text
    assert await stored_events(server, session_id) == []


@pytest.mark.parametrize("path", ["events", "audit"])
@pytest.mark.parametrize("after", ["9223372036854775808", "-9223372036854775809", str(10**30)])
async def test_a_query_integer_past_64_bits_is_a_422(
    server: RunningServer, path: str, after: str
) -> None:
    session_id, _ = await server.create_session()
    url = f"/candidate-sessions/{session_id}/events" if path == "events" else "/audit"
    async with server.http() as client:
        response = await client.get(url, params={"after": after})
    assert response.status_code == 422, response.text
    assert response.json()["error"]["field"] == "after", response.text


async def test_a_body_integer_past_64_bits_is_a_422(server: RunningServer) -> None:
    session_id, _ = await server.create_session()
    async with server.http() as client:
        response = await client.put(
            f"/candidate-sessions/{session_id}/tracking-data",
            json={"questionId": "q1", "attempts": 2**63},
        )
    assert response.status_code == 422, response.text
    assert response.json()["error"]["field"] == "attempts"
    assert await stored_events(server, session_id) == []


@pytest.mark.parametrize(
    ("method", "path", "body", "field"),
    [
        ("PUT", "tracking-data", {"questionId": NUL}, "questionId"),
        ("POST", "violations", {"type": "X", "severity": "LOW", "questionId": NUL}, "questionId"),
        ("POST", "violations", {"type": "X", "severity": "LOW", "description": NUL}, "description"),
        ("PUT", "screen-recording", {"format": NUL}, "format"),
        ("PUT", "device-info", {"userAgent": NUL}, "userAgent"),
        ("POST", "violations", {"type": "X", "severity": "LOW", "metadata": {"k": NUL}}, "metadata.k"),
        ("POST", "violations", {"type": "X", "severity": "LOW", "metadata": {NUL: 1}}, "metadata"),
    ],
)  # fmt: skip
async def test_a_nul_in_a_rest_string_is_a_422_and_stores_nothing(
    server: RunningServer, method: str, path: str, body: dict[str, Any], field: str
) -> None:
    session_id, _ = await server.create_session()
    async with server.http() as client:
        response = await client.request(
            method, f"/candidate-sessions/{session_id}/{path}", json=body
        )
        assert response.status_code == 422, response.text
        assert response.json()["error"]["field"] == field, response.text
        detail = (await client.get(f"/candidate-sessions/{session_id}")).json()
    assert await stored_events(server, session_id) == []
    assert detail["questionTracking"] == [] and detail["violations"] == []


async def test_a_nul_in_a_socket_string_is_refused_and_stores_nothing(
    server: RunningServer,
) -> None:
    session_id, token = await server.create_session()
    async with server.candidate(session_id, token) as candidate:
        for frame in (
            {"type": "question_viewed", "seq": 1, "ts": TS, "questionId": NUL},
            {"type": "heartbeat", "seq": 1, "ts": TS, "data": {"note": NUL}},
            {"type": "device_info", "seq": 1, "ts": TS, "data": {"platform": NUL}},
        ):
            await candidate.send(frame)
            error = await candidate.recv()
            assert error["type"] == "error" and error["code"] == "invalid_event", error
            assert "NUL" in error["message"], error
        await candidate.event(1, "heartbeat")
        await candidate.acked(1)
    stored = await stored_events(server, session_id)
    assert [e.seq for e in stored if e.origin == "candidate"] == [1]


@pytest.mark.parametrize(
    ("kind", "fields", "field"),
    [
        ("idle_detected", {"data": {"seconds": 1e308}}, "data.seconds"),
        ("answer_submitted", {"questionId": "q1", "data": {"response": 1, "timeSpent": 1e308}},
         "data.timeSpent"),
        ("focus_lost", {"data": {"durationMs": 2**63}}, "data.durationMs"),
    ],
)  # fmt: skip
async def test_a_socket_amount_past_its_bound_is_refused(
    server: RunningServer, kind: str, fields: dict[str, Any], field: str
) -> None:
    session_id, token = await server.create_session()
    async with server.candidate(session_id, token) as candidate:
        await candidate.send({"type": kind, "seq": 1, "ts": TS, **fields})
        error = await candidate.recv()
        assert error["code"] == "invalid_event" and error["field"] == field, error
        await candidate.event(1, "heartbeat")
        await candidate.acked(1)


@pytest.mark.parametrize(
    "body",
    [
        {"questionId": "q1", "timeSpent": 1e308},
        {"questionId": "q1", "attempts": 2**64 - 1},
    ],
)
async def test_a_rest_amount_past_its_bound_is_a_422(
    server: RunningServer, body: dict[str, Any]
) -> None:
    session_id, _ = await server.create_session()
    async with server.http() as client:
        response = await client.put(f"/candidate-sessions/{session_id}/tracking-data", json=body)
        behavior = await client.put(
            f"/candidate-sessions/{session_id}/behavioral-profile",
            json={"totalIdleTime": 1e308, "averageResponseTime": 1e308},
        )
    assert response.status_code == 422 and behavior.status_code == 422, response.text
    assert await stored_events(server, session_id) == []


def test_the_folds_clamp_their_sums_of_stored_amounts() -> None:
    """Events stored before the inputs were bounded still fold to finite numbers."""
    events = [
        StoredEvent(type="idle_detected", offset=1, ts=TS, seq=1, data={"seconds": 1e308}),
        StoredEvent(type="idle_detected", offset=2, ts=TS, seq=2, data={"seconds": 1e308}),
        StoredEvent(
            type="answer_submitted", offset=3, ts=TS, seq=3, questionId="q1",
            data={"response": 1, "timeSpent": 1e308},
        ),
        StoredEvent(
            type="answer_submitted", offset=4, ts=TS, seq=4, questionId="q2",
            data={"response": 2, "timeSpent": 1e308},
        ),
    ]  # fmt: skip
    records = related_records(ScoringConfig(), "s1", events, connected=True)
    behavior = msgspec.to_builtins(records.sessionBehavior)
    for name in ("totalIdleTime", "averageResponseTime"):
        assert math.isfinite(behavior[name]) and behavior[name] >= 1e9, (name, behavior)
    assert b"null" not in msgspec.json.encode(
        [behavior["totalIdleTime"], behavior["averageResponseTime"]]
    )


def _integers(schema: Any, path: str = "$") -> list[tuple[str, dict[str, Any]]]:
    found = []
    if isinstance(schema, dict):
        if schema.get("type") == "integer":
            found.append((path, schema))
        for key, value in schema.items():
            found += _integers(value, f"{path}.{key}")
    elif isinstance(schema, list):
        for index, value in enumerate(schema):
            found += _integers(value, f"{path}[{index}]")
    return found


def test_every_integer_a_request_may_carry_is_bounded_to_64_bits() -> None:
    """The bound is in each type, so the decoder enforces it and the OpenAPI document says it:
    a new integer field without one fails here, not in SQLite."""
    kinds = [kind for e in ENDPOINTS for kind in (e.body, e.query) if kind is not None]
    kinds.append(AnyCandidateEvent)
    _, components = msgspec.json.schema_components(kinds)
    integers = _integers(components)
    assert len(integers) > 10
    for path, schema in integers:
        low = schema.get("minimum", schema.get("exclusiveMinimum"))
        high = schema.get("maximum", schema.get("exclusiveMaximum"))
        assert low is not None and high is not None, (path, schema)
        assert MIN_INT <= low and high <= MAX_INT, (path, schema)
