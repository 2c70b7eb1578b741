"""`Refused`: what access control answers when a request may not go ahead (no token, the wrong
one, over a rate limit, a misused `Idempotency-Key`). The access rooms raise it without knowing
HTTP; `app.http.errors.on_refused` renders it in CONTRACT.md section 3's error format."""

from __future__ import annotations


class Refused(Exception):
    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        field: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.field = field
        self.headers = headers
