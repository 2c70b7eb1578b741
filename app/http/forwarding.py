"""Any node as a front door: a request about a session that another node of the cluster hosts
(`/candidate-sessions/<id>...`, reached here through a plain round-robin load balancer) is
forwarded to that node, one proxy hop, and its answer passed back as it came. The prefix rule in
front (docs/operations.md) remains the fast path: with it, no request needs the hop."""

from __future__ import annotations

import logging
import re
from typing import Final
from urllib.parse import quote, unquote

import httpx
import msgspec
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from actors.protocol_codes import NODE_UNREACHABLE, TOO_LARGE
from app.http.errors import ErrorBody, ErrorEnvelope
from app.kafka.cluster_nodes import UP
from app.kafka.cluster_view import ClusterView

log = logging.getLogger("vigil.http")
_SESSION_PATH: Final = re.compile(r"^/candidate-sessions/([^/]+)")
FORWARDED_BY: Final = b"x-vigil-forwarded-by"  # one hop at most: a forwarded request stays
# An admin socket reads its commands one at a time: a silent owner must not hold it for long.
INTERVENE_TIMEOUT: Final = 5.0
_HOP_BY_HOP: Final = frozenset(
    {
        b"host", b"connection", b"keep-alive", b"transfer-encoding", b"te", b"trailer",
        b"upgrade", b"proxy-authorization", b"proxy-connection", b"content-length",
    }
)  # fmt: skip


class Forwarder:
    """The hop itself: one shared HTTP client, owned by the server's lifespan."""

    def __init__(
        self, cluster: ClusterView, client: httpx.AsyncClient, max_body_bytes: int
    ) -> None:
        self.cluster = cluster
        self._client = client
        self._max_body = max_body_bytes
        self.forwarded_total = 0

    async def forward(self, scope: Scope, receive: Receive, send: Send, host: str) -> None:
        url = self.cluster.nodes.url(host)
        if url is None or self.cluster.nodes.status(host) != UP:
            await _error(send, 503, NODE_UNREACHABLE, f"node {host!r} that hosts this session "
                         "is not answering; retry later", retry_after=2)  # fmt: skip
            return
        body = await _body(receive, self._max_body)
        if body is None:
            await _error(send, 413, TOO_LARGE, f"body over {self._max_body} bytes")
            return
        headers = [(k, v) for k, v in scope["headers"] if k.lower() not in _HOP_BY_HOP]
        headers.append((FORWARDED_BY, self.cluster.node_id.encode()))
        client = scope.get("client")
        if client:
            headers.append((b"x-forwarded-for", client[0].encode()))
        target = url + scope["raw_path"].decode("latin-1")
        if scope.get("query_string"):
            target += "?" + scope["query_string"].decode("latin-1")
        request = self._client.build_request(scope["method"], target, headers=headers, content=body)
        try:
            response = await self._client.send(request, stream=True)
        except httpx.HTTPError as exc:
            log.warning("forwarding to node %s failed: %s", host, exc)
            await _error(send, 503, NODE_UNREACHABLE, f"node {host!r} that hosts this session "
                         "did not answer; retry later", retry_after=2)  # fmt: skip
            return
        self.forwarded_total += 1
        try:
            kept = [(k, v) for k, v in response.headers.raw if k.lower() not in _HOP_BY_HOP]
            await send({"type": "http.response.start", "status": response.status_code,
                        "headers": kept})  # fmt: skip
            async for chunk in response.aiter_raw():
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b""})
        finally:
            await response.aclose()

    async def intervene(
        self, host: str, session_id: str, token: str, action: str, message: str
    ) -> httpx.Response | None:
        """An admin socket's `intervene` for a session `host` holds, sent there as
        `POST /candidate-sessions/:id/interventions` with the admin's own token (the owner
        checks it, stores the event and records it on its audit log). None: it cannot be
        reached."""
        url = self.cluster.nodes.url(host)
        if url is None or self.cluster.nodes.status(host) != UP:
            return None
        try:
            response = await self._client.post(
                f"{url}/candidate-sessions/{quote(session_id, safe='')}/interventions",
                json={"action": action, "message": message},
                headers={
                    "authorization": f"Bearer {token}",
                    FORWARDED_BY.decode(): self.cluster.node_id,
                },
                timeout=INTERVENE_TIMEOUT,
            )
        except httpx.HTTPError as exc:
            log.warning("forwarding an intervention to node %s failed: %s", host, exc)
            return None
        self.forwarded_total += 1
        return response


class SessionForwarding:
    """ASGI middleware: the hop for sessions hosted elsewhere; everything else passes. The
    forwarder is set once the services run (`forwarder`, by the lifespan)."""

    def __init__(self, app: ASGIApp, slot: ForwardingSlot) -> None:
        self.app = app
        self.slot = slot

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        forwarder = self.slot.forwarder
        if forwarder is not None and scope["type"] == "http":
            found = _SESSION_PATH.match(scope["path"])
            if found and not any(k == FORWARDED_BY for k, _ in scope["headers"]):
                host = forwarder.cluster.host_of(unquote(found.group(1)))
                if host is not None:
                    await forwarder.forward(scope, receive, send, host)
                    return
        await self.app(scope, receive, send)


class ForwardingSlot:
    def __init__(self) -> None:
        self.forwarder: Forwarder | None = None


async def _body(receive: Receive, limit: int) -> bytes | None:
    chunks: list[bytes] = []
    size = 0
    while True:
        message: Message = await receive()
        if message["type"] != "http.request":
            return b"".join(chunks)  # the client went away; the owner sees an empty body
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


async def _error(
    send: Send, status: int, code: str, message: str, retry_after: int | None = None
) -> None:
    body = msgspec.json.encode(ErrorEnvelope(ErrorBody(code=code, message=message)))
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if retry_after is not None:
        headers.append((b"retry-after", str(retry_after).encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
