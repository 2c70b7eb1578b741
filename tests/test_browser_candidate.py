"""The candidate SDK and the demo page (CONTRACT.md sections 4 and 8) in real Chromium against a
real server: real tab switches, real key presses, Chromium's fake webcam, a network cut by a
proxy between the browser and the server, and the SQLite log as the judge."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable
from typing import Any
from urllib.parse import urlencode, urlsplit

import anyio
import cv2
import numpy as np
import pytest
from playwright.async_api import Page, expect

from actors.events import StoredEvent
from tests.browser_support import (
    Chromium,
    PageWatch,
    another_origin,
    cuttable_proxy,
    launch_chromium,
    screenshot_path,
)
from tests.support import RunningServer, running_server

pytestmark = pytest.mark.anyio

SAVED_KEY = "vigil-demo-session"  # where demo.js keeps the session (sessionStorage)
# What Chromium logs when a WebSocket cannot connect: expected while the proxy is cut.
SOCKET_REFUSED = r"WebSocket connection to 'ws://127\.0\.0\.1:\d+/ws/candidate/.*' failed"


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    # Module scope, so that one browser (a module fixture) serves every test of the module.
    return "asyncio"


@pytest.fixture(scope="module")
async def chromium() -> AsyncIterator[Chromium]:
    async with launch_chromium() as browser:
        yield browser


@pytest.fixture
async def watch() -> AsyncIterator[PageWatch]:
    pages = PageWatch()
    try:
        yield pages
    finally:
        await pages.close()


# --- helpers -------------------------------------------------------------------------------


async def start_demo(
    chromium: Chromium, watch: PageWatch, base_url: str, name: str = "Grace Hopper"
) -> tuple[Page, str]:
    """Open /demo in a tab and start the assessment; see `start_assessment`."""
    page = await watch.open(chromium.tabs, f"{base_url}/demo")
    return page, await start_assessment(page, name)


async def start_assessment(page: Page, name: str = "Grace Hopper") -> str:
    """Start the assessment on an open /demo; return the session id once the page is
    connected and its first events are stored."""
    await page.bring_to_front()
    await page.get_by_label("Your name").fill(name)
    await page.get_by_role("button", name="Start the assessment").click()
    await pass_system_check(page)
    await expect(page.locator("#question-text")).to_have_text(re.compile("Red Planet"))
    await expect(page.locator("#status-text")).to_have_attribute("data-status", "connected")
    await expect(page.locator("#pending-count")).to_have_text("0", timeout=10_000)
    session_id = await page.evaluate(
        "key => JSON.parse(sessionStorage.getItem(key)).sessionId", SAVED_KEY
    )
    assert isinstance(session_id, str)
    return session_id


async def pass_system_check(page: Page) -> None:
    """The demo's system check: the fake camera and microphone are granted, the consent given."""
    await expect(page.locator("#check-view")).to_be_visible()
    await page.get_by_role("button", name="I agree").click()
    await page.locator("#check-start").click()


async def candidate_events(server: RunningServer, session_id: str) -> list[StoredEvent]:
    return [e for e in await server.services.store.events(session_id) if e.origin == "candidate"]


async def stored_when(
    server: RunningServer,
    session_id: str,
    ready: Callable[[list[StoredEvent]], bool],
    timeout: float = 10.0,
) -> list[StoredEvent]:
    """The session's candidate events, once `ready` holds for them (polled, with a timeout)."""
    with anyio.fail_after(timeout):
        while True:
            events = await candidate_events(server, session_id)
            if ready(events):
                return events
            await anyio.sleep(0.05)


def has(*types: str) -> Callable[[list[StoredEvent]], bool]:
    return lambda events: set(types) <= {e.type for e in events}


def of_type(events: list[StoredEvent], kind: str) -> list[StoredEvent]:
    return [e for e in events if e.type == kind]


def assert_each_once_in_order(events: list[StoredEvent]) -> None:
    """seq 1..n, each once, in offset order: nothing lost, nothing stored twice."""
    seqs = [e.seq for e in events]
    assert seqs == list(range(1, len(seqs) + 1)), seqs


async def answer_choice(page: Page, choice: str) -> None:
    await page.get_by_label(choice, exact=True).check()
    await page.locator("#next").click()


async def copy_question(page: Page) -> None:
    """Select the question's text with the mouse and copy it with the keyboard."""
    await page.locator("#question-text").click(click_count=3)
    await page.keyboard.press("Control+C")


async def intervene(admin: Any, session_id: str, action: str, message: str) -> None:
    await admin.send(
        {"type": "intervene", "sessionId": session_id, "action": action, "message": message}
    )
    reply, _ = await admin.recv_until(lambda m: m.get("type") in ("intervened", "error"))
    assert reply["type"] == "intervened", reply


# --- tests ---------------------------------------------------------------------------------


async def test_sdk_and_demo_files_are_served(server: RunningServer) -> None:
    async with server.http(token=None) as http:
        sdk = await http.get("/sdk/vigil-client.js")
        page = await http.get("/demo")
    assert sdk.status_code == 200
    assert sdk.headers["content-type"].startswith("text/javascript")
    assert sdk.headers["access-control-allow-origin"] == "*"
    assert "export function connect" in sdk.text
    assert page.status_code == 200
    assert "script-src 'self'" in page.headers["content-security-policy"]


async def test_tab_switch_copy_right_click_and_webcam_reach_the_server(
    server: RunningServer, chromium: Chromium, watch: PageWatch
) -> None:
    page = await watch.open(chromium.tabs, f"{server.url}/demo")
    sent: list[bytes] = []  # the binary frames the page's socket sends

    def on_frame(payload: str | bytes) -> None:
        if isinstance(payload, bytes):
            sent.append(payload)

    socket_urls: list[str] = []

    def on_socket(ws: Any) -> None:
        socket_urls.append(ws.url)
        ws.on("framesent", on_frame)

    page.on("websocket", on_socket)
    session_id = await start_assessment(page)
    # The token rides in a subprotocol (vigil.token.<token>): no URL that is logged carries it.
    assert socket_urls and not any("token" in url for url in socket_urls), socket_urls
    events = await stored_when(
        server, session_id, has("assessment_started", "question_viewed", "device_info")
    )
    fingerprint = of_type(events, "device_info")[0].data or {}
    assert re.fullmatch(r"[0-9a-f]{64}", fingerprint["deviceFingerprint"])  # SHA-256
    assert fingerprint["screenResolution"] and fingerprint["timezone"]

    # A real tab switch: a new tab in front hides this one; bringing it back shows it again.
    other = await watch.open(chromium.tabs)
    # Polled on a timer: a hidden tab runs no animation frames.
    await page.wait_for_function("document.visibilityState === 'hidden'", polling=50)
    await page.bring_to_front()
    await other.close()
    await page.wait_for_function("document.visibilityState === 'visible'", polling=50)

    await copy_question(page)
    await page.locator("#question-text").click(button="right")

    events = await stored_when(
        server,
        session_id,
        has("tab_switch_detected", "focus_lost", "copy_attempt", "right_click_attempt"),
    )
    (copy,) = of_type(events, "copy_attempt")
    assert copy.questionId == "q1"
    assert copy.data is not None and copy.data["action"] == "copy"
    # The triple-clicked paragraph, perhaps with its line break.
    assert copy.data["length"] >= len("Which planet is known as the Red Planet?")
    (focus,) = of_type(events, "focus_lost")
    assert focus.data is not None and focus.data["durationMs"] >= 0
    assert len(of_type(events, "tab_switch_detected")) == 1
    assert_each_once_in_order(events)

    # The webcam: Chromium's fake camera, JPEGs over the same socket.
    metrics = server.services.metrics
    with anyio.fail_after(10):
        while metrics.frames_received < 2:
            await anyio.sleep(0.05)
    await expect(page.locator("#camera-state")).to_have_text("Camera on")
    await expect(page.locator("#frames-sent")).not_to_have_text("0")
    # 640x480 JPEGs, encoded in the SDK's worker (the page and the SDK share an origin).
    picture = cv2.imdecode(np.frombuffer(sent[0], np.uint8), cv2.IMREAD_COLOR)
    assert sent[0][:3] == b"\xff\xd8\xff"
    assert picture is not None and picture.shape == (480, 640, 3)
    assert [w.url for w in page.workers] == [f"{server.url}/sdk/vigil-client.js"]
    assert not of_type(await candidate_events(server, session_id), "inspect_element_opened")

    await page.get_by_label("Mars", exact=True).check()
    await page.mouse.click(5, 700)  # away from the text: no selection in the picture
    await page.screenshot(path=screenshot_path("demo.png"))
    watch.assert_clean()


async def test_events_made_offline_arrive_once_after_the_network_returns(
    server: RunningServer, chromium: Chromium, watch: PageWatch
) -> None:
    watch.allow(SOCKET_REFUSED)
    async with cuttable_proxy(urlsplit(server.url).port or 0) as network:
        page, session_id = await start_demo(chromium, watch, network.url)
        network.cut()
        await expect(page.locator("#status-text")).to_have_attribute(
            "data-status", re.compile("offline|reconnecting")
        )

        # The candidate keeps working while the network is gone.
        await answer_choice(page, "Mars")
        await copy_question(page)
        await page.get_by_label("Your answer").fill("144")
        await page.locator("#next").click()
        await expect(page.locator("#question-text")).to_have_text(re.compile("Not Found"))
        # answer q1, view q2, copy, answer q2, view q3 (and whatever else the page noticed)
        # A locator, not wait_for_function: polling a string predicate evaluates it with eval,
        # which the demo's CSP refuses once the first check is false (seen under load).
        await expect(page.locator("#pending-count")).to_have_text(re.compile(r"^([5-9]|\d{2,})$"))
        assert not of_type(await candidate_events(server, session_id), "answer_submitted")

        network.restore()
        await expect(page.locator("#status-text")).to_have_attribute(
            "data-status", "connected", timeout=20_000
        )
        await expect(page.locator("#pending-count")).to_have_text("0", timeout=10_000)

    # The SDK sends device_info once per connection, but only after hashing its fingerprint:
    # the queue can be empty before the reconnection's device_info is even queued.
    events = await stored_when(
        server, session_id, lambda events: len(of_type(events, "device_info")) >= 2
    )
    assert_each_once_in_order(events)
    answers = {
        e.questionId: e.data["response"] for e in of_type(events, "answer_submitted") if e.data
    }
    assert answers == {"q1": "Mars", "q2": 144}
    assert len(of_type(events, "answer_submitted")) == 2
    assert [e.questionId for e in of_type(events, "question_viewed")] == ["q1", "q2", "q3"]
    assert [e.questionId for e in of_type(events, "copy_attempt")] == ["q2"]
    server_made = {e.type for e in await server.services.store.events(session_id)}
    assert {"user_disconnected", "user_reconnected"} <= server_made
    watch.assert_clean()


async def test_a_reload_while_offline_keeps_the_unacknowledged_events(
    server: RunningServer, chromium: Chromium, watch: PageWatch
) -> None:
    watch.allow(SOCKET_REFUSED)
    async with cuttable_proxy(urlsplit(server.url).port or 0) as network:
        page, session_id = await start_demo(chromium, watch, network.url)
        # The socket cannot reach the server; the page itself can still be loaded.
        network.cut(allow_http=True)
        await expect(page.locator("#status-text")).to_have_attribute(
            "data-status", re.compile("offline|reconnecting")
        )
        await answer_choice(page, "Mars")
        await copy_question(page)
        # Answer, view, copy, and the q1 behaviour window sent before the answer (issue 28);
        # one more window if the 10 s window closed meanwhile.
        await expect(page.locator("#pending-count")).to_have_text(re.compile("^[45]$"))
        before = int(await page.locator("#pending-count").inner_text())

        await page.reload()
        # The new page load found them in IndexedDB, and viewed q2 again.
        await expect(page.locator("#question-text")).to_have_text("What is 12 x 12?")
        await expect(page.locator("#pending-count")).to_have_text(
            re.compile(f"^({before + 1}|{before + 2})$")
        )
        assert not of_type(await candidate_events(server, session_id), "answer_submitted")

        network.restore()
        await expect(page.locator("#pending-count")).to_have_text("0", timeout=20_000)

    # The new connection's device_info is made (fingerprint hashed) after it connects: it can
    # come after the resent events were acknowledged.
    events = await stored_when(
        server, session_id, lambda found: len(of_type(found, "device_info")) >= 2
    )
    assert_each_once_in_order(events)
    (answer,) = of_type(events, "answer_submitted")
    assert answer.questionId == "q1" and answer.data is not None
    assert answer.data["response"] == "Mars" and answer.data["timeSpent"] > 0
    assert [e.questionId for e in of_type(events, "question_viewed")] == ["q1", "q2", "q2"]
    assert len(of_type(events, "copy_attempt")) == 1
    assert len(of_type(events, "device_info")) == 2  # once per connection
    watch.assert_clean()


async def test_a_candidate_takes_the_demo_to_the_end(
    server: RunningServer, chromium: Chromium, watch: PageWatch
) -> None:
    page, session_id = await start_demo(chromium, watch, server.url)
    await answer_choice(page, "Mars")
    await page.get_by_label("Your answer").fill("144")
    await page.get_by_role("button", name="Next question").click()
    await answer_choice(page, "404")
    await page.get_by_label("Your answer").fill("So that a person can check and contest it.")
    await page.get_by_role("button", name="Submit the assessment").click()
    await expect(page.locator("#done-message")).to_contain_text("every event reached the server")
    await expect(page.locator("#status-text")).to_have_attribute("data-status", "closed")

    async with server.http() as http:
        session = (await http.get(f"/candidate-sessions/{session_id}")).json()
    assert session["status"] == "COMPLETED"
    events = await candidate_events(server, session_id)
    assert [e.questionId for e in of_type(events, "answer_submitted")] == ["q1", "q2", "q3", "q4"]
    assert len(of_type(events, "assessment_submitted")) == 1
    assert_each_once_in_order(events)
    watch.assert_clean()


async def test_a_proctor_warns_pauses_resumes_and_terminates(
    server: RunningServer, chromium: Chromium, watch: PageWatch
) -> None:
    page, session_id = await start_demo(chromium, watch, server.url)
    async with server.admin() as admin:
        await intervene(admin, session_id, "warn", "Please keep your eyes on this screen.")
        banner = page.locator("#warning")
        await expect(banner).to_be_visible()
        await expect(banner).to_contain_text("Please keep your eyes on this screen.")
        await expect(page.locator("#warning-left")).to_have_text(
            re.compile(r"^\d+ warnings? left\.$")
        )

        await intervene(admin, session_id, "pause", "A proctor needs a moment.")
        overlay = page.locator("#pause-overlay")
        await expect(overlay).to_be_visible()
        await expect(overlay).to_contain_text("A proctor needs a moment.")
        # Answering is blocked: the question is inert (no pointer, no keyboard focus).
        assert await page.evaluate("document.getElementById('main').inert")
        assert await page.evaluate(
            "document.getElementById('pause-overlay').contains(document.activeElement)"
        )
        await page.screenshot(path=screenshot_path("demo-paused.png"))

        await intervene(admin, session_id, "resume", "")
        await expect(overlay).to_be_hidden()
        assert not await page.evaluate("document.getElementById('main').inert")
        await answer_choice(page, "Mars")
        await stored_when(server, session_id, has("answer_submitted"))

        await intervene(admin, session_id, "terminate", "The session was ended for the demo.")
        await expect(page.locator("#done-message")).to_contain_text(
            "The session was ended for the demo."
        )
        await expect(page.locator("#status-text")).to_have_attribute("data-status", "terminated")
    watch.assert_clean()


# An integrator's page on its own origin: it imports the SDK from the Vigil server (CORS), and
# turns the thresholds down so that idle time and heartbeats come within a test's patience.
INTEGRATOR_PAGE = """<!doctype html>
<title>Integrator page</title>
<link rel="icon" href="data:,">
<label>Answer <input id="field"></label>
<button id="full" type="button">Full screen</button>
<button id="leave" type="button">Leave full screen</button>
<script type="module">
const params = new URLSearchParams(location.search);
const { connect } = await import(`${params.get("vigil")}/sdk/vigil-client.js`);
window.vigil = connect({
  url: params.get("vigil"), sessionId: params.get("session"), token: params.get("token"),
  frameIntervalMs: 400, idleThresholdMs: 800, heartbeatIntervalMs: 300,
  ackTimeoutMs: Number(params.get("ackTimeoutMs") || 20000),
});
if (params.get("start")) window.vigil.start();  // before the socket is even open
document.getElementById("full").onclick = () => document.documentElement.requestFullscreen();
document.getElementById("leave").onclick = () => document.exitFullscreen();
</script>
"""


async def test_the_sdk_on_another_origin_reports_idle_heartbeats_paste_fullscreen_and_devtools(
    server: RunningServer, chromium: Chromium, watch: PageWatch
) -> None:
    session_id, token = await server.create_session()
    async with another_origin({"/exam": INTEGRATOR_PAGE}) as site:
        query = urlencode({"vigil": server.url, "session": session_id, "token": token})
        page = await watch.open(chromium.tabs, f"{site}/exam?{query}")
        await page.bring_to_front()
        # Nobody touches the page: idle, once per idle spell, while heartbeats keep coming.
        events = await stored_when(server, session_id, has("idle_detected", "heartbeat"))
        (idle,) = of_type(events, "idle_detected")
        assert idle.data is not None and idle.data["seconds"] >= 0.8
        heartbeat = of_type(events, "heartbeat")[0].data or {}
        assert 0 <= heartbeat["batteryLevel"] <= 1 and 0 < heartbeat["memoryUsage"] < 1
        # A worker cannot be started from another origin: frames come from the canvas encoder.
        with anyio.fail_after(10):
            while server.services.metrics.frames_received < 2:
                await anyio.sleep(0.05)
        assert page.workers == []

        await page.get_by_label("Answer").click()
        await page.keyboard.press("Control+V")
        await page.get_by_role("button", name="Full screen", exact=True).click()
        await page.wait_for_function("document.fullscreenElement !== null")
        await page.get_by_role("button", name="Leave full screen").click()
        await page.wait_for_function("document.fullscreenElement === null")

        # Docked devtools take room from the viewport, not from the window. Headless Chromium
        # cannot open its devtools, so the viewport is narrowed the same way (CDP device metrics).
        width, height = await page.evaluate("[innerWidth, innerHeight]")
        await page.set_viewport_size({"width": width - 400, "height": height})
        await stored_when(server, session_id, has("inspect_element_opened"))
        # The SDK must see it closed before it opens again. innerWidth changes at once but the
        # resize event comes a frame later: waiting for innerWidth alone let the next change
        # land first, and the SDK saw devtools stay open (1 run in ~15). A listener added after
        # the SDK's runs after it.
        await page.evaluate("addEventListener('resize', () => { window.resizesSeen = true; })")
        await page.set_viewport_size({"width": width, "height": height})  # closed
        await page.wait_for_function(f"window.resizesSeen === true && innerWidth === {width}")
        await page.set_viewport_size({"width": width, "height": height - 300})  # docked below

        events = await stored_when(
            server,
            session_id,
            lambda events: (
                has("paste_attempt", "fullscreen_exit")(events)
                and len(of_type(events, "inspect_element_opened")) == 2
            ),
        )
    assert len(of_type(events, "fullscreen_exit")) == 1
    assert len(of_type(events, "paste_attempt")) == 1
    assert_each_once_in_order(events)
    watch.assert_clean()


async def test_the_sdk_numbers_after_another_device_and_skips_a_refused_event(
    server: RunningServer, chromium: Chromium, watch: PageWatch
) -> None:
    session_id, token = await server.create_session()
    async with server.candidate(session_id, token) as other_device:
        for seq in (1, 2, 3):
            await other_device.event(seq)
        await other_device.acked(3)
    async with another_origin({"/exam": INTEGRATOR_PAGE}) as site:
        query = urlencode({"vigil": server.url, "session": session_id, "token": token, "start": 1})
        page = await watch.open(chromium.tabs, f"{site}/exam?{query}")
        # This browser numbered assessment_started 1 before it heard that the server holds 3:
        # it is renumbered 4, not dropped as a duplicate of the other device's seq 1.
        events = await stored_when(server, session_id, has("assessment_started"))
        assert of_type(events, "assessment_started")[0].seq == 4

        # An event the server refuses (a negative duration) would block every later seq: the
        # SDK drops it and gives its seq to the next event.
        refused = await page.evaluate("vigil.track('focus_lost', {durationMs: -5})")
        await page.evaluate("vigil.track('copy_attempt', {action: 'copy', length: 3})")
        await page.wait_for_function("vigil.pending === 0")
        events = await stored_when(server, session_id, has("copy_attempt"))
    assert of_type(events, "copy_attempt")[0].seq == refused
    assert not of_type(events, "focus_lost")
    assert_each_once_in_order(events)
    watch.assert_clean()


async def test_a_silent_network_is_noticed_by_the_missing_acks(
    server: RunningServer, chromium: Chromium, watch: PageWatch
) -> None:
    watch.allow(SOCKET_REFUSED)
    session_id, token = await server.create_session()
    async with another_origin({"/exam": INTEGRATOR_PAGE}) as site:
        query = {"vigil": server.url, "session": session_id, "token": token, "ackTimeoutMs": 1000}
        page = await watch.open(chromium.tabs, f"{site}/exam?{urlencode(query)}")
        # The page defines `vigil` once its module imports (the SDK and /sdk/protocol.js) are in.
        await page.wait_for_function("window.vigil?.status === 'connected'", polling=50)
        # Chromium's offline emulation does not close an open socket: it goes silent, like a
        # link that died without a FIN. Only the acks that stop coming tell.
        await chromium.tabs.set_offline(True)
        try:
            await page.evaluate("vigil.track('copy_attempt', {action: 'copy', length: 1})")
            await page.wait_for_function("vigil.status !== 'connected'", polling=50)
        finally:
            await chromium.tabs.set_offline(False)
        await page.wait_for_function("window.vigil?.status === 'connected'", polling=50)
        await page.wait_for_function("vigil.pending === 0", polling=50)
    events = await candidate_events(server, session_id)
    assert len(of_type(events, "copy_attempt")) == 1
    assert_each_once_in_order(events)
    watch.assert_clean()


async def test_a_second_tab_of_the_session_takes_over(
    server: RunningServer, chromium: Chromium, watch: PageWatch
) -> None:
    first, session_id = await start_demo(chromium, watch, server.url)
    saved = await first.evaluate("key => sessionStorage.getItem(key)", SAVED_KEY)
    second = await watch.open(chromium.tabs, f"{server.url}/demo")
    await second.evaluate(
        "([key, value]) => sessionStorage.setItem(key, value)", [SAVED_KEY, saved]
    )
    await second.reload()
    await expect(second.locator("#status-text")).to_have_attribute("data-status", "connected")
    # The older tab was replaced (4409) and, being told so, does not fight back.
    await expect(first.locator("#status-text")).to_have_attribute("data-status", "replaced")
    events = await stored_when(server, session_id, has("multiple_tabs_detected"))
    assert len(of_type(events, "multiple_tabs_detected")) == 1
    assert_each_once_in_order(events)
    watch.assert_clean()


async def test_the_sdk_refuses_an_event_too_big_to_send_and_keeps_the_rest(
    server: RunningServer, chromium: Chromium, watch: PageWatch
) -> None:
    """Issue 21, item 10: an event the server would refuse for its size (too_large; past 1 MiB
    the transport closes with 1009) never enters the queue, so it cannot block the ones after."""
    session_id, token = await server.create_session()
    async with another_origin({"/exam": INTEGRATOR_PAGE}) as site:
        query = urlencode({"vigil": server.url, "session": session_id, "token": token})
        page = await watch.open(chromium.tabs, f"{site}/exam?{query}")
        await page.wait_for_function("window.vigil?.status === 'connected'", polling=50)
        refused = await page.evaluate(
            """vigil.track('copy_attempt', {text: 'x'.repeat(2 * 1024 * 1024)})
                 .then(() => 'stored', (error) => error.name)"""
        )
        assert refused == "RangeError"
        await page.evaluate("vigil.track('paste_attempt', {action: 'paste', length: 1})")
        await page.wait_for_function("vigil.pending === 0", polling=50)
        events = await stored_when(server, session_id, has("paste_attempt"))
    assert not of_type(events, "copy_attempt")
    assert_each_once_in_order(events)
    watch.assert_clean()


async def test_the_sdk_resends_what_the_rate_limit_refused(
    tmp_path: Any, chromium: Chromium, watch: PageWatch
) -> None:
    """Issue 21, item 5: a backlog past the server's rate limit is refused with rate_limited;
    the SDK sends it again later instead of dropping it (as it drops an invalid event)."""
    limits = {"candidate_events_per_second": 10.0, "candidate_events_burst": 5}
    async with running_server(tmp_path, limits=limits) as server:
        session_id, token = await server.create_session()
        async with another_origin({"/exam": INTEGRATOR_PAGE}) as site:
            query = urlencode({"vigil": server.url, "session": session_id, "token": token})
            page = await watch.open(chromium.tabs, f"{site}/exam?{query}")
            await page.wait_for_function("window.vigil?.status === 'connected'", polling=50)
            await page.evaluate(
                """Promise.all(Array.from({length: 40},
                     (_, i) => vigil.track('copy_attempt', {action: 'copy', length: i})))"""
            )
            await page.wait_for_function("vigil.pending === 0", polling=100, timeout=30_000)
            events = await candidate_events(server, session_id)
        copies = of_type(events, "copy_attempt")
        assert sorted((e.data or {})["length"] for e in copies) == list(range(40))
        assert_each_once_in_order(events)
        watch.assert_clean()
