"""Reads from the SQLite database (a read-only connection of its own; WAL lets it run beside the
journal's writer). Everything here sees only committed data."""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Final

import aiosqlite
import msgspec

from actors.events import StoredEvent
from actors.exam import ExamPolicy, ExamRecord, ends_at
from actors.grading import Assessment
from actors.ports import LoadedSession
from actors.state import SNAPSHOT_DECODER, SessionInfo, SessionState
from app.storage.audit import AuditRecord, AuditRow, chain_hash
from app.storage.reads import OneHopReads
from app.storage.review_rows import queue_query
from app.storage.sealing.data_keys import DataKeys, SessionCipher
from app.storage.sealing.rows import (
    open_biometrics,
    open_event_data,
    open_identity,
    open_response,
    open_snapshot,
)

STATE_DECODER: Final = msgspec.json.Decoder(SessionState)
ASSESSMENT_DECODER: Final = msgspec.json.Decoder(Assessment)
# Each session row comes with its wrapped data key (the keystore is attached as `keys`); a
# session without one has been erased (crypto-erasure) and reads as absent. An inner join, so a
# page of the listing is never cut short by such a row.
_SESSION_COLUMNS: Final = (
    "s.id, s.assessment_id, s.identity, s.token_hash, s.start_time, s.end_time, s.status, "
    "s.last_offset, s.state, s.created_at, s.updated_at, s.key, k.master_id, k.wrapped"
)
_SESSIONS_WITH_KEYS: Final = "sessions AS s JOIN keys.data_keys AS k ON k.session_id = s.id"


_AUDIT_COLUMNS: Final = "id, at, actor, action, session_id, status, address, detail"


def _audit_record(row: Any) -> AuditRecord:
    return AuditRecord(
        id=row[0], at=row[1], actor=row[2], action=row[3], sessionId=row[4], status=row[5],
        address=row[6], detail=None if row[7] is None else msgspec.json.decode(row[7]),
    )  # fmt: skip


class SessionRecord(msgspec.Struct, frozen=True, kw_only=True):
    """A row of the sessions table."""

    id: str
    assessmentId: str
    candidateName: str
    candidateEmail: str
    candidatePhone: str | None
    tokenHash: str
    ipAddress: str | None
    userAgent: str | None
    startTime: str
    endTime: str | None
    status: str
    lastOffset: int
    state: SessionState
    createdAt: str
    updatedAt: str
    key: int  # storage order, the pagination cursor

    def info(self) -> SessionInfo:
        return SessionInfo(
            sessionId=self.id,
            assessmentId=self.assessmentId,
            candidateName=self.candidateName,
            candidateEmail=self.candidateEmail,
            candidatePhone=self.candidatePhone,
            startTime=self.startTime,
            tokenHash=self.tokenHash,
        )


class LoggedEvent(msgspec.Struct, frozen=True, kw_only=True):
    """A stored event with its place in the whole log (`id`, commit order) and its session."""

    id: int
    session_id: str
    assessment_id: str
    event: StoredEvent


class RequestRecord(msgspec.Struct, frozen=True, kw_only=True):
    """A row of the idempotency table: a request already carried out."""

    request: str
    status: int
    sessionId: str | None
    offset: int | None
    resourceId: str | None
    response: bytes | None
    createdAt: str


def _event(row: Any, cipher: SessionCipher) -> StoredEvent:
    return StoredEvent(
        offset=row[0],
        seq=row[1],
        type=row[2],
        ts=row[3],
        questionId=row[4],
        origin=row[5],
        data=None
        if row[6] is None
        else msgspec.json.decode(open_event_data(cipher, row[0], row[6])),
    )


class SqliteStore:
    def __init__(self, conn: OneHopReads, keys: DataKeys) -> None:
        self._conn = conn  # every read finishes in one hop (app/storage/reads.py says why)
        self._keys = keys

    @classmethod
    async def open(cls, path: Path, keystore: Path, keys: DataKeys) -> SqliteStore:
        """Read `path`, with its data keys from `keystore` (which the journal has created)."""

        @asynccontextmanager
        async def scan_connection() -> AsyncIterator[aiosqlite.Connection]:
            conn = await _reader(path, keystore)
            try:
                yield conn
            finally:
                await conn.close()

        return cls(OneHopReads(await _reader(path, keystore), scan_connection), keys)

    def _record(self, row: Any) -> SessionRecord:
        """The session with its personal data opened."""
        cipher = self._keys.cipher(row[0], row[12], row[13])
        identity = open_identity(cipher, row[2])
        state = STATE_DECODER.decode(row[8])
        return SessionRecord(
            id=row[0],
            assessmentId=row[1],
            candidateName=identity.candidateName,
            candidateEmail=identity.candidateEmail,
            candidatePhone=identity.candidatePhone,
            tokenHash=row[3],
            ipAddress=identity.ipAddress,
            userAgent=identity.userAgent,
            startTime=row[4],
            endTime=row[5],
            status=row[6],
            lastOffset=row[7],
            state=msgspec.structs.replace(state, candidateName=identity.candidateName),
            createdAt=row[9],
            updatedAt=row[10],
            key=row[11],
        )

    async def cipher(self, session_id: str) -> SessionCipher | None:
        """The session's data key; None if it has none (never created, or erased)."""
        cipher = self._keys.cached(session_id)
        if cipher is not None:
            return cipher
        async with self._conn.execute(
            "SELECT master_id, wrapped FROM keys.data_keys WHERE session_id = ?", (session_id,)
        ) as cursor:
            row = await cursor.fetchone()
        return None if row is None else self._keys.cipher(session_id, row[0], row[1])

    async def close(self) -> None:
        await self._conn.close()

    async def session(self, session_id: str) -> SessionRecord | None:
        async with self._conn.execute(
            f"SELECT {_SESSION_COLUMNS} FROM {_SESSIONS_WITH_KEYS} WHERE s.id = ?", (session_id,)
        ) as cursor:
            row = await cursor.fetchone()
        return None if row is None else self._record(row)

    async def sessions(
        self,
        *,
        assessment_id: str | None = None,
        status: str | None = None,
        trust_level: str | None = None,
        after_key: int = 0,
        limit: int | None = None,
    ) -> list[SessionRecord]:
        """Sessions in creation order after `after_key`, filtered; at most `limit` of them."""
        clauses, args = ["s.key > ?"], [after_key]
        for clause, value in (
            ("s.assessment_id = ?", assessment_id),
            ("s.status = ?", status),
            ("s.state ->> '$.trustLevel' = ?", trust_level),
        ):
            if value is not None:
                clauses.append(clause)
                args.append(value)  # type: ignore[arg-type]
        query = (
            f"SELECT {_SESSION_COLUMNS} FROM {_SESSIONS_WITH_KEYS} "
            f"WHERE {' AND '.join(clauses)} ORDER BY s.key"
        )
        if limit is not None:
            query += " LIMIT ?"
            args.append(limit)
        async with self._conn.execute(query, args) as cursor:
            rows = await cursor.fetchall()
        return [self._record(row) for row in rows]

    async def session_for_token(self, token_hash: str) -> str | None:
        async with self._conn.execute(
            "SELECT id FROM sessions WHERE token_hash = ?", (token_hash,)
        ) as cursor:
            row = await cursor.fetchone()
        return None if row is None else str(row[0])

    async def events(self, session_id: str, after: int = 0, limit: int = -1) -> list[StoredEvent]:
        """The session's events after offset `after`, in offset order (at most `limit`; -1: all)."""
        cipher = await self.cipher(session_id)
        if cipher is None:
            return []
        async with self._conn.execute(
            "SELECT event_offset, seq, type, ts, question_id, origin, data FROM events "
            "WHERE session_key = (SELECT key FROM sessions WHERE id = ?) AND event_offset > ? "
            "ORDER BY event_offset LIMIT ?",
            (session_id, after, limit),
        ) as cursor:
            return [_event(row, cipher) for row in await cursor.fetchall()]

    async def events_of_types(self, session_id: str, types: tuple[str, ...]) -> list[StoredEvent]:
        """The session's events of these types, in offset order (the cohort check reads only
        answers and findings, not the thousands of windows and heartbeats beside them)."""
        cipher = await self.cipher(session_id)
        if cipher is None or not types:
            return []
        marks = ", ".join("?" * len(types))
        async with self._conn.execute(
            "SELECT event_offset, seq, type, ts, question_id, origin, data FROM events "
            "WHERE session_key = (SELECT key FROM sessions WHERE id = ?) "
            f"AND type IN ({marks}) ORDER BY event_offset",
            (session_id, *types),
        ) as cursor:
            return [_event(row, cipher) for row in await cursor.fetchall()]

    async def load(self, session_id: str) -> LoadedSession | None:
        """Identity, newest snapshot and the events after it.

        No transaction (many loads share this connection): events only ever get appended, so
        reading the snapshot first and the events after its offset second is always consistent.
        """
        record = await self.session(session_id)
        if record is None:
            return None
        async with self._conn.execute(
            "SELECT event_offset, state FROM snapshots WHERE session_id = ?", (session_id,)
        ) as cursor:
            row = await cursor.fetchone()
        cipher = await self.cipher(session_id)
        snapshot = (
            None
            if row is None or cipher is None
            else SNAPSHOT_DECODER.decode(open_snapshot(cipher, row[1]))
        )
        tail = await self.events(session_id, after=0 if snapshot is None else snapshot.offset)
        biometrics = None if cipher is None else await self._biometrics(session_id, cipher)
        policy = await self.exam_policy(record.assessmentId)
        return LoadedSession(
            info=record.info(), snapshot=snapshot, tail=tail, biometrics=biometrics, policy=policy
        )

    async def _biometrics(self, session_id: str, cipher: SessionCipher) -> bytes | None:
        async with self._conn.execute(
            "SELECT sealed FROM biometrics WHERE session_id = ?", (session_id,)
        ) as cursor:
            row = await cursor.fetchone()
        return None if row is None else open_biometrics(cipher, row[0])

    async def assessment(self, assessment_id: str) -> Assessment | None:
        async with self._conn.execute(
            "SELECT definition FROM assessments WHERE id = ?", (assessment_id,)
        ) as cursor:
            row = await cursor.fetchone()
        return None if row is None else ASSESSMENT_DECODER.decode(row[0])

    # --- exam control (actors/exam.py) ---------------------------------------------------------

    async def exam_policy(self, assessment_id: str) -> ExamPolicy:
        """The assessment's time limit and camera policy; the defaults if it is not defined."""
        assessment = await self.assessment(assessment_id)
        if assessment is None:
            return ExamPolicy()
        return ExamPolicy(
            durationSeconds=assessment.durationSeconds,
            camera=assessment.camera,
            proctoring=assessment.proctoring,
            questions={question.id: question for question in assessment.questions},
        )

    async def timed_open_sessions(self) -> list[tuple[str, float]]:
        """Open sessions of timed assessments, each with its start plus the duration (epoch
        seconds): a lower bound of its deadline (app/sessions/deadlines.py)."""
        async with self._conn.execute(
            "SELECT s.id, s.start_time, a.definition ->> '$.durationSeconds' "
            "FROM sessions AS s JOIN assessments AS a ON a.id = s.assessment_id "
            "WHERE s.status IN ('IN_PROGRESS', 'PAUSED') "
            "AND a.definition ->> '$.durationSeconds' IS NOT NULL"
        ) as cursor:
            rows = await cursor.fetchall()
        found = []
        for session_id, start, duration in rows:
            ends = ends_at(ExamPolicy(durationSeconds=float(duration)), ExamRecord(), start)
            if ends is not None:
                found.append((str(session_id), ends))
        return found

    async def assessments(self, after: str = "", limit: int = 1000) -> list[Assessment]:
        """Assessments in id order after `after`."""
        async with self._conn.execute(
            "SELECT definition FROM assessments WHERE id > ? ORDER BY id LIMIT ?", (after, limit)
        ) as cursor:
            return [ASSESSMENT_DECODER.decode(row[0]) for row in await cursor.fetchall()]

    async def finished_before(self, cutoff: str, limit: int) -> list[str]:
        """Sessions COMPLETED or TERMINATED whose row last changed before `cutoff` (the server's
        clock: `end_time` is the candidate's)."""
        async with self._conn.execute(
            "SELECT id FROM sessions WHERE status IN ('COMPLETED', 'TERMINATED') "
            "AND updated_at < ? ORDER BY updated_at LIMIT ?",
            (cutoff, limit),
        ) as cursor:
            return [str(row[0]) for row in await cursor.fetchall()]

    async def audit(
        self,
        *,
        session_id: str | None = None,
        actor: str | None = None,
        after: int = 0,
        limit: int = 1000,
    ) -> list[AuditRecord]:
        """Audit rows in log order after id `after`, filtered."""
        clauses: list[str] = ["id > ?"]
        args: list[object] = [after]
        if session_id is not None:
            clauses.append("session_id = ?")
            args.append(session_id)
        if actor is not None:
            clauses.append("actor = ?")
            args.append(actor)
        async with self._conn.execute(
            f"SELECT {_AUDIT_COLUMNS} FROM audit WHERE {' AND '.join(clauses)} ORDER BY id LIMIT ?",
            (*args, limit),
        ) as cursor:
            return [_audit_record(row) for row in await cursor.fetchall()]

    async def audit_chain_break(self) -> tuple[int, int | None]:
        """How many audit rows there are, and the id of the first whose hash does not follow
        from the rows before it (None: the chain is intact)."""
        previous, count = "", 0
        async with self._conn.scan(f"SELECT {_AUDIT_COLUMNS}, hash FROM audit ORDER BY id") as rows:
            async for row in rows:
                count += 1
                record = _audit_record(row)
                row_only = AuditRow(**{f: getattr(record, f) for f in AuditRow.__struct_fields__})
                previous = chain_hash(previous, row_only)
                if previous != row[-1]:
                    return count, record.id
        return count, None

    async def carried_out(self, scope: str, key: str, since: str) -> RequestRecord | None:
        """The request made with this Idempotency-Key by this client since `since`, if any."""
        async with self._conn.execute(
            "SELECT request, status, session_id, event_offset, resource_id, response, created_at "
            "FROM idempotency WHERE scope = ? AND key = ? AND created_at >= ?",
            (scope, key, since),
        ) as cursor:
            row = await cursor.fetchone()
        if row is None:
            return None
        response = None
        if row[5] is not None:
            cipher = None if row[2] is None else await self.cipher(row[2])
            if cipher is None:
                return None  # its session was erased since
            response = open_response(cipher, row[5])
        return RequestRecord(
            request=row[0],
            status=row[1],
            sessionId=row[2],
            offset=row[3],
            resourceId=row[4],
            response=response,
            createdAt=row[6],
        )

    async def submitted_before(self, session_id: str, offset: int) -> bool:
        """Whether the session has an `assessment_submitted` before `offset` (its first one is
        the one that completed it)."""
        async with self._conn.execute(
            "SELECT 1 FROM events WHERE session_key = (SELECT key FROM sessions WHERE id = ?) "
            "AND type = 'assessment_submitted' AND event_offset < ? LIMIT 1",
            (session_id, offset),
        ) as cursor:
            return await cursor.fetchone() is not None

    async def last_event_id(self) -> int:
        async with self._conn.execute("SELECT coalesce(max(id), 0) FROM events") as cursor:
            row = await cursor.fetchone()
        return int(row[0]) if row else 0

    async def events_after_id(
        self, after: int, limit: int, types: frozenset[str] | None = None
    ) -> list[LoggedEvent]:
        """Stored events in commit order, after the event with id `after` (the mirror's tail);
        only those of `types`, if given (the webhooks' tail)."""
        only = ""
        if types is not None:
            only = f" AND e.type IN ({', '.join('?' * len(types))})"
        async with self._conn.execute(
            "SELECT e.id, s.id, s.assessment_id, e.event_offset, e.seq, e.type, e.ts, "
            "e.question_id, e.origin, e.data, k.master_id, k.wrapped FROM events AS e "
            "JOIN sessions AS s ON s.key = e.session_key "
            "JOIN keys.data_keys AS k ON k.session_id = s.id "
            f"WHERE e.id > ?{only} ORDER BY e.id LIMIT ?",
            (after, *sorted(types or ()), limit),
        ) as cursor:
            rows = await cursor.fetchall()
        return [
            LoggedEvent(
                id=row[0],
                session_id=row[1],
                assessment_id=row[2],
                event=_event(row[3:10], self._keys.cipher(row[1], row[10], row[11])),
            )
            for row in rows
        ]

    async def review_queue(
        self,
        *,
        assessment_id: str | None = None,
        status: str | None = None,
        verdict: str | None = None,
        finished: bool | None = None,
        by_risk: bool = True,
    ) -> AsyncGenerator[tuple[SessionRecord, str | None, str | None]]:
        """Sessions with their current verdict (status, at) from storage, riskiest first."""
        query, args = queue_query(
            assessment_id=assessment_id,
            status=status,
            verdict=verdict,
            finished=finished,
            by_risk=by_risk,
            columns=_SESSION_COLUMNS,
            sessions=_SESSIONS_WITH_KEYS,
        )
        async with self._conn.scan(query, args) as cursor:
            async for row in cursor:
                yield self._record(row[:14]), row[14], row[15]


async def _reader(path: Path, keystore: Path) -> aiosqlite.Connection:
    conn = await aiosqlite.connect(path, isolation_level=None)
    await conn.execute("PRAGMA busy_timeout=5000")
    await conn.execute("ATTACH DATABASE ? AS keys", (str(keystore),))
    return conn
