"""kill -9 during a stream of acknowledged logged publishes: nothing acknowledged is lost.

A child process publishes logged events from 20 concurrent tasks (so commits are grouped) and
prints each event's ``seq`` once ``publish`` has returned. The parent kills it with SIGKILL
mid-stream, twice (the second child continues the same file), then checks with its own
connection that the database is intact and holds every acknowledged event.
"""

from __future__ import annotations

import json
import os
import pathlib
import signal
import sqlite3
import subprocess
import sys
import threading

import pytest

CHILD = """
import sys
import anyio
import actors

async def main(path, backend):
    async with actors.open_system(event_log=actors.SqliteEventLog(path)) as system:
        async def publisher(p):
            i = 0
            while True:
                seq = await system.bus.publish(f"kill.{p}", {"p": p, "i": i, "run": backend})
                sys.stdout.write(f"{seq} {p} {i}\\n")
                sys.stdout.flush()
                i += 1

        async with anyio.create_task_group() as tg:
            for p in range(20):
                tg.start_soon(publisher, p)

anyio.run(main, sys.argv[1], sys.argv[2], backend=sys.argv[2])
"""


def _publish_then_kill(
    path: pathlib.Path, backend: str, acknowledged: int
) -> list[tuple[int, ...]]:
    """Run the child until it has acknowledged ``acknowledged`` events, SIGKILL it, and return
    every ``(seq, publisher, i)`` it printed in full."""
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(path), backend],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    watchdog = threading.Timer(60, proc.kill)  # never hang the suite
    watchdog.start()
    try:
        assert proc.stdout is not None
        lines = []
        while len(lines) < acknowledged:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
        os.kill(proc.pid, signal.SIGKILL)
        lines += proc.stdout.read().splitlines(keepends=True)  # printed before the kill
        proc.wait()
        stderr = proc.stderr.read() if proc.stderr else ""
    finally:
        watchdog.cancel()
        proc.kill()
    assert proc.returncode == -signal.SIGKILL, stderr
    assert len(lines) >= acknowledged, stderr
    return [tuple(map(int, line.split())) for line in lines if line.endswith("\n")]


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["trio", "asyncio"])
def test_every_acknowledged_event_survives_kill_9(tmp_path: pathlib.Path, backend: str) -> None:
    path = tmp_path / ".llmspell" / "state.db"
    acked = _publish_then_kill(path, backend, 400)
    acked += _publish_then_kill(path, backend, 400)  # the same file, after a crash

    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        stored = {
            seq: (topic, json.loads(payload))
            for seq, topic, payload in conn.execute("SELECT seq, topic, payload FROM event_log")
        }
    finally:
        conn.close()
    missing = [a for a in acked if a[0] not in stored]
    assert missing == []
    for seq, p, i in acked:
        assert stored[seq] == (f"kill.{p}", {"p": p, "i": i, "run": backend})
    # batches are atomic and numbers are never skipped: 1..max, no holes
    assert sorted(stored) == list(range(1, max(stored) + 1))
    assert len(acked) == len({a[0] for a in acked})  # no seq acknowledged twice
