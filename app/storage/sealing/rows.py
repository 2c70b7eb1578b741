"""How each kind of stored row is sealed and opened with its session's data key. The journal
seals, the store opens, the migration seals what version 3 kept in plain text: one place says
what each purpose (the associated data) is, so the three cannot disagree."""

from __future__ import annotations

import base64
from typing import Final

import msgspec

from actors.state import SessionState
from app.storage.sealing.data_keys import SessionCipher


class Identity(msgspec.Struct, frozen=True, kw_only=True):
    """A session's personal data kept beside it: sealed as one value in `sessions.identity`."""

    candidateName: str
    candidateEmail: str
    candidatePhone: str | None = None
    ipAddress: str | None = None
    userAgent: str | None = None


_IDENTITY_DECODER: Final = msgspec.json.Decoder(Identity)


def seal_identity(cipher: SessionCipher, identity: Identity) -> bytes:
    return cipher.seal("identity", msgspec.json.encode(identity))


def open_identity(cipher: SessionCipher, sealed: bytes) -> Identity:
    return _IDENTITY_DECODER.decode(cipher.open("identity", sealed))


def seal_event_data(cipher: SessionCipher, offset: int, data: bytes) -> str:
    """An event's data JSON, sealed and in base64: the journal hands rows to SQLite as one JSON
    array, which carries text (SQLite 3.40 has no unhex to turn hex back into a blob)."""
    return base64.b64encode(cipher.seal(f"event:{offset}", data)).decode()


def open_event_data(cipher: SessionCipher, offset: int, stored: str) -> bytes:
    return cipher.open(f"event:{offset}", base64.b64decode(stored))


def seal_snapshot(cipher: SessionCipher, snapshot: bytes) -> bytes:
    return cipher.seal("snapshot", snapshot)


def open_snapshot(cipher: SessionCipher, sealed: bytes) -> bytes:
    return cipher.open("snapshot", sealed)


def seal_response(cipher: SessionCipher, response: bytes) -> bytes:
    return cipher.seal("response", response)


def open_response(cipher: SessionCipher, sealed: bytes) -> bytes:
    return cipher.open("response", sealed)


def seal_frame(cipher: SessionCipher, offset: int, jpeg: bytes) -> bytes:
    return cipher.seal(f"frame:{offset}", jpeg)


def open_frame(cipher: SessionCipher, offset: int, sealed: bytes) -> bytes:
    return cipher.open(f"frame:{offset}", sealed)


def without_name(state: SessionState) -> SessionState:
    """The state as `sessions.state` keeps it: in plain text (the listing filters on it), so
    without the candidate's name, which the store puts back from the sealed identity."""
    return msgspec.structs.replace(state, candidateName="") if state.candidateName else state


def blank_name(state_json: str) -> str:
    """A stored state's JSON without the name, whatever else it holds (older versions' too)."""
    state = msgspec.json.decode(state_json)
    if isinstance(state, dict) and state.get("candidateName"):
        state["candidateName"] = ""
    return msgspec.json.encode(state).decode()


def seal_biometrics(cipher: SessionCipher, biometrics: bytes) -> bytes:
    return cipher.seal("biometrics", biometrics)


def open_biometrics(cipher: SessionCipher, sealed: bytes) -> bytes:
    return cipher.open("biometrics", sealed)
