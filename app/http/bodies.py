"""Reading request bodies within the size limit, and writing msgspec-encoded JSON answers."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any, Final, TypeVar

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from actors.bounds import refuse_hostile
from actors.events import iso_ms
from app.http.errors import ApiError, invalid_body, invalid_query

T = TypeVar("T")
_ENCODER = msgspec.json.Encoder()
JSON = "application/json"


async def read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise ApiError(413, "too_large", f"body is {declared} bytes; the limit is {limit}")
    chunks = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise ApiError(413, "too_large", f"body exceeds the limit of {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


async def read_json(request: Request, schema: type[T], limit: int) -> T:
    return decode_json(await read_body(request, limit), schema)


# msgspec raises RecursionError, not DecodeError, on JSON nested deeper than Python's stack.
TOO_DEEP: Final = "the JSON is nested too deeply to read; flatten it"


def decode_json(body: bytes, schema: type[T]) -> T:
    if not body.strip():
        raise ApiError(400, "invalid_json", "the request body is empty; send a JSON object")
    try:
        raw = msgspec.json.decode(body)
    except msgspec.DecodeError as exc:
        raise ApiError(400, "invalid_json", f"the request body is not valid JSON: {exc}") from None
    except RecursionError:
        raise ApiError(400, "invalid_json", TOO_DEEP) from None
    except UnicodeDecodeError as exc:  # msgspec's error for bad UTF-8 inside a JSON string
        raise ApiError(
            400, "invalid_json", f"the request body is not valid UTF-8 ({exc}); encode it as UTF-8"
        ) from None
    for _ in range(_MAX_INTEGRAL_FIXES):
        try:
            value = msgspec.convert(raw, schema)
            refuse_hostile(value)  # times, integers, NUL: the limits of actors/bounds.py
        except msgspec.ValidationError as exc:
            if not _made_integral(raw, exc):
                raise invalid_body(exc) from None
            continue
        return value
    raise ApiError(422, "invalid_body", "too many integers written as decimals; write them as 7")


# JSON Schema counts 673.0 as an integer, and clients (and Schemathesis) send it so; msgspec
# wants 673. Only a field whose type wants an integer is changed, one path at a time, so a float
# inside free-form data stays as sent.
_MAX_INTEGRAL_FIXES: Final = 32
_WANTS_INT: Final = re.compile(
    r"^Expected `int[^`]*`, got `float` - at `\$((?:\.[^.\[`]+|\[\d+\])*)`$"
)
_STEP: Final = re.compile(r"\.([^.\[`]+)|\[(\d+)\]")


def _made_integral(raw: Any, error: msgspec.ValidationError) -> bool:
    found = _WANTS_INT.match(str(error))
    if found is None:
        return False
    steps = [key if key else int(index) for key, index in _STEP.findall(found.group(1))]
    if not steps:
        return False
    holder = raw
    try:
        for step in steps[:-1]:
            holder = holder[step]
        value = holder[steps[-1]]
    except (KeyError, IndexError, TypeError):
        return False
    if not (isinstance(value, float) and value.is_integer()):
        return False
    holder[steps[-1]] = int(value)
    return True


def decode_query(request: Request, schema: type[T]) -> T:
    """The query string as `schema`, or 422 naming the parameter."""
    try:
        value = msgspec.convert(dict(request.query_params), schema, strict=False)
        refuse_hostile(value)
    except msgspec.ValidationError as exc:
        raise invalid_query(exc) from None
    return value


def now_iso() -> str:
    return iso_ms(datetime.now(UTC))


def json_response(value: Any, status: int = 200) -> Response:
    return Response(_ENCODER.encode(value), status_code=status, media_type="application/json")
