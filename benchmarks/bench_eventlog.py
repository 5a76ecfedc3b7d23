"""The durable event log: logged ``publish`` with group commit against one commit per insert.

Every figure is measured in this run, on files in one temporary directory, with the pragmas the
log uses (WAL, ``synchronous=NORMAL``, ``BEGIN IMMEDIATE`` per transaction, the same table):

* **logged publish**: a bus with a :class:`~actors.SqliteEventLog` and one subscriber on the
  topics; 100 publisher tasks each ``await bus.publish(...)`` in a loop (each publish returns
  once its event is committed and queued). Rate over all publishes, and the latency of each
  publish (p50, p99), on asyncio and trio.
* **raw sqlite3, one commit per insert**: a plain loop in one thread, no event loop: ``BEGIN
  IMMEDIATE; INSERT; COMMIT`` per event. The floor cost of a commit on this disk.
* **one commit per event through the log**: 100 tasks each ``await log.append([one])``: what a
  logged publish would cost without group commit (same driver, same writer thread).
* **the floor**: the least program that does what a logged publish must (``_logfloor``): 100
  tasks encode their payloads, add them to a shared batch and await its one wake-up; a batcher
  commits each batch with one multi-row ``INSERT`` in one writer thread, hands each event to a
  subscriber callback and wakes the batch. No bus, no ``actors`` code, no anyio; the better of
  one batch in flight and two (the loop overlapping the commit). ``floor ... vs raw sqlite3``
  carries the 5x target: where the floor misses it, no logged publish on this stack (Python,
  that event loop, sqlite3) can meet the bar on this machine at this load, and ``publish ...
  vs floor`` is what is left to gain in our code.

The issue's bar is "logged publish with 100 concurrent publishers >= 5x the *raw*
one-commit-per-insert rate". Read literally, "raw" is the first baseline (a bare sqlite3 loop,
as "raw aiosqlite" is the hand-written program in the state bars), and that is the record named
``... vs raw sqlite3``. The second record is the group-commit gain on the same path (one commit
per event through the log, same driver and thread): the issue's "(group commit)" part. Both
carry the target so that the table shows plainly which is met and which is not.

What the first ratio compares: the raw loop pays no event loop, no thread hop and no task
switch per event; besides its ~80k instructions per insert (user space) it makes the commit's
system calls (WAL write, locks): ~35 us of CPU per insert measured, user and kernel, so its
rate follows the kernel and the disk as much as the interpreter. A
logged publish is all CPU in Python, measured with callgrind (100 publishers, one subscriber,
100 events per commit), per publish: ~40k instructions on asyncio and ~68k on trio, of which
~12.5k are the SQLite insert in the log's writer thread (a multi-row ``INSERT``: ~2k binding
the row's values with the GIL held, ~8k in SQLite with the GIL released), ~7.5k the JSON
encoding of the payload, ~1.5k building the ``Event`` for the subscriber, and the task switch
itself: ~11k on asyncio, ~33k on trio (its scheduler's reschedule and step, for the bare
``await`` of a wake-up). The insert does not overlap the loop's work: the 100 publishers all
wait for the batch being committed (100 events per commit), so the loop sleeps while the
thread commits, and each batch pays two thread wake-ups (the job, then the loop's call-in),
which on a loaded machine wait for a core. So the ratio depends on the load of the machine as
much as on the code: on a busy 2-core machine both rates drop, the logged publish more. Trio's
task switch alone leaves it short of 5x on such a machine.

The floor, counted the same way (callgrind, K=5 minus K=1 rounds): ~35k instructions per
publish on asyncio and ~53k on trio, against ~40k and ~68k for a logged publish; its JSON is
``json.dumps``'s C encoder made once, as the log's (plain ``json.dumps`` adds ~10k). Both spawn
their publishers as the backend's own tasks (``asyncio.gather``, a trio nursery): an anyio task
group, as the benchmark used before, wraps each task in one more coroutine that every wake-up
goes through, ~4.5k (~6k) per publish that is the harness's, not the publish path's. Our extra
~5k on asyncio is the subscriber's side: an ``Event`` built per event, queued, and the handler
called from the subscription's own task, where the floor calls a callback inline (without a
subscriber a logged publish costs ~35k, the floor's figure with its callback). On trio, ~15k:
that, and the layers between ``bus.publish`` and the wait (the writer's wait coroutine and
anyio's event around trio's, ~1k alone).
With two batches in flight the floor costs ~1k more per publish (twice the commits) and is no
faster: the writer thread needs the GIL back after each statement while the loop, busy with
the other half, holds it.

``python -m benchmarks.bench_eventlog`` prints the table and writes ``results/eventlog.json``.
"""

from __future__ import annotations

import asyncio
import json
import pathlib
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Callable, Coroutine

import anyio

from actors import EventBus, LogRecord, SqliteEventLog

from . import _logfloor
from ._harness import Record, compare, report

PUBLISHERS = 100
EACH = 60  # publishes per publisher per round: 6,000 events a round
ROUNDS = 5
RAW_INSERTS = 3000


def _raw_rate(directory: pathlib.Path) -> float:
    """Best inserts/s of a synchronous ``BEGIN IMMEDIATE; INSERT; COMMIT`` loop."""
    path = directory / "raw.db"
    anyio.run(_create, path)
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    sql = "INSERT INTO event_log (topic, payload, headers, time) VALUES (?, ?, ?, ?)"
    best = 0.0
    try:
        for _ in range(ROUNDS):
            start = time.perf_counter()
            for i in range(RAW_INSERTS):
                conn.execute("BEGIN IMMEDIATE")
                conn.execute(sql, ("bench.raw", json.dumps({"publisher": 0, "n": i}), None, 0.0))
                conn.execute("COMMIT")
            best = max(best, RAW_INSERTS / (time.perf_counter() - start))
    finally:
        conn.close()
    return best


async def _create(path: pathlib.Path) -> None:
    async with SqliteEventLog(path):
        pass  # creates the file and the table, exactly as the log does


def _unbatched(directory: pathlib.Path, backend: str) -> tuple[float, list[float]]:
    """Best events/s (and that round's latencies) of one ``log.append`` per event, 100 tasks."""

    async def main() -> tuple[float, list[float]]:
        best: tuple[float, list[float]] = (0.0, [])
        async with SqliteEventLog(directory / f"unbatched-{backend}.db") as log:

            async def task(p: int, latencies: list[float]) -> None:
                for i in range(EACH // 4):  # it is slow: fewer events, same concurrency
                    payload = json.dumps({"publisher": p, "n": i})
                    start = time.perf_counter()
                    await log.append([LogRecord(f"bench.{p}", payload, None, time.time())])
                    latencies.append(time.perf_counter() - start)

            for _ in range(ROUNDS):
                rate, latencies = await _timed(task, PUBLISHERS * (EACH // 4), backend)
                if rate > best[0]:
                    best = (rate, latencies)
        return best

    return anyio.run(main, backend=backend)


def _logged_publish(directory: pathlib.Path, backend: str) -> tuple[float, list[float], float]:
    """Best publishes/s, that round's latencies, and the mean batch size."""

    async def main() -> tuple[float, list[float], float]:
        best: tuple[float, list[float]] = (0.0, [])
        received = 0

        def on_event(event: object) -> None:
            nonlocal received
            received += 1

        log = SqliteEventLog(directory / f"logged-{backend}.db")
        async with EventBus(event_log=log) as bus:
            bus.subscribe("bench.>", on_event)

            async def task(p: int, latencies: list[float]) -> None:
                topic = f"bench.{p}"
                for i in range(EACH):
                    start = time.perf_counter()
                    await bus.publish(topic, {"publisher": p, "n": i})
                    latencies.append(time.perf_counter() - start)

            for _ in range(ROUNDS):
                rate, latencies = await _timed(task, PUBLISHERS * EACH, backend)
                if rate > best[0]:
                    best = (rate, latencies)
            stats = bus.statistics()
        assert received == stats.logged == PUBLISHERS * EACH * ROUNDS
        return best[0], best[1], stats.logged / stats.log_commits

    return anyio.run(main, backend=backend)


async def _timed(
    task: Callable[[int, list[float]], Coroutine[None, None, None]], total: int, backend: str
) -> tuple[float, list[float]]:
    """Run ``task(p, latencies)`` for each publisher at once; return events/s and latencies.

    The publishers are the backend's own tasks, spawned as the floor spawns them
    (``asyncio.gather`` on asyncio, a nursery on trio), so that "publish vs floor" compares
    the publish paths only: an anyio task group wraps each task in one more coroutine that
    every wake-up goes through (~4.4k instructions per publish on asyncio). A service that
    embeds the bus spawns its publishers its own way."""
    latencies: list[float] = []
    start = time.perf_counter()
    if backend == "asyncio":
        await asyncio.gather(*(task(p, latencies) for p in range(PUBLISHERS)))
    else:
        import trio

        async with trio.open_nursery() as nursery:
            for p in range(PUBLISHERS):
                nursery.start_soon(task, p, latencies)
    return total / (time.perf_counter() - start), latencies


def _floor(directory: pathlib.Path, backend: str) -> tuple[float, list[float], int]:
    """The best rate of the floor (see ``_logfloor``) over both depths: rate, latencies, depth."""
    best: tuple[float, list[float], int] = (0.0, [], 0)
    for depth in (1, 2):
        path = directory / f"floor-{backend}-{depth}.db"
        anyio.run(_create, path)
        measure = _logfloor.asyncio_rate if backend == "asyncio" else _logfloor.trio_rate
        rate, latencies = measure(path, PUBLISHERS, EACH, depth, ROUNDS)
        if rate > best[0]:
            best = (rate, latencies, depth)
    return best


def _p(latencies: list[float], q: int) -> float:
    """The ``q``-th percentile of ``latencies``, in milliseconds."""
    return statistics.quantiles(latencies, n=100)[q - 1] * 1e3


def run() -> list[Record]:
    """Measure and return the records."""
    with tempfile.TemporaryDirectory(prefix="bench-eventlog-") as tmp:
        directory = pathlib.Path(tmp)
        raw = _raw_rate(directory)
        records: list[Record] = []
        for backend in ("asyncio", "trio"):
            rate, latencies, batch = _logged_publish(directory, backend)
            unbatched, unbatched_latencies = _unbatched(directory, backend)
            floor, floor_latencies, depth = _floor(directory, backend)
            name = f"eventlog: publish x{PUBLISHERS} ({backend})"
            records += [
                compare(
                    f"eventlog: floor x{PUBLISHERS} ({backend}) vs raw sqlite3", floor, "/s",
                    baseline="sqlite3 1 commit/insert, sync loop",
                    baseline_value=raw, target=5.0,
                ),
                compare(
                    f"{name} vs floor", rate, "/s",
                    baseline=f"floor, {depth} batch(es) in flight",
                    baseline_value=floor, target=None,
                ),
                compare(
                    f"eventlog: floor p99 latency ({backend})", _p(floor_latencies, 99), "ms",
                    baseline="ms, the logged publish p99", baseline_value=_p(latencies, 99),
                    target=None, lower_is_better=True,
                ),
                compare(
                    f"{name} vs raw sqlite3", rate, "/s",
                    baseline="sqlite3 1 commit/insert, sync loop",
                    baseline_value=raw, target=5.0,
                ),
                compare(
                    f"{name} vs 1 commit/event", rate, "/s",
                    baseline=f"log.append 1 event/commit, {PUBLISHERS} tasks",
                    baseline_value=unbatched, target=5.0,
                ),
                compare(
                    f"eventlog: logged publish p99 latency ({backend})", _p(latencies, 99), "ms",
                    baseline=f"p99, 1 event/commit, {PUBLISHERS} tasks",
                    baseline_value=_p(unbatched_latencies, 99), target=None,
                    lower_is_better=True,
                ),
                compare(
                    f"eventlog: logged publish p50 latency ({backend})", _p(latencies, 50), "ms",
                    baseline="ms, the p99", baseline_value=_p(latencies, 99), target=None,
                    lower_is_better=True,
                ),
                compare(
                    f"eventlog: events per commit ({backend})", batch, "ev",
                    baseline="1 event per commit", baseline_value=1.0, target=None,
                ),
            ]  # fmt: skip
    return records


if __name__ == "__main__":
    report("eventlog", run())
