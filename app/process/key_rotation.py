"""Master key rotation without a restart: on SIGHUP the server reads its master keys again
(`VIGIL_MASTER_KEY_FILE` is read anew; the environment of a running process cannot change), and
hands them to the journal, which re-wraps the data keys, and to the Kafka mirror process.
Keys that would leave a data key unopenable are refused and the previous ones kept."""

from __future__ import annotations

import logging
import os
import signal
from pathlib import Path

import anyio

from app.kafka.mirror_process import MirrorProcess
from app.storage.journal import SqliteJournal
from app.storage.sealing.data_keys import KeyConfigError, MasterKeys

log = logging.getLogger("vigil.keys")


async def reload_master_keys_on_sighup(
    storage_dir: Path, journal: SqliteJournal, mirror: MirrorProcess | None
) -> None:
    with anyio.open_signal_receiver(signal.SIGHUP) as signals:
        async for _signal in signals:
            await reload_master_keys(storage_dir, journal, mirror)


async def reload_master_keys(
    storage_dir: Path, journal: SqliteJournal, mirror: MirrorProcess | None
) -> bool:
    """True if the keys now in force are the ones just read."""
    try:
        master, _generated = MasterKeys.from_environment(os.environ, storage_dir)
        await journal.use_master_keys(master)
    except KeyConfigError as exc:
        log.error("master keys not reloaded, the previous ones stay in force: %s", exc)
        return False
    if mirror is not None:
        await mirror.use_master_keys(master.encoded())
    log.warning(
        "master keys reloaded: new data keys are wrapped by %s; %d data keys to re-wrap from %s",
        master.current.id,
        journal.keys_under_retired_master,
        ", ".join(master.retired) or "no retired key",
    )
    return True
