"""The system check before the exam, in a real browser (issue 22 item 6): Debian's Chromium with
a fake camera that shows a real face (an MJPEG of scikit-image's astronaut), the demo page, the
SDK's `check()`, and the real vision pool analysing its calibration frame."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from pathlib import Path

import cv2
import numpy as np
import pytest
from playwright.async_api import expect
from skimage import data as skdata

from tests.browser_support import Chromium, PageWatch, launch_chromium
from tests.support import RunningServer, eventually, running_server

pytestmark = pytest.mark.anyio


def face_video(folder: Path) -> Path:
    """An MJPEG file (JPEG frames one after another), which Chromium's fake camera plays."""
    face = cv2.cvtColor(np.asarray(skdata.astronaut()), cv2.COLOR_RGB2BGR)
    frame = cv2.copyMakeBorder(face, 0, 0, 64, 64, cv2.BORDER_CONSTANT, value=(90, 90, 90))
    frame = cv2.resize(frame, (640, 480))
    ok, jpeg = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, 90])
    assert ok
    path = folder / "face.mjpeg"
    path.write_bytes(jpeg.tobytes() * 30)
    return path


@pytest.fixture
async def chromium(tmp_path: Path) -> AsyncIterator[Chromium]:
    video = face_video(tmp_path)
    async with launch_chromium([f"--use-file-for-fake-video-capture={video}"]) as browser:
        yield browser


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[RunningServer]:
    async with running_server(tmp_path / "server", vision={"enabled": True}) as running:
        service = running.services.vision
        assert service is not None
        await eventually(lambda: service.available, timeout=90)
        yield running


async def test_the_demo_walks_a_candidate_through_the_system_check(
    chromium: Chromium, server: RunningServer
) -> None:
    watch = PageWatch()
    try:
        page = await watch.open(chromium.tabs, f"{server.url}/demo")
        await page.get_by_label("Your name").fill("Eileen Collins")
        await page.get_by_role("button", name="Start the assessment").click()
        await expect(page.locator("#check-view")).to_be_visible()
        await expect(page.locator("#consent-text")).to_contain_text("proctored")
        consent = await page.locator("#consent-text").text_content()
        await page.get_by_role("button", name="I agree").click()
        await expect(page.locator("#check-result")).to_have_text(
            "All set. You can start.", timeout=30_000
        )
        await expect(page.locator("#check-permissions")).to_have_text(
            "camera granted, microphone granted"
        )
        await expect(page.locator("#check-calibration")).to_have_text(
            "The camera works: one face, in usable light."
        )
        session_id = await page.evaluate(
            "() => JSON.parse(sessionStorage.getItem('vigil-demo-session')).sessionId"
        )
        await page.locator("#check-start").click()
        await expect(page.locator("#question-text")).to_be_visible()
        await expect(page.locator("#pending-count")).to_have_text("0", timeout=10_000)
        watch.assert_clean()
    finally:
        await watch.close()
    events = {e.type: e for e in await server.services.store.events(session_id)}
    assert events["permission_checked"].data == {"camera": "granted", "microphone": "granted"}
    calibration = events["calibration_checked"].data or {}
    assert calibration["passed"] is True and calibration["faces"] == 1
    assert events["calibration_checked"].origin == "rest"
    given = events["consent_given"].data or {}
    assert given["accepted"] is True
    assert given["textSha256"] == hashlib.sha256((consent or "").encode()).hexdigest()
    assert "camera_lost" not in events
    assert events["consent_given"].offset < events["assessment_started"].offset
