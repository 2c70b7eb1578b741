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
