"""Audio (issue 24): what the microphone path costs, per candidate.

    PYTHONPATH=$PWD .venv/bin/python benchmarks/media.py
    PYTHONPATH=$PWD .venv/bin/python benchmarks/media.py --seconds 60 --through-server

- CPU per audio second: the server's judgement of one second of sound (decode the window,
  RMS level, webrtcvad over 30 ms frames), at 8 and 16 kHz, on espeak-ng speech
  (tests/media/speech-16k.wav) and on silence;
- bandwidth per candidate: the bytes the SDK sends per hour for a quiet room (measures every
  second, sound one window in `confirm_every`), for continuous speech (sound every window), and
  for sending all sound always (the server-only design), against the browser-only design
  (measures alone);
- with --through-server: the whole path on a real server (socket, actor, SQLite), windows per
  second one candidate's connection carries, and disk per candidate-hour of stored windows;
  and the screen: chunks of the SDK's default size (5 s at 300 kbit/s) uploaded by 8 clients
  at once, MB per second the server stores (sealed, fsync'd), and disk per candidate-hour.
Prints a table; the figures in the README's "Audio" section come from this script.
"""

from __future__ import annotations

import argparse
import time
import wave
from pathlib import Path

from app.audio.analysis import level_dbfs
from app.audio.intake import AudioIntake
from app.audio.wire import WindowHeader, decode, encode
from app.settings.audio import AudioSettings

SPEECH = Path(__file__).resolve().parent.parent / "tests" / "media" / "speech-16k.wav"


def speech(rate: int) -> bytes:
    with wave.open(str(SPEECH)) as wav:
        pcm = wav.readframes(wav.getnframes())
    if rate == 16000:
        return pcm
    return b"".join(pcm[i : i + 2] for i in range(0, len(pcm), 4))  # every other sample


def windows(pcm: bytes, rate: int, count: int) -> list[bytes]:
    step = rate * 2
    chunks = [pcm[i : i + step] for i in range(0, len(pcm) - step + 1, step)]
    return [
        encode(
            WindowHeader(n=n, ms=1000, rate=rate, level=level_dbfs(chunks[n % len(chunks)])),
            chunks[n % len(chunks)],
        )
        for n in range(count)
    ]


def cpu_per_second(frames: list[bytes]) -> float:
    intake = AudioIntake(AudioSettings(), registry=None)  # type: ignore[arg-type]
    start = time.process_time()
    for frame in frames:
        intake.analyse(decode(frame))
    return (time.process_time() - start) / len(frames)


def bandwidth(rate: int, confirm_every: int) -> dict[str, float]:
    """Bytes per hour of one candidate's windows (WebSocket framing, ~6 bytes each, included)."""
    header = len(encode(WindowHeader(n=1234, ms=1000, rate=rate, level=-43.21, voice=0.123))) + 6
    sound = rate * 2
    hour = 3600
    return {
        "browser only (measures)": header * hour,
        "quiet room (1 in N with sound)": (header + sound / confirm_every) * hour,
        "continuous speech (all sound)": (header + sound) * hour,
    }


async def through_server(seconds: int) -> tuple[float, float]:
    import tempfile

    from tests.support import running_server

    with tempfile.TemporaryDirectory() as folder:
        # No pace limit: the point is how many windows the path carries.
        async with running_server(Path(folder), audio={"windows_per_second": 0}) as server:
            session_id, token = await server.create_session()
            frames = windows(speech(16000), 16000, seconds)
            async with server.candidate(session_id, token) as candidate:
                await candidate.event(1, "assessment_started")
                await candidate.acked(1)
                start = time.perf_counter()
                for frame in frames:
                    await candidate.ws.send(frame)
                await candidate.event(2)
                await candidate.acked(2)
                elapsed = time.perf_counter() - start
            await server.services.journal.flush()
        # After the server stopped: its checkpoint has folded the WAL into the database.
        stored = folder_bytes(Path(folder))
    return seconds / elapsed, stored / seconds * 3600


def folder_bytes(folder: Path) -> int:
    """The databases and the audio clips, not the empty folders and key files around them."""
    db = sum(p.stat().st_size for p in folder.glob("*.db*"))
    return db + sum(p.stat().st_size for p in (folder / "audio-clips").rglob("*"))


async def screen_upload(chunks: int, clients: int = 8) -> tuple[float, float]:
    """MB/s stored for `clients` sessions uploading `chunks` chunks each; bytes per hour."""
    import os
    import tempfile

    import anyio

    from tests.support import running_server

    size = 300_000 // 8 * 5  # 5 s at the SDK's default 300 kbit/s
    body = os.urandom(size)  # video does not compress further; neither does this
    with tempfile.TemporaryDirectory() as folder:
        async with running_server(Path(folder)) as server:
            sessions = [await server.create_session() for _ in range(clients)]

            async def upload(session_id: str, token: str) -> None:
                async with server.http(token) as client:
                    for n in range(chunks):
                        path = f"/candidate-sessions/{session_id}/screen-recording/chunks/{n}"
                        headers = {"content-type": "video/webm"}
                        response = await client.put(path, content=body, headers=headers)
                        assert response.status_code == 200, response.text

            start = time.perf_counter()
            async with anyio.create_task_group() as tg:
                for session_id, token in sessions:
                    tg.start_soon(upload, session_id, token)
            elapsed = time.perf_counter() - start
        on_disk = sum(p.stat().st_size for p in (Path(folder) / "screen").rglob("*.chunk"))
    per_hour = on_disk / (clients * chunks * 5) * 3600
    return clients * chunks * size / elapsed / 1e6, per_hour


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=int, default=600, help="audio seconds per measurement")
    parser.add_argument("--through-server", action="store_true")
    args = parser.parse_args()
    print(f"command: benchmarks/media.py --seconds {args.seconds}")
    print("| audio | server CPU per audio second |")
    print("| --- | --- |")
    for rate in (8000, 16000):
        pcm = speech(rate)
        for name, sound in (("speech", pcm), ("silence", bytes(len(pcm)))):
            cost = cpu_per_second(windows(sound, rate, args.seconds))
            print(f"| {name}, {rate} Hz | {cost * 1e6:.0f} µs ({cost * 100:.3f}% of a core) |")
    print()
    print("| what the SDK sends (16 kHz, confirm_every 5) | per candidate-hour | per second |")
    print("| --- | --- | --- |")
    for name, per_hour in bandwidth(16000, 5).items():
        print(f"| {name} | {per_hour / 1e6:.1f} MB | {per_hour / 3600 / 1000:.1f} kB |")
    if args.through_server:
        import anyio

        rate, disk = anyio.run(through_server, args.seconds)
        print()
        print(f"through a real server: {rate:.0f} windows/s on one socket; "
              f"disk {disk / 1e6:.1f} MB per candidate-hour of continuous speech")  # fmt: skip
        throughput, screen_hour = anyio.run(screen_upload, 40)
        print(f"screen: {throughput:.1f} MB/s of chunks stored (8 clients at once, 187.5 kB "
              f"chunks); disk {screen_hour / 1e6:.0f} MB per candidate-hour at 300 kbit/s")  # fmt: skip


if __name__ == "__main__":
    main()
