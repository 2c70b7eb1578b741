"""Behaviour windows from a real page (issue 28): typing, pasting, moving the pointer and a
script's synthetic keys in Debian's Chromium, through the candidate SDK, to the SQLite log."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import pytest
from playwright.async_api import expect

from tests.browser_support import Chromium, PageWatch, launch_chromium
from tests.support import RunningServer
from tests.test_browser_candidate import answer_choice, start_assessment, stored_when

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
