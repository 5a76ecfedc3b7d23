"""The floor of a logged publish: the least a program must do for what ``publish`` promises.

No bus, no ``actors`` code, no anyio: the backend's own primitives. ``publishers`` tasks each
encode their payload as JSON (``json.dumps``'s C encoder, made once), add it to the shared
collecting batch and await that batch's one wake-up (a loop future on asyncio, an ``Event`` on
trio); a task's ``seq`` is its batch's first number plus its index. One batcher task hands each
batch to one writer thread (a ``SimpleQueue`` in, one loop call-in back, as the log's own thread
does), which inserts it with one multi-row ``INSERT`` in a ``BEGIN IMMEDIATE`` transaction (same
table, same pragmas); then the batcher hands each event, in ``seq`` order, to one subscriber
callback and wakes the batch.

``depth`` is how many batches may be in the thread at once. With 1, the shape of the log's
writer, a batch holds every publisher's event, so all publishers wait for the one batch in
flight and the loop sleeps while the thread commits. With 2, a batch is closed once it holds
half the publishers' events, so that while one half's batch commits the other half is woken,
publishes and encodes: the loop's work overlaps SQLite's (which releases the GIL) on the second
core. A batch is handed to the thread by the publisher that fills it, at once if the thread has
fewer than ``depth`` batches, else by the batcher when one is done.
"""

from __future__ import annotations

import pathlib
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable
from json.encoder import c_make_encoder, encode_basestring  # type: ignore[attr-defined]
from queue import SimpleQueue
from typing import Any

_INSERT = "INSERT INTO event_log (topic, payload, headers, time) VALUES "
# json.dumps(payload, separators=(",", ":")) without making its C encoder on every call
_chunks = c_make_encoder(None, None, encode_basestring, None, ":", ",", False, False, True)


def _dumps(payload: Any) -> str:
    return "".join(_chunks(payload, 0))


class _Batch:
    __slots__ = ("done", "error", "last", "rows")

    def __init__(self, done: Any) -> None:
        self.rows: list[tuple[str, Any, str, float]] = []  # topic, payload, JSON, time
        self.done = done  # the one wake-up its publishers await
        self.last = 0  # the last seq, once committed
        self.error: Exception | None = None  # or why it was not


def _serve(path: pathlib.Path, jobs: SimpleQueue[Any], call_in: Callable[..., object]) -> None:
    """The writer thread: one connection, one transaction per batch, one call-in back."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA synchronous=NORMAL")
    try:
        while (job := jobs.get()) is not None:
            batch, committed = job
            flat = [value for topic, _, text, ts in batch.rows for value in (topic, text, ts)]
            try:
                conn.execute("BEGIN IMMEDIATE")
                conn.execute(_INSERT + ", ".join(["(?, ?, NULL, ?)"] * len(batch.rows)), flat)
                (batch.last,) = conn.execute("SELECT last_insert_rowid()").fetchone()
                conn.execute("COMMIT")
            except Exception as exc:  # raised by the batcher: the run fails, not hangs
                batch.error = exc
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
            call_in(committed)
    finally:
        conn.close()


async def _floor(
    path: pathlib.Path,
    publishers: int,
    each: int,
    depth: int,
    rounds: int,
    new: Callable[[], Any],
    wait: Callable[[Any], Awaitable[object]],
    wake: Callable[[Any], None],
    call_in: Callable[..., object],
    spawn: Callable[[Callable[..., Awaitable[None]], int], Awaitable[None]],
) -> tuple[float, list[float]]:
    """The best of ``rounds`` on one backend: publishes/s and that round's latencies (s).

    Given the backend's one-shot wake-up (``new``, ``wait``, ``wake``), its thread call-in, and
    ``spawn(fn, n)``, which runs ``fn(0) ... fn(n-1)`` as tasks until all return.
    """
    cap = -(-publishers // depth)  # events per batch before it is closed
    batch = _Batch(new())
    closed: deque[_Batch] = deque()  # full, not yet handed to the thread
    inflight: deque[tuple[_Batch, Any]] = deque()  # handed over, with the call-in's wake-up
    wakeup: list[Any] = []
    latencies: list[float] = []
    received = 0

    def on_event(seq: int, topic: str, payload: Any) -> None:
        nonlocal received
        received += 1

    def submit(taken: _Batch) -> None:
        committed = new()
        jobs.put((taken, committed))
        inflight.append((taken, committed))

    async def publisher(p: int) -> None:
        nonlocal batch
        topic = f"bench.{p}"
        for i in range(each):
            start = time.perf_counter()
            payload = {"publisher": p, "n": i}
            mine = batch
            mine.rows.append((topic, payload, _dumps(payload), time.time()))
            index = len(mine.rows) - 1
            if index + 1 == cap:  # full: to the thread now if it has room, else queued
                batch = _Batch(new())
                if len(inflight) < depth:
                    submit(mine)
                else:
                    closed.append(mine)
            if wakeup:
                wake(wakeup.pop())
            await wait(mine.done)
            _seq = mine.last - len(mine.rows) + 1 + index
            latencies.append(time.perf_counter() - start)

    async def batcher(total: int) -> None:
        nonlocal batch
        logged = 0
        while logged < total:
            if len(inflight) < depth and (closed or batch.rows):
                taken = closed.popleft() if closed else batch
                if taken is batch:
                    batch = _Batch(new())
                submit(taken)
            elif inflight:
                taken, committed = inflight.popleft()
                await wait(committed)
                if taken.error is not None:
                    raise taken.error
                first = taken.last - len(taken.rows) + 1
                for index, (topic, payload, _, _) in enumerate(taken.rows):
                    on_event(first + index, topic, payload)
                wake(taken.done)
                logged += len(taken.rows)
            else:
                wakeup.append(new())
                await wait(wakeup[0])

    total = publishers * each
    jobs: SimpleQueue[Any] = SimpleQueue()
    thread = threading.Thread(target=_serve, args=(path, jobs, call_in))
    thread.start()
    best: tuple[float, list[float]] = (0.0, [])
    try:
        for _ in range(rounds):
            latencies = []
            start = time.perf_counter()
            await spawn(
                lambda n: batcher(total) if n == publishers else publisher(n), publishers + 1
            )
            rate = total / (time.perf_counter() - start)
            if rate > best[0]:
                best = (rate, latencies)
    finally:
        jobs.put(None)
        thread.join()
    assert received == total * rounds
    return best


def asyncio_rate(
    path: pathlib.Path, publishers: int, each: int, depth: int, rounds: int
) -> tuple[float, list[float]]:
    """The floor on asyncio: the best round's publishes/s and latencies (s)."""
    import asyncio

    async def main() -> tuple[float, list[float]]:
        loop = asyncio.get_running_loop()

        def wake(future: asyncio.Future[None]) -> None:
            future.set_result(None)

        async def spawn(fn: Callable[[int], Awaitable[None]], n: int) -> None:
            await asyncio.gather(*(fn(i) for i in range(n)))

        def call_in(future: asyncio.Future[None]) -> None:
            loop.call_soon_threadsafe(future.set_result, None)

        return await _floor(
            path,
            publishers,
            each,
            depth,
            rounds,
            loop.create_future,
            lambda f: f,
            wake,
            call_in,
            spawn,
        )

    return asyncio.run(main())


def trio_rate(
    path: pathlib.Path, publishers: int, each: int, depth: int, rounds: int
) -> tuple[float, list[float]]:
    """The floor on trio: the best round's publishes/s and latencies (s)."""
    import trio

    async def main() -> tuple[float, list[float]]:
        token = trio.lowlevel.current_trio_token()

        async def spawn(fn: Callable[[int], Awaitable[None]], n: int) -> None:
            async with trio.open_nursery() as nursery:
                for i in range(n):
                    nursery.start_soon(fn, i)

        def call_in(event: trio.Event) -> None:
            token.run_sync_soon(event.set)

        return await _floor(
            path, publishers, each, depth, rounds, trio.Event, trio.Event.wait, trio.Event.set,
            call_in, spawn,
        )  # fmt: skip

    return trio.run(main)
