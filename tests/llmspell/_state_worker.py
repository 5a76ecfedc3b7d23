"""A separate process using a state store, for the crash and cross-process tests.

python _state_worker.py stream KIND PATH I    write kI, kI+1, ... (and increment "n"),
                                              printing each key once its writes have
                                              returned, until killed
python _state_worker.py update KIND PATH N    print "ready", wait for a line on stdin,
                                              then increment "counter" N times; print
                                              how many times the update function ran
"""

from __future__ import annotations

import itertools
import sys
from typing import Any

import anyio
import anyio.lowlevel

from llmspell.state import FileStateStore, SqliteStateStore, StateStore


def open_store(kind: str, path: str) -> StateStore:
    return SqliteStateStore(path) if kind == "sqlite" else FileStateStore(path)


async def stream(store: StateStore, start: int) -> None:
    async with store:
        for i in itertools.count(start):
            await store.set("global", f"k{i}", {"i": i, "pad": "x" * (i % 50)})
            await store.update("global", "n", _increment)
            print(f"k{i}", flush=True)


async def update(store: StateStore, times: int) -> None:
    calls = 0

    async def increment(current: Any) -> int:
        nonlocal calls
        calls += 1
        await anyio.lowlevel.checkpoint()  # widen the window between read and write
        return (current or 0) + 1

    async with store:
        await store.open()
        print("ready", flush=True)
        await anyio.to_thread.run_sync(sys.stdin.readline)
        for _ in range(times):
            await store.update("global", "counter", increment)
    print(calls, flush=True)


async def _increment(current: Any) -> int:
    return (current or 0) + 1


def main(argv: list[str]) -> None:
    mode, kind, path = argv[:3]
    store = open_store(kind, path)
    if mode == "stream":
        anyio.run(stream, store, int(argv[3]))
    else:
        anyio.run(update, store, int(argv[3]))


if __name__ == "__main__":
    main(sys.argv[1:])
