"""The `vigil` commands that work on a storage folder: `export`, `purge` and `backup`. Each
reads the same configuration as `vigil serve` (`--config`, `VIGIL_*`), so it finds the same
folder and master keys."""

from __future__ import annotations

import argparse
import os
import socket
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

import anyio

from app.commands.export import UnknownSessionError, export_assessment, export_session
from app.settings import Settings
from app.storage.backup import BackupError, back_up
from app.storage.retention import purge_once
from app.storage.sealing.data_keys import KeyConfigError, UnreadableData
from app.storage.standalone import StorageError, reading, server_answers, writing
from app.storage.store import SqliteStore

Subparsers = Any  # argparse's private _SubParsersAction


def add_parsers(
    commands: Subparsers, config_option: Callable[[argparse.ArgumentParser], None]
) -> None:
    export = commands.add_parser(
        "export",
        help="write a session's or an assessment's stored events as JSON lines, in the "
        "contract's event form (what Kafka consumers get)",
    )
    config_option(export)
    which = export.add_mutually_exclusive_group(required=True)
    which.add_argument("--session", metavar="ID", help="one session, its events in offset order")
    which.add_argument("--assessment", metavar="ID", help="every session of the assessment")
    export.add_argument("--output", type=Path, help="file to write (default: standard output)")
    purge = commands.add_parser(
        "purge",
        help="run the retention job once now: erase the sessions finished more than "
        "[retention] completed_session_days ago, and print their ids",
    )
    config_option(purge)
    purge.add_argument(
        "--force",
        action="store_true",
        help="run even though a server answers on this config's port (it purges by itself)",
    )
    backup = commands.add_parser(
        "backup",
        help="copy the storage folder (databases, frames, key files) consistently, even while "
        "the server runs; restore: docs/operations.md",
    )
    config_option(backup)
    backup.add_argument("dest", type=Path, help="a new or empty folder")
    backup.add_argument(
        "--keys-to",
        type=Path,
        help="a new or empty folder for the key material (keys.db, master-key) instead of DEST: "
        "keep key backups for less time than data backups (crypto-erasure)",
    )


def run(args: argparse.Namespace, settings: Settings) -> int:
    try:
        match args.command:
            case "export":
                return anyio.run(_export, args, settings)
            case "purge":
                return _purge(settings, force=args.force)
            case "backup":
                return _backup(settings, args.dest, args.keys_to)
            case _:
                raise AssertionError(f"unexpected command {args.command!r}")
    except (StorageError, BackupError, UnknownSessionError, KeyConfigError, UnreadableData) as exc:
        print(f"vigil {args.command}: {exc}", file=sys.stderr)
        return 1


async def _export(args: argparse.Namespace, settings: Settings) -> int:
    node_id = settings.server.node_id or socket.gethostname()
    async with reading(settings, os.environ) as store:
        if args.output is None:
            written = await _export_to(args, store, node_id, sys.stdout.buffer)
        else:
            with args.output.open("wb") as out:
                written = await _export_to(args, store, node_id, out)
    print(f"vigil export: {written}", file=sys.stderr)
    return 0


async def _export_to(
    args: argparse.Namespace, store: SqliteStore, node_id: str, out: BinaryIO
) -> str:
    if args.session is not None:
        events = await export_session(store, args.session, node_id, out)
        return f"{events} events of session {args.session}"
    sessions, events = await export_assessment(store, args.assessment, node_id, out)
    return f"{events} events of {sessions} sessions of assessment {args.assessment}"


def _purge(settings: Settings, *, force: bool) -> int:
    days = settings.retention.completed_session_days
    if days <= 0:
        print(
            "vigil purge: retention is off ([retention] completed_session_days = 0): nothing "
            "erased; set it (or VIGIL_RETENTION_COMPLETED_SESSION_DAYS) to the days to keep",
            file=sys.stderr,
        )
        return 0
    if server_answers(settings) and not force:
        print(
            f"vigil purge: a server answers on {settings.server.host}:{settings.server.port}, "
            "and a running server purges by itself every "
            f"{settings.retention.check_interval_seconds:g} s; stop it first, or pass --force",
            file=sys.stderr,
        )
        return 1
    erased = anyio.run(_purge_all, settings)
    for session_id in erased:
        print(session_id)
    print(
        f"vigil purge: erased {len(erased)} session(s) finished more than {days:g} days ago",
        file=sys.stderr,
    )
    return 0


async def _purge_all(settings: Settings) -> list[str]:
    erased: list[str] = []
    async with writing(settings, os.environ) as storage:
        while batch := await purge_once(storage):
            erased.extend(batch)
    return erased


def _backup(settings: Settings, dest: Path, keys_dest: Path | None) -> int:
    report = back_up(settings.storage_dir, dest, keys_dest)
    for name, size in report.databases:
        print(f"{name}: {size} bytes")
    print(f"{dest}: {report.files} other files, {report.file_bytes} bytes")
    if report.vanished:
        print(f"vigil backup: {report.vanished} file(s) were erased while copying; left out")
    return 0
