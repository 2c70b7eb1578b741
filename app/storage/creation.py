"""Creating sessions (with their data key and sealed identity) and assessments, each with its
Idempotency-Key in the same transaction."""

from __future__ import annotations

from typing import Final

import anyio
import msgspec

from actors.ports import RequestMark
from app.storage.request_rows import insert_requests, request_row
from app.storage.sealing.keyring import KeyRing
from app.storage.sealing.rows import Identity, blank_name, seal_identity, seal_response
from app.storage.transaction import Transaction, Writes


class SessionRow(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    assessment_id: str
    candidate_name: str
    candidate_email: str
    candidate_phone: str | None
    token_hash: str
    ip_address: str | None
    user_agent: str | None
    start_time: str
    status: str
    state: bytes
    created_at: str


class CreateSession(msgspec.Struct, frozen=True):
    row: SessionRow
    done: anyio.Event
    request: RequestMark | None = None
    response: bytes | None = None  # kept for a retry of the request: it holds the token


class CreateAssessment(msgspec.Struct):
    id: str
    definition: bytes
    created_at: str
    done: anyio.Event
    request: RequestMark | None = None
    created: bool = False  # set by the writer: False if the id was taken


_INSERT_SESSIONS: Final = (
    "INSERT INTO sessions (id, assessment_id, identity, token_hash, start_time, status, state, "
    "created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


class SessionsStep(Writes):
    """Runs first in a transaction: the batch's events may belong to a session it creates."""

    kinds = (CreateSession,)
    syncs_keys = True

    def prepare(self, keys: KeyRing, ops: list[CreateSession]) -> None:
        keys.create([op.row.id for op in ops])

    def write(self, tx: Transaction, ops: list[CreateSession]) -> None:
        created, requests = [], []
        for op in ops:
            row = op.row
            cipher = tx.cipher_for(row.id)
            assert cipher is not None, "a new session's data key is stored before its row"
            identity = Identity(
                candidateName=row.candidate_name,
                candidateEmail=row.candidate_email,
                candidatePhone=row.candidate_phone,
                ipAddress=row.ip_address,
                userAgent=row.user_agent,
            )
            created.append(
                (
                    row.id, row.assessment_id, seal_identity(cipher, identity), row.token_hash,
                    row.start_time, row.status, blank_name(row.state.decode()), row.created_at,
                    row.created_at,
                )
            )  # fmt: skip
            if op.request is not None:
                response = None if op.response is None else seal_response(cipher, op.response)
                requests.append(request_row(op.request, tx.now, row.id, response=response))
        tx.conn.executemany(_INSERT_SESSIONS, created)
        insert_requests(tx.conn, requests)


class AssessmentsStep(Writes):
    kinds = (CreateAssessment,)

    def write(self, tx: Transaction, ops: list[CreateAssessment]) -> None:
        requests = []
        for op in ops:
            cursor = tx.conn.execute(
                "INSERT OR IGNORE INTO assessments (id, definition, created_at) VALUES (?, ?, ?)",
                (op.id, op.definition.decode(), op.created_at),
            )
            op.created = cursor.rowcount == 1
            if op.created and op.request is not None:
                requests.append(request_row(op.request, tx.now, resource_id=op.id))
        insert_requests(tx.conn, requests)
