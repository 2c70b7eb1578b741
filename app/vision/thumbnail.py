"""The screen recording's thumbnail (issue 24): the first picture of its first chunk, as a small
JPEG. OpenCV's wheel decodes WebM with its bundled FFmpeg, which reads only files: the chunk is
written to a private temporary file (in memory where /dev/shm exists) and removed at once."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Final

import cv2

WIDTH: Final = 320
_SHM: Final = Path("/dev/shm")


def first_picture(chunk: bytes, suffix: str = ".webm") -> bytes | None:
    """A JPEG `WIDTH` wide of the chunk's first picture, or None if it holds none."""
    folder = str(_SHM) if _SHM.is_dir() else None
    handle, name = tempfile.mkstemp(suffix=suffix, dir=folder)
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(chunk)
        capture = cv2.VideoCapture(name)
        try:
            ok, picture = capture.read()
        finally:
            capture.release()
    finally:
        os.unlink(name)
    if not ok or picture is None:
        return None
    height = max(1, round(picture.shape[0] * WIDTH / picture.shape[1]))
    small = cv2.resize(picture, (WIDTH, height), interpolation=cv2.INTER_AREA)
    encoded, jpeg = cv2.imencode(".jpg", small, [cv2.IMWRITE_JPEG_QUALITY, 80])
    return jpeg.tobytes() if encoded else None
