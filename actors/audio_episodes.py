"""Audio windows become one `audio_anomaly` per episode (CONTRACT.md section 9.2), never one per
window, the way `vision_episodes` does it for frames.

Each analysed window of microphone sound is stored as `audio_analyzed` (data: `anomalous`,
`speech` ratio, `levelDbfs`, `durationMs`, `confirmed`, ...); the risk score's audio part is the
share of anomalous windows (`scoring.apply`). A run of anomalous windows (speech or loud noise)
that lasts `[audio] episode_seconds` is raised once as `audio_anomaly` (AUDIO_ANOMALY, MEDIUM);
`GAP_WINDOWS` quiet windows in a row end it (a pause between two sentences does not), and a
raised run that ended gets `audio_episode_ended`. Folding those stored events marks the run, so
a replay or a restart agrees on what was raised.

The microphone's state (`audio_unavailable`: denied, muted, no device, silent) is stored once
per change, so a session without sound is recorded as such (completeness), not taken for a
quiet room. Pure: no clock, no I/O.
"""

from __future__ import annotations

from typing import Any, Final

import msgspec

from actors.events import StoredEvent

AUDIO_ANALYZED: Final = "audio_analyzed"  # same spelling as scoring.AUDIO_ANALYZED
AUDIO_ANOMALY: Final = "audio_anomaly"  # data {episode, levelDbfs, clip?}
AUDIO_EPISODE_ENDED: Final = "audio_episode_ended"  # data {violationOffset, episode}
# The microphone gives no usable sound: data {state: denied|muted|no_device|ended|silent, reason}.
AUDIO_UNAVAILABLE: Final = "audio_unavailable"
AUDIO_RESTORED: Final = "audio_restored"  # sound again after audio_unavailable: data {}
MIC_STATES: Final = frozenset({"denied", "muted", "no_device", "ended", "silent"})
# Quiet windows in a row that end a run. Fixed, not configured: folding a stored log must give
# the same runs whatever the configuration says today (lifecycle.fold takes no rules).
GAP_WINDOWS: Final = 2
# Inaudible windows in a row (quieter than `[audio] silent_dbfs`, `inaudible` in their data) after
# which the microphone is recorded as hearing nothing: a muted input or a dead microphone reads
# as digital silence, which no real room is for half a minute.
SILENT_WINDOWS: Final = 30


class AudioRules(msgspec.Struct, frozen=True, kw_only=True):
    episode_seconds: float = 5.0  # anomalous sound this long is an episode


class AudioRun(msgspec.Struct, kw_only=True):
    start: str
    startOffset: int
    lastOffset: int
    windows: int = 1
    durationMs: int = 0
    speechMs: int = 0
    peakDbfs: float = -120.0
    quiet: int = 0  # quiet windows since the last anomalous one
    raisedOffset: int | None = None
    ended: str | None = None


class AudioRuns(msgspec.Struct, kw_only=True):
    """One session's open audio run and microphone state; part of the session's snapshot."""

    run: AudioRun | None = None
    micState: str | None = None  # a MIC_STATES value while the microphone gives nothing
    windows: int = 0  # every analysed window; with `loudest`, tells a silent session apart
    loudest: float = -120.0
    inaudible: int = 0  # inaudible windows in a row


class Due(msgspec.Struct, frozen=True, kw_only=True):
    type: str
    data: dict[str, Any]


def observe(state: AudioRuns, event: StoredEvent) -> None:
    """Fold a stored event into the session's audio runs."""
    data = event.data or {}
    if event.type == AUDIO_ANALYZED:
        _window(state, event, data)
    elif event.type == AUDIO_ANOMALY and state.run is not None:
        state.run.raisedOffset = event.offset
    elif event.type == AUDIO_EPISODE_ENDED:
        state.run = None
    elif event.type == AUDIO_UNAVAILABLE:
        state.micState = str(data.get("state"))
    elif event.type == AUDIO_RESTORED:
        state.micState = None


def due(rules: AudioRules, state: AudioRuns) -> list[Due]:
    """What to store after the last window: a run long enough to raise, or a raised run over."""
    silence = _silence(state)
    if silence is not None:
        return [silence]
    run = state.run
    if run is None:
        return []
    if run.ended is not None and run.raisedOffset is not None:
        return [
            Due(
                type=AUDIO_EPISODE_ENDED,
                data={"violationOffset": run.raisedOffset, "episode": episode(run, run.ended)},
            )
        ]
    if run.raisedOffset is None and run.durationMs >= rules.episode_seconds * 1000:
        return [Due(type=AUDIO_ANOMALY, data={"episode": episode(run), "levelDbfs": run.peakDbfs})]
    return []


def mic_change(state: AudioRuns, reported: str | None) -> Due | None:
    """The event that records the microphone's reported state, when it changed."""
    if reported == state.micState or (reported is None and state.micState == "silent"):
        return None  # a silent microphone is ended by sound, not by the page saying it is on
    if reported is None:
        return Due(type=AUDIO_RESTORED, data={"previous": state.micState})
    return Due(type=AUDIO_UNAVAILABLE, data={"state": reported})


def _silence(state: AudioRuns) -> Due | None:
    if state.micState is None and state.inaudible >= SILENT_WINDOWS:
        return Due(type=AUDIO_UNAVAILABLE, data={"state": "silent"})
    if state.micState == "silent" and state.inaudible == 0:
        return Due(type=AUDIO_RESTORED, data={"previous": "silent"})
    return None


def episode(run: AudioRun, end: str | None = None) -> dict[str, Any]:
    found: dict[str, Any] = {
        "kind": "audio",
        "start": run.start,
        "durationMs": run.durationMs,
        "speechMs": run.speechMs,
        "windows": run.windows,
        "startOffset": run.startOffset,
        "peakDbfs": round(run.peakDbfs, 1),
    }
    if end is not None:
        found["end"] = end
    return found


def _window(state: AudioRuns, event: StoredEvent, data: dict[str, Any]) -> None:
    state.windows += 1
    state.inaudible = state.inaudible + 1 if data.get("inaudible") else 0
    level = float(data.get("levelDbfs", -120.0))
    state.loudest = max(state.loudest, level)
    duration = int(data.get("durationMs", 0))
    run = state.run
    if data.get("anomalous"):
        if run is None:
            state.run = AudioRun(
                start=event.ts,
                startOffset=event.offset,
                lastOffset=event.offset,
                durationMs=duration,
                speechMs=int(duration * float(data.get("speech", 0.0))),
                peakDbfs=level,
            )
            return
        if run.ended is not None:
            return  # an ended run waits for its end event
        run.windows += 1
        run.quiet = 0
        run.lastOffset = event.offset
        run.durationMs += duration
        run.speechMs += int(duration * float(data.get("speech", 0.0)))
        run.peakDbfs = max(run.peakDbfs, level)
    elif run is not None and run.ended is None:
        run.quiet += 1
        if run.quiet < GAP_WINDOWS:
            return
        if run.raisedOffset is None:
            state.run = None  # too short to count: forgotten
        else:
            run.ended = event.ts


def findings(session_id: str, events: list[StoredEvent]) -> list[dict[str, Any]]:
    """The report's `audioEpisodes`: every stored `audio_anomaly`, with the path of its clip."""
    found = []
    for event in events:
        if event.type != AUDIO_ANOMALY:
            continue
        data = event.data or {}
        run = data.get("episode") or {}
        clip = data.get("clip")
        found.append(
            {
                "offset": event.offset,
                "ts": event.ts,
                "start": str(run.get("start", event.ts)),
                "durationMs": int(run.get("durationMs", 0)),
                "peakDbfs": float(run.get("peakDbfs", -120.0)),
                "clip": f"/candidate-sessions/{session_id}/audio-clips/{clip}" if clip else None,
            }
        )
    return found
