"""Audio windows from the candidate socket to the session's actor: decoded (app/audio/wire.py),
judged by the server where the browser sent the sound itself, and sent as `AudioAnalyzedIn`.

Where the browser sent only its measures (a quiet window between samples), they stand, marked
`confirmed: false`; every `[audio] confirm_every`th window must carry its sound, and one that
does not is stored with `sampleMissing: true`, so a page that stopped sending sound shows up."""

from __future__ import annotations

from typing import Any

from actors.messages import AudioAnalyzedIn
from actors.registry import Registry, RegistryClosed, SessionFailed, UnknownSession
from app.audio.analysis import Detector
from app.audio.wire import AudioWindow, decode
from app.settings.audio import AudioSettings


class AudioIntake:
    def __init__(self, settings: AudioSettings, registry: Registry) -> None:
        self._settings = settings
        self._registry = registry
        self._detector = Detector(settings.vad_mode)
        self.windows_per_second = settings.windows_per_second
        self.windows_total = 0
        self.confirmed_total = 0

    async def submit(self, session_id: str, frame: bytes) -> None:
        """Raises `AudioWindowError` for a window that cannot be taken (nothing is stored)."""
        window = decode(frame)
        message = self.analyse(window)
        try:
            await self._registry.send(session_id, message)
        except (UnknownSession, SessionFailed, RegistryClosed):
            return  # erased, failed or shutting down: the socket learns it from its next event

    def analyse(self, window: AudioWindow) -> AudioAnalyzedIn:
        header = window.header
        if header.mic is not None:
            return AudioAnalyzedIn(data={}, mic=header.mic)
        settings = self._settings
        self.windows_total += 1
        data: dict[str, Any] = {
            "window": header.n,
            "durationMs": header.ms,
            "browserLevelDbfs": round(header.level, 1),
            "browserSpeech": round(header.voice, 3),
        }
        if window.pcm:
            self.confirmed_total += 1
            verdict = self._detector.judge(window.pcm, header.rate)
            level, speech, confirmed = verdict.level_dbfs, verdict.speech, True
        else:
            level, speech, confirmed = header.level, header.voice, False
            if header.n % settings.confirm_every == 0:
                data["sampleMissing"] = True
        anomalous = speech >= settings.speech_ratio or level >= settings.loud_dbfs
        if level < settings.silent_dbfs:
            data["inaudible"] = True
        data.update(
            levelDbfs=round(level, 1),
            speech=round(speech, 3),
            anomalous=anomalous,
            confirmed=confirmed,
        )
        browser_said = header.voice >= settings.speech_ratio or header.level >= settings.loud_dbfs
        if confirmed and anomalous and not browser_said:
            data["browserDisagrees"] = True  # the page called it quiet; the sound was not
        return AudioAnalyzedIn(data=data, pcm=window.pcm or None, rate=header.rate)
