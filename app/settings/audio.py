"""The `[audio]` settings (issue 24): how microphone windows are judged and episodes raised."""

from __future__ import annotations

from typing import Annotated

import msgspec

Dbfs = Annotated[float, msgspec.Meta(ge=-120, le=0)]
Ratio = Annotated[float, msgspec.Meta(ge=0, le=1)]


class AudioSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    enabled: bool = True
    # webrtcvad's aggressiveness, 0 (keeps most as speech) to 3 (strictest).
    vad_mode: Annotated[int, msgspec.Meta(ge=0, le=3)] = 2
    # A window is anomalous when this share of its 30 ms frames is speech, or when it is louder
    # than loud_dbfs (RMS, dB below full scale).
    speech_ratio: Ratio = 0.5
    loud_dbfs: Dbfs = -20.0
    # Anomalous sound this long (summed over windows, pauses of one window allowed) is one
    # `audio_anomaly` (AUDIO_ANOMALY, MEDIUM).
    episode_seconds: Annotated[float, msgspec.Meta(gt=0, le=600)] = 5.0
    # The browser sends the sound itself of every window it finds anomalous and of every Nth
    # window anyway, which the server judges itself: a page that reports silence is caught.
    confirm_every: Annotated[int, msgspec.Meta(ge=1, le=100)] = 5
    # The evidence clip of an episode: the last seconds of sound before it was raised.
    clip_seconds: Annotated[float, msgspec.Meta(ge=0, le=60)] = 8.0
    # A window quieter than this is inaudible; 30 in a row (actors/audio_episodes.py) record the
    # microphone as hearing nothing until sound comes back.
    silent_dbfs: Dbfs = -70.0
    # Audio windows one socket may send per second (bursts of five times as many); the SDK
    # sends one. 0: no limit.
    windows_per_second: Annotated[float, msgspec.Meta(ge=0, le=1000)] = 2.0
