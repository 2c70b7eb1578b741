"""The Kafka mirror's own process, and the server's handle on it.

The server starts `python -m app.kafka.mirror_process`, writes the job (one JSON line) to its stdin,
and reads a status line from its stdout after every round (at most four a second). A later
`drain` line asks it to publish everything stored and exit; the end of stdin (the server died)
makes it exit at once. It has no other link to the server: it reads the SQLite file (WAL lets it
read beside the writer) and keeps its cursor in a file of its own.
"""

from __future__ import annotations

import logging
import signal
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Final

import anyio
import msgspec
from anyio.abc import Process, TaskStatus
from anyio.streams.buffered import BufferedByteReceiveStream

from actors.config import ScoringConfig
from app.kafka.mirror import CursorFile, KafkaMirror, MirrorStatus
from app.settings import KafkaSettings
from app.storage.sealing.data_keys import DataKeys, MasterKeys
from app.storage.store import SqliteStore

log = logging.getLogger("vigil.mirror")
STATUS_EVERY: Final = 0.25


class MirrorJob(msgspec.Struct, frozen=True, kw_only=True):
    database: str
    keystore: str
    master_keys: list[str]  # current first; through the pipe, never on disk
    cursor_file: str
    node_id: str
    kafka: KafkaSettings
    scoring: ScoringConfig
    log_level: str = "info"


class MirrorProcess:
    """The server's handle: starts the mirror, restarts it if it dies, and mirrors its status."""

    def __init__(self, job: MirrorJob) -> None:
        self._job = job
        self.status = MirrorStatus()
        self._process: Process | None = None
        self._draining = False
        self.restarts_total = 0

    # What /metrics and the tests read, as the mirror last reported it.
    @property
    def cursor(self) -> int:
        return self.status.cursor

    @property
    def published_total(self) -> int:
        return self.status.published_total

    @property
    def lag_events(self) -> int:
        return self.status.lag_events

    @property
    def lag_seconds(self) -> float:
        return self.status.lag_seconds

    @property
    def connected(self) -> bool:
        return self.status.connected

    @property
    def errors_total(self) -> int:
        return self.status.errors_total

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        started = False
        while True:
            async with await anyio.open_process(
                [sys.executable, "-m", "app.kafka.mirror_process"], stderr=None
            ) as process:
                self._process = process
                assert process.stdin is not None and process.stdout is not None
                await process.stdin.send(msgspec.json.encode(self._job) + b"\n")
                async for line in _lines(process):
                    self.status = msgspec.json.decode(line, type=MirrorStatus)
                    if not started:
                        started = True
                        task_status.started()
                code = await process.wait()
            if self._draining:
                return
            if not started:
                raise RuntimeError(f"the Kafka mirror process could not start (exit code {code})")
            self.restarts_total += 1
            log.error("kafka mirror: its process exited with code %s; restarting it", code)
            await anyio.sleep(1.0)

    async def use_master_keys(self, encoded: list[str]) -> None:
        """After a master key rotation: the running child gets the keys on its stdin, and a
        restarted one with its job."""
        self._job = msgspec.structs.replace(self._job, master_keys=encoded)
        process = self._process
        if process is None or process.returncode is not None:
            return
        assert process.stdin is not None
        try:
            await process.stdin.send(b"keys " + msgspec.json.encode(encoded) + b"\n")
        except (anyio.BrokenResourceError, anyio.ClosedResourceError):
            return  # it died meanwhile; its restart takes the new job

    async def drain(self) -> None:
        """Ask the mirror to publish what is stored and exit; return when it has."""
        self._draining = True
        process = self._process
        if process is None or process.returncode is not None:
            return
        assert process.stdin is not None
        try:
            await process.stdin.send(b"drain\n")
        except (anyio.BrokenResourceError, anyio.ClosedResourceError):
            return  # it died meanwhile; the next start resumes at its cursor
        await process.wait()

    async def stop(self) -> None:
        process = self._process
        if process is not None and process.returncode is None:
            process.kill()
            with anyio.CancelScope(shield=True):
                await process.wait()


async def _lines(process: Process) -> AsyncIterator[bytes]:
    assert process.stdout is not None
    stdout = BufferedByteReceiveStream(process.stdout)
    while True:
        try:
            yield await stdout.receive_until(b"\n", 65536)
        except (anyio.IncompleteRead, anyio.EndOfStream):
            return  # the mirror exited


def quiet_aiokafka() -> None:
    """aiokafka logs each reconnection attempt (ten a second) while a broker is down; the mirror
    and the cluster view log one line per retry of their own instead."""
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)


# --- the child -------------------------------------------------------------------------------


async def _child() -> None:
    # The server decides when this process stops (a `drain` line, or the end of stdin): a
    # Ctrl-C or a SIGTERM sent to the whole process group must not cut a drain short.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    stdin = anyio.wrap_file(sys.stdin)
    job = msgspec.json.decode(await stdin.readline(), type=MirrorJob)
    logging.basicConfig(
        level=job.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    quiet_aiokafka()
    keys = DataKeys(MasterKeys.from_encoded(job.master_keys))
    store = await SqliteStore.open(Path(job.database), Path(job.keystore), keys)
    mirror = KafkaMirror(
        job.kafka, job.node_id, store, CursorFile(Path(job.cursor_file)), job.scoring
    )
    try:
        async with anyio.create_task_group() as tg:
            _report(mirror.status)
            tg.start_soon(_report_forever, mirror)
            tg.start_soon(_obey, stdin, mirror, keys, tg.cancel_scope)
            await mirror.run()
            tg.cancel_scope.cancel()
    finally:
        _report(mirror.status)
        await store.close()


async def _obey(
    stdin: anyio.AsyncFile[str], mirror: KafkaMirror, keys: DataKeys, scope: anyio.CancelScope
) -> None:
    while True:
        line = await stdin.readline()
        if not line:  # the server is gone: stop at once, the cursor says where to resume
            scope.cancel()
            return
        if line.startswith("keys "):  # the server's master keys rotated
            keys.master = MasterKeys.from_encoded(msgspec.json.decode(line[5:], type=list[str]))
        elif line.strip() == "drain":
            await mirror.drain()
            return


async def _report_forever(mirror: KafkaMirror) -> None:
    while True:
        await anyio.sleep(STATUS_EVERY)
        _report(mirror.status)


def _report(status: MirrorStatus) -> None:
    sys.stdout.write(msgspec.json.encode(status).decode() + "\n")
    sys.stdout.flush()


def main() -> None:
    started = time.monotonic()
    anyio.run(_child)
    log.debug("kafka mirror: exits after %.1f s", time.monotonic() - started)


if __name__ == "__main__":
    main()
