"""One audio window as the SDK sends it on the candidate socket: a binary frame

    b"VGAU" | header length (uint16, little-endian) | JSON header | PCM (int16 LE, mono)

Webcam frames are JPEGs (they start with 0xFFD8), so the magic tells the two apart. The header
is what the browser measured (app/web/sdk/audio.js): its window number, length, sample rate, RMS
level, share of voice, and the microphone's state when it gives no sound."""

from __future__ import annotations

import struct
from typing import Annotated, Final, Literal

import msgspec

MAGIC: Final = b"VGAU"
RATES: Final = (8000, 16000)
MicState = Literal["denied", "muted", "no_device", "ended"]


class AudioWindowError(ValueError):
    """A window that cannot be taken: `field` names what was wrong."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


class WindowHeader(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    n: Annotated[int, msgspec.Meta(ge=0, le=10_000_000)]  # the window's number, from 0
    ms: Annotated[int, msgspec.Meta(ge=0, le=5000)] = 0  # its length
    rate: int = 8000
    level: Annotated[float, msgspec.Meta(ge=-120, le=0)] = -120.0  # the browser's RMS, dBFS
    voice: Annotated[float, msgspec.Meta(ge=0, le=1)] = 0.0  # the browser's share of voice
    mic: MicState | None = None


_HEADER: Final = msgspec.json.Decoder(WindowHeader)


class AudioWindow(msgspec.Struct, frozen=True, kw_only=True):
    header: WindowHeader
    pcm: bytes  # empty when the browser sent only its measures


def is_audio(frame: bytes) -> bool:
    return frame[:4] == MAGIC


def decode(frame: bytes) -> AudioWindow:
    if len(frame) < 6 or not is_audio(frame):
        raise AudioWindowError("frame", "an audio window starts with b'VGAU' and a header length")
    (size,) = struct.unpack_from("<H", frame, 4)
    if 6 + size > len(frame):
        raise AudioWindowError("header", f"header of {size} bytes but the frame ends first")
    try:
        header = _HEADER.decode(frame[6 : 6 + size])
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise AudioWindowError("header", f"audio window header: {exc}") from None
    if header.rate not in RATES:
        raise AudioWindowError("rate", f"rate is {header.rate}; expected one of {RATES}")
    pcm = frame[6 + size :]
    if len(pcm) % 2:
        raise AudioWindowError("pcm", f"{len(pcm)} bytes of PCM: 16-bit samples need an even count")
    samples_ms = len(pcm) * 1000 // (2 * header.rate)
    if pcm and abs(samples_ms - header.ms) > 50:
        raise AudioWindowError(
            "ms", f"ms is {header.ms} but the PCM holds {samples_ms} ms at {header.rate} Hz"
        )
    return AudioWindow(header=header, pcm=pcm)


def encode(header: WindowHeader, pcm: bytes = b"") -> bytes:
    """The frame the SDK sends (for tests and benchmarks)."""
    raw = msgspec.json.encode(header)
    return MAGIC + struct.pack("<H", len(raw)) + raw + pcm
