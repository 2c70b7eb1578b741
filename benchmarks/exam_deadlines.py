"""Time limits at scale: N open sessions of one timed assessment on a real server, all due
within a second; how late each server-made submit is (its stored `endTime` minus start +
duration), through the one deadline heap (app/sessions/deadlines.py).

    PYTHONPATH=$PWD .venv/bin/python benchmarks/exam_deadlines.py --sessions 2000
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from datetime import datetime
from pathlib import Path

import anyio

from tests.support import running_server


async def main(sessions: int, duration: float) -> None:
    with tempfile.TemporaryDirectory() as folder:
        async with running_server(Path(folder)) as server:
            body = {"id": "timed", "questions": [{"id": "q1"}], "durationSeconds": duration}
            async with server.http() as client:
                assert (await client.post("/assessments", json=body)).status_code == 201
            ids: list[str] = []
            began = time.monotonic()

            async def create(count: int) -> None:
                async with server.http() as client:
                    for _ in range(count):
                        answer = await client.post(
                            "/candidate-sessions",
                            json={
                                "candidateEmail": "a@example.com",
                                "candidateName": "A",
                                "assessmentId": "timed",
                            },
                        )
                        ids.append(answer.json()["id"])

            async with anyio.create_task_group() as tg:
                for _ in range(8):
                    tg.start_soon(create, sessions // 8)
            created = time.monotonic() - began
            store = server.services.store
            with anyio.fail_after(duration + created + 120):
                while True:
                    records = await store.sessions(status="COMPLETED")
                    if len(records) == len(ids):
                        break
                    await anyio.sleep(0.2)
            late = []
            for record in records:
                start = datetime.fromisoformat(record.startTime).timestamp()
                end = datetime.fromisoformat(str(record.state.endTime)).timestamp()
                late.append(end - start - duration)
            late.sort()
            print(f"sessions {len(ids)}, created in {created:.1f} s, duration {duration} s")
            print(
                f"submit lateness: min {late[0] * 1000:.0f} ms, median "
                f"{statistics.median(late) * 1000:.0f} ms, p99 "
                f"{late[int(len(late) * 0.99) - 1] * 1000:.0f} ms, max {late[-1] * 1000:.0f} ms"
            )


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--sessions", type=int, default=2000)
    parser.add_argument("--duration", type=float, default=5.0)
    arguments = parser.parse_args()
    anyio.run(main, arguments.sessions, arguments.duration)
