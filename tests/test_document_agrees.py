"""/openapi.json says what the server does (issue 21, items 9 and 11): what Schemathesis found
where they disagreed, each pinned here (tests/test_schemathesis.py keeps looking)."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.support import RunningServer

pytestmark = pytest.mark.anyio


async def document(server: RunningServer) -> dict[str, Any]:
    async with server.http() as client:
        answer: dict[str, Any] = (await client.get("/openapi.json")).json()
    return answer


async def test_an_empty_submit_body_submits(server: RunningServer) -> None:
    session_id, _ = await server.create_session()
    async with server.http() as client:
        response = await client.post(f"/candidate-sessions/{session_id}/submit", content=b"")
    assert response.status_code == 200, response.text
    assert response.json()["session"]["status"] == "COMPLETED"


async def test_bodies_the_server_does_not_need_are_not_required(server: RunningServer) -> None:
    paths = (await document(server))["paths"]
    assert paths["/demo/sessions"]["post"]["requestBody"]["required"] is False
    assert (
        paths["/candidate-sessions/{session_id}/submit"]["post"]["requestBody"]["required"] is False
    )
    assert paths["/candidate-sessions"]["post"]["requestBody"]["required"] is True


@pytest.mark.parametrize("path", ["", "/behavioral-profile", "/screen-recording"])
async def test_a_put_that_must_name_a_field_says_so(server: RunningServer, path: str) -> None:
    full = f"/candidate-sessions/{{session_id}}{path}"
    schema = (await document(server))["paths"][full]["put"]["requestBody"]["content"][
        "application/json"
    ]["schema"]
    assert schema["minProperties"] == 1
    session_id, _ = await server.create_session()
    async with server.http() as client:
        for body in ({}, {name: None for name in _names(schema)}):
            response = await client.put(f"/candidate-sessions/{session_id}{path}", json=body)
            assert response.status_code == 422, (body, response.text)  # as the document says


def _names(schema: dict[str, Any]) -> list[str]:
    return [name for rule in schema["anyOf"] for name in rule["required"]]


async def test_the_idempotency_key_schema_is_the_servers_rule(server: RunningServer) -> None:
    operation = (await document(server))["paths"]["/candidate-sessions/{session_id}/violations"]
    [header] = [p for p in operation["post"]["parameters"] if p["name"] == "Idempotency-Key"]
    pattern = re.compile(header["schema"]["pattern"])
    session_id, _ = await server.create_session()
    path = f"/candidate-sessions/{session_id}/violations"
    async with server.http() as client:
        for key, fits in (("abc-1", True), ("a b", False), ("a\tb", False), ("x" * 256, False)):
            assert bool(pattern.match(key)) is fits, key
            response = await client.post(
                path, json={"type": "X", "severity": "LOW"}, headers={"Idempotency-Key": key}
            )
            assert (response.status_code == 201) is fits, (key, response.text)


async def test_the_email_pattern_means_the_same_in_python_and_ecmascript(
    server: RunningServer,
) -> None:
    schema = (await document(server))["components"]["schemas"]["CreateSessionBody"]
    pattern = schema["properties"]["candidateEmail"]["pattern"]
    assert "\\s" not in pattern  # Python's and ECMA-262's \s differ (\x1c-\x1f, \ufeff)


async def test_an_integer_written_as_a_decimal_is_an_integer(server: RunningServer) -> None:
    session_id, _ = await server.create_session()
    async with server.http() as client:
        response = await client.put(
            f"/candidate-sessions/{session_id}/tracking-data",
            json={"questionId": "q1", "attempts": 673.0, "metadata": {"kept": 2.0}},
        )
        half = await client.put(
            f"/candidate-sessions/{session_id}/tracking-data",
            json={"questionId": "q1", "attempts": 1.5},
        )
    assert response.status_code == 200, response.text
    assert response.json()["reported"]["attempts"] == 673
    assert response.json()["metadata"] == {"kept": 2.0}
    assert half.status_code == 422 and half.json()["error"]["field"] == "attempts"
