"""`GET /webhooks/deliveries`: the webhooks' delivery log, newest first (admin). Each attempt is
a row: delivered, failed (to be retried) or refused (a private address); the next page is
`?before=` the last id (also in `X-Next-Cursor`)."""

from __future__ import annotations

from typing import Annotated, Final

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from app.access.gate import AccessGate
from app.http.bodies import decode_query, json_response
from app.http.endpoints import Endpoint
from app.webhooks.delivery_log import Delivery
from app.webhooks.service import WebhookService

MAX_PAGE: Final = 500


class DeliveriesQuery(msgspec.Struct, frozen=True, kw_only=True):
    endpoint: Annotated[str, msgspec.Meta(max_length=64)] | None = None
    before: Annotated[int, msgspec.Meta(ge=1, le=2**53)] | None = None
    limit: Annotated[int, msgspec.Meta(ge=1, le=MAX_PAGE)] = 100


class WebhookRoutes:
    def __init__(self, gate: AccessGate, webhooks: WebhookService | None) -> None:
        self._gate = gate
        self._webhooks = webhooks

    async def list_deliveries(self, request: Request) -> Response:
        await self._gate.require(request)
        query = decode_query(request, DeliveriesQuery)
        log = None if self._webhooks is None else self._webhooks.log
        if log is None:
            return json_response([])
        rows = await log.deliveries(query.endpoint, query.before, query.limit + 1)
        page = rows[: query.limit]
        response = json_response(page)
        if len(rows) > query.limit:
            response.headers["X-Next-Cursor"] = str(page[-1].id)
        return response


ENDPOINTS: Final = [
    Endpoint(
        "GET",
        "/webhooks/deliveries",
        WebhookRoutes.list_deliveries,
        "The webhooks' delivery log, newest first",
        list[Delivery],
        query=DeliveriesQuery,
        errors=(422,),
    ),
]
