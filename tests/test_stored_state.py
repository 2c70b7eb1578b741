"""The stored copy of a session's state: written when the actor says (actors/stored_state.py),
and never claiming a connection once no actor holds the session."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import msgspec
import pytest

from actors import session as session_module
from actors.messages import CandidateAttached, CandidateDetached
from actors.state import SessionState
from actors.stored_state import StoredStateSchedule
from app.server import Running, run_services
from app.settings import ConfigError, Settings, load_settings
from tests.support import eventually, settings_for
from tests.test_registry import FakeLink, _initial, new_session, send_events

pytestmark = pytest.mark.anyio


def a_state(**fields: Any) -> SessionState:
    return msgspec.convert({**_initial("s"), **fields}, SessionState)


def test_the_schedule_writes_changes_at_once_and_the_rest_once_per_interval() -> None:
    now = [100.0]
    schedule = StoredStateSchedule(10.0, clock=lambda: now[0])
    assert schedule.due(a_state())  # the first: nothing is known of what is stored
    now[0] += 1
    assert not schedule.due(a_state(riskScore=1.0))  # only derived figures changed
    assert schedule.pending and schedule.final_due()  # stopping now would write it
    assert schedule.due(a_state(connected=True))  # connection: what lists show, at once
    assert not schedule.pending
    now[0] += 9.9
    assert not schedule.due(a_state(connected=True, riskScore=2.0))
    now[0] += 0.1
    assert schedule.due(a_state(connected=True, riskScore=3.0))  # the interval is up
    assert schedule.final_due()  # stopping: the stored copy says connected


def test_an_interval_of_zero_writes_every_state() -> None:
    schedule = StoredStateSchedule(0.0)
    assert all(schedule.due(a_state(riskScore=float(i))) for i in range(5))
    assert not schedule.final_due()


def with_interval(storage: Path, seconds: float, **sections: Any) -> Settings:
    settings = settings_for(storage, **sections)
    interval = msgspec.structs.replace(settings.storage, state_interval_seconds=seconds)
    return msgspec.structs.replace(settings, storage=interval)


async def attached_session(running: Running) -> tuple[str, FakeLink]:
    session_id = await new_session(running)
    link = FakeLink()
    await running.registry.send(session_id, CandidateAttached(link))
    return session_id, link


def stored(storage: Path, session_id: str) -> tuple[dict[str, Any], int]:
    with sqlite3.connect(storage / "vigil.db") as db:
        state, offset = db.execute(
            "SELECT state, last_offset FROM sessions WHERE id = ?", (session_id,)
        ).fetchone()
    return json.loads(state), int(offset)


def stored_types(storage: Path, session_id: str) -> list[tuple[str, str | None]]:
    with sqlite3.connect(storage / "vigil.db") as db:
        return list(
            db.execute(
                "SELECT e.type, e.origin FROM events AS e JOIN sessions AS s ON s.key = e.session_key "
                "WHERE s.id = ? ORDER BY e.event_offset",
                (session_id,),
            )
        )


async def test_a_session_leaving_memory_stores_its_last_state_disconnected(
    tmp_path: Path,
) -> None:
    sessions = {"finished_evict_seconds": 0.05, "sweep_interval_seconds": 0.02}
    async with run_services(with_interval(tmp_path, 3600, sessions=sessions)) as running:
        session_id, link = await attached_session(running)
        await send_events(running, session_id, link, ["heartbeat", "heartbeat"])
        await eventually(lambda: link.acks and link.acks[-1] == 2)
        assert stored(tmp_path, session_id)[1] == 1  # the second changed nothing lists show
        await send_events(running, session_id, link, ["assessment_submitted"], first=3)
        await running.journal.flush()
        state, offset = stored(tmp_path, session_id)
        assert state["connected"] and state["status"] == "COMPLETED"  # written with its event
        # Submitted: leaving stores no event, and the stored copy still says connected...
        await running.registry.send(session_id, CandidateDetached(link, 1000))
        await eventually(lambda: running.registry.live_count == 0)
        # ...until the actor stops: then it says what is true.
        state, offset = stored(tmp_path, session_id)
        assert not state["connected"] and state["status"] == "COMPLETED" and offset == 3
        (record,) = await running.store.sessions()
        assert running.registry.live_state(session_id) is None
        assert record.state.connected is False  # what lists read, with nothing patched on


async def test_a_shutdown_under_a_connected_candidate_stores_the_disconnect(
    tmp_path: Path,
) -> None:
    settings = settings_for(tmp_path)
    async with run_services(settings) as running:
        session_id, link = await attached_session(running)
        await send_events(running, session_id, link, ["heartbeat", "copy_attempt"])
    state, _offset = stored(tmp_path, session_id)
    assert not state["connected"]
    assert stored_types(tmp_path, session_id)[-1] == ("user_disconnected", "server")
    async with run_services(settings):
        pass  # nothing stored says connected: a clean stop needs no repair at the next start
    assert [kind for kind, _ in stored_types(tmp_path, session_id)].count("user_disconnected") == 1


async def test_after_a_crash_the_start_marks_every_stored_state_disconnected(
    tmp_path: Path,
) -> None:
    settings = settings_for(tmp_path)
    async with run_services(settings) as running:
        unfinished = await new_session(running, "unfinished")
        finished = await new_session(running, "finished")
    with sqlite3.connect(tmp_path / "vigil.db") as db:  # as a process killed mid-session leaves it
        for session_id, status in ((unfinished, "IN_PROGRESS"), (finished, "COMPLETED")):
            state = json.dumps({**_initial(session_id), "connected": True, "status": status})
            db.execute(
                "UPDATE sessions SET state = ?, status = ? WHERE id = ?",
                (state, status, session_id),
            )
    async with run_services(settings):
        # The unfinished one gets the `user_disconnected` its candidate's lost connection means.
        lost = [("user_disconnected", "server")]
        await eventually(lambda: stored_types(tmp_path, unfinished) == lost)
        assert stored_types(tmp_path, finished) == []
        for session_id in (unfinished, finished):
            assert not stored(tmp_path, session_id)[0]["connected"]


async def test_a_failed_session_leaves_its_last_state_disconnected(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def always_breaks(config: Any, record: Any, stored: Any) -> Any:
        raise RuntimeError("injected fault")

    settings = settings_for(tmp_path, sessions={"max_restarts": 1})
    async with run_services(settings) as running:
        session_id, link = await attached_session(running)
        await send_events(running, session_id, link, ["assessment_started", "heartbeat"])
        await eventually(lambda: link.acks and link.acks[-1] == 2)
        assert stored(tmp_path, session_id)[0]["connected"]
        monkeypatch.setattr(session_module, "fold", always_breaks)
        for _attempt in range(2):
            await send_events(running, session_id, link, ["heartbeat"], first=3)
        await eventually(lambda: running.registry.failed_total == 1)
        await eventually(lambda: not stored(tmp_path, session_id)[0]["connected"])
        assert stored(tmp_path, session_id)[1] == 2  # what was stored, and no more


def test_the_interval_is_a_validated_config_key() -> None:
    assert load_settings(environ={}).storage.state_interval_seconds == 10.0  # config.toml
    quick = load_settings(environ={"VIGIL_STORAGE_STATE_INTERVAL_SECONDS": "0.5"})
    assert quick.storage.state_interval_seconds == 0.5
    with pytest.raises(ConfigError, match=r"\$\.storage\.state_interval_seconds"):
        load_settings(environ={"VIGIL_STORAGE_STATE_INTERVAL_SECONDS": "-1"})


async def test_the_server_hands_the_configured_interval_to_the_actors(tmp_path: Path) -> None:
    async with run_services(with_interval(tmp_path, 0)) as running:
        session_id, link = await attached_session(running)
        await send_events(running, session_id, link, ["heartbeat", "heartbeat", "heartbeat"])
        await eventually(lambda: link.acks and link.acks[-1] == 3)
        assert stored(tmp_path, session_id)[1] == 3  # 0: every event carries its state
