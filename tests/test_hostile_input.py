"""Hostile input (issue 8): generated garbage at the candidate and admin socket decoders and at
every REST body, malformed UTF-8, deep JSON, huge numbers, wrong types, forged and borrowed
tokens. The server stays up, answers each with a clear error, and what is stored is unchanged."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from actors.bounds import MAX_INT, MAX_MS, MAX_SECONDS
from actors.events import CANDIDATE_EVENT_DECODER, CANDIDATE_EVENT_TYPES, stored_from_candidate
from app.http.bodies import TOO_DEEP
from app.server import ENDPOINTS
from tests.support import RunningServer

pytestmark = pytest.mark.anyio

DEEP = (
    '{"type":"heartbeat","seq":1,"ts":"2026-11-22T10:00:00Z","data":'
    + '{"a":' * 3000
    + "1"
    + "}" * 3001
)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
event_like = st.fixed_dictionaries(
    {},
    optional={
        "type": st.sampled_from(["heartbeat", "answer_submitted", "focus_lost", "nope", ""])
        | st.text(max_size=10),
        "seq": st.integers(-(2**70), 2**70) | st.floats() | st.text(max_size=5),
        "ts": st.text(max_size=30) | st.integers(),
        "questionId": json_values,
        "data": json_values,
    },
)
# Valid events of every type the candidate may send, at and near the limits of their fields
# (actors/bounds.py): without them no generated frame decoded, and the checks after a decode
# never ran.
_TS = st.datetimes(
    min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=st.just(UTC)
).map(lambda moment: moment.isoformat().replace("+00:00", "Z"))
# Valid text: no NUL (refused at the edge) and no lone surrogate (not valid UTF-8, so not JSON a
# client can send: msgspec refuses it as truncated input).
_TEXT = st.text(
    st.characters(exclude_characters="\x00", exclude_categories=["Cs"]), min_size=1, max_size=40
)
_SECONDS = st.floats(0, MAX_SECONDS) | st.sampled_from([0.0, MAX_SECONDS])


def _valid_json(value: Any) -> bool:
    """JSON has no NaN or infinity, and the server takes no NUL (actors/bounds.py)."""
    try:
        return "\\u0000" not in json.dumps(value, allow_nan=False)
    except ValueError:
        return False


_PERMISSION = st.sampled_from(["granted", "denied", "unavailable"])
_DATA: dict[str, Any] = {
    "answer_submitted": st.fixed_dictionaries(
        {"response": json_values.filter(_valid_json)},
        optional={"timeSpent": _SECONDS},
    ),
    "focus_lost": st.fixed_dictionaries(
        {"durationMs": st.integers(0, MAX_MS) | st.sampled_from([0, MAX_MS])}
    ),
    "idle_detected": st.fixed_dictionaries({"seconds": _SECONDS}),
    "device_info": st.fixed_dictionaries(
        {}, optional={"userAgent": _TEXT, "colorDepth": st.integers(0, MAX_INT)}
    ),
    "permission_checked": st.fixed_dictionaries({"camera": _PERMISSION, "microphone": _PERMISSION}),
    "consent_given": st.fixed_dictionaries(
        {
            "accepted": st.booleans(),
            "textSha256": st.text("0123456789abcdef", min_size=64, max_size=64),
        }
    ),
    "camera_lost": st.fixed_dictionaries(
        {"reason": st.sampled_from(["denied", "ended", "unavailable"])},
        optional={"detail": _TEXT.map(lambda text: text[:200])},
    ),
}


_DATA["behaviour_window"] = st.integers(1, 10_000).flatmap(
    lambda ms: st.fixed_dictionaries(
        {"windowMs": st.just(ms)},
        optional={
            "keys": st.builds(
                lambda n: {"keydowns": n, "intervals": [0] * 14},
                st.integers(0, ms * 100 // 1000 + 1),
            ),
            "text": st.fixed_dictionaries(
                {
                    "charsTyped": st.integers(0, 10_000_000),
                    "answerLength": st.integers(0, 10_000_000),
                }
            ),
        },
    )
)
_NEEDS_QUESTION = {"question_viewed", "answer_submitted", "behaviour_window"}


@st.composite
def valid_events(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(st.sampled_from(sorted(CANDIDATE_EVENT_TYPES)))
    event: dict[str, Any] = {
        "type": kind,
        "seq": draw(st.integers(1, 2**53) | st.sampled_from([1, 2**53])),
        "ts": draw(_TS),
    }
    if kind in _NEEDS_QUESTION or draw(st.booleans()):
        event["questionId"] = draw(_TEXT.map(lambda text: text[:200]))
    if kind in _DATA:
        event["data"] = draw(_DATA[kind])
    return event


frame_texts = st.one_of(
    valid_events().map(json.dumps),
    event_like.map(json.dumps),
    json_values.map(json.dumps),
    st.text(max_size=200),
    st.binary(max_size=200).map(lambda b: b.decode("latin-1")),
    st.just(DEEP),
    st.just("[" * 5000),
)


def garbage(count: int, seed: int) -> list[str]:
    """Malformed frames made from a fixed seed: wrong types, broken JSON, stray bytes, huge
    numbers, unknown types. (Hypothesis drives the pure decoder tests; sockets get these.)"""
    rng = random.Random(seed)
    pieces = ['{"type":', '"heartbeat"', '"seq":', "1e400", "-1", "null", "[", "]", "{", "}",
              ",", '"ts":', '"2026-13-45T99:00:00Z"', '"data":', r'"\ud800"', r'"\u0000"',
              "9" * 40, '"x"', "true", ":"]  # fmt: skip
    found = []
    for _ in range(count):
        found.append("".join(rng.choice(pieces) for _ in range(rng.randint(1, 12))))
    return found


@settings(max_examples=500, deadline=None)
@given(text=frame_texts)
def test_the_candidate_decoder_only_ever_refuses_cleanly(text: str) -> None:
    try:
        CANDIDATE_EVENT_DECODER.decode(text)
    except (msgspec.ValidationError, msgspec.DecodeError, RecursionError):
        pass  # each is answered with an error frame by app/sockets/candidate.py


async def test_garbage_on_a_candidate_socket_gets_errors_and_stores_nothing(
    server: RunningServer,
) -> None:
    session_id, token = await server.create_session()
    sent = [*garbage(80, seed=1), DEEP, "[" * 5000, "{}", "null"]
    errors: list[dict[str, Any]] = []
    async with server.candidate(session_id, token) as candidate:
        await candidate.event(1, "assessment_started")
        await candidate.acked(1)
        for text in sent:
            try:
                decoded = CANDIDATE_EVENT_DECODER.decode(text)
            except (msgspec.ValidationError, msgspec.DecodeError, RecursionError):
                decoded = None
            if decoded is not None:
                continue  # a valid event by chance: not garbage
            await candidate.ws.send(text)
            errors.append(await candidate.recv())  # each is answered, one by one
        for _ in range(3):
            await candidate.ws.send(b"\xff\xd8 not really a jpeg")  # binary: frames, counted
        await candidate.event(2, "heartbeat")  # the socket is still open and in order
        await candidate.acked(2)
    # Text that is not UTF-8 breaks the WebSocket protocol itself: that connection is closed
    # (1007), the server goes on.
    async with server.candidate(session_id, token) as broken:
        await broken.ws.send(b'{"type":"heartbeat","seq":3,"ts":"\xff\xfe"}', text=True)
        assert await broken.closed_code() == 1007
    assert len(errors) > 50
    assert all(m["type"] == "error" and m["code"] and m["message"] for m in errors)
    assert any(m["message"] == TOO_DEEP for m in errors)
    stored = await server.services.store.events(session_id)
    assert [e.seq for e in stored if e.origin == "candidate"] == [1, 2]
    async with server.http() as client:
        assert (await client.get("/healthz")).status_code == 200


async def test_garbage_on_an_admin_socket_gets_errors(server: RunningServer) -> None:
    session_id, _ = await server.create_session()
    commands = garbage(40, seed=2)
    commands += [DEEP, "[" * 5000, '{"type":"intervene","sessionId":1,"action":"pause"}',
                 '{"type":"subscribe","channel":"session:' + "x" * 5000 + '"}']  # fmt: skip
    async with server.admin() as admin:
        for command in commands:
            await admin.ws.send(command)
            reply = await admin.recv()
            assert reply["type"] == "error" and reply["code"] and reply["message"], command
        snapshot = await admin.subscribe(f"session:{session_id}")  # still serving
    assert snapshot["type"] == "snapshot"
    async with server.http() as client:
        detail = (await client.get(f"/candidate-sessions/{session_id}")).json()
    assert detail["state"]["status"] == "IN_PROGRESS" and detail["state"]["lastOffset"] == 0


BODIED = [e for e in ENDPOINTS if e.body is not None]


async def stored_view(client: Any, session_id: str) -> tuple[Any, ...]:
    """What a request could change: the session, the list of sessions, the assessments."""
    session = (await client.get(f"/candidate-sessions/{session_id}")).json()["state"]
    sessions = (await client.get("/candidate-sessions")).json()
    assessments = (await client.get("/assessments")).json()
    return session, sessions, assessments


@pytest.mark.parametrize("endpoint", BODIED, ids=lambda e: f"{e.method} {e.path}")
async def test_every_rest_body_refuses_garbage_and_changes_nothing(
    server: RunningServer, endpoint: Any
) -> None:
    session_id, _ = await server.create_session()
    path = endpoint.path.format(session_id=session_id, violation_id=f"{session_id}:1:0")
    bodies: list[bytes] = [
        b"", b"{", b"\xff\xfe\xfd", DEEP.encode(), b"[" * 5000, b"1e400", b'"a string"',
        b'{"questionId": ' + b"9" * 400 + b"}", b"null", b"[]",
        json.dumps({"status": {"$ne": None}, "questionId": ["q"], "score": "7"}).encode(),
        # Bad UTF-8 inside JSON strings (found by tests/fuzz_decoders.py: it was a 500).
        b'"\x8a"', b'{"questionId": "\xff", "type": "\xc3\x28", "candidateName": "\xed\xa0\x80"}',
    ]  # fmt: skip
    bodies += [text.encode() for text in garbage(15, seed=3)]
    async with server.http() as client:
        for body in bodies:
            before = await stored_view(client, session_id)
            response = await client.request(
                endpoint.method, path, content=body, headers={"content-type": "application/json"}
            )
            # 429: the demo's sessions are limited per address (an empty body is a valid one).
            assert response.status_code in (200, 201, 400, 404, 409, 413, 422, 429), (
                body[:60],
                response.status_code,
                response.text[:200],
            )
            if response.status_code >= 400:
                error = response.json()["error"]
                assert error["code"] and error["message"]
                after = await stored_view(client, session_id)
                assert after == before, body[:60]  # a refused request changed nothing
            else:
                # Accepted: then it was a body the endpoint's type takes (an empty one where the
                # body is optional), and the answer is the documented one.
                assert body.strip() or endpoint.body_rule == "optional", body[:60]
                msgspec.convert(json.loads(body or b"{}"), endpoint.body)
                if endpoint.answer not in (None, str):
                    msgspec.convert(response.json(), endpoint.answer)


async def test_forged_and_borrowed_tokens_are_refused(server: RunningServer) -> None:
    session_id, _ = await server.create_session()
    _, other_token = await server.create_session()
    path = f"/candidate-sessions/{session_id}"
    forged = [
        "vct_" + "A" * 43,
        "vct_",
        "Bearer",
        "x" * 5000,
        other_token[:-1] + "Z",
    ]
    for token in forged:
        async with server.http(token=token) as client:
            response = await client.get(path)
        assert response.status_code == 401, token
        assert response.json()["error"]["code"] == "unauthorized"
    async with server.http(token=other_token) as borrowed:
        response = await borrowed.get(path)
        assert response.status_code == 403
        write = await borrowed.post(f"{path}/violations", json={"type": "X", "severity": "LOW"})
        assert write.status_code == 403
    async with server.http() as client:
        state = (await client.get(path)).json()["state"]
    assert state["lastOffset"] == 0  # nothing stored


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(body=st.one_of(valid_events(), event_like))
def test_generated_events_are_decoded_or_refused_never_crash(body: dict[str, Any]) -> None:
    text = json.dumps(body)
    try:
        decoded = CANDIDATE_EVENT_DECODER.decode(text)
    except (msgspec.ValidationError, msgspec.DecodeError):
        event("refused")
        return
    event("decoded")  # hypothesis's statistics (--hypothesis-show-statistics) show both kinds
    assert 1 <= decoded.seq <= 2**53


@settings(max_examples=300, deadline=None)
@given(body=valid_events())
def test_every_valid_event_decodes_within_its_limits(body: dict[str, Any]) -> None:
    """The post-decode checks run on every example here, at the limits of each field."""
    decoded = CANDIDATE_EVENT_DECODER.decode(json.dumps(body))
    assert 1 <= decoded.seq <= 2**53
    stored = stored_from_candidate(decoded, 1)
    assert stored.type == body["type"] and stored.ts.endswith("Z")  # iso_ms never overflows
    assert stored.questionId is None or "\x00" not in stored.questionId
    assert msgspec.json.decode(msgspec.json.encode(stored)) is not None
