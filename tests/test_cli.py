"""The `vigil` commands a self-hoster runs beside the server: check-config, create-token, export,
purge and backup, against real storage folders made by a real server."""

from __future__ import annotations

import base64
import json
import os
import tomllib
from pathlib import Path
from typing import Any

import anyio
import pytest

from app.access.tokens import HASH_PREFIX, hash_token
from app.commands.cli import main
from app.settings import Settings
from app.storage.sealing.data_keys import MasterKeys
from tests.support import ADMIN_TOKEN, RunningServer, free_port, running_server

pytestmark = pytest.mark.anyio


@pytest.fixture
def storage_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The environment a command sees: this test's storage folder, and a port nobody serves."""
    for name in [name for name in os.environ if name.startswith("VIGIL_")]:
        monkeypatch.delenv(name)
    storage = tmp_path / "storage"
    monkeypatch.setenv("VIGIL_STORAGE_DIR", str(storage))
    monkeypatch.setenv("VIGIL_SERVER_PORT", str(free_port()))
    return storage


async def vigil(*argv: str) -> int:
    """The command in a thread of its own: it runs its own event loop, as from a shell."""
    return await anyio.to_thread.run_sync(main, list(argv))


async def session_with_events(
    server: RunningServer, assessment_id: str, events: int, submit: bool = False
) -> str:
    session_id, token = await server.create_session(assessment_id)
    async with server.candidate(session_id, token) as candidate:
        await candidate.event(1, "assessment_started")
        for seq in range(2, events + 1):
            await candidate.event(seq, "tab_switch_detected", questionId="q1")
        await candidate.acked(events)
    if submit:
        async with server.http(token=token) as own:
            answer = await own.post(f"/candidate-sessions/{session_id}/submit", json={})
        assert answer.status_code == 200, answer.text
    return session_id


def json_lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


# --- check-config -------------------------------------------------------------------------------


def test_check_config_prints_every_key_with_its_source(
    tmp_path: Path, storage_env: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    config = tmp_path / "vigil.toml"
    config.write_text('[server]\nlog_level = "debug"\n[vision]\nworkers = 2\n')
    monkeypatch.setenv("VIGIL_SCORING_PENALTY_HIGH", "20")
    monkeypatch.setenv("VIGIL_AUTH_ADMIN_TOKEN", "do-not-print-me")
    assert main(["check-config", "--config", str(config), "--port", "9123"]) == 0
    out = capsys.readouterr().out
    assert "do-not-print-me" not in out
    effective = tomllib.loads(out)  # what it prints is a config file for the same server
    assert effective["server"]["port"] == 9123 and effective["vision"]["workers"] == 2
    assert effective["scoring"]["penalty_high"] == 20
    assert effective["storage"]["dir"] == str(storage_env)
    lines = {line.split(" = ")[0]: line for line in out.splitlines() if " = " in line}
    assert lines["port"].endswith("# command line --port")
    assert lines["log_level"].endswith(f"# config file {config}")
    assert lines["workers"].endswith(f"# config file {config}")
    assert lines["penalty_high"].endswith("# environment VIGIL_SCORING_PENALTY_HIGH")
    assert lines["admin_token"].endswith("# environment VIGIL_AUTH_ADMIN_TOKEN")
    assert lines["host"].endswith("# built-in default")
    for section in Settings.__struct_fields__:
        assert set(effective[section]) == set(getattr(Settings(), section).__struct_fields__)


def test_check_config_checks_the_master_key_and_never_prints_it(
    storage_env: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    key = base64.b64encode(b"k" * 32).decode()
    monkeypatch.setenv("VIGIL_MASTER_KEY", key)
    assert main(["check-config"]) == 0
    out = capsys.readouterr().out
    assert key not in out
    assert f"# master key: VIGIL_MASTER_KEY, current {MasterKeys(key).current.id}" in out
    tomllib.loads(out)  # still a config file
    monkeypatch.setenv("VIGIL_MASTER_KEY", "not-a-key")
    assert main(["check-config"]) == 2
    assert "VIGIL_MASTER_KEY must be 32 random bytes" in capsys.readouterr().err


def test_check_config_prints_alert_rules_as_toml(
    tmp_path: Path, storage_env: Path, capsys: Any
) -> None:
    config = tmp_path / "vigil.toml"
    config.write_text(
        '[alerts]\nrules = [{ name = "three-high", action = "terminate", severity = "HIGH", '
        'count = 3, category = "integrity" }]\n'
    )
    assert main(["check-config", "--config", str(config)]) == 0
    rules = tomllib.loads(capsys.readouterr().out)["alerts"]["rules"]
    assert rules[0]["name"] == "three-high" and rules[0]["count"] == 3


@pytest.mark.parametrize(
    ("file", "env", "expected"),
    [
        ("", {"VIGIL_SERVER_PORT": "eighty"}, "environment VIGIL_SERVER_PORT"),
        ("[storage]\nsynchronous = 'SOMETIMES'\n", {}, "$.storage.synchronous"),
        ("[server]\nprot = 1\n", {}, "prot"),
        ("", {"VIGIL_SERVER_PROT": "1"}, "VIGIL_SERVER_PROT"),
    ],
)
def test_check_config_names_the_bad_key(
    tmp_path: Path,
    storage_env: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: Any,
    file: str,
    env: dict[str, str],
    expected: str,
) -> None:
    config = tmp_path / "vigil.toml"
    config.write_text(file)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert main(["check-config", "--config", str(config)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert expected in captured.err


# --- create-token -------------------------------------------------------------------------------


async def test_a_created_reviewer_token_works_once_its_hash_is_configured(
    tmp_path: Path, capsys: Any
) -> None:
    assert main(["create-token", "--role", "reviewer"]) == 0
    token, hashed = capsys.readouterr().out.split()
    assert token.startswith("vrt_") and len(token) > 40
    assert hashed == HASH_PREFIX + hash_token(token)
    async with running_server(tmp_path, auth={"reviewer_token_hashes": [hashed]}) as server:
        session_id, _ = await server.create_session()
        async with server.http(token=token) as reviewer:
            assert (await reviewer.get(f"/candidate-sessions/{session_id}")).status_code == 200
            assert (await reviewer.delete(f"/candidate-sessions/{session_id}")).status_code == 403


def test_create_token_makes_a_new_admin_token_each_time(capsys: Any) -> None:
    assert main(["create-token"]) == 0
    first = capsys.readouterr().out.split()[0]
    assert main(["create-token"]) == 0
    second = capsys.readouterr().out.split()[0]
    assert first.startswith("vat_") and first != second


# --- export -------------------------------------------------------------------------------------


async def test_export_writes_the_contract_event_form_while_the_server_runs(
    tmp_path: Path, storage_env: Path
) -> None:
    async with running_server(storage_env) as server:
        first = await session_with_events(server, "exam-1", 3)
        second = await session_with_events(server, "exam-1", 2)
        await session_with_events(server, "exam-2", 2)
        out = tmp_path / "first.jsonl"
        assert await vigil("export", "--session", first, "--output", str(out)) == 0
        lines = json_lines(out)
        stored = await server.services.store.events(first)
        assert [line["offset"] for line in lines] == [event.offset for event in stored]
        assert lines[0] == {
            "eventId": f"{first}:1",
            "sessionId": first,
            "assessmentId": "exam-1",
            "offset": 1,
            "type": "assessment_started",
            "ts": "2026-11-22T10:00:00.000Z",
            "nodeId": server.services.node_id,
            "seq": 1,
            "origin": "candidate",
        }
        assert lines[1]["type"] == "tab_switch_detected" and lines[1]["questionId"] == "q1"
        exam = tmp_path / "exam-1.jsonl"
        assert await vigil("export", "--assessment", "exam-1", "--output", str(exam)) == 0
        by_session = [line["sessionId"] for line in json_lines(exam)]
        assert by_session == [first] * len(stored) + [second] * (len(by_session) - len(stored))
        assert second in by_session
        assert await vigil("export", "--session", "no-such-session") == 1


async def test_export_refuses_a_folder_with_no_database(storage_env: Path, capsys: Any) -> None:
    assert await vigil("export", "--assessment", "exam-1") == 1
    assert "no database at" in capsys.readouterr().err


# --- purge --------------------------------------------------------------------------------------


async def test_purge_erases_finished_sessions_now(
    storage_env: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    async with running_server(storage_env) as server:
        finished = await session_with_events(server, "exam-1", 2, submit=True)
        running = await session_with_events(server, "exam-1", 2)
        frames = server.services.frames
        assert frames is not None
        frames.keep(finished, 1, b"\xff\xd8 frame \xff\xd9", flagged=True)
        await server.services.journal.flush()
    assert (storage_env / "frames" / finished).exists()

    assert await vigil("purge") == 0  # retention off: nothing to do
    assert "retention is off" in capsys.readouterr().err
    monkeypatch.setenv("VIGIL_RETENTION_COMPLETED_SESSION_DAYS", "1e-9")
    assert await vigil("purge") == 0
    captured = capsys.readouterr()
    assert captured.out.split() == [finished]
    assert "erased 1 session(s)" in captured.err
    assert not (storage_env / "frames" / finished).exists()
    assert await vigil("export", "--session", finished) == 1
    async with running_server(storage_env) as server:
        assert await server.services.store.session(finished) is None
        assert await server.services.store.session(running) is not None
        audit = await server.services.store.audit(actor="server:retention")
        assert [row.sessionId for row in audit] == [finished]


async def test_purge_will_not_run_beside_a_serving_server(
    storage_env: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    async with running_server(storage_env) as server:
        await server.create_session()
        monkeypatch.setenv("VIGIL_SERVER_PORT", server.url.rsplit(":", 1)[1])
        monkeypatch.setenv("VIGIL_RETENTION_COMPLETED_SESSION_DAYS", "30")
        assert await vigil("purge") == 1
    assert "purges by itself" in capsys.readouterr().err


# --- backup -------------------------------------------------------------------------------------


async def test_a_backup_taken_while_serving_restores_every_acknowledged_event(
    tmp_path: Path, storage_env: Path
) -> None:
    dest = tmp_path / "backup"
    async with running_server(storage_env) as server:
        before = await session_with_events(server, "exam-1", 5)
        session_id, token = await server.create_session("exam-1")
        async with server.candidate(session_id, token) as candidate:
            # The candidate keeps writing while the copy is taken.
            await candidate.event(1, "assessment_started")
            await candidate.acked(1)
            async with anyio.create_task_group() as tg:
                result: list[int] = []

                async def take() -> None:
                    result.append(await vigil("backup", str(dest)))

                tg.start_soon(take)
                seq = 1
                while not result:
                    seq += 1
                    await candidate.event(seq, "heartbeat", data={"batteryLevel": 0.5})
                    await candidate.acked(seq)
            assert result == [0]
        expected = [event.offset for event in await server.services.store.events(before)]
    assert (dest / "vigil.db").is_file() and (dest / "keys.db").is_file()
    for kept in ("url-signing-key", "master-key"):
        assert (dest / kept).read_bytes() == (storage_env / kept).read_bytes()
    assert oct(dest.stat().st_mode & 0o777) == "0o700"
    assert not list(dest.glob("*-wal"))
    assert await vigil("backup", str(dest)) == 1  # never over an existing backup

    # Restore: the copy is a storage folder of its own.
    async with running_server(dest) as restored:
        stored = await restored.services.store.events(before)
        assert [event.offset for event in stored] == expected
        during = await restored.services.store.events(session_id)
        assert during and during[0].type == "assessment_started"
        assert [event.offset for event in during] == list(range(1, len(during) + 1))
        async with restored.http(ADMIN_TOKEN) as admin:
            report = await admin.get(f"/candidate-sessions/{before}/report")
        assert report.status_code == 200, report.text


async def test_a_backup_can_put_the_keys_apart_from_the_data(
    tmp_path: Path, storage_env: Path
) -> None:
    data, keys = tmp_path / "data-backup", tmp_path / "key-backup"
    async with running_server(storage_env) as server:
        await session_with_events(server, "exam-1", 2)
    assert await vigil("backup", str(data), "--keys-to", str(keys)) == 0
    assert (data / "vigil.db").is_file() and (data / "url-signing-key").is_file()
    assert not (data / "keys.db").exists() and not (data / "master-key").exists()
    assert (keys / "keys.db").is_file() and (keys / "master-key").is_file()
    assert oct(keys.stat().st_mode & 0o777) == "0o700"
    assert await vigil("backup", str(tmp_path / "again"), "--keys-to", str(keys)) == 1
