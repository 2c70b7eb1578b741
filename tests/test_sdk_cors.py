"""The SDK's REST calls from an integrator's page on another origin (app/http/sdk_cors.py): the
preflight is answered for the SDK's paths and allowed origins only, and in a real browser the
SDK's system check works from a page served by another server."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import anyio
import pytest
from playwright.async_api import expect

from tests.browser_support import PageWatch, launch_chromium
from tests.support import RunningServer, running_server

pytestmark = pytest.mark.anyio

PAGE_ORIGIN = "https://exam.example.edu"


async def preflight(server: RunningServer, path: str, origin: str, method: str = "PUT") -> object:
    async with server.http(token=None) as client:
        return await client.options(
            path,
            headers={
                "Origin": origin,
                "Access-Control-Request-Method": method,
                "Access-Control-Request-Headers": "authorization, content-type",
            },
        )


async def test_the_sdk_paths_answer_a_preflight_from_any_origin_by_default(
    server: RunningServer,
) -> None:
    session_id, token = await server.create_session()
    for path, method in (
        (f"/candidate-sessions/{session_id}/screen-recording/chunks/0", "PUT"),
        (f"/candidate-sessions/{session_id}/system-check", "GET"),
        (f"/candidate-sessions/{session_id}/calibration", "POST"),
        (f"/candidate-sessions/{session_id}/reference-photo", "PUT"),
    ):
        answer = await preflight(server, path, PAGE_ORIGIN, method)
        assert answer.status_code == 204, (path, answer.text)  # type: ignore[attr-defined]
        headers = answer.headers  # type: ignore[attr-defined]
        assert headers["access-control-allow-origin"] == "*"
        assert method in headers["access-control-allow-methods"]
        assert "authorization" in headers["access-control-allow-headers"]
    async with server.http(token=token) as client:
        read = await client.get(
            f"/candidate-sessions/{session_id}/system-check", headers={"Origin": PAGE_ORIGIN}
        )
    assert read.status_code == 200
    assert read.headers["access-control-allow-origin"] == "*"


async def test_the_admin_api_gives_other_origins_nothing(server: RunningServer) -> None:
    session_id, _ = await server.create_session()
    answer = await preflight(server, f"/candidate-sessions/{session_id}", PAGE_ORIGIN, "GET")
    assert "access-control-allow-origin" not in answer.headers  # type: ignore[attr-defined]
    async with server.http() as client:
        read = await client.get(
            f"/candidate-sessions/{session_id}", headers={"Origin": PAGE_ORIGIN}
        )
    assert read.status_code == 200 and "access-control-allow-origin" not in read.headers


async def test_only_the_allowed_origins_when_they_are_listed(tmp_path: Path) -> None:
    allowed = {"allowed_origins": [PAGE_ORIGIN]}
    async with running_server(tmp_path, server=allowed) as server:
        session_id, _ = await server.create_session()
        path = f"/candidate-sessions/{session_id}/screen-recording/chunks/0"
        let_in = await preflight(server, path, PAGE_ORIGIN)
        kept_out = await preflight(server, path, "https://elsewhere.example")
    assert let_in.status_code == 204  # type: ignore[attr-defined]
    assert let_in.headers["access-control-allow-origin"] == PAGE_ORIGIN  # type: ignore[attr-defined]
    assert let_in.headers["vary"] == "origin"  # type: ignore[attr-defined]
    assert kept_out.status_code == 403  # type: ignore[attr-defined]
    error = kept_out.json()["error"]  # type: ignore[attr-defined]
    assert error["code"] == "forbidden" and error["field"] == "Origin"
    assert "allowed_origins" in error["message"]


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        return None


@pytest.fixture
def integrator_site(tmp_path: Path) -> Iterator[str]:
    """Another origin: a plain HTTP server with the integrator's page, on its own port."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "exam.html").write_text(
        """<!doctype html><meta charset="utf-8"><title>Exam</title><link rel="icon" href="data:,">
<p id="result">waiting</p>
<script type="module">
const q = new URLSearchParams(location.search);
const { connect } = await import(`${q.get("vigil")}/sdk/vigil-client.js`);
const vigil = connect({ url: q.get("vigil"), sessionId: q.get("session"), token: q.get("token") });
try {
  const found = await vigil.check({ consent: true, calibrate: false });
  document.getElementById("result").textContent = `consent ${found.consent.accepted}`;
} catch (error) {
  document.getElementById("result").textContent = `failed: ${error.message}`;
}
</script>
"""
    )
    handler = partial(_QuietHandler, directory=str(site))
    httpd = ThreadingHTTPServer(("localhost", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://localhost:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.mark.timeout(120)
async def test_the_sdk_checks_the_system_from_an_integrators_page(
    server: RunningServer, integrator_site: str
) -> None:
    session_id, token = await server.create_session()
    url = f"{integrator_site}/exam.html?vigil={server.url}&session={session_id}&token={token}"
    async with launch_chromium() as chromium:
        watch = PageWatch()
        try:
            page = await watch.open(chromium.tabs, url)
            await expect(page.locator("#result")).to_have_text("consent true", timeout=30_000)

            with anyio.fail_after(10):  # over the socket, from the page's outbox
                while not {"consent_given", "permission_checked"} <= {
                    e.type for e in await server.services.store.events(session_id)
                }:
                    await anyio.sleep(0.05)
            watch.assert_clean()
        finally:
            await watch.close()
