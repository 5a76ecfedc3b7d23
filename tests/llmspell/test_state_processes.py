"""State across processes: kill -9 loses nothing acknowledged; updates stay atomic."""

from __future__ import annotations

import json
import os
import pathlib
import random
import signal
import sqlite3
import subprocess
import sys

import anyio
import pytest

from llmspell.state import FileStateStore, SqliteStateStore, StateStore

WORKER = pathlib.Path(__file__).with_name("_state_worker.py")
ROOT = pathlib.Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow


def spawn(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(WORKER), *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )


def store_at(kind: str, path: pathlib.Path) -> StateStore:
    return SqliteStateStore(path) if kind == "sqlite" else FileStateStore(path)


@pytest.mark.parametrize("kind", ["sqlite", "file"])
def test_kill_9_loses_no_acknowledged_write_and_corrupts_nothing(
    kind: str, tmp_path: pathlib.Path
) -> None:
    path = tmp_path / ("state.db" if kind == "sqlite" else "state.json")
    rng = random.Random()
    acknowledged: list[str] = []
    for _round in range(3):  # three processes in turn on one file, each killed at random
        proc = spawn("stream", kind, str(path), str(len(acknowledged) * 10))
        assert proc.stdout is not None and proc.stderr is not None
        stop_after = rng.randint(5, 80)
        for count, line in enumerate(proc.stdout, 1):
            acknowledged.append(line.strip())
            if count == stop_after:
                break
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        acknowledged += proc.stdout.read().split()  # printed before it died: acknowledged too
        error = proc.stderr.read()
        proc.stdout.close()
        proc.stderr.close()
        assert proc.returncode == -signal.SIGKILL, error
        if kind == "sqlite":
            with sqlite3.connect(path) as db:
                assert db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        else:
            json.loads(path.read_text("utf-8"))  # the file is whole, never half-written

        async def check(acknowledged: list[str]) -> None:
            async with store_at(kind, path) as store:
                keys = set(await store.keys("global"))
                for key in acknowledged:
                    i = int(key[1:])
                    assert key in keys
                    assert await store.get("global", key) == {"i": i, "pad": "x" * (i % 50)}
                assert await store.get("global", "n") >= len(acknowledged)

        anyio.run(check, acknowledged)


@pytest.mark.parametrize(("kind", "processes"), [("sqlite", 8), ("file", 4)])
def test_updates_from_many_processes_are_atomic(
    kind: str, processes: int, tmp_path: pathlib.Path
) -> None:
    path = tmp_path / ("state.db" if kind == "sqlite" else "state.json")
    times = 25
    procs = [spawn("update", kind, str(path), str(times)) for _ in range(processes)]
    try:
        for proc in procs:  # all started and opened: then they all begin at once
            assert proc.stdout is not None
            assert proc.stdout.readline().strip() == "ready", proc.stderr and proc.stderr.read()
        for proc in procs:
            assert proc.stdin is not None
            proc.stdin.write("go\n")
            proc.stdin.flush()
        calls = 0
        for proc in procs:
            out, err = proc.communicate(timeout=120)
            assert proc.returncode == 0, err
            calls += int(out)
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()

    async def total() -> object:
        async with store_at(kind, path) as store:
            return await store.get("global", "counter")

    assert anyio.run(total) == processes * times
    assert calls >= processes * times  # each conflict re-ran the function
