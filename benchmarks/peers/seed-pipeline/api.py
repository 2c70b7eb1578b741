"""seed-pipeline, step 2-3 of document 000: the browser POSTs each activity event to FastAPI,
which produces it to Kafka (topic `assessment_activity`, key = session id) with aiokafka.

    uvicorn api:app --app-dir benchmarks/peers/seed-pipeline --no-access-log

Written the way FastAPI and aiokafka show it: one producer started in the lifespan, a Pydantic
model validating the body, `send_and_wait` so the answer means the broker has the event
(aiokafka's defaults: acks=1, linger_ms=0; concurrent requests still share batches).
Nothing is stored here and nothing is scored.
"""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, Literal

from aiokafka import AIOKafkaProducer
from fastapi import FastAPI
from pydantic import BaseModel

BOOTSTRAP = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")
TOPIC = os.environ.get("KAFKA_TOPIC", "assessment_activity")

EventType = Literal[
    "assessment_started",
    "question_viewed",
    "answer_submitted",
    "assessment_submitted",
    "user_disconnected",
    "tab_switch_detected",
    "copy_attempt",
    "paste_attempt",
    "inspect_element_opened",
    "fullscreen_exit",
    "focus_lost",
    "right_click_attempt",
    "multiple_tabs_detected",
    "idle_detected",
    "screen_recording_stopped",
    "device_info",
    "heartbeat",
]


class ActivityEvent(BaseModel):
    sessionId: str
    assessmentId: str
    type: EventType
    ts: str
    seq: int | None = None
    questionId: str | None = None
    data: dict[str, Any] | None = None


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    producer = AIOKafkaProducer(
        bootstrap_servers=BOOTSTRAP,
        value_serializer=lambda value: json.dumps(value).encode(),
        key_serializer=str.encode,
    )
    await producer.start()
    app.state.producer = producer
    try:
        yield
    finally:
        await producer.stop()


app = FastAPI(lifespan=lifespan)


@app.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@app.post("/events")
async def publish(event: ActivityEvent) -> dict[str, str]:
    producer: AIOKafkaProducer = app.state.producer
    await producer.send_and_wait(TOPIC, event.model_dump(exclude_none=True), key=event.sessionId)
    return {"status": "published"}
