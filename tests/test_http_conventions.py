"""HTTP conventions (issue 21, item 7): a 405 says which methods the path answers (Allow), a 401
says how to authenticate (WWW-Authenticate), and a 403 names the token in plain English."""

from __future__ import annotations

import pytest

from tests.support import RunningServer

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("PATCH", "/candidate-sessions/{id}", {"GET", "PUT", "DELETE"}),
        ("DELETE", "/candidate-sessions", {"GET", "POST"}),
        ("GET", "/candidate-sessions/{id}/violations", {"POST"}),
        ("POST", "/healthz", {"GET"}),
    ],
)
async def test_a_405_names_every_method_the_path_answers(
    server: RunningServer, method: str, path: str, allowed: set[str]
) -> None:
    session_id, _ = await server.create_session()
    async with server.http() as client:
        response = await client.request(method, path.format(id=session_id))
    assert response.status_code == 405, response.text
    assert response.json()["error"]["code"] == "method_not_allowed"
    named = {m.strip() for m in response.headers["allow"].split(",")}
    assert allowed <= named and method not in named, named


async def test_a_401_says_how_to_authenticate(server: RunningServer) -> None:
    session_id, _ = await server.create_session()
    async with server.http(token=None) as anonymous:
        missing = await anonymous.get(f"/candidate-sessions/{session_id}")
    async with server.http(token="vct_wrong") as wrong:
        invalid = await wrong.get(f"/candidate-sessions/{session_id}")
    assert missing.status_code == invalid.status_code == 401
    assert missing.headers["www-authenticate"] == 'Bearer realm="vigil"'
    assert invalid.headers["www-authenticate"] == 'Bearer realm="vigil", error="invalid_token"'


async def test_a_403_names_the_token_in_plain_english(server: RunningServer) -> None:
    session_id, _ = await server.create_session()
    _, other_token = await server.create_session()
    async with server.http(token=other_token) as borrowed:
        response = await borrowed.get(f"/candidate-sessions/{session_id}")
    assert response.status_code == 403
    message = response.json()["error"]["message"]
    assert message.startswith("another session's candidate token may not do this"), message
