"""Webhook deliveries: one task per configured endpoint tails the journal (the SQLite `events`
table, the outbox, as the Kafka mirror does) after its cursor, turns each event into the
webhooks that endpoint wants (app/webhooks/payloads.py), and POSTs them one at a time, signed.

Guarantees and bounds:
- At least once, in journal order (so in offset order per session): the cursor moves past an
  event only once every webhook of it was answered 2xx; a crash in between delivers those again
  (receivers dedupe by the body's `id`).
- A failed delivery (refused address, timeout, connection error, non-2xx) is retried after
  `retry_base_seconds`, then 2x, 4x ... up to `retry_max_seconds`, never dropped; the count and the next attempt's time
  are stored with the cursor, so backing off survives a restart.
- Endpoints are independent: one that is down holds back only its own deliveries. One request in
  flight per endpoint; bodies are at most the event's data; responses are read up to 64 KiB.
- A new endpoint starts at the journal's end: it is told what happens from when it was added.
"""

from __future__ import annotations

import logging
import os
import random
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

import anyio
import httpx
import msgspec

from actors.config import ScoringConfig
from actors.events import iso_ms
from app.settings.webhooks import WebhookEndpoint, WebhooksSettings
from app.storage.store import LoggedEvent, SqliteStore
from app.telemetry.metrics import Metrics
from app.webhooks.delivery_log import Cursor, Delivery, DeliveryLog
from app.webhooks.destination import RefusedDestination, check_destination
from app.webhooks.payloads import SOURCE_TYPES, SUBMITTED, Webhook, webhooks_for
from app.webhooks.signing import SIGNATURE_HEADER, signature

log = logging.getLogger("vigil.webhooks")
BATCH: Final = 200
_MIN_SECRET_BYTES: Final = 16
_ENCODER: Final = msgspec.json.Encoder()


class WebhookConfigError(ValueError):
    pass


def endpoint_secrets(
    settings: WebhooksSettings, environ: Mapping[str, str] = os.environ
) -> dict[str, bytes]:
    """Each endpoint's secret from the environment; a missing or short one stops the start."""
    secrets = {}
    for endpoint in settings.endpoints:
        secret = environ.get(endpoint.secret_env, "")
        if len(secret.encode()) < _MIN_SECRET_BYTES:
            raise WebhookConfigError(
                f"webhooks endpoint {endpoint.name!r}: the environment variable "
                f"{endpoint.secret_env} must hold its signing secret, at least "
                f"{_MIN_SECRET_BYTES} bytes (got {len(secret.encode())})"
            )
        secrets[endpoint.name] = secret.encode()
    return secrets


class WebhookService:
    def __init__(
        self,
        settings: WebhooksSettings,
        secrets: dict[str, bytes],
        scoring: ScoringConfig,
        store: SqliteStore,
        storage: Path,
        metrics: Metrics,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self._secrets = secrets
        self._scoring = scoring
        self._store = store
        self._storage = storage
        self._clock = clock
        self.delivered = 0
        self.failed = 0
        self.log: DeliveryLog | None = None
        metrics.counter("vigil_webhooks_delivered_total", "Webhooks answered 2xx.",
                        lambda: self.delivered)  # fmt: skip
        metrics.counter("vigil_webhooks_failed_total",
                        "Webhook attempts that failed and will be retried.",
                        lambda: self.failed)  # fmt: skip

    async def run(
        self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        self.log = await DeliveryLog.open(self._storage, self.settings.log_rows)
        try:
            timeout = httpx.Timeout(self.settings.timeout_seconds)
            async with (
                httpx.AsyncClient(timeout=timeout, follow_redirects=False) as client,
                anyio.create_task_group() as tg,
            ):
                for endpoint in self.settings.endpoints:
                    tg.start_soon(self._deliver_forever, endpoint, client, self.log)
                task_status.started()
        finally:
            with anyio.CancelScope(shield=True):
                await self.log.close()

    async def _deliver_forever(
        self, endpoint: WebhookEndpoint, client: httpx.AsyncClient, log_: DeliveryLog
    ) -> None:
        cursor = await log_.cursor(endpoint.name, await self._store.last_event_id())
        while True:
            batch = await self._store.events_after_id(cursor.after_id, BATCH, SOURCE_TYPES)
            if not batch:
                await anyio.sleep(self.settings.poll_seconds)
                continue
            for logged in batch:
                for webhook in await self._webhooks(endpoint, logged):
                    cursor = await self._until_delivered(endpoint, client, log_, webhook, cursor)
                cursor = Cursor(after_id=logged.id)
                await log_.save(endpoint.name, cursor)

    async def _webhooks(self, endpoint: WebhookEndpoint, logged: LoggedEvent) -> list[Webhook]:
        first = True
        if logged.event.type == SUBMITTED:
            first = not await self._store.submitted_before(logged.session_id, logged.event.offset)
        return webhooks_for(self._scoring, endpoint, logged, first)

    async def _until_delivered(
        self,
        endpoint: WebhookEndpoint,
        client: httpx.AsyncClient,
        log_: DeliveryLog,
        webhook: Webhook,
        cursor: Cursor,
    ) -> Cursor:
        while True:
            if cursor.retry_at is not None:
                await anyio.sleep(max(0.0, cursor.retry_at - self._clock()))
            delivery = await self._attempt(endpoint, client, webhook, cursor.failures + 1)
            await log_.record(endpoint.name, delivery)
            if delivery.outcome == "delivered":
                self.delivered += 1
                return Cursor(after_id=cursor.after_id)
            self.failed += 1
            failures = cursor.failures + 1
            backoff = self.settings.retry_base_seconds * 2.0 ** min(failures - 1, 30)
            delay = min(self.settings.retry_max_seconds, backoff)
            delay *= random.uniform(0.8, 1.0)  # endpoints that failed together spread out
            cursor = Cursor(
                after_id=cursor.after_id, failures=failures, retry_at=self._clock() + delay
            )
            await log_.save(endpoint.name, cursor)
            log.warning(
                "webhook %s to %s failed (%s), attempt %d; next in %.1f s",
                webhook.id, endpoint.name, delivery.error, failures, delay,
            )  # fmt: skip

    async def _attempt(
        self, endpoint: WebhookEndpoint, client: httpx.AsyncClient, webhook: Webhook, attempt: int
    ) -> Delivery:
        body = _ENCODER.encode(webhook)
        started = time.perf_counter()
        status: int | None = None
        error: str | None = None
        outcome = "failed"
        try:
            destination = await check_destination(endpoint.url, self.settings.allow_private)
            now = int(self._clock())
            headers = {
                "content-type": "application/json",
                "user-agent": "Vigil-Webhooks/1",
                SIGNATURE_HEADER: signature(self._secrets[endpoint.name], now, body),
                "Vigil-Webhook-Id": webhook.id,
            }
            if destination.host_header is not None:
                headers["host"] = destination.host_header
            async with client.stream(
                "POST",
                destination.url,
                content=body,
                headers=headers,
                extensions=destination.extensions(),
            ) as got:
                status = got.status_code
                await _read_some(got)
            if 200 <= status < 300:
                outcome = "delivered"
            else:
                error = f"answered {status}"
        except RefusedDestination as exc:
            outcome, error = "refused", str(exc)
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"[:500]
        return Delivery(
            id=0,
            endpoint=endpoint.name,
            webhookId=webhook.id,
            type=webhook.type,
            sessionId=webhook.sessionId,
            attempt=attempt,
            outcome=outcome,
            httpStatus=status,
            error=error,
            at=iso_ms(datetime.now(UTC)),
            ms=round((time.perf_counter() - started) * 1000, 1),
        )


async def _read_some(response: httpx.Response, limit: int = 64 * 1024) -> None:
    """Read (and drop) at most `limit` bytes of the answer: a receiver cannot make us buffer."""
    read = 0
    async for chunk in response.aiter_bytes():
        read += len(chunk)
        if read >= limit:
            break
