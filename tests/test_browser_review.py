"""Issue 23 in a real Chromium: the report page (local times with UTC on hover, its own script
allowed by CSP and nothing else, printable) and the dashboard's review queue and verdict form."""

from __future__ import annotations

import pytest
from playwright.async_api import expect

from tests.browser_support import launch_chromium
from tests.support import ADMIN_TOKEN, RunningServer
from tests.test_browser_dashboard import _CSP_PROBE, signed_in

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(60)]


async def test_the_report_page_shows_local_times_and_prints(server: RunningServer) -> None:
    session_id, token = await server.create_session(name="Ada Lovelace")
    async with server.candidate(session_id, token) as peer:
        await peer.event(1, "tab_switch_detected")
        await peer.acked(1)
    async with launch_chromium() as browser:
        context = await browser.new_context(
            timezone_id="Asia/Tokyo",
            locale="en-GB",
            extra_http_headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
        )
        page = await context.new_page()
        await page.add_init_script(_CSP_PROBE)
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        # Chromium asks for /favicon.ico by itself; anything else missing is a fault.
        page.on(
            "response",
            lambda r: (
                errors.append(r.url)
                if r.status >= 400 and not r.url.endswith("/favicon.ico")
                else None
            ),
        )
        response = await page.goto(
            f"{server.url}/candidate-sessions/{session_id}/report?format=html"
        )
        assert response is not None and response.status == 200
        first = page.locator("time[datetime]").first
        await expect(first).to_have_attribute(
            "title", f"UTC: {await first.get_attribute('datetime')}"
        )
        utc = await first.get_attribute("datetime")
        shown = await first.text_content()
        assert utc and shown and shown != utc and "Z" not in shown  # the viewer's zone, not UTC
        assert await page.locator("h2", has_text="Events").count() == 1
        await page.emulate_media(media="print")
        pdf = await page.pdf()
        assert pdf.startswith(b"%PDF") and len(pdf) > 1000
        assert not errors, errors
        assert await page.evaluate("window.__cspViolations") == []


async def test_the_queue_lists_stored_sessions_and_takes_a_verdict(
    server: RunningServer,
) -> None:
    done, token = await server.create_session("exam-q", "Grace Hopper")
    await server.create_session("exam-q", "Ada Lovelace")
    async with server.http(token=token) as own:
        submitted = await own.post(f"/candidate-sessions/{done}/submit", json={"answers": []})
        assert submitted.status_code == 200
    async with launch_chromium() as browser:
        page, console = await signed_in(browser, server)
        queue = page.locator("#queue-body tr")
        await expect(queue).to_have_count(2)
        await page.locator("#queue-candidate").fill("grace")
        await page.locator("#queue-finished").check()
        await page.get_by_role("button", name="Find").click()
        await expect(queue).to_have_count(1)
        await expect(queue.first).to_contain_text("Not reviewed")
        await queue.first.get_by_role("link", name="Grace Hopper").click()
        await expect(page.locator("#verdict-current")).to_contain_text("Recommended: accept")
        await page.locator("#verdict-reason").fill("Checked the whole recording.")
        await page.get_by_role("button", name="Verify").click()
        await expect(page.locator("#verdict-result")).to_have_text("Saved: Verified.")
        await page.goto(f"{server.url}/dashboard#/")
        await expect(page.locator("#queue-body tr").first).to_contain_text("Verified")
        await console.assert_clean()
