"""`sessions.state`: the stored copy of a session's state, what lists filter on when the session
is not in memory. Its owner is the session actor: the journal writes the states the actor marks
(`EventEntry.store_state`, `StateEntry`) and decides nothing; when is `actors/stored_state.py`."""

from __future__ import annotations

from typing import Final

import anyio
import msgspec

from actors.ports import EventEntry, StateEntry
from app.storage.sealing.rows import without_name
from app.storage.transaction import Transaction, Writes

ENCODER: Final = msgspec.json.Encoder()

_UPDATE_STATES: Final = (
    "UPDATE sessions SET state = u.value->>0, status = u.value->>1, end_time = u.value->>2, "
    "last_offset = u.value->>3, updated_at = ? FROM json_each(?) AS u WHERE sessions.id = u.value->>4"
)
# A stored state that says a candidate is connected, when no actor runs: the process died.
_DISCONNECT: Final = (
    "UPDATE sessions SET state = json_set(state, '$.connected', json('false')) "
    "WHERE json_extract(state, '$.connected') = 1 RETURNING id, status"
)
# Sessions whose lost connection is worth a `user_disconnected` event.
_UNSUBMITTED: Final = ("IN_PROGRESS", "PAUSED", "TERMINATED")


class DisconnectStates(msgspec.Struct):
    """At start, before any actor runs: no stored state may say a candidate is connected."""

    done: anyio.Event
    lost: list[str] = msgspec.field(default_factory=list)  # set by the writer: unsubmitted ones


class StatesStep(Writes):
    kinds = (EventEntry, StateEntry)

    def write(self, tx: Transaction, ops: list[EventEntry | StateEntry]) -> None:
        latest: dict[str, EventEntry | StateEntry] = {}
        for op in ops:
            if isinstance(op, StateEntry) or op.store_state:
                latest[op.session_id] = op
        if not latest:
            return
        states = [
            (
                without_name(op.state),
                op.state.status,
                op.state.endTime,
                op.event.offset if isinstance(op, EventEntry) else op.offset,
                session_id,
            )
            for session_id, op in latest.items()
        ]
        tx.conn.execute(_UPDATE_STATES, (tx.now, ENCODER.encode(states)))

    async def committed(self, ops: list[EventEntry | StateEntry]) -> None:
        return None  # the events' own step answers for them


class DisconnectStep(Writes):
    kinds = (DisconnectStates,)

    def write(self, tx: Transaction, ops: list[DisconnectStates]) -> None:
        rows = tx.conn.execute(_DISCONNECT).fetchall()
        lost = [str(session_id) for session_id, status in rows if status in _UNSUBMITTED]
        for op in ops:
            op.lost = lost
