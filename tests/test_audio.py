"""The microphone path (issue 24): audio windows of real speech (espeak-ng, tests/media) and of
silence through the real candidate socket, webrtcvad and storage, to one `audio_anomaly` per
episode, the risk score's audio part, a sealed clip served to a reviewer, and erasure."""

from __future__ import annotations

import io
import wave
from pathlib import Path
from typing import Any

import anyio
import pytest

from actors.audio_episodes import AudioRules, AudioRuns, due, mic_change, observe
from actors.events import StoredEvent
from app.audio.analysis import Detector, level_dbfs
from app.audio.wire import AudioWindowError, WindowHeader, decode, encode
from tests.support import TS, Peer, RunningServer, running_server

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(60)]

SPEECH = Path(__file__).parent / "media" / "speech-16k.wav"
RATE = 16000


def speech_pcm() -> bytes:
    with wave.open(str(SPEECH)) as wav:
        assert wav.getframerate() == RATE and wav.getsampwidth() == 2
        return wav.readframes(wav.getnframes())


def windows(pcm: bytes, every: int = 1) -> list[bytes]:
    """One-second windows as the SDK sends them, sound attached to every `every`th."""
    step = RATE * 2
    found = []
    for n, start in enumerate(range(0, len(pcm) - step + 1, step)):
        chunk = pcm[start : start + step]
        header = WindowHeader(n=n, ms=1000, rate=RATE, level=max(-120.0, level_dbfs(chunk)))
        found.append(encode(header, chunk if n % every == 0 else b""))
    return found


SILENCE = bytes(RATE * 2 * 8)


async def events_of(server: RunningServer, session_id: str) -> list[dict[str, Any]]:
    async with server.http() as client:
        response = await client.get(f"/candidate-sessions/{session_id}/events")
    assert response.status_code == 200, response.text
    body: list[dict[str, Any]] = response.json()
    return body


async def send_all(candidate: Peer, frames: list[bytes]) -> None:
    await candidate.event(1, "assessment_started")
    await candidate.acked(1)
    for frame in frames:
        await candidate.ws.send(frame)
    await candidate.event(2)  # the socket reads in order: acked once every window was handed on
    await candidate.acked(2)


def test_speech_is_mostly_speech_and_silence_none() -> None:
    detector = Detector(2)
    assert detector.speech_share(speech_pcm()[: RATE * 2 * 4], RATE) > 0.5
    assert detector.speech_share(SILENCE, RATE) == 0.0
    assert level_dbfs(SILENCE) == -120.0


def test_a_pause_of_one_window_does_not_end_a_run_two_do() -> None:
    runs = AudioRuns()

    def window(offset: int, anomalous: bool) -> None:
        data = {"anomalous": anomalous, "durationMs": 1000, "speech": 1.0, "levelDbfs": -30.0}
        observe(runs, StoredEvent(type="audio_analyzed", offset=offset, ts=TS, data=data))

    window(1, True)
    window(2, False)
    window(3, True)
    assert runs.run is not None and runs.run.durationMs == 2000
    window(4, False)
    window(5, False)
    assert runs.run is None  # never raised: forgotten


def test_a_microphone_silent_for_thirty_windows_is_recorded_until_sound_returns() -> None:
    runs, raised = AudioRuns(), []
    for offset in range(1, 41):
        data = {"anomalous": False, "durationMs": 1000, "levelDbfs": -120.0, "inaudible": True}
        if offset == 40:
            data = {"anomalous": False, "durationMs": 1000, "levelDbfs": -45.0}
        observe(runs, StoredEvent(type="audio_analyzed", offset=offset, ts=TS, data=data))
        for found in due(AudioRules(), runs):
            raised.append((offset, found.type, found.data))
            observe(runs, StoredEvent(type=found.type, offset=offset, ts=TS, data=found.data))
    assert raised == [
        (30, "audio_unavailable", {"state": "silent"}),
        (40, "audio_restored", {"previous": "silent"}),
    ]
    assert mic_change(runs, None) is None


@pytest.mark.parametrize(
    ("frame", "field"),
    [
        (b"VGAU", "frame"),
        (b"VGAU\x40\x00{}", "header"),
        (encode(WindowHeader(n=0, ms=1000, rate=44100), bytes(88200)), "rate"),
        (encode(WindowHeader(n=0, ms=1000, rate=RATE), bytes(3)), "pcm"),
        (encode(WindowHeader(n=0, ms=200, rate=RATE), bytes(RATE * 2)), "ms"),
        (b"VGAU\x0b\x00" + b'{"n":"one"}', "header"),
    ],
)
def test_bad_windows_are_refused_naming_the_field(frame: bytes, field: str) -> None:
    with pytest.raises(AudioWindowError) as caught:
        decode(frame)
    assert caught.value.field == field


async def test_speech_gives_one_anomaly_with_a_clip_and_silence_none(tmp_path: Path) -> None:
    async with running_server(tmp_path, audio={"episode_seconds": 3.0}) as server:
        speaking, token = await server.create_session()
        async with server.candidate(speaking, token) as candidate:
            await send_all(candidate, windows(speech_pcm()))
        quiet, quiet_token = await server.create_session(name="Grace Hopper")
        async with server.candidate(quiet, quiet_token) as candidate:
            await send_all(candidate, windows(SILENCE, every=5))

        events = await events_of(server, speaking)
        analysed = [e for e in events if e["type"] == "audio_analyzed"]
        assert len(analysed) == 8 and all(e["data"]["confirmed"] for e in analysed)
        anomalies = [e for e in events if e["type"] == "audio_anomaly"]
        assert len(anomalies) == 1, [e["type"] for e in events]
        anomaly = anomalies[0]
        assert anomaly["data"]["episode"]["durationMs"] >= 3000
        assert anomaly["data"]["clip"] == f"{anomaly['offset']}.wav"
        async with server.http() as client:
            session = (await client.get(f"/candidate-sessions/{speaking}")).json()
            clip = await eventually_clip(server, speaking, anomaly["data"]["clip"])
            assert clip.startswith(b"RIFF")
            with wave.open(io.BytesIO(clip)) as wav:
                assert wav.getframerate() == RATE and wav.getnframes() >= RATE * 3
        async with server.http(token=None) as anonymous:
            refused = await anonymous.get(
                f"/candidate-sessions/{speaking}/audio-clips/{anomaly['data']['clip']}"
            )
            assert refused.status_code == 401
        async with server.http() as client:
            report = (await client.get(f"/candidate-sessions/{speaking}/report")).json()
        (finding,) = report["detailedFindings"]["audioEpisodes"]
        assert finding["offset"] == anomaly["offset"] and finding["durationMs"] >= 3000
        async with server.http(token=None) as anonymous:  # the signed link plays without a token
            played = await anonymous.get(finding["clip"])
        assert played.status_code == 200 and played.content == clip
        violations = [v["type"] for v in session["violations"]]
        assert violations == ["AUDIO_ANOMALY"]
        anomalous = sum(e["data"]["anomalous"] for e in analysed)
        assert session["risk"]["riskBreakdown"]["audioAnomalies"] == pytest.approx(
            anomalous / 8, abs=1e-3
        )
        sealed = next((tmp_path / "audio-clips" / speaking).glob("*.frame")).read_bytes()
        assert b"RIFF" not in sealed[:64]  # sealed with the session's key, not plain WAV

        quiet_events = await events_of(server, quiet)
        assert not [e for e in quiet_events if e["type"] == "audio_anomaly"]
        quiet_windows = [e for e in quiet_events if e["type"] == "audio_analyzed"]
        assert [e["data"]["confirmed"] for e in quiet_windows] == [True] + [False] * 4 + [
            True
        ] * 1 + [False] * 2
        async with server.http() as client:
            quiet_session = (await client.get(f"/candidate-sessions/{quiet}")).json()
            assert quiet_session["violations"] == []
            assert quiet_session["risk"]["riskBreakdown"]["audioAnomalies"] == 0.0

            erased = await client.delete(f"/candidate-sessions/{speaking}")
            assert erased.status_code in (200, 204), erased.text
        assert not (tmp_path / "audio-clips" / speaking).exists()


async def eventually_clip(server: RunningServer, session_id: str, name: str) -> bytes:
    """The clip's writer task seals it shortly after the event: wait for it to be there."""
    path = f"/candidate-sessions/{session_id}/audio-clips/{name}"
    async with server.http() as client:
        with anyio.fail_after(5):
            while True:
                response = await client.get(path)
                if response.status_code == 200:
                    return response.content
                assert response.status_code == 404, response.text
                await anyio.sleep(0.02)


async def test_a_tampered_page_reporting_silence_is_overruled(server: RunningServer) -> None:
    session_id, token = await server.create_session()
    pcm = speech_pcm()[: RATE * 2]
    lying = encode(WindowHeader(n=0, ms=1000, rate=RATE, level=-120.0, voice=0.0), pcm)
    async with server.candidate(session_id, token) as candidate:
        await send_all(candidate, [lying])
    (window,) = [e for e in await events_of(server, session_id) if e["type"] == "audio_analyzed"]
    assert window["data"]["anomalous"] is True
    assert window["data"]["browserDisagrees"] is True


async def test_a_denied_microphone_is_recorded_once(server: RunningServer) -> None:
    session_id, token = await server.create_session()
    denied = encode(WindowHeader(n=0, mic="denied"))
    async with server.candidate(session_id, token) as candidate:
        await send_all(candidate, [denied, denied])
    events = await events_of(server, session_id)
    assert [e["data"] for e in events if e["type"] == "audio_unavailable"] == [{"state": "denied"}]
    assert not [e for e in events if e["type"] == "audio_analyzed"]


async def test_windows_faster_than_the_pace_are_refused(tmp_path: Path) -> None:
    async with running_server(tmp_path, audio={"windows_per_second": 1.0}) as server:
        session_id, token = await server.create_session()
        quiet = encode(WindowHeader(n=1, ms=1000, rate=RATE, level=-50.0))
        async with server.candidate(session_id, token) as candidate:
            for _ in range(7):  # a burst of 5 passes, then the pace refuses
                await candidate.ws.send(quiet)
            error, _ = await candidate.recv_until(lambda m: m.get("type") == "error")
            assert error["code"] == "rate_limited"
            await candidate.event(1)
            await candidate.acked(1)
        windows = [e for e in await events_of(server, session_id) if e["type"] == "audio_analyzed"]
        assert 5 <= len(windows) < 7


async def test_a_bad_window_is_refused_on_the_socket_and_nothing_stored(
    server: RunningServer,
) -> None:
    session_id, token = await server.create_session()
    async with server.candidate(session_id, token) as candidate:
        await candidate.ws.send(encode(WindowHeader(n=0, ms=1000, rate=RATE), bytes(3)))
        error, _ = await candidate.recv_until(lambda m: m.get("type") == "error")
        assert error["code"] == "invalid_event" and error["field"] == "pcm"
        await candidate.event(1)
        await candidate.acked(1)
    events = await events_of(server, session_id)
    assert not [e for e in events if e["type"].startswith("audio")]
