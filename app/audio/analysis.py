"""Judging one window of sound: its RMS level and the share of 30 ms frames that webrtcvad calls
speech. webrtcvad (Google's WebRTC detector, a C extension from the `webrtcvad-wheels` wheel, MIT
licence) takes about 1-2 ms of one core per second of 8 kHz sound (benchmarks/media.py), so the
event loop runs it inline: no pool, no queue."""

from __future__ import annotations

import math
from typing import Final

import numpy as np
import webrtcvad

_FRAME_MS: Final = 30
# Quieter than this (RMS) is no voice anyone could hear, whatever the detector says of its noise.
_INAUDIBLE_DBFS: Final = -60.0


class Verdict:
    __slots__ = ("level_dbfs", "speech")

    def __init__(self, level_dbfs: float, speech: float) -> None:
        self.level_dbfs = level_dbfs
        self.speech = speech


class Detector:
    def __init__(self, mode: int) -> None:
        self._mode = mode

    def judge(self, pcm: bytes, rate: int) -> Verdict:
        return Verdict(level_dbfs(pcm), self.speech_share(pcm, rate))

    def speech_share(self, pcm: bytes, rate: int) -> float:
        step = rate * _FRAME_MS // 1000 * 2
        frames = len(pcm) // step
        if frames == 0 or level_dbfs(pcm) < _INAUDIBLE_DBFS:
            return 0.0
        # A fresh detector per window: webrtcvad carries its "hangover" from one call to the
        # next, so a window would otherwise depend on the one before (and on which was sampled).
        vad = webrtcvad.Vad(self._mode)
        speech = sum(
            bool(vad.is_speech(pcm[i * step : (i + 1) * step], rate)) for i in range(frames)
        )
        return speech / frames


def level_dbfs(pcm: bytes) -> float:
    """RMS level in dB below full scale; -120 for silence or no samples."""
    if len(pcm) < 2:
        return -120.0
    samples = np.frombuffer(pcm[: len(pcm) // 2 * 2], dtype="<i2").astype(np.float64)
    rms = math.sqrt(float(np.mean(samples * samples)))
    if rms <= 0:
        return -120.0
    return max(-120.0, 20 * math.log10(rms / 32768.0))
