"""Behaviour windows from a real page (issue 28): typing, pasting, moving the pointer and a
script's synthetic keys in Debian's Chromium, through the candidate SDK, to the SQLite log."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import pytest
from playwright.async_api import expect

from tests.browser_support import Chromium, PageWatch, launch_chromium
from tests.support import RunningServer
from tests.test_behaviour_socket import define, flagged, sit, window
from tests.test_browser_candidate import answer_choice, start_assessment, stored_when
from tests.test_browser_dashboard import signed_in

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
def anyio_backend() -> str:
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


@pytest.mark.timeout(90)
async def test_typing_pasting_and_synthetic_keys_become_behaviour_windows(
    server: RunningServer, chromium: Chromium, watch: PageWatch
) -> None:
    page = await watch.open(chromium.tabs, f"{server.url}/demo")
    refusals: list[str] = []  # what the server answered with an error: a window it refused

    def on_socket(ws: Any) -> None:
        ws.on("framereceived", lambda p: refusals.append(p) if '"error"' in str(p) else None)

    page.on("websocket", on_socket)
    session_id = await start_assessment(page)
    await answer_choice(page, "Mars")
    await expect(page.locator("#question-text")).to_have_text(re.compile("12 x 12"))
    field = page.locator("#free-text")
    await field.click()
    await page.mouse.move(10, 10)
    await page.mouse.move(300, 200, steps=12)
    await page.keyboard.type("one hundred and forty four", delay=60)
    # The candidate's own text, copied and pasted back in: a real paste, 26 characters.
    await page.keyboard.press("Control+A")
    await page.keyboard.press("Control+C")
    await page.keyboard.press("End")
    await page.keyboard.press("Control+V")
    # A script's key: dispatched, so the browser marks it untrusted.
    await field.evaluate(
        "el => el.dispatchEvent(new KeyboardEvent('keydown', {key: 'x', bubbles: true}))"
    )
    await page.locator("#next").click()  # the answer: its window is sent before it
    events = await stored_when(
        server,
        session_id,
        lambda found: any(e.type == "answer_submitted" and e.questionId == "q2" for e in found),
    )
    windows = [e for e in events if e.type == "behaviour_window" and e.questionId == "q2"]
    assert windows, [e.type for e in events]
    answer = next(e for e in events if e.type == "answer_submitted" and e.questionId == "q2")
    assert all(w.offset < answer.offset for w in windows)
    data = [w.data or {} for w in windows]
    keys = [d.get("keys", {}) for d in data]
    text = [d.get("text", {}) for d in data]
    # 26 typed characters plus Ctrl+A, Ctrl+C, End, Ctrl+V (and their Control) and the script's.
    assert sum(k.get("keydowns", 0) for k in keys) >= 27
    assert sum(t.get("charsTyped", 0) for t in text) == 26
    assert sum(t.get("charsPasted", 0) for t in text) == 26
    assert sum(t.get("pastes", 0) for t in text) == 1
    assert text[-1]["answerLength"] == 52
    histogram = [sum(column) for column in zip(*(k["intervals"] for k in keys if k), strict=True)]
    assert sum(histogram[:-1]) >= 20  # typing at 60 ms a key: intervals under 2 s
    assert sum(d.get("untrusted", {}).get("keyboard", 0) for d in data) == 1
    pointer = [d["pointer"] for d in data if "pointer" in d]
    assert pointer and sum(p["distancePx"] for p in pointer) > 300
    assert all(p["displacementPx"] <= p["distancePx"] for p in pointer)
    # Content is never sent: no window holds the typed words.
    assert not any("hundred" in str(d) for d in data)
    assert refusals == []  # every window the SDK made was one the server takes


@pytest.mark.timeout(90)
async def test_the_dashboard_shows_typing_against_pasting_and_links_the_pair(
    server: RunningServer, chromium: Chromium
) -> None:
    questions = [{"id": f"q{n}", "correctAnswer": "42"} for n in range(8)]
    await define(server, {"id": "pair", "questions": questions})
    first_id, first_token = await server.create_session("pair", "First")
    second_id, second_token = await server.create_session("pair", "Second")
    shared = {f"q{n}": str(100 + n) for n in range(8)}
    pasted = window(text={"charsTyped": 40, "charsPasted": 300, "pastes": 1, "answerLength": 340})
    async with server.candidate(first_id, first_token) as candidate:
        await sit(candidate, [], shared)
    async with server.candidate(second_id, second_token) as candidate:
        await sit(candidate, [pasted, pasted], shared)
    await flagged(server, first_id, "COLLABORATION")
    page, console = await signed_in(chromium, server)
    await page.goto(f"{server.url}/dashboard#/session/{second_id}")
    box = page.locator("#session-behaviour")
    await expect(box.locator("li[data-question='q1']")).to_contain_text("80 typed · 600 pasted")
    finding = box.locator("li[data-check='COLLABORATION']")
    await expect(finding).to_contain_text("Collaboration detected")
    await finding.locator("a.pair").click()
    await expect(page.locator("#session-title")).to_contain_text("First")
    await expect(box.locator("li[data-check='COLLABORATION'] a.pair")).to_have_text(second_id)
    await console.assert_clean()
