"""The `[screen]` settings (issue 24): screen recordings uploaded in chunks."""

from __future__ import annotations

from typing import Annotated

import msgspec


class ScreenSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    # Stored bytes of one session's recording; past it recording stops (the exam goes on).
    quota_mb: Annotated[int, msgspec.Meta(ge=1, le=100_000)] = 500
    # One uploaded chunk at most (the SDK's MediaRecorder cuts one every few seconds).
    max_chunk_bytes: Annotated[int, msgspec.Meta(ge=1024, le=256 * 1024 * 1024)] = 16 * 1024 * 1024
