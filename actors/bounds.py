"""The limits every value from outside keeps, checked once at the edge so no handler can forget.

- A time, once its offset is applied, lies within years 1 to 9999 UTC: Python cannot convert
  `9999-12-31T23:59:59-23:59` to UTC, and the conversion used to fail deep inside a session.
- An integer fits SQLite's signed 64 bits: msgspec reads integers of any size. Every integer
  field says so in its type (`Int64`, `Count`, ...: tests/test_edge_limits.py checks that every
  one of the REST API does); inside free-form data (`metadata`, `data`) a number is kept in the
  event's sealed JSON and never reaches an SQLite integer, so there any JSON number goes.
- No string holds NUL (U+0000): SQLite's JSON functions, which the journal's batched insert
  unpacks rows with, cut a text at its first NUL, so `q\\u0000z` was stored as `q`.
- A duration a client reports is at most `MAX_SECONDS`, and the folds that add them up clamp
  their sums with `clamp_total`: two `1e308` no longer add up to infinity (served as `null`).

`refuse_hostile` walks a decoded value for times and NUL and raises msgspec's ValidationError,
whose " - at `$.path`" the error handlers of both the REST API and the sockets already turn into
the `field` of their error. `BoundedDecoder` is a msgspec JSON decoder that applies it.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Annotated, Any, Final, Generic, TypeVar

import msgspec

MIN_INT: Final = -(2**63)
MAX_INT: Final = 2**63 - 1
# About 31 years: longer than any assessment, far from where a sum of them could overflow.
MAX_SECONDS: Final = 1e9
MAX_MS: Final = 10**12
# What a fold's running sum stops at (about 31 million years of seconds).
MAX_TOTAL: Final = 1e15

Int64 = Annotated[int, msgspec.Meta(ge=MIN_INT, le=MAX_INT)]
Count = Annotated[int, msgspec.Meta(ge=0, le=MAX_INT)]
Seconds = Annotated[float, msgspec.Meta(ge=0, le=MAX_SECONDS)]
Milliseconds = Annotated[int, msgspec.Meta(ge=0, le=MAX_MS)]
# No NUL, said where a schema can say it (the OpenAPI document); `refuse_hostile` enforces it for
# every string, these included.
NO_NUL: Final = r"^[^\x00]*$"

T = TypeVar("T")


def clamp_total(total: float) -> float:
    """A running sum of client-reported amounts, kept finite (also for events stored before the
    inputs were bounded)."""
    if total != total:  # NaN
        return 0.0
    return max(-MAX_TOTAL, min(total, MAX_TOTAL))


def _refuse(message: str, path: str) -> msgspec.ValidationError:
    return msgspec.ValidationError(f"{message} - at `{path}`")


def check_moment(moment: datetime, path: str = "$") -> None:
    if moment.tzinfo is UTC or moment.tzinfo is None:
        return
    try:
        moment.astimezone(UTC)
    except OverflowError:
        raise _refuse(
            f"Expected a time within years 1 to 9999 once converted to UTC, got "
            f"{moment.isoformat()}: its offset moves it off the calendar; send it in UTC (Z)",
            path,
        ) from None


def _check_text(text: str, path: str) -> None:
    if "\x00" in text:
        raise _refuse("Expected text without NUL characters (U+0000), got one: remove it", path)


def refuse_hostile(value: Any, path: str = "$") -> None:
    """Raise msgspec.ValidationError naming the first value past the limits above, if any."""
    if isinstance(value, str):
        _check_text(value, path)
    elif isinstance(value, bool | int) or value is None:
        return
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise _refuse(f"Expected a finite number, got {value}", path)
    elif isinstance(value, datetime):
        check_moment(value, path)
    elif isinstance(value, dict):
        for key, item in value.items():
            if isinstance(key, str):
                _check_text(key, path)
                refuse_hostile(item, f"{path}.{key}")
            else:
                refuse_hostile(item, f"{path}[{key!r}]")
    elif isinstance(value, list | tuple | set | frozenset):
        for index, item in enumerate(value):
            refuse_hostile(item, f"{path}[{index}]")
    elif isinstance(value, msgspec.Struct):
        for name in value.__struct_fields__:
            refuse_hostile(getattr(value, name), f"{path}.{name}")


class BoundedDecoder(Generic[T]):
    """A msgspec JSON decoder of `T` that also refuses values past the limits above, for the
    sockets' hot path. Typed integers and durations carry their bounds in their types; the walk
    runs only on a frame with a `\\u00..` escape (JSON's one way to write NUL); the top-level
    times named in `moments` are always checked (a cheap test when they are UTC)."""

    __slots__ = ("_decoder", "_moments")

    def __init__(self, schema: Any, moments: tuple[str, ...] = ()) -> None:
        self._decoder: msgspec.json.Decoder[T] = msgspec.json.Decoder(schema)
        self._moments = moments

    @property
    def type(self) -> Any:
        """What it decodes, as `msgspec.json.Decoder.type` says (the AsyncAPI document reads it)."""
        return self._decoder.type

    def decode(self, data: str | bytes) -> T:
        value = self._decoder.decode(data)
        escaped = "\\u00" in data if isinstance(data, str) else b"\\u00" in data
        if escaped:
            refuse_hostile(value)
        else:
            for name in self._moments:
                moment = getattr(value, name, None)
                if moment is not None:
                    check_moment(moment, f"$.{name}")
        return value
