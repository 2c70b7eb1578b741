"""Behaviour benchmark (issue 28): a synthetic population through the real socket, and per factor
the share of honest candidates who lose points to it and the share of cheaters it catches.

    .venv/bin/python benchmarks/behaviour.py --honest 1000 --cheaters 30

It spawns `vigil serve` on a free loopback port with a temporary storage dir and every behaviour
factor enabled (a copy of config.toml with `enabled = true` in each `[behaviour.*]` table, a
corpus file, a VPN list, `region_time_zones`), then drives each candidate as the SDK would: one
session over POST /candidate-sessions, one WebSocket, `device_info`, the `behaviour_window`
events and answers, `assessment_submitted`, resending after a cut like the SDK (the flaky
ones). The honest and the cheaters come from the committed generators of the tests
(tests/test_behaviour_support*.py): typists with their own speed and spread, thinking pauses,
some pastes of their own notes, graded answers that follow their ability, some travellers and
office proxies; cheaters paste everything, script the page (with and without synthetic
events), hand over to a second typist, are fed the hard answers, copy a partner, or come
through a listed VPN. A factor should be on by default only where the honest column is under
1%. The table is printed with the command that made it, and recorded under benchmarks/results/.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosedError

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # the generators live with the tests they were checked against
sys.path.insert(0, str(Path(__file__).resolve().parent))

from behaviour_population import (  # noqa: E402
    CHECKS,
    KINDS,
    TARGETS,
    Plan,
    corpus_text,
    population,
    vpn_list,
)
from loadgen.server import Server, free_port, stop_server, tail, wait_healthy  # noqa: E402

RESULTS = REPO / "benchmarks" / "results"
REFUSED_TOKENS: list[str] = []  # sessions whose connection was refused 4401/4403, then retried


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0] if __doc__ else None,
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    add = parser.add_argument
    add("--honest", type=int, default=1000, help="honest candidates")
    add("--cheaters", type=int, default=30, help="cheaters of each kind (pairs: this many pairs)")
    add("--seed", type=int, default=1, help="seed of the population")
    add("--concurrency", type=int, default=48, help="candidates connected at once")
    add("--vigil", default=str(Path(sys.executable).parent / "vigil"), help="server command")
    add("--storage-dir", help="storage dir of the spawned server (default: a temp dir, removed)")
    add("--no-results", action="store_true", help="do not record the run under benchmarks/results/")
    args = parser.parse_args(argv)
    if args.honest < 1 or args.cheaters < 1 or args.concurrency < 1:
        parser.error("--honest, --cheaters and --concurrency must be >= 1")
    return args


def server_config(storage: Path) -> Path:
    """config.toml with every behaviour factor enabled and the operator's files filled in."""
    corpus, vpn = storage / "corpus" / "source.txt", storage / "vpn.txt"
    corpus.parent.mkdir(parents=True, exist_ok=True)
    corpus.write_text(corpus_text())
    vpn.write_text(vpn_list())
    text = (REPO / "config.toml").read_text()
    head, behaviour = text.split("\n[behaviour]\n", 1)
    behaviour = behaviour.replace("enabled = false", "enabled = true")
    behaviour = behaviour.replace(
        "corpus_files = []", f"corpus_files = [{json.dumps(str(corpus))}]"
    )
    behaviour = behaviour.replace(
        "vpn_cidr_files = []", f"vpn_cidr_files = [{json.dumps(str(vpn))}]"
    )
    behaviour = behaviour.replace("region_time_zones = []", 'region_time_zones = ["Europe/Berlin"]')
    path = storage / "config.toml"
    path.write_text(f"{head}\n[behaviour]\n{behaviour}")
    return path


def spawn(args: argparse.Namespace, storage: Path) -> Server:
    import os
    import secrets

    port, token = free_port(), secrets.token_urlsafe(24)
    env = {
        **os.environ,
        "VIGIL_STORAGE_DIR": str(storage),
        "VIGIL_AUTH_ADMIN_TOKEN": token,
        "VIGIL_SERVER_PORT": str(port),
        "VIGIL_SERVER_HOST": "127.0.0.1",
        "VIGIL_KAFKA_BOOTSTRAP_SERVERS": "",
        "VIGIL_VISION_ENABLED": "false",
        "VIGIL_SERVER_LOG_LEVEL": "warning",
    }
    log = storage / "server.log"
    command = [args.vigil, "serve", "--config", str(server_config(storage))]
    with log.open("wb") as sink:
        process = subprocess.Popen(
            command, cwd=REPO, env=env, stdin=subprocess.DEVNULL, stdout=sink,
            stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    return Server(
        http=f"http://127.0.0.1:{port}", ws=f"ws://127.0.0.1:{port}", token=token,
        process=process, pid=process.pid, storage=storage, log=log,
    )  # fmt: skip


async def request(client: httpx.AsyncClient, method: str, url: str, **kw: Any) -> httpx.Response:
    """One request, again on a dropped keep-alive connection (the server closes idle ones)."""
    for attempt in range(4):
        try:
            return await client.request(method, url, **kw)
        except httpx.TransportError:
            if attempt == 3:
                raise
            await asyncio.sleep(0.2 * (attempt + 1))
    raise AssertionError("unreachable")


async def create(client: httpx.AsyncClient, plan: Plan, assessment: str) -> tuple[str, str]:
    body = {
        "candidateEmail": f"c{plan.index}@example.com",
        "candidateName": f"Candidate {plan.index}",
        "assessmentId": assessment,
    }
    response = await request(client, "POST", "/candidate-sessions", json=body)
    if response.status_code != 201:
        raise SystemExit(f"POST /candidate-sessions: {response.status_code} {response.text[:200]}")
    created = response.json()
    return str(created["id"]), str(created["candidateToken"])


async def sit(server: Server, plan: Plan, session_id: str, token: str) -> None:
    """Send the plan's events as the SDK would; after a cut (`plan.cut_at`), reconnect, read the
    server's first ack (what it stored) and resend from there."""
    url = f"{server.ws}/ws/candidate/{session_id}?token={token}"
    events, sent_from, cut = plan.events, 0, plan.cut_at
    refused = 0
    while True:
        async with connect(url, additional_headers=plan.headers, max_queue=None) as ws:
            try:
                stored = await _first_ack(ws)
            except ConnectionClosedError as exc:
                # Seen under load: a session's token refused (4401, or 4403 "may not act for
                # this session") moments after its 201, before storage shows the new session
                # whole. Try again shortly; counted and printed, never hidden.
                if exc.rcvd is None or exc.rcvd.code not in (4401, 4403) or refused >= 5:
                    raise
                refused += 1
                REFUSED_TOKENS.append(session_id)
                await asyncio.sleep(0.5 * refused)
                continue
            start = max(sent_from, stored)
            stop = cut if cut is not None and cut > start else len(events)
            for seq in range(start + 1, stop + 1):
                await ws.send(json.dumps({**events[seq - 1], "seq": seq}))
            if stop < len(events):
                cut, sent_from = None, start  # the cut: the socket closes, unacked events wait
                continue
            await _acked(ws, len(events))
            return


async def _first_ack(ws: ClientConnection) -> int:
    try:
        message = json.loads(await asyncio.wait_for(ws.recv(), 1.0))
    except TimeoutError:
        return 0
    return int(message["seq"]) if message.get("type") == "ack" else 0


async def _acked(ws: ClientConnection, seq: int) -> None:
    async with asyncio.timeout(60):
        while True:
            message = json.loads(await ws.recv())
            if message.get("type") == "ack" and message["seq"] >= seq:
                return
            if message.get("type") == "error":
                raise SystemExit(f"the server refused an event: {message}")


async def drive(
    server: Server, plans: list[Plan], assessment: dict[str, Any], width: int
) -> dict[int, str]:
    headers = {"Authorization": f"Bearer {server.token}"}
    limits = httpx.Limits(max_connections=width, max_keepalive_connections=width)
    async with httpx.AsyncClient(
        base_url=server.http, headers=headers, timeout=60, limits=limits
    ) as client:
        response = await request(client, "POST", "/assessments", json=assessment)
        if response.status_code != 201:
            raise SystemExit(f"POST /assessments: {response.status_code} {response.text[:300]}")
        sessions: dict[int, str] = {}
        gate = asyncio.Semaphore(width)

        async def one(plan: Plan) -> None:
            async with gate:
                session_id, token = await create(client, plan, assessment["id"])
                sessions[plan.index] = session_id
                try:
                    await sit(server, plan, session_id, token)
                except Exception as exc:
                    raise SystemExit(
                        f"candidate {plan.index} ({plan.kind}, session {session_id}, cut at "
                        f"{plan.cut_at} of {len(plan.events)}): {exc!r}"
                    ) from exc

        # Pairs in order: the copier submits after the one copied (the order of `population`).
        for start in range(0, len(plans), width * 4):
            await asyncio.gather(*(one(p) for p in plans[start : start + width * 4]))
        await _cohort_done(client)
        return sessions


async def _cohort_done(client: httpx.AsyncClient) -> None:
    """Wait until the collaboration check has compared every submission (its gauge is 0)."""
    async with asyncio.timeout(1800):
        while True:
            text = (await request(client, "GET", "/metrics")).text
            pending = re.search(r"^vigil_cohort_pending (\S+)$", text, re.MULTILINE)
            if pending is not None and float(pending.group(1)) == 0:
                await asyncio.sleep(1.0)
                again = (await request(client, "GET", "/metrics")).text
                if re.search(r"^vigil_cohort_pending 0(\.0)?$", again, re.MULTILINE):
                    return
            await asyncio.sleep(0.5)


async def findings(server: Server, sessions: dict[int, str]) -> dict[int, dict[str, int]]:
    """Per candidate: check -> points it cost (negative), from the session's violations."""
    headers = {"Authorization": f"Bearer {server.token}"}
    found: dict[int, dict[str, int]] = {}
    gate = asyncio.Semaphore(32)
    async with httpx.AsyncClient(base_url=server.http, headers=headers, timeout=60) as client:

        async def one(index: int, session_id: str) -> None:
            async with gate:
                body = (await request(client, "GET", f"/candidate-sessions/{session_id}")).json()
            mine: dict[str, int] = {}
            for violation in body["violations"]:
                details = violation["details"]
                if details.get("event") == "behaviour_flagged" and details.get("counted"):
                    mine[violation["type"]] = mine.get(violation["type"], 0) + details["points"]
            found[index] = mine

        await asyncio.gather(*(one(i, s) for i, s in sessions.items()))
    return found


def table(plans: list[Plan], found: dict[int, dict[str, int]]) -> list[str]:
    honest = [p for p in plans if p.kind == "honest"]
    rows = [
        "| factor | check | honest who lost points | cheaters caught (kinds it targets) | default |",
        "| --- | --- | --- | --- | --- |",
    ]
    for check, name in CHECKS.items():
        lost = sum(1 for p in honest if found[p.index].get(check))
        targets = [p for p in plans if p.kind in TARGETS[check]]
        caught = sum(1 for p in targets if found[p.index].get(check))
        share = lost / len(honest)
        rows.append(
            f"| {name} | `{check}` | {share:.2%} ({lost}/{len(honest)}) | "
            f"{caught / max(len(targets), 1):.0%} ({caught}/{len(targets)}: "
            f"{', '.join(sorted(TARGETS[check]))}) | {'on' if share < 0.01 else 'off'} |"
        )
    rows += ["", "| cheater kind | caught by any factor | by which |", "| --- | --- | --- |"]
    for kind in KINDS:
        these = [p for p in plans if p.kind == kind]
        if kind == "honest" or not these:
            continue
        caught = sum(1 for p in these if found[p.index])
        which = Counter(check for p in these for check in found[p.index])
        rows.append(
            f"| {kind} | {caught / len(these):.0%} ({caught}/{len(these)}) | "
            f"{', '.join(f'{c} {n}' for c, n in which.most_common())} |"
        )
    return rows


def code_version() -> str:
    """The commit, and whether the tree had changes (such a record is no current figure)."""
    git = ["git", "-C", str(REPO)]
    commit = subprocess.run([*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    dirty = subprocess.run([*git, "status", "--porcelain"], capture_output=True, text=True)
    changed = " + uncommitted changes" if dirty.stdout.strip() else ""
    return f"{commit.stdout.strip() or 'unknown'}{changed}"


def record(command: str, code: str, rows: list[str], seconds: float, events: int) -> None:
    RESULTS.mkdir(exist_ok=True)
    day = datetime.now(UTC).strftime("%Y-%m-%d")
    text = (
        f"\n## Behaviour evidence ({datetime.now(UTC).strftime('%H:%M')} UTC)\n\n"
        f"    {command}\n\ncode: {code}\n\n{events} candidate events in {seconds:.0f} s.\n\n"
        + "\n".join(rows)
        + "\n"
    )
    with (RESULTS / f"{day}.md").open("a") as out:
        out.write(text)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    command = "python benchmarks/behaviour.py " + " ".join(sys.argv[1:] if argv is None else argv)
    code = code_version()  # before the run: what the server and the generators were
    plans, assessment = population(args.honest, args.cheaters, args.seed)
    temporary = None if args.storage_dir else tempfile.mkdtemp(prefix="vigil-behaviour-")
    storage = Path(args.storage_dir or temporary or ".")
    storage.mkdir(parents=True, exist_ok=True)
    server = spawn(args, storage)
    started = time.monotonic()
    try:
        asyncio.run(wait_healthy(server, 30))
        sessions = asyncio.run(drive(server, plans, assessment, args.concurrency))
        found = asyncio.run(findings(server, sessions))
    except BaseException:
        print(tail(server.log, 40), file=sys.stderr)
        raise
    finally:
        stop_server(server)
        if temporary is not None:
            shutil.rmtree(temporary, ignore_errors=True)
    seconds = time.monotonic() - started
    events = sum(len(p.events) for p in plans)
    rows = table(plans, found)
    kinds = Counter(p.kind for p in plans)
    drafters = sum(p.drafts_elsewhere for p in plans)
    print(f"{len(plans)} candidates ({', '.join(f'{k} {n}' for k, n in kinds.items())}; "
          f"{drafters} of the honest draft elsewhere and paste), "
          f"{events} events through the socket in {seconds:.0f} s\n")  # fmt: skip
    print("\n".join(rows))
    if REFUSED_TOKENS:
        print(f"\n{len(REFUSED_TOKENS)} connections refused 4401/4403 and retried "
              f"({len(set(REFUSED_TOKENS))} sessions)")  # fmt: skip
    print(f"\n    {command}")
    if not args.no_results:
        record(command, code, rows, seconds, events)
    return 0


if __name__ == "__main__":
    sys.exit(main())
