"""Security headers (issue 8) on every HTTP answer: every GET endpoint of `app.server.ENDPOINTS`
in each of its formats, the pages and their files, errors, and answers to unexpected errors."""

from __future__ import annotations

from pathlib import Path

import httpx
import msgspec
import pytest
from httpx import Response
from starlette.requests import Request

from app.http.errors import on_unexpected
from app.http.pages import WebFiles
from app.server import ENDPOINTS
from tests.support import ADMIN_TOKEN, RunningServer, ServerProcess, free_port

pytestmark = pytest.mark.anyio

EVERYWHERE = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
}
PAGES = ["/dashboard", "/demo", "/sdk/vigil-client.js"] + [
    f"/{name}" for name in WebFiles().files if not name.startswith("sdk/")
]


def check_common(response: Response) -> None:
    for name, value in EVERYWHERE.items():
        assert response.headers.get(name) == value, (response.url, name, response.headers)
    assert response.headers.get("content-security-policy"), response.url


def check_api(response: Response) -> None:
    check_common(response)
    assert "no-store" in response.headers["cache-control"], response.url


async def test_every_get_endpoint_answers_with_the_security_headers(
    server: RunningServer,
) -> None:
    session_id, candidate_token = await server.create_session()
    ids = {"session_id": session_id, "assessment_id": "exam-1", "frame": "1.jpg", "clip": "1.wav"}
    statuses = {}
    async with server.http() as client:
        for endpoint in ENDPOINTS:
            if endpoint.method != "GET":
                continue
            path = endpoint.path.format(**ids)
            formats = [""] + [f"?format={a.split('/')[1]}" for a in endpoint.alternates]
            for query in formats:
                response = await client.get(path + query)
                check_api(response)
                statuses[path + query] = response.status_code
        html = await client.get(f"/candidate-sessions/{session_id}/report?format=html")
        assert html.headers["content-security-policy"].startswith("default-src 'none'; style")
        check_api(await client.get("/openapi.json"))
        check_api(await client.get("/no/such/path"))  # 404 from the router
        check_api(await client.put("/healthz"))  # 405
    async with server.http(token=None) as anonymous:
        check_api(await anonymous.get(f"/candidate-sessions/{session_id}"))  # 401
    async with server.http(token=candidate_token) as candidate:
        check_api(await candidate.get("/candidate-sessions/someone-else"))  # 403
    # Most answered with what they serve, not an error: all but the assessment never defined and
    # the media nothing was recorded for (a frame, an audio clip, the screen's video and picture).
    missing = {path.rsplit("/", 1)[-1] for path, status in statuses.items() if status != 200}
    assert missing <= {"exam-1", "1.jpg", "1.wav", "video", "thumbnail.jpg"}, statuses


async def test_pages_keep_their_own_policy_and_get_the_rest(server: RunningServer) -> None:
    async with server.http(token=None) as client:
        for path in PAGES:
            response = await client.get(path)
            assert response.status_code == 200, path
            check_common(response)
            assert response.headers["cache-control"] == "no-cache"  # revalidated by ETag
            if path in ("/dashboard", "/demo"):
                policy = response.headers["content-security-policy"]
                assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy


async def test_an_unexpected_error_answers_with_the_security_headers() -> None:
    request = Request({"type": "http", "method": "GET", "path": "/x", "headers": []})
    response = await on_unexpected(request, RuntimeError("boom"))
    assert response.status_code == 500
    for name, value in EVERYWHERE.items():
        assert response.headers[name] == value
    assert response.headers["cache-control"] == "no-store"
    body = msgspec.json.decode(bytes(response.body))
    assert body["error"]["code"] == "internal"


@pytest.mark.parametrize(
    ("trusted", "seen"), [('["127.0.0.1"]', "203.0.113.5"), ("[]", "127.0.0.1")]
)
def test_only_a_trusted_proxy_may_name_the_client_address(
    tmp_path: Path, trusted: str, seen: str
) -> None:
    config = tmp_path / "vigil.toml"
    config.write_text(f"[server]\nforwarded_allow_ips = {trusted}\n")
    server = ServerProcess(tmp_path / "storage", free_port(), args=["--config", str(config)])
    server.start()
    try:
        headers = {"Authorization": f"Bearer {ADMIN_TOKEN}", "X-Forwarded-For": "203.0.113.5"}
        created = httpx.post(
            f"{server.url}/candidate-sessions",
            json={"assessmentId": "exam-1", "candidateName": "A", "candidateEmail": "a@b.org"},
            headers=headers,
        )
        assert created.status_code == 201, created.text
        assert created.json()["ipAddress"] == seen
    finally:
        server.stop()
