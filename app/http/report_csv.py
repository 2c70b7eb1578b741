"""A session's events as CSV (`GET .../report?format=csv`), one row per stored event in offset
order, for spreadsheets and audits."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from typing import Final

import msgspec

from actors.events import StoredEvent

COLUMNS: Final = ("offset", "ts", "type", "origin", "seq", "questionId", "data")
# A cell a spreadsheet would run as a formula (CSV injection); the candidate writes some cells.
_FORMULA_START: Final = ("=", "+", "-", "@", "\t", "\r")


def events_csv(events: Iterable[StoredEvent]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    for event in events:
        data = msgspec.json.encode(event.data).decode() if event.data is not None else ""
        writer.writerow(
            (
                event.offset,
                event.ts,
                _cell(event.type),
                event.origin,
                "" if event.seq is None else event.seq,
                _cell(event.questionId or ""),
                _cell(data),
            )
        )
    return out.getvalue()


def _cell(text: str) -> str:
    return "'" + text if text.startswith(_FORMULA_START) else text
