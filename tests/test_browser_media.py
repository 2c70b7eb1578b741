"""The microphone in real Chromium (issue 24): the SDK's `audio: true` through Chromium's fake
capture device fed a WAV file (`--use-file-for-fake-audio-capture`), the real socket, webrtcvad
and storage. Speech (espeak-ng's, tests/media/speech-16k.wav) gives one AUDIO_ANOMALY; a silent
room none."""

from __future__ import annotations

import wave
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import anyio
import pytest

from tests.browser_support import PageWatch, another_origin, launch_chromium
from tests.support import RunningServer, running_server

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(120)]

SPEECH = Path(__file__).parent / "media" / "speech-16k.wav"

PAGE = """<!doctype html>
<title>Exam with a microphone</title>
<link rel="icon" href="data:,">
<script type="module">
const params = new URLSearchParams(location.search);
const { connect } = await import(`${params.get("vigil")}/sdk/vigil-client.js`);
window.vigil = connect({
  url: params.get("vigil"), sessionId: params.get("session"), token: params.get("token"),
  camera: false, audio: true, heartbeatIntervalMs: 0,
});
</script>
"""


def silent_wav(path: Path) -> Path:
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(16000)
        wav.writeframes(bytes(16000 * 2 * 10))
    return path


async def audio_events(server: RunningServer, session_id: str) -> list[dict[str, Any]]:
    async with server.http() as client:
        response = await client.get(f"/candidate-sessions/{session_id}/events")
    assert response.status_code == 200, response.text
    return [e for e in response.json() if e["type"].startswith("audio")]


async def until(server: RunningServer, session_id: str, done: Any) -> list[dict[str, Any]]:
    with anyio.fail_after(45):
        while True:
            events = await audio_events(server, session_id)
            if done(events):
                return events
            await anyio.sleep(0.2)


async def run_page(server: RunningServer, wav: Path, done: Any) -> tuple[str, list[Any]]:
    session_id, token = await server.create_session()
    flag = f"--use-file-for-fake-audio-capture={wav}"
    async with launch_chromium((flag,)) as chromium, another_origin({"/exam": PAGE}) as site:
        watch = PageWatch()
        try:
            query = urlencode({"vigil": server.url, "session": session_id, "token": token})
            page = await watch.open(chromium.tabs, f"{site}/exam?{query}")
            await page.bring_to_front()
            events = await until(server, session_id, done)
            watch.assert_clean()
        finally:
            await watch.close()
    return session_id, events


def analysed(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for e in events if e["type"] == "audio_analyzed"]


async def test_speech_into_the_microphone_gives_one_audio_anomaly(tmp_path: Path) -> None:
    async with running_server(tmp_path, audio={"episode_seconds": 3.0}) as server:
        session_id, events = await run_page(
            server, SPEECH, lambda found: any(e["type"] == "audio_anomaly" for e in found)
        )
        (anomaly,) = [e for e in events if e["type"] == "audio_anomaly"]
        assert anomaly["data"]["episode"]["durationMs"] >= 3000
        windows = analysed(events)
        assert windows and all(e["data"]["confirmed"] for e in windows if e["data"]["anomalous"])
        async with server.http() as client:
            session = (await client.get(f"/candidate-sessions/{session_id}")).json()
        # (closing the tab at the end hides it: a TAB_SWITCH may follow; it is not sound)
        audio = [v["type"] for v in session["violations"] if v["type"].startswith("AUDIO")]
        assert audio == ["AUDIO_ANOMALY"]
        assert session["risk"]["riskBreakdown"]["audioAnomalies"] > 0


async def test_a_silent_room_gives_no_audio_anomaly(tmp_path: Path) -> None:
    quiet = silent_wav(tmp_path / "silence.wav")
    async with running_server(tmp_path / "storage", audio={"episode_seconds": 3.0}) as server:
        _, events = await run_page(server, quiet, lambda found: len(analysed(found)) >= 6)
        assert not [e for e in events if e["type"] == "audio_anomaly"]
        assert not any(e["data"]["anomalous"] for e in analysed(events))
        assert any(e["data"]["confirmed"] for e in analysed(events))  # sampled sound came too


# The flags that let headless Chromium share a screen without a prompt: the fake capture UI
# picks the entire screen, as a candidate clicking "Entire screen" would.
SCREEN_FLAGS = (
    "--auto-select-desktop-capture-source=Entire screen",
    "--enable-usermedia-screen-capturing",
)
# What Chromium logs while the proxy is cut: expected then.
REFUSED = r"(Failed to load resource|net::ERR_|WebSocket connection to)"


async def page_until(page: Any, condition: str) -> dict[str, Any]:
    """Poll the recorder's figures until `condition` (a JS function of them) holds. (The page's
    CSP forbids eval, so no `wait_for_function` with a string.)"""
    read = """() => { const r = window.vigil && window.vigil.screenRecorder;
      if (!r) return null;
      return { ...r.stats, pending: r.pending, sent: window.vigil.pending }; }"""
    with anyio.fail_after(30):
        while True:
            stats = await page.evaluate(read)
            if stats is not None and await page.evaluate(f"({condition})", stats):
                return dict(stats)
            await anyio.sleep(0.1)


async def test_a_screen_recording_uploads_survives_a_network_cut_plays_and_is_erased(
    tmp_path: Path,
) -> None:
    from urllib.parse import urlsplit

    from tests.browser_support import cuttable_proxy

    async with (
        running_server(tmp_path) as server,
        cuttable_proxy(urlsplit(server.url).port or 0) as network,
        launch_chromium(SCREEN_FLAGS) as chromium,
    ):
        session_id, token = await server.create_session()
        watch = PageWatch()
        watch.allow(REFUSED)
        try:
            # A page on the server's origin (through the proxy): the chunks go by plain HTTP.
            page = await watch.open(chromium.tabs, f"{network.url}/demo")
            await page.evaluate(
                """async ([sessionId, token]) => {
                  const { connect } = await import("/sdk/vigil-client.js");
                  window.vigil = connect({ sessionId, token, camera: false, screen: true,
                                           screenChunkMs: 500, heartbeatIntervalMs: 0 });
                }""",
                [session_id, token],
            )
            await page_until(page, "s => s.uploaded >= 2")
            network.cut()
            await page_until(page, "s => s.retries >= 1 && s.pending >= 2")
            network.restore()
            await page_until(page, "s => s.pending === 0 && s.uploaded >= 6")
            await page.evaluate("() => window.vigil.submit()")
            stats = await page_until(page, "s => s.pending === 0 && s.sent === 0")
        finally:
            await watch.close()

        async with server.http() as client:
            session = (await client.get(f"/candidate-sessions/{session_id}")).json()
            recording = session["screenRecording"]
            assert recording["format"] == "video/webm" and recording["fileSize"] == stats["bytes"]
            video_path = f"/candidate-sessions/{session_id}/screen-recording/video"
            whole = (await client.get(video_path)).content
            assert len(whole) == recording["fileSize"] and whole[:4] == b"\x1aE\xdf\xa3"  # EBML
            report = (await client.get(f"/candidate-sessions/{session_id}/report")).json()
            linked = report["detailedFindings"]["screenRecording"]
            assert linked["fileSize"] == recording["fileSize"] and "signature=" in linked["video"]
            async with server.http(token=None) as anonymous:  # a <video> plays the signed link
                played = await anonymous.get(linked["video"], headers={"range": "bytes=0-3"})
                assert played.status_code == 206 and played.content == b"\x1aE\xdf\xa3"
            thumbnail = await client.get(recording["thumbnailUrl"])
            assert thumbnail.status_code == 200 and thumbnail.content[:2] == b"\xff\xd8"
            part = await client.get(video_path, headers={"range": "bytes=100-199"})
            assert part.status_code == 206 and part.content == whole[100:200]
            # Nothing recorded twice: no chunk stored beyond what the recorder counted.
            assert not [v for v in session["violations"] if v["type"] == "RECORDING_FAILURE"]
            assert (await client.delete(f"/candidate-sessions/{session_id}")).status_code == 204
        assert not (tmp_path / "screen" / session_id).exists()


async def test_a_recording_the_network_cannot_carry_stops_and_loses_no_chunk(
    tmp_path: Path,
) -> None:
    """Chunks wait in the page's memory only up to `screenBufferBytes`; past it the recording
    stops with an event, and what was recorded is still all uploaded."""
    async with running_server(tmp_path) as server, launch_chromium(SCREEN_FLAGS) as chromium:
        session_id, token = await server.create_session()
        watch = PageWatch()
        try:
            page = await watch.open(chromium.tabs, f"{server.url}/demo")
            await page.evaluate(
                """async ([sessionId, token]) => {
                  const { connect } = await import("/sdk/vigil-client.js");
                  window.vigil = connect({ sessionId, token, camera: false, screen: true,
                                           screenChunkMs: 500, screenBufferBytes: 1,
                                           heartbeatIntervalMs: 0 });
                }""",
                [session_id, token],
            )
            stats = await page_until(
                page,
                "s => s.uploaded >= 1 && s.pending === 0 && window.vigil.screenRecorder.stopped",
            )
            await page_until(page, "s => s.sent === 0")
        finally:
            await watch.close()
        stopped = [
            e for e in await server.services.store.events(session_id)
            if e.type == "screen_recording_stopped"
        ]  # fmt: skip
        assert [e.data["reason"] for e in stopped if e.data] == ["buffer_full"]
        async with server.http() as client:
            session = (await client.get(f"/candidate-sessions/{session_id}")).json()
        assert session["screenRecording"]["fileSize"] == stats["bytes"]
        # (the demo page in a headless tab may also raise a TAB_SWITCH: not counted here)
        assert [v["type"] for v in session["violations"]].count("RECORDING_FAILURE") == 1


async def test_a_second_monitor_and_the_share_ending_before_the_submit_are_violations(
    tmp_path: Path,
) -> None:
    async with running_server(tmp_path) as server, launch_chromium(SCREEN_FLAGS) as chromium:
        session_id, token = await server.create_session()
        watch = PageWatch()
        try:
            page = await watch.open(chromium.tabs, f"{server.url}/demo")
            await page.evaluate(
                """async ([sessionId, token]) => {
                  const { connect } = await import("/sdk/vigil-client.js");
                  window.vigil = connect({ sessionId, token, camera: false, screen: true,
                                           screenChunkMs: 500, heartbeatIntervalMs: 0 });
                }""",
                [session_id, token],
            )
            await page_until(page, "s => s.uploaded >= 1")
            # A second monitor as Chromium reports one (headless has a single screen).
            await page.evaluate(
                """() => { Object.defineProperty(screen, "isExtended", { get: () => true });
                           screen.dispatchEvent(new Event("change")); }"""
            )
            # The browser's "Stop sharing" bar ends the track as this does ("ended" is not fired
            # by a page's own track.stop()).
            await page.evaluate(
                "() => window.vigil.screenRecorder.stream.getVideoTracks()[0]"
                ".dispatchEvent(new Event('ended'))"
            )
            failures: list[dict[str, Any]] = []
            with anyio.fail_after(15):  # until the event is stored (the page sends it at once)
                while not failures:
                    async with server.http() as client:
                        session = (await client.get(f"/candidate-sessions/{session_id}")).json()
                    failures = [
                        v for v in session["violations"] if v["type"] == "RECORDING_FAILURE"
                    ]
                    await anyio.sleep(0.1)
            await page_until(page, "s => s.sent === 0")
        finally:
            await watch.close()
        assert len(failures) == 1 and failures[0]["severity"] == "HIGH"
        monitors = [v for v in session["violations"] if v["type"] == "MULTIPLE_MONITORS"]
        assert len(monitors) == 1 and monitors[0]["severity"] == "MEDIUM"


def webm_of_seconds(path: Path, seconds: int) -> bytes:
    """A real WebM (VP8, 10 frames a second, a grey level per second), as OpenCV's FFmpeg
    writes it."""
    import cv2
    import numpy as np

    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"VP80"), 10, (320, 240))
    for n in range(seconds * 10):
        writer.write(np.full((240, 320, 3), (n // 10) * 25, np.uint8))
    writer.release()
    return path.read_bytes()


async def test_the_dashboard_plays_the_recording_and_the_clips_and_jumps_to_a_violation(
    tmp_path: Path,
) -> None:
    from tests.test_audio import send_all, speech_pcm, windows
    from tests.test_browser_dashboard import signed_in

    async with running_server(tmp_path / "storage", audio={"episode_seconds": 3.0}) as server:
        session_id, token = await server.create_session()
        video = webm_of_seconds(tmp_path / "screen.webm", 8)
        async with server.http(token) as client:
            put = await client.put(
                f"/candidate-sessions/{session_id}/screen-recording/chunks/0",
                content=video,
                headers={"content-type": "video/webm"},
            )
            assert put.status_code == 200, put.text
        async with server.candidate(session_id, token) as candidate:
            await send_all(candidate, windows(speech_pcm()))  # one AUDIO_ANOMALY, with its clip
        async with launch_chromium() as browser:
            page, console = await signed_in(browser, server)
            await page.goto(f"{server.url}/dashboard#/session/{session_id}")
            media = page.locator("#session-media")
            player = media.locator("video")
            await player.wait_for(timeout=15_000)
            assert "signature=" in (await player.get_attribute("src") or "")
            await media.locator("audio").first.wait_for(timeout=15_000)
            jump = media.get_by_role("button", name="AUDIO_ANOMALY", exact=False)
            await jump.click()
            await page.wait_for_function(
                "() => document.querySelector('#session-media video').readyState >= 1"
            )
            await console.assert_clean(allowed=("play() request was interrupted",))
