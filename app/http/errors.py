"""The error format of CONTRACT.md section 3, `{"error": {"code", "message", "field"?}}`, for
every HTTP error, and the translation of msgspec's validation errors into it. The codes are
those of actors/protocol_codes.py."""

from __future__ import annotations

import logging
import re
from typing import Final

import msgspec
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Match, Route

from actors import protocol_codes as codes
from app.access.refused import Refused
from app.http.security_headers import SECURITY_HEADERS

log = logging.getLogger("vigil.http")

_PATH: Final = re.compile(r"at `\$\.?([^`]*)`")
_MISSING: Final = re.compile(r"(?:missing required|unknown) field `([^`]+)`")
_HTTP_CODES: Final = {
    400: codes.BAD_REQUEST,
    401: codes.UNAUTHORIZED,
    403: codes.FORBIDDEN,
    404: codes.NOT_FOUND,
    405: codes.METHOD_NOT_ALLOWED,
    409: codes.CONFLICT,
    413: codes.TOO_LARGE,
    422: codes.INVALID_BODY,
    429: codes.RATE_LIMITED,
}


class ErrorBody(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    code: str
    message: str
    field: str | None = None


class ErrorEnvelope(msgspec.Struct, frozen=True):
    error: ErrorBody


class ApiError(Refused):
    """An HTTP answer that is not a success: status, code, message, the field at fault, and
    headers. Access control's `Refused` is the same answer raised below the HTTP room."""


def validation_field(error: msgspec.ValidationError) -> str | None:
    """The dotted path of the field msgspec complained about ("data.timeSpent"), if any."""
    text = str(error)
    path = _PATH.search(text)
    prefix = path.group(1) if path and path.group(1) else ""
    missing = _MISSING.search(text)
    if missing:
        return f"{prefix}.{missing.group(1)}" if prefix else missing.group(1)
    return prefix or None


def invalid_body(error: msgspec.ValidationError) -> ApiError:
    return ApiError(422, codes.INVALID_BODY, str(error), validation_field(error))


def invalid_query(error: msgspec.ValidationError) -> ApiError:
    return ApiError(422, codes.INVALID_QUERY, str(error), validation_field(error))


def error_response(
    status: int,
    code: str,
    message: str,
    field: str | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    body = msgspec.json.encode(ErrorEnvelope(ErrorBody(code=code, message=message, field=field)))
    return Response(body, status_code=status, headers=headers, media_type="application/json")


async def on_refused(request: Request, exc: Exception) -> Response:
    """Every `Refused`, `ApiError` included, in CONTRACT.md section 3's error format."""
    assert isinstance(exc, Refused)
    return error_response(exc.status, exc.code, exc.message, exc.field, exc.headers)


async def on_http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = _HTTP_CODES.get(exc.status_code, codes.HTTP_ERROR)
    headers = dict(exc.headers or {})
    if exc.status_code == 405:
        headers["Allow"] = allowed_methods(request)
    return error_response(exc.status_code, code, str(exc.detail), headers=headers or None)


def allowed_methods(request: Request) -> str:
    """Every method the path answers. Starlette's own Allow names only the first route of the
    path, and each route here has one method."""
    methods: set[str] = set()
    for route in request.app.router.routes:
        if isinstance(route, Route) and route.methods:
            match, _ = route.matches(request.scope)
            if match is not Match.NONE:
                methods |= route.methods
    return ", ".join(sorted(methods))


async def on_unexpected(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error serving %s %s", request.method, request.url.path)
    return error_response(
        500,
        codes.INTERNAL,
        "the server failed to handle this request; it was logged",
        headers=dict(SECURITY_HEADERS),
    )
