"""Encryption at rest (issue 8, item 1): personal data and frames are sealed with a data key per
session, wrapped by a master key from the environment; erasing a session destroys its key, so an
old backup of its data is unreadable; the master key rotates while the server serves."""

from __future__ import annotations

import base64
import os
import signal
import sqlite3
import time
from pathlib import Path

import httpx
import pytest

from app.settings import load_settings
from app.storage.schema import database_path
from app.storage.sealing.data_keys import (
    MASTER_KEY_ENV,
    MASTER_KEY_FILE_ENV,
    RETIRED_KEYS_ENV,
    DataKeys,
    KeyConfigError,
    MasterKeys,
    UnreadableData,
)
from app.storage.sealing.keystore import check_master_keys, keystore_path, open_keystore
from app.storage.store import SqliteStore
from tests.support import (
    ADMIN_TOKEN,
    TEST_MASTER_KEY,
    RunningServer,
    ServerProcess,
    eventually,
    free_port,
    running_server,
)

pytestmark = pytest.mark.anyio

NAME = "Quintessa Sealed-Name"
EMAIL = "quintessa.sealed@example.org"
PHONE = "+44 7700 900461"
ADDRESS = "127.0.0.77"  # the candidate connects from here: the server stores what it sees
FINGERPRINT = "fp-sealed-5f3a9c"
USER_AGENT = "SealedAgent/7.3"
ANSWER = "answer-sealed-8812"
FRAME = b"\xff\xd8 frame-sealed-4471 \xff\xd9"
MARKERS = [NAME, EMAIL, PHONE, ADDRESS, FINGERPRINT, USER_AGENT, ANSWER]


def new_key() -> str:
    return base64.b64encode(os.urandom(32)).decode()


def files_with(storage: Path, needle: bytes) -> list[str]:
    return [
        str(path.relative_to(storage))
        for path in storage.rglob("*")
        if path.is_file() and needle in path.read_bytes()
    ]


async def record_everything(server: RunningServer) -> tuple[str, str]:
    """A session with personal data in every place Vigil keeps it."""
    async with server.http() as admin:
        created = await admin.post(
            "/candidate-sessions",
            json={
                "assessmentId": "exam-1",
                "candidateName": NAME,
                "candidateEmail": EMAIL,
                "candidatePhone": PHONE,
            },
            headers={"Idempotency-Key": "create-sealed-1"},  # its stored answer holds the token
        )
        assert created.status_code == 201, created.text
        session_id, token = created.json()["id"], created.json()["candidateToken"]
    async with server.candidate(session_id, token, source=ADDRESS) as candidate:
        await candidate.event(1, "assessment_started")
        await candidate.event(
            2,
            "device_info",
            data={
                "userAgent": USER_AGENT,
                "platform": "Linux",
                "screenResolution": "1920x1080",
                "timezone": "UTC",
                "language": "en",
                "deviceFingerprint": FINGERPRINT,
            },
        )
        for seq in range(3, 12):  # past snapshot_every_events: a snapshot is stored too
            await candidate.event(
                seq, "answer_submitted", questionId=f"q{seq}", data={"response": ANSWER}
            )
        await candidate.acked(11)
    frames = server.services.frames
    assert frames is not None
    frames.keep(session_id, 5, FRAME, flagged=True)
    await eventually(lambda: 5 in frames.kept(session_id))
    await server.services.journal.flush()
    return session_id, token


async def test_personal_data_and_frames_are_sealed_at_rest(tmp_path: Path) -> None:
    sections = {"sessions": {"snapshot_every_events": 5}, "vision": {"keep_frames": "all"}}
    async with running_server(tmp_path, **sections) as server:
        session_id, _token = await record_everything(server)
        async with server.http() as admin:
            session = (await admin.get(f"/candidate-sessions/{session_id}")).json()
            events = (await admin.get(f"/candidate-sessions/{session_id}/events")).json()
            frame = await admin.get(f"/candidate-sessions/{session_id}/frames/5.jpg")
        # Readable through the API, as before...
        assert (session["candidateName"], session["candidateEmail"]) == (NAME, EMAIL)
        assert session["candidatePhone"] == PHONE
        assert FINGERPRINT in str(events) and ANSWER in str(events)
        assert frame.content == FRAME
        with sqlite3.connect(database_path(tmp_path)) as db:
            assert db.execute("SELECT count(*) FROM snapshots").fetchone() == (1,)
        # ...and in no file of the storage folder (database, WAL, keystore, frames).
        for marker in [*MARKERS, "frame-sealed-4471"]:
            assert files_with(tmp_path, marker.encode()) == [], marker
    # Recovery opens the sealed snapshot and the sealed events after it.
    async with running_server(tmp_path, **sections) as again:
        async with again.http() as admin:
            session = (await admin.get(f"/candidate-sessions/{session_id}")).json()
        assert session["candidateName"] == NAME
        assert session["state"]["lastOffset"] >= 11
        assert session["state"]["candidateName"] == NAME


async def test_an_erased_session_cannot_be_read_from_an_old_backup(tmp_path: Path) -> None:
    storage, backup = tmp_path / "live", tmp_path / "backup.db"
    async with running_server(storage, vision={"keep_frames": "all"}) as server:
        doomed, _ = await record_everything(server)
        kept, _ = await server.create_session(name="Kept Candidate")
        await server.services.journal.flush()
        with sqlite3.connect(database_path(storage)) as live, sqlite3.connect(backup) as copy:
            live.backup(copy)  # last night's backup of the data, taken before the erasure
        async with server.http() as admin:
            assert (await admin.delete(f"/candidate-sessions/{doomed}")).status_code == 204
    # The backup still holds the erased session's rows, sealed; with the live keystore and
    # master key (all an attacker with the backup could hope for), they no longer open.
    with sqlite3.connect(backup) as db:
        (rows,) = db.execute(
            "SELECT count(*) FROM event_log WHERE session_id = ?", (doomed,)
        ).fetchone()
    assert rows >= 11
    keys = DataKeys(MasterKeys.from_environment({}, storage)[0])
    store = await SqliteStore.open(backup, keystore_path(storage), keys)
    try:
        assert await store.session(doomed) is None
        assert await store.events(doomed) == []
        still = await store.session(kept)
        assert still is not None and still.candidateName == "Kept Candidate"
    finally:
        await store.close()


async def test_the_master_key_rotates_while_the_data_stays_readable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    old, new = new_key(), new_key()
    monkeypatch.setenv(MASTER_KEY_ENV, old)
    sections = {"vision": {"keep_frames": "all"}}
    async with running_server(tmp_path, **sections) as server:
        session_id, _ = await record_everything(server)
    assert not (tmp_path / "master-key").exists()  # the key came from the environment

    monkeypatch.setenv(MASTER_KEY_ENV, new)
    monkeypatch.setenv(RETIRED_KEYS_ENV, old)
    async with running_server(tmp_path, **sections) as server:
        async with server.http() as admin:  # readable at once, while keys are re-wrapped
            assert (await admin.get(f"/candidate-sessions/{session_id}")).json()[
                "candidateEmail"
            ] == EMAIL
        await eventually(lambda: server.services.journal.keys_under_retired_master == 0)
        async with server.http() as admin:
            metrics = (await admin.get("/metrics")).text
        assert "vigil_data_keys_under_retired_master 0" in metrics
    with sqlite3.connect(keystore_path(tmp_path)) as keystore:
        masters = {row[0] for row in keystore.execute("SELECT master_id FROM data_keys")}
    assert masters == {MasterKeys(new).current.id}

    monkeypatch.delenv(RETIRED_KEYS_ENV)  # the old key is gone for good
    async with running_server(tmp_path, **sections) as server:
        async with server.http() as admin:
            body = (await admin.get(f"/candidate-sessions/{session_id}")).json()
            frame = await admin.get(f"/candidate-sessions/{session_id}/frames/5.jpg")
        assert body["candidateName"] == NAME and frame.content == FRAME


def test_a_server_without_the_right_master_key_refuses_to_start(tmp_path: Path) -> None:
    keys_conn = open_keystore(tmp_path / "keys.db")
    try:
        written = DataKeys(MasterKeys(TEST_MASTER_KEY))
        _cipher, master_id, wrapped = written.new("s1")
        keys_conn.execute("INSERT INTO data_keys VALUES ('s1', ?, ?, 't')", (master_id, wrapped))
        check_master_keys(keys_conn, written.master)  # the right key: fine
        with pytest.raises(KeyConfigError, match=RETIRED_KEYS_ENV) as refused:
            check_master_keys(keys_conn, MasterKeys(new_key()))
        assert master_id in str(refused.value)
    finally:
        keys_conn.close()


@pytest.mark.parametrize("text", ["", "short", base64.b64encode(b"x" * 16).decode(), "!" * 44])
def test_a_malformed_master_key_is_refused_with_what_to_do(text: str) -> None:
    with pytest.raises(KeyConfigError, match="openssl rand -base64 32"):
        MasterKeys(text)


def test_sealed_bytes_open_only_where_they_were_sealed() -> None:
    keys = DataKeys(MasterKeys(TEST_MASTER_KEY))
    first, _, _ = keys.new("s1")
    second, _, _ = keys.new("s2")
    sealed = first.seal("event:1", b'{"answer":"x"}')
    assert first.open("event:1", sealed) == b'{"answer":"x"}'
    for cipher, purpose in ((first, "event:2"), (second, "event:1")):
        with pytest.raises(UnreadableData, match="altered, truncated or copied"):
            cipher.open(purpose, sealed)  # moved to another row, or to another session
    tampered = sealed[:-1] + bytes([sealed[-1] ^ 1])
    with pytest.raises(UnreadableData):
        first.open("event:1", tampered)


def test_the_generated_master_key_is_private_and_stable(tmp_path: Path) -> None:
    first, generated = MasterKeys.from_environment({}, tmp_path)
    again, generated_again = MasterKeys.from_environment({}, tmp_path)
    assert generated and not generated_again
    assert first.current.id == again.current.id
    assert (tmp_path / "master-key").stat().st_mode & 0o777 == 0o600


def test_the_master_key_variables_are_not_taken_for_settings() -> None:
    environ = {MASTER_KEY_ENV: new_key(), RETIRED_KEYS_ENV: new_key(), "VIGIL_SERVER_PORT": "9"}
    assert load_settings(environ=environ).server.port == 9


def test_a_sighup_rotates_the_master_key_from_its_file_without_a_restart(tmp_path: Path) -> None:
    old, new = new_key(), new_key()
    key_file = tmp_path / "master-keys"
    key_file.write_text(f"# current first\n{old}\n")
    server = ServerProcess(
        tmp_path / "storage", free_port(), {MASTER_KEY_FILE_ENV: str(key_file), MASTER_KEY_ENV: ""}
    )
    server.start()
    try:
        admin = httpx.Client(
            base_url=server.url, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=10
        )
        created = [
            admin.post(
                "/candidate-sessions",
                json={"assessmentId": "exam-1", "candidateName": NAME, "candidateEmail": EMAIL},
            ).json()["id"]
            for _ in range(3)
        ]

        def retired_left() -> int:
            metrics = admin.get("/metrics").text
            line = next(
                x for x in metrics.splitlines() if x.startswith("vigil_data_keys_under_retired")
            )
            return int(float(line.split()[-1]))

        def masters() -> set[str]:
            with sqlite3.connect(keystore_path(server.storage)) as keystore:
                return {row[0] for row in keystore.execute("SELECT master_id FROM data_keys")}

        def signal_and_wait(expected: set[str]) -> None:
            assert server.process is not None
            server.process.send_signal(signal.SIGHUP)
            deadline = time.monotonic() + 10
            while masters() != expected or retired_left() != 0:
                assert time.monotonic() < deadline, (masters(), server.log.read_text())
                time.sleep(0.05)

        assert masters() == {MasterKeys(old).current.id}
        key_file.write_text(f"{new}\n{old}\n")  # the new key, the old one still accepted
        signal_and_wait({MasterKeys(new).current.id})
        later = admin.post(
            "/candidate-sessions",
            json={"assessmentId": "exam-1", "candidateName": NAME, "candidateEmail": EMAIL},
        ).json()["id"]
        key_file.write_text(f"{new}\n")  # the old key gone
        signal_and_wait({MasterKeys(new).current.id})
        key_file.write_text(f"{new_key()}\n")  # a wrong key: refused, the server carries on
        assert server.process is not None
        server.process.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 10
        while "master keys not reloaded" not in server.log.read_text():
            assert time.monotonic() < deadline, server.log.read_text()
            time.sleep(0.05)
        for session_id in [*created, later]:
            body = admin.get(f"/candidate-sessions/{session_id}").json()
            assert (body["candidateName"], body["candidateEmail"]) == (NAME, EMAIL)
        admin.close()
    finally:
        server.stop()
    key_file.write_text(f"{new}\n")
    server.start()  # a restart with only the new key reads everything
    try:
        body = httpx.get(
            f"{server.url}/candidate-sessions/{created[0]}",
            headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
        ).json()
        assert body["candidateEmail"] == EMAIL
    finally:
        server.stop()
