"""The journal's side of the keystore: the one writer of data keys (new sessions' keys,
crypto-erasure) and of master-key rotation (re-wrapping retired keys while serving)."""

from __future__ import annotations

import logging
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import anyio

from actors.events import iso_ms
from app.storage.sealing.data_keys import DataKeys, MasterKeys, SessionCipher
from app.storage.sealing.keystore import (
    check_master_keys,
    destroy_keys,
    keys_by_master,
    load_cipher,
    open_keystore,
    rewrap_retired,
    store_keys,
)

log = logging.getLogger("vigil.journal")


class KeyRing:
    """Uses the keystore connection only under `limiter`, the journal connection's limiter: the
    writer's thread is its one user at a time."""

    def __init__(self, path: Path, keys: DataKeys, limiter: anyio.CapacityLimiter) -> None:
        self._path = path
        self.keys = keys
        self._limiter = limiter
        self._conn: sqlite3.Connection | None = None
        # Data keys still wrapped by a retired master key (re-wrapped in the background).
        self.under_retired_master = 0
        self._changed = anyio.Event()

    @property
    def conn(self) -> sqlite3.Connection:
        assert self._conn is not None, "the keystore is not open"
        return self._conn

    def open(self) -> sqlite3.Connection:
        """Open the keystore and refuse master keys that cannot open every data key in it."""
        conn = open_keystore(self._path)
        try:
            check_master_keys(conn, self.keys.master)
        except BaseException:
            conn.close()
            raise
        self._conn = conn
        self.under_retired_master = self._count_retired()
        return conn

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()

    def cipher_for(self, session_id: str) -> SessionCipher | None:
        return load_cipher(self.conn, self.keys, session_id)

    def create(self, session_ids: list[str]) -> None:
        """Commit a data key for each session that has none (a retried creation keeps its key),
        before anything sealed with it is written."""
        now = iso_ms(datetime.now(UTC))
        new_keys, ciphers = [], []
        for session_id in session_ids:
            if self.cipher_for(session_id) is None:
                cipher, master_id, wrapped = self.keys.new(session_id)
                new_keys.append((session_id, master_id, wrapped, now))
                ciphers.append(cipher)
        if new_keys:
            store_keys(self.conn, new_keys)
            for cipher in ciphers:
                self.keys.remember(cipher)

    def destroy(self, session_ids: list[str]) -> None:
        """Crypto-erasure, before the sessions' rows are deleted."""
        destroy_keys(self.conn, self.keys, session_ids)

    def _count_retired(self) -> int:
        retired = self.keys.master.retired
        return sum(
            count for master_id, count in keys_by_master(self.conn).items() if master_id in retired
        )

    async def use_master_keys(self, master: MasterKeys) -> None:
        """Rotate the master key while serving: refused (KeyConfigError) if some data key would
        be left wrapped by a key no longer given; otherwise new data keys are wrapped by the new
        current key at once, and the old ones are re-wrapped in the background."""

        def switch() -> None:
            check_master_keys(self.conn, master)
            self.keys.master = master
            self.under_retired_master = self._count_retired()

        await anyio.to_thread.run_sync(switch, limiter=self._limiter)
        self._changed.set()

    async def rewrap_forever(self) -> None:
        """Master key rotation: re-wrap the data keys of retired master keys with the current
        one, a batch at a time between commits, while serving."""
        conn = self.conn
        while True:
            total = 0
            while self.under_retired_master > 0:
                done = await anyio.to_thread.run_sync(
                    rewrap_retired, conn, self.keys, 500, limiter=self._limiter
                )
                if done == 0:
                    break
                total += done
                self.under_retired_master = max(0, self.under_retired_master - done)
                await anyio.sleep(0.01)
            self.under_retired_master = 0
            if total:
                log.warning(
                    "keystore: re-wrapped %d data keys with master key %s; the retired master "
                    "keys may now be removed",
                    total,
                    self.keys.master.current.id,
                )
            await self._changed.wait()
            self._changed = anyio.Event()
