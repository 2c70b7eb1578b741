"""The handlers of the REST API, one module per resource."""

from __future__ import annotations

from typing import Any, Final

from app.http.endpoints import Endpoint
from app.http.routes import (
    assessments,
    audio_clips,
    audit,
    demo,
    events,
    frames,
    identity,
    interventions,
    recordings,
    reports,
    reviews,
    screen,
    sessions,
    verdicts,  # session verdicts and the candidate's record (issue 23)
    webhooks,
)

# Every HTTP endpoint: the router and /openapi.json are built from this one list.
ENDPOINTS: Final[list[Endpoint[Any]]] = [
    *sessions.ENDPOINTS,
    *recordings.ENDPOINTS,
    *identity.ENDPOINTS,
    *reviews.ENDPOINTS,
    *interventions.ENDPOINTS,
    *reports.ENDPOINTS,
    *events.ENDPOINTS,
    *frames.ENDPOINTS,
    *assessments.ENDPOINTS,
    *demo.ENDPOINTS,
    *audit.ENDPOINTS,
    *webhooks.ENDPOINTS,
    *verdicts.ENDPOINTS,
    *audio_clips.ENDPOINTS,  # issue 24
    *screen.ENDPOINTS,  # issue 24
]
