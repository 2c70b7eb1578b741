"""`vigil backup DEST`: a consistent copy of a storage folder, taken while the server runs.

Each SQLite database is copied with `VACUUM INTO` on a connection of its own: a snapshot of the
committed data as of one read transaction (WAL lets the server go on writing meanwhile), with no
free pages, so no erased content travels into the copy. `vigil.db` is copied before the keystore
(`keys.db`): a data key is committed before anything sealed with it, so every session in the
data copy has its key in the later keystore copy (a session erased in between is unreadable in
the copy too, as it should be). Then everything else in the folder: kept frames, the admin token,
the URL signing key, the master key file if there is one, Kafka cursors. Files that vanish while
they are copied (an erasure) are left out, as are unfinished writes (`*.partial`).

With `keys_dest`, the key material (`keys.db`, and `master-key` if there is one) goes there
instead: key backups can then be kept for a shorter time than data backups, so an erased
session's data, still in an old data backup, loses its key everywhere once the key backups
from before its erasure are gone (crypto-erasure).
"""

from __future__ import annotations

import os
import shutil
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from app.storage.schema import DATABASE_FILE
from app.storage.sealing.data_keys import MASTER_KEY_FILE
from app.storage.sealing.keystore import KEYSTORE_FILE

_SIDECARS: Final = ("-wal", "-shm", "-journal")


class BackupError(Exception):
    """The backup cannot be made as asked; the message says why."""


@dataclass(slots=True)
class BackupReport:
    databases: list[tuple[str, int]] = field(default_factory=list)  # name, bytes
    files: int = 0
    file_bytes: int = 0
    vanished: int = 0  # files erased while the backup ran


_KEY_MATERIAL: Final = frozenset({KEYSTORE_FILE, MASTER_KEY_FILE})


def back_up(storage: Path, dest: Path, keys_dest: Path | None = None) -> BackupReport:
    database = storage / DATABASE_FILE
    if not database.is_file():
        raise BackupError(f"no database at {database}: expected a Vigil storage folder")
    for folder in (dest, keys_dest):
        if folder is None:
            continue
        if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
            raise BackupError(f"{folder} already exists and is not an empty folder; name a new one")
        if folder.resolve().is_relative_to(storage.resolve()):
            raise BackupError(f"{folder} is inside the storage folder {storage}; put it elsewhere")
    if keys_dest is not None and keys_dest.resolve() == dest.resolve():
        raise BackupError("--keys-to names the backup folder itself; name another folder")
    for folder in (dest, keys_dest):
        if folder is not None:
            folder.mkdir(parents=True, exist_ok=True)
            folder.chmod(0o700)  # it holds tokens and keys

    def target(name: str) -> Path:
        return (keys_dest if keys_dest is not None and name in _KEY_MATERIAL else dest) / name

    report = BackupReport()
    databases = sorted(_databases(storage), key=lambda path: path.name != DATABASE_FILE)
    for path in databases:
        report.databases.append((str(target(path.name)), _copy_database(path, target(path.name))))
    skip = {path.name for path in databases}
    skip.update(path.name + suffix for path in databases for suffix in _SIDECARS)
    for entry in sorted(storage.iterdir()):
        if entry.name not in skip:
            _copy_tree(entry, target(entry.name), report)
    return report


def _databases(storage: Path) -> list[Path]:
    return [
        path
        for path in storage.iterdir()
        if path.is_file() and path.suffix == ".db" and _is_sqlite(path)
    ]


def _is_sqlite(path: Path) -> bool:
    with path.open("rb") as file:
        return file.read(16) == b"SQLite format 3\x00"


def _copy_database(source: Path, target: Path) -> int:
    # A connection of our own: it takes no write lock and never checkpoints the server's WAL
    # behind its back (the server's own checkpointer does that).
    conn = sqlite3.connect(f"{source.resolve().as_uri()}?mode=ro", uri=True)
    try:
        conn.execute("PRAGMA busy_timeout=10000")
        conn.execute("VACUUM INTO ?", (str(target),))
    finally:
        conn.close()
    copy = sqlite3.connect(f"{target.resolve().as_uri()}?mode=ro", uri=True)
    try:
        (verdict,) = copy.execute("PRAGMA quick_check").fetchone()
    finally:
        copy.close()
    if verdict != "ok":
        raise BackupError(f"the copy of {source.name} fails SQLite's quick_check: {verdict}")
    os.chmod(target, 0o600)
    return target.stat().st_size


def _copy_tree(source: Path, target: Path, report: BackupReport) -> None:
    if source.name.endswith(".partial"):
        return
    try:
        if source.is_dir() and not source.is_symlink():
            target.mkdir(exist_ok=True)
            shutil.copystat(source, target)
            for entry in sorted(source.iterdir()):
                _copy_tree(entry, target / entry.name, report)
        elif source.is_file():
            shutil.copy2(source, target)
            report.files += 1
            report.file_bytes += target.stat().st_size
    except FileNotFoundError:
        report.vanished += 1
