"""Evidence clips of audio episodes: the last `[audio] clip_seconds` of each session's sound are
held in memory, and when a window raises an `audio_anomaly` they become a WAV kept under
`<storage>/audio-clips/<session>/<offset>.frame`, sealed with the session's data key by a
`FrameStore` of its own (the same writer, erasure and crypto-erasure as webcam frames), where
offset is that of the `audio_anomaly` event.

Memory: at most `max_sessions` sessions' rings (least recently heard dropped first), each at most
clip_seconds of 16-bit sound: 8 s at 8 kHz is 128 KB, so 2,000 sessions hold 256 MB at worst
(only windows the browser sent sound for: speech, noise and one sample in `confirm_every`)."""

from __future__ import annotations

import io
import wave
from collections import OrderedDict, deque

from app.storage.frames import FrameStore


class AudioClips:
    def __init__(self, store: FrameStore, clip_seconds: float, max_sessions: int = 2000) -> None:
        self.store = store
        self._seconds = clip_seconds
        self._max_sessions = max_sessions
        self._rings: OrderedDict[str, deque[tuple[bytes, int]]] = OrderedDict()

    def keep(
        self, session_id: str, window_offset: int, pcm: bytes | None, rate: int, raised: int | None
    ) -> None:
        if self._seconds <= 0:
            return
        ring = self._ring(session_id)
        if pcm:
            if ring and ring[-1][1] != rate:
                ring.clear()  # one clip has one sample rate
            ring.append((pcm, rate))
            self._trim(ring)
        if raised is not None and ring:
            self.store.keep(session_id, raised, to_wav(ring), True)

    def forget(self, session_id: str) -> None:
        self._rings.pop(session_id, None)

    def _ring(self, session_id: str) -> deque[tuple[bytes, int]]:
        ring = self._rings.get(session_id)
        if ring is None:
            ring = self._rings[session_id] = deque()
            while len(self._rings) > self._max_sessions:
                self._rings.popitem(last=False)
        else:
            self._rings.move_to_end(session_id)
        return ring

    def _trim(self, ring: deque[tuple[bytes, int]]) -> None:
        limit = int(self._seconds * ring[-1][1]) * 2
        total = sum(len(pcm) for pcm, _ in ring)
        while len(ring) > 1 and total - len(ring[0][0]) >= limit:
            total -= len(ring.popleft()[0])


def to_wav(ring: deque[tuple[bytes, int]]) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(ring[-1][1])
        for pcm, _ in ring:
            wav.writeframes(pcm)
    return out.getvalue()
