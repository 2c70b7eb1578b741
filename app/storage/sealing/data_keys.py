"""Encryption at rest: every session has its own AES-256-GCM data key; data keys are stored wrapped
(encrypted) by a master key that lives outside the storage folder, in the environment.

- `VIGIL_MASTER_KEY`: the current master key, 32 random bytes in base64
  (`openssl rand -base64 32`). It wraps every new data key.
- `VIGIL_RETIRED_MASTER_KEYS`: earlier master keys, comma-separated, still accepted to unwrap.
  The journal re-wraps every data key they wrapped under the current key in the background;
  once `vigil_data_keys_under_retired_master` reads 0 they may go.
- Or `VIGIL_MASTER_KEY_FILE`: a file (a systemd credential, say) with the current key on its
  first line and retired ones on the next. The server reads it again on SIGHUP, so the master key
  rotates without a restart: write the new key first, keep the old one below it, send SIGHUP.

Without `VIGIL_MASTER_KEY` a master key is generated once and kept in `<storage>/master-key`.
That still gives crypto-erasure, but whoever copies the whole storage folder can read it: set the
environment variable on a real server.

Sealed data is `nonce (12 bytes) || ciphertext || tag (16 bytes)`. The associated data names the
session and what the bytes are (`vigil:<session>:event:<offset>`), so a ciphertext moved to
another row or another session fails to open instead of being read as that row's data."""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import threading
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

# Named in settings (which reads the environment); re-exported for the key code that uses them.
from app.settings import MASTER_KEY_ENV as MASTER_KEY_ENV
from app.settings import MASTER_KEY_FILE_ENV as MASTER_KEY_FILE_ENV
from app.settings import RETIRED_KEYS_ENV as RETIRED_KEYS_ENV

MASTER_KEY_FILE: Final = "master-key"
_KEY_BYTES: Final = 32
_NONCE_BYTES: Final = 12


class KeyConfigError(ValueError):
    """A master key that is malformed or missing; the message says which and what to do."""


class UnreadableData(ValueError):
    """Sealed bytes that do not open with their session's key: altered, moved, or truncated."""


@dataclass(frozen=True, slots=True)
class MasterKey:
    id: str  # the first 16 hex of the key's sha256: names the key without revealing it
    aead: AESGCM


def _master_key(text: str, where: str) -> MasterKey:
    try:
        raw = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != _KEY_BYTES:
        raise KeyConfigError(
            f"{where} must be {_KEY_BYTES} random bytes in base64 (44 characters, e.g. from "
            f"`openssl rand -base64 32`); got {len(text.strip())} characters that do not decode "
            f"to {_KEY_BYTES} bytes"
        )
    return MasterKey(hashlib.sha256(raw).hexdigest()[:16], AESGCM(raw))


class MasterKeys:
    def __init__(self, current: str, retired: list[str] | None = None) -> None:
        self.current = _master_key(current, MASTER_KEY_ENV)
        self.retired: dict[str, MasterKey] = {}
        for index, text in enumerate(retired or []):
            key = _master_key(text, f"{RETIRED_KEYS_ENV} (key {index + 1})")
            if key.id != self.current.id:
                self.retired[key.id] = key
        self._encoded = [current.strip(), *(text.strip() for text in retired or [])]

    @classmethod
    def from_environment(
        cls, environ: Mapping[str, str], storage_dir: Path
    ) -> tuple[MasterKeys, bool]:
        """The configured keys, and whether the current one was just generated into the
        storage folder (neither `VIGIL_MASTER_KEY_FILE` nor `VIGIL_MASTER_KEY`)."""
        found = cls.configured(environ)
        if found is not None:
            return found[0], False
        retired = [part for part in environ.get(RETIRED_KEYS_ENV, "").split(",") if part.strip()]
        path = storage_dir / MASTER_KEY_FILE
        generated = False
        if not path.exists():
            storage_dir.mkdir(parents=True, exist_ok=True)
            text = base64.b64encode(os.urandom(_KEY_BYTES)).decode()
            partial = path.with_suffix(".partial")
            descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(descriptor, "w") as out:
                out.write(text + "\n")
                out.flush()
                os.fsync(out.fileno())
            partial.replace(path)
            generated = True
        return cls(path.read_text(), retired), generated

    @classmethod
    def configured(cls, environ: Mapping[str, str]) -> tuple[MasterKeys, str] | None:
        """The keys the environment gives, and which variable gave them; None if it gives
        none (the server then uses, or makes, `<storage>/master-key`)."""
        key_file = environ.get(MASTER_KEY_FILE_ENV, "").strip()
        if key_file:
            return cls.from_file(Path(key_file)), f"{MASTER_KEY_FILE_ENV} ({key_file})"
        current = environ.get(MASTER_KEY_ENV, "").strip()
        if current:
            retired = [k for k in environ.get(RETIRED_KEYS_ENV, "").split(",") if k.strip()]
            return cls(current, retired), MASTER_KEY_ENV
        return None

    @classmethod
    def from_file(cls, path: Path) -> MasterKeys:
        """The current key on the first line, retired ones after it (`#` comments allowed)."""
        try:
            text = path.read_text()
        except OSError as exc:
            raise KeyConfigError(
                f"{MASTER_KEY_FILE_ENV}: cannot read {path} ({exc.strerror})"
            ) from None
        lines = [line.strip() for line in text.splitlines()]
        keys = [line for line in lines if line and not line.startswith("#")]
        if not keys:
            raise KeyConfigError(
                f"{MASTER_KEY_FILE_ENV}: {path} holds no key; put the current master key "
                "(`openssl rand -base64 32`) on its first line"
            )
        return cls(keys[0], keys[1:])

    def encoded(self) -> list[str]:
        """Current first, then the retired ones: for a child process (never written to disk)."""
        return list(self._encoded)

    @classmethod
    def from_encoded(cls, keys: list[str]) -> MasterKeys:
        return cls(keys[0], keys[1:])

    def known(self, master_id: str) -> bool:
        return master_id == self.current.id or master_id in self.retired

    def wrap(self, session_id: str, data_key: bytes) -> tuple[str, bytes]:
        nonce = os.urandom(_NONCE_BYTES)
        sealed = self.current.aead.encrypt(nonce, data_key, _wrap_aad(session_id))
        return self.current.id, nonce + sealed

    def unwrap(self, session_id: str, master_id: str, wrapped: bytes) -> bytes:
        key = self.current if master_id == self.current.id else self.retired.get(master_id)
        if key is None:
            raise KeyConfigError(
                f"session {session_id}'s data key is wrapped by master key {master_id}, which is "
                f"neither {MASTER_KEY_ENV} nor in {RETIRED_KEYS_ENV}: add that key to "
                f"{RETIRED_KEYS_ENV}"
            )
        try:
            return key.aead.decrypt(
                wrapped[:_NONCE_BYTES], wrapped[_NONCE_BYTES:], _wrap_aad(session_id)
            )
        except InvalidTag:
            raise UnreadableData(
                f"session {session_id}'s wrapped data key does not open with master key "
                f"{master_id}: the keystore row was altered"
            ) from None


def _wrap_aad(session_id: str) -> bytes:
    return f"vigil:{session_id}:data-key".encode()


class SessionCipher:
    """Seals and opens one session's data with its data key."""

    __slots__ = ("_aead", "_prefix", "session_id")

    def __init__(self, session_id: str, data_key: bytes) -> None:
        self.session_id = session_id
        self._aead = AESGCM(data_key)
        self._prefix = f"vigil:{session_id}:"

    def seal(self, purpose: str, plaintext: bytes) -> bytes:
        nonce = os.urandom(_NONCE_BYTES)
        aad = (self._prefix + purpose).encode()
        return nonce + self._aead.encrypt(nonce, plaintext, aad)

    def open(self, purpose: str, sealed: bytes) -> bytes:
        aad = (self._prefix + purpose).encode()
        try:
            return self._aead.decrypt(sealed[:_NONCE_BYTES], sealed[_NONCE_BYTES:], aad)
        except (InvalidTag, ValueError):
            raise UnreadableData(
                f"session {self.session_id}'s {purpose} does not open with its data key: the "
                "stored bytes were altered, truncated or copied from another row"
            ) from None


class DataKeys:
    """The master keys and the data keys unwrapped so far (least recently used forgotten first).
    Used from the event loop, the journal's thread and the frame writer's: a lock guards the cache.
    Where data keys are stored is the keystore's business (app/storage/sealing/keystore.py)."""

    def __init__(self, master: MasterKeys, cache_size: int = 100_000) -> None:
        self.master = master
        self._cache: OrderedDict[str, SessionCipher] = OrderedDict()
        self._cache_size = cache_size
        self._lock = threading.Lock()

    def new(self, session_id: str) -> tuple[SessionCipher, str, bytes]:
        """A fresh data key for a new session: its cipher, and the key wrapped (master id, bytes).
        Not cached until `remember`: only a key that is stored may seal anything."""
        data_key = AESGCM.generate_key(bit_length=256)
        master_id, wrapped = self.master.wrap(session_id, data_key)
        return SessionCipher(session_id, data_key), master_id, wrapped

    def cached(self, session_id: str) -> SessionCipher | None:
        with self._lock:
            cipher = self._cache.get(session_id)
            if cipher is not None:
                self._cache.move_to_end(session_id)
            return cipher

    def cipher(self, session_id: str, master_id: str, wrapped: bytes) -> SessionCipher:
        """The session's cipher, unwrapping its stored key if it is not cached."""
        cipher = self.cached(session_id)
        if cipher is None:
            cipher = SessionCipher(session_id, self.master.unwrap(session_id, master_id, wrapped))
            self.remember(cipher)
        return cipher

    def forget(self, session_id: str) -> None:
        with self._lock:
            self._cache.pop(session_id, None)

    def remember(self, cipher: SessionCipher) -> None:
        with self._lock:
            self._cache[cipher.session_id] = cipher
            if len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
