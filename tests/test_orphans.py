"""Workers die with the server (issue 21, items 8 and 11): after `kill -9` of `vigil serve`, its
vision workers and multiprocessing's resource tracker are gone within seconds, not minutes; and
Ctrl-C (SIGINT to the whole process group) stops it without a worker's KeyboardInterrupt
traceback."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import httpx
import psutil

from tests.support import ADMIN_TOKEN, ServerProcess, free_port


def _workers(server: psutil.Process) -> list[psutil.Process]:
    """The server's multiprocessing children: pool workers (spawn_main) and the tracker."""
    found = []
    for child in server.children(recursive=True):
        try:
            command = " ".join(child.cmdline())
        except psutil.Error:
            continue
        if "multiprocessing" in command:
            found.append(child)
    return found


def _metrics(server: ServerProcess) -> str:
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    return httpx.get(f"{server.url}/metrics", headers=headers, timeout=5).text


def _commands(processes: list[psutil.Process]) -> set[str]:
    kinds = set()
    for process in processes:
        command = " ".join(process.cmdline())
        kinds.add("tracker" if "resource_tracker" in command else "worker")
    return kinds


ENV = {"VIGIL_VISION_ENABLED": "true", "VIGIL_VISION_WORKERS": "2"}


def _started_workers(server: ServerProcess) -> list[psutil.Process]:
    assert server.process is not None
    parent = psutil.Process(server.process.pid)
    children: list[psutil.Process] = []
    deadline = time.monotonic() + 90  # the workers load their models first
    while time.monotonic() < deadline:
        children = _workers(parent)
        if _commands(children) == {"worker", "tracker"} and len(children) >= 3:
            return children
        time.sleep(0.2)
    raise AssertionError(([c.cmdline() for c in children], server.log.read_text()))


def test_vision_workers_and_the_resource_tracker_die_with_a_killed_server(
    tmp_path: Path,
) -> None:
    server = ServerProcess(tmp_path / "storage", free_port(), ENV)
    server.start()
    children: list[psutil.Process] = []
    try:
        children = _started_workers(server)
        server.kill()
        _, alive = psutil.wait_procs(children, timeout=10)
        assert not alive, [(p.pid, p.cmdline()) for p in alive]
    finally:
        server.stop()
        for child in children:
            try:
                child.kill()
            except psutil.Error:
                pass


def test_ctrl_c_stops_the_server_without_a_worker_traceback(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "storage", free_port(), ENV)
    server.start()
    children: list[psutil.Process] = []
    try:
        children = _started_workers(server)
        assert server.process is not None
        deadline = time.monotonic() + 90
        while "vigil_vision_available 1" not in _metrics(server):  # the models are loaded
            assert time.monotonic() < deadline, server.log.read_text()
            time.sleep(0.2)
        # What a terminal's Ctrl-C does: SIGINT to every process of the foreground group (the
        # test's own group holds pytest, so each is signalled by its pid instead).
        for process in [psutil.Process(server.process.pid), *children]:
            process.send_signal(signal.SIGINT)
        assert server.process.wait(timeout=30) == 0
    finally:
        server.stop()
        for child in children:
            try:
                child.kill()
            except psutil.Error:
                pass
    log = server.log.read_text()
    assert "KeyboardInterrupt" not in log and "Traceback" not in log, log
