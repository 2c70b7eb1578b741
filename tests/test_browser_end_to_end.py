"""Issue 6's whole story in one run, two browsers: a candidate takes the demo in the browser's own
tabs (real visibility and focus) while a proctor watches the dashboard in a second context. The
candidate switches tabs, copies, loses the network and gets it back; the dashboard shows each
change live; the proctor pauses and resumes from the dashboard and the demo page shows it; what
was made offline arrives once."""

from __future__ import annotations

import re

import pytest
from playwright.async_api import expect

from tests.browser_support import PageWatch, cuttable_proxy, launch_chromium
from tests.support import ADMIN_TOKEN, RunningServer
from tests.test_browser_candidate import (
    SOCKET_REFUSED,
    answer_choice,
    assert_each_once_in_order,
    candidate_events,
    copy_question,
    has,
    of_type,
    start_demo,
    stored_when,
)
from tests.test_browser_dashboard import cell

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(90)]


async def test_a_proctor_sees_a_candidate_live_and_pauses_the_demo(server: RunningServer) -> None:
    port = int(server.url.rsplit(":", 1)[1])
    watch = PageWatch()
    watch.allow(SOCKET_REFUSED)  # while the network is cut
    async with launch_chromium() as chromium, cuttable_proxy(port) as network:
        proctor = await chromium.new_context(viewport={"width": 1440, "height": 900})
        dashboard = await watch.open(proctor, f"{server.url}/dashboard")
        await dashboard.get_by_label("Admin token").fill(ADMIN_TOKEN)
        await dashboard.get_by_role("button", name="Sign in").click()
        await expect(dashboard.locator("#connection")).to_have_text("Live")

        demo, session_id = await start_demo(chromium, watch, network.url, name="Ada Lovelace")
        await expect(cell(dashboard, session_id, "candidate")).to_have_text("Ada Lovelace")
        await expect(cell(dashboard, session_id, "connected")).to_have_text("● online")
        await expect(cell(dashboard, session_id, "verification")).to_have_text("100")

        # A real tab switch: another tab in front hides the demo.
        other = await watch.open(chromium.tabs)
        await demo.wait_for_function("document.visibilityState === 'hidden'", polling=50)
        await demo.bring_to_front()
        await other.close()
        await stored_when(server, session_id, has("tab_switch_detected", "focus_lost"))
        async with server.http() as admin:
            detail = (await admin.get(f"/candidate-sessions/{session_id}")).json()
        after_switch = detail["state"]["verificationScore"]
        assert after_switch < 100
        await expect(cell(dashboard, session_id, "verification")).to_have_text(str(after_switch))

        await copy_question(demo)
        await expect(cell(dashboard, session_id, "lastEvent")).to_contain_text("copy attempt")
        await expect(cell(dashboard, session_id, "verification")).to_have_text(
            # COPY_PASTE, and MULTIPLE_VIOLATIONS: the third violation on question q1
            str(
                after_switch
                - server.settings.scoring.penalty_medium
                - server.settings.scoring.penalty_high
            )
        )

        # The network goes away: the dashboard shows the candidate offline at once, while the
        # page keeps the answers it makes meanwhile.
        network.cut()
        await expect(cell(dashboard, session_id, "connected")).to_have_text("○ offline")
        await answer_choice(demo, "Mars")
        await expect(demo.locator("#pending-count")).not_to_have_text("0")
        assert not of_type(await candidate_events(server, session_id), "answer_submitted")

        network.restore()
        await expect(cell(dashboard, session_id, "connected")).to_have_text(
            "● online", timeout=20_000
        )
        await expect(demo.locator("#pending-count")).to_have_text("0", timeout=20_000)
        events = await stored_when(server, session_id, has("answer_submitted"))
        assert len(of_type(events, "answer_submitted")) == 1
        assert_each_once_in_order(events)  # nothing lost, nothing twice
        server_made = [e.type for e in await server.services.store.events(session_id)]
        assert "user_disconnected" in server_made and "user_reconnected" in server_made

        # The proctor pauses from the dashboard's session page; the demo shows it.
        await cell(dashboard, session_id, "candidate").get_by_role("link").click()
        await dashboard.get_by_label("Message to the candidate").fill("A proctor needs a moment.")
        await dashboard.get_by_role("button", name="Pause", exact=True).click()
        overlay = demo.locator("#pause-overlay")
        await expect(overlay).to_be_visible()
        await expect(overlay).to_contain_text("A proctor needs a moment.")
        await dashboard.get_by_role("button", name="Resume", exact=True).click()
        await expect(overlay).to_be_hidden()
        timeline = dashboard.locator("#timeline")
        await expect(timeline.locator("li.kind-intervention")).to_have_count(2)
        await expect(timeline.locator('li.kind-warning[data-type="copy_attempt"]')).to_have_count(1)
        await expect(dashboard.locator("#session-summary")).to_contain_text(
            re.compile("IN_PROGRESS")
        )
        watch.assert_clean()
        await watch.close()
