"""`AccessGate` (app/access/gate.py): the one table of who is let in where, for HTTP and sockets
alike, and the wiring that puts every declared endpoint behind a handler built with its
collaborators."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from starlette.routing import Route, WebSocketRoute

from app.access.tokens import Access, Allow
from app.server import ENDPOINTS, build_app
from tests.support import RunningServer, running_server, settings_for

pytestmark = pytest.mark.anyio

LEVELS: list[Allow] = ["admin", "reviewer", "candidate", "reader"]
LETS_IN = {
    "admin": {Access.ADMIN},
    "reviewer": {Access.ADMIN, Access.REVIEWER},
    "candidate": {Access.ADMIN, Access.CANDIDATE},
    "reader": {Access.ADMIN, Access.REVIEWER, Access.CANDIDATE},
}


async def test_the_gate_refuses_with_401_without_a_valid_token_and_403_with_the_wrong_one(
    server: RunningServer,
) -> None:
    gate = server.services.gate
    for allow in LEVELS:
        for access in Access:
            for transport in ("http", "socket"):
                refused = gate.refusal(access, allow, transport)
                if access in LETS_IN[allow]:
                    assert refused is None, (allow, access)
                    continue
                assert refused is not None, (allow, access)
                expected = 401 if access in (Access.NONE, Access.EXPIRED) else 403
                assert refused.status == expected, (allow, access, transport)
                code = {Access.NONE: "unauthorized", Access.EXPIRED: "token_expired"}
                assert refused.code == code.get(access, "forbidden")
                if transport == "socket":  # a close frame's reason: at most 123 bytes
                    assert len(refused.message.encode()) <= 123


async def test_the_gate_resolves_each_kind_of_token(server: RunningServer) -> None:
    gate = server.services.gate
    session_id, candidate = await server.create_session()
    other_id, _ = await server.create_session()
    assert await gate.resolve(None) is Access.NONE
    assert await gate.resolve("nonsense") is Access.NONE
    assert await gate.resolve("vct_unknown", session_id) is Access.NONE
    assert await gate.resolve(server.settings.auth.admin_token) is Access.ADMIN
    assert await gate.resolve(candidate, session_id) is Access.CANDIDATE
    assert await gate.resolve(candidate, other_id) is Access.OTHER_SESSION
    assert await gate.resolve(candidate) is Access.OTHER_SESSION


def _served(app: Any) -> set[tuple[str, str]]:
    return {
        (method, route.path)
        for route in app.router.routes
        if isinstance(route, Route)
        for method in route.methods or ()
    }


async def test_every_declared_endpoint_is_served_while_the_app_runs(tmp_path: Path) -> None:
    declared = {(endpoint.method, endpoint.path) for endpoint in ENDPOINTS}
    app = build_app(settings_for(tmp_path / "idle"))
    assert not declared & _served(app)  # its handlers are built once the services run
    async with running_server(tmp_path) as server:
        assert declared <= _served(server.app)
        sockets = {r.path for r in server.app.router.routes if isinstance(r, WebSocketRoute)}
        assert sockets == {"/ws/candidate/{session_id}", "/ws/admin"}
        async with server.http() as client:
            assert (await client.get("/openapi.json")).status_code == 200
    assert not declared & _served(server.app)
