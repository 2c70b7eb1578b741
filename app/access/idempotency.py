"""`Idempotency-Key` on POST and PUT: a retried request is answered as the first one was, and
changes nothing again.

The key is recorded in the same transaction as what the request changed (see `RequestMark`), so
a retry after a lost answer, a timeout or a crash of the server is recognised. The answer of a
replay is derived again from what the first request stored, like any read. Keys are per client
(the hash of its token) and are kept for a day.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Final

from starlette.requests import Request

from actors.ports import RequestMark
from app.access.refused import Refused
from app.access.tokens import bearer_token, hash_token
from app.storage.request_rows import expired_before
from app.storage.store import RequestRecord, SqliteStore

HEADER: Final = "Idempotency-Key"
REPLAYED_HEADER: Final = "Idempotent-Replayed"
_VALID_KEY: Final = re.compile(r"^[\x21-\x7e]{1,255}$")


@dataclass(frozen=True, slots=True)
class Attempt:
    """What a request with a key should do: carry out and record `mark`, or answer `replay`."""

    mark: RequestMark | None = None
    replay: RequestRecord | None = None


class Idempotency:
    def __init__(self, store: SqliteStore) -> None:
        self._store = store
        # Keys whose request is being carried out now: a concurrent retry must not run it twice.
        # Bounded by the requests in flight.
        self._in_flight: set[tuple[str, str]] = set()

    @asynccontextmanager
    async def attempt(self, request: Request, body: bytes, status: int) -> AsyncIterator[Attempt]:
        """Hold the request's key while it runs. `status` is the answer's code on success."""
        key = request.headers.get(HEADER)
        if key is None:
            yield Attempt()
            return
        if not _VALID_KEY.fullmatch(key):
            raise Refused(
                400,
                "invalid_idempotency_key",
                "Idempotency-Key must be 1 to 255 visible ASCII characters (a UUID is a good one)",
                HEADER,
            )
        scope = hash_token(bearer_token(request.headers.get("authorization")) or "")
        fingerprint = _fingerprint(request, body)
        held = (scope, key)
        if held in self._in_flight:
            raise Refused(
                409,
                "request_in_progress",
                "a request with this Idempotency-Key is still being carried out; retry it later",
                HEADER,
            )
        self._in_flight.add(held)
        try:
            found = await self._store.carried_out(scope, key, expired_before())
            if found is None:
                yield Attempt(
                    mark=RequestMark(scope=scope, key=key, request=fingerprint, status=status)
                )
            elif found.request != fingerprint:
                raise Refused(
                    422,
                    "idempotency_key_reused",
                    "this Idempotency-Key was used for another request (method, path or body "
                    "differ); use a new key for a new request",
                    HEADER,
                )
            else:
                yield Attempt(replay=found)
        finally:
            self._in_flight.discard(held)


def _fingerprint(request: Request, body: bytes) -> str:
    digest = hashlib.sha256(body).hexdigest()
    return f"{request.method} {request.url.path} {digest}"
