"""Core actor benchmarks: tell and ask against raw asyncio, and across threads against Pykka.

Each side of a comparison does the same work, the same number of times (``N`` operations per
round, best of ``REPEAT`` rounds, a full garbage collection before each round), and only the
operations are timed: starting a loop, a system or a thread is outside the clock on both
sides (the lifecycle rows measure that cost on its own). Rows that run on one event loop count
this process's CPU time (:data:`cpu_clock`): the loop never sleeps while they run, so on a
quiet machine it equals wall time, and on a busy one (this machine is shared) it leaves out
the time other processes held the CPU. Rows across threads count wall time: there a thread
waiting for another is part of the cost. They run pinned to one CPU (:func:`_one_cpu`): with
the GIL one thread runs at a time anyway, and left to the OS the two threads sometimes share
a core and sometimes not, which swings every contender between ~60-150k and ~12k round
trips/s from one run to the next (a wake-up across cores costs tens of µs in this VM).

* tell: one producer sends ``TELL_N`` messages to one actor (a plain ``def on_receive`` that
  counts), yielding every 256 messages; baseline: ``asyncio.Queue(1000).put_nowait`` and a
  consumer ``await get()`` loop doing the same counting, with the same yields. Also reported
  with an ``async def on_receive``, and on trio (against the same asyncio baseline).
* ask: ``ASK_N`` sequential round trips to an echo actor, each with the default 5 s timeout
  armed; baseline: an ``asyncio.Queue`` plus a ``Future`` per request, no timeout. Also
  reported on trio.
* across threads (like Pykka, whose actors are threads): a plain thread asks an echo actor of
  ``actors.start_in_thread()`` (the blocking facade, loop on its own thread) ``THREAD_N``
  times; baseline: the same thread asks a Pykka echo actor (``ThreadingActor``), both with a
  5 s timeout. The floor row is a bare thread-to-thread round trip (a deque and two locks,
  no actor at all): what any cross-thread ask can reach on this machine. The asyncio floor
  row is what any actor served by a task on an asyncio loop in another thread can reach: the
  thread hands a lock to the loop (``call_soon_threadsafe`` of ``asyncio.Queue.put_nowait``), a
  task awaiting the queue releases it (no actor, no timeout, no reply value). Tells across
  threads are reported too; note that ``BlockingActorRef.tell`` returns once the message is
  queued (so that a full mailbox raises in the caller), Pykka's ``tell`` without waiting.
* lifecycle: what the spell runtime does per run, one actor after another: spawn a named
  temporary actor under a supervisor, ask it once, stop it; in µs per actor. Baseline, on the
  same backend: its hand-written equivalent in anyio, ``tg.start_soon`` of a task reading a
  memory object stream, one request with a reply event, then closing the stream and waiting
  for the task to end.
"""

from __future__ import annotations

import asyncio
import gc
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from functools import partial
from typing import Any

import anyio
import anyio.lowlevel
import pykka
from anyio.streams.memory import MemoryObjectReceiveStream

import actors

from ._harness import Record, compare

TELL_N = 200_000
ASK_N = 20_000
THREAD_N = 10_000
LIFECYCLE_N = 5_000
REPEAT = 5
BATCH = 256
TIMEOUT = 5.0  # the ask timeout of both sides of the cross-thread rows (ours by default)

#: The clock of the rows that run on one event loop (see the module docstring).
cpu_clock = time.process_time

Timed = Callable[[int], float]  # runs n operations, returns the seconds they took


def _best_rate(timed: Timed, n: int, repeat: int = REPEAT) -> float:
    """Operations per second: the best of ``repeat`` rounds of ``n``."""
    best = float("inf")
    for _ in range(repeat):
        gc.collect()
        best = min(best, timed(n))
    return n / best


def _on(backend: str, fn: Callable[[int], Coroutine[Any, Any, float]]) -> Timed:
    return lambda n: anyio.run(fn, n, backend=backend)


# -- raw asyncio baselines -----------------------------------------------------------------


async def _queue_tell(n: int) -> float:
    queue: asyncio.Queue[int] = asyncio.Queue(maxsize=1000)
    done = asyncio.Event()

    async def consumer() -> None:
        count = 0
        while True:
            await queue.get()
            count += 1
            if count == n:
                done.set()
                return

    task = asyncio.create_task(consumer())
    await asyncio.sleep(0)  # the consumer waits in get(), as the actor waits for mail
    start = cpu_clock()
    for i in range(n):
        queue.put_nowait(i)
        if i % BATCH == BATCH - 1:
            await asyncio.sleep(0)
    await done.wait()
    elapsed = cpu_clock() - start
    await task
    return elapsed


async def _queue_ask(n: int) -> float:
    queue: asyncio.Queue[tuple[int, asyncio.Future[int]]] = asyncio.Queue()

    async def server() -> None:
        while True:
            message, future = await queue.get()
            future.set_result(message)

    task = asyncio.create_task(server())
    loop = asyncio.get_running_loop()
    await asyncio.sleep(0)
    start = cpu_clock()
    for i in range(n):
        future: asyncio.Future[int] = loop.create_future()
        queue.put_nowait((i, future))
        await future
    elapsed = cpu_clock() - start
    task.cancel()
    return elapsed


# -- actors --------------------------------------------------------------------------------


class _Sink(actors.Actor):
    def __init__(self, n: int, done: anyio.Event) -> None:
        self.n, self.done, self.count = n, done, 0

    def on_receive(self, message: Any) -> None:
        self.count += 1
        if self.count == self.n:
            self.done.set()


class _AsyncSink(_Sink):
    async def on_receive(self, message: Any) -> None:  # type: ignore[override]
        self.count += 1
        if self.count == self.n:
            self.done.set()


class _Echo(actors.Actor):
    def on_receive(self, message: Any) -> Any:
        return message


async def _actors_tell(n: int, sink: type[_Sink] = _Sink) -> float:
    async with actors.open_system() as system:
        done = anyio.Event()
        ref = await system.spawn(sink, n, done)
        tell = ref.tell
        start = cpu_clock()
        for i in range(n):
            tell(i)
            if i % BATCH == BATCH - 1:
                await anyio.lowlevel.checkpoint()
        await done.wait()
        return cpu_clock() - start


async def _actors_ask(n: int) -> float:
    async with actors.open_system() as system:
        ref = await system.spawn(_Echo)
        ask = ref.ask
        start = cpu_clock()
        for i in range(n):
            await ask(i)
        return cpu_clock() - start


class _Answer:
    __slots__ = ("done", "value")

    def __init__(self) -> None:
        self.done = anyio.Event()
        self.value: Any = None


async def _one_shot_server(
    requests: MemoryObjectReceiveStream[tuple[Any, _Answer]], finished: anyio.Event
) -> None:
    with requests:
        async for message, answer in requests:
            answer.value = message
            answer.done.set()
    finished.set()


async def _bare_lifecycle(n: int) -> float:
    async with anyio.create_task_group() as tg:
        start = cpu_clock()
        for i in range(n):
            send, receive = anyio.create_memory_object_stream[tuple[Any, _Answer]](1)
            finished = anyio.Event()
            tg.start_soon(_one_shot_server, receive, finished)
            answer = _Answer()
            await send.send((i, answer))
            await answer.done.wait()
            send.close()
            await finished.wait()
        return cpu_clock() - start


async def _actors_lifecycle(n: int) -> float:
    async with actors.open_system() as system:
        supervisor = await system.spawn_supervisor(name="runs")
        start = cpu_clock()
        for i in range(n):
            ref = await supervisor.spawn(_Echo, name=f"run-{i}", restart="temporary")
            await ref.ask(i, timeout=None)
            await ref.stop()
        return cpu_clock() - start


# -- across threads: the blocking facade, Pykka, and the bare floor ------------------------


class _PykkaEcho(pykka.ThreadingActor):
    def on_receive(self, message: Any) -> Any:
        return message


def _rounds(call: Callable[[int], object], n: int) -> float:
    """Best ops/s of ``REPEAT`` rounds of ``n`` calls ``call(i)`` from this thread."""

    def timed(n: int) -> float:
        start = time.perf_counter()
        for i in range(n):
            call(i)
        return time.perf_counter() - start

    call(-1)  # warm up: the first call starts what is started lazily
    return _best_rate(timed, n)


@contextmanager
def _one_cpu() -> Iterator[None]:
    """Pin this thread, and the threads it starts meanwhile, to one CPU (where supported)."""
    if not hasattr(os, "sched_setaffinity"):
        yield
        return
    cpus = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {min(cpus)})
    try:
        yield
    finally:
        os.sched_setaffinity(0, cpus)


def _threaded_actors(n: int) -> tuple[float, float]:
    """Blocking asks and tells/s to an actor of ``start_in_thread()``."""
    with actors.start_in_thread() as system:
        ref = system.spawn(_Echo)
        ask = _rounds(partial(_ask_blocking, ref), n)
        tell = _rounds(ref.tell, n)
        return ask, tell


def _ask_blocking(ref: actors.BlockingActorRef, i: int) -> object:
    return ref.ask(i, timeout=TIMEOUT)


def _pykka(n: int) -> tuple[float, float]:
    """Asks and tells/s to a Pykka echo actor (tells end with an ask: all were handled)."""
    ref = _PykkaEcho.start()
    try:
        ask = _rounds(partial(_ask_pykka, ref), n)

        def tell_round(n: int) -> float:
            start = time.perf_counter()
            for i in range(n):
                ref.tell(i)
            ref.ask("done", timeout=TIMEOUT)
            return time.perf_counter() - start

        tell = _best_rate(tell_round, n)
    finally:
        ref.stop()
    return ask, tell


def _ask_pykka(ref: pykka.ActorRef[Any], i: int) -> object:
    return ref.ask(i, timeout=TIMEOUT)


def _thread_floor(n: int) -> float:
    """Round trips/s between two plain threads: a deque, a semaphore and a lock per request."""
    inbox: deque[tuple[int, threading.Lock] | None] = deque()
    posted = threading.Semaphore(0)

    def server() -> None:
        while True:
            posted.acquire()
            item = inbox.popleft()
            if item is None:
                return
            item[1].release()

    def round_trip(i: int) -> None:
        reply = threading.Lock()
        reply.acquire()
        inbox.append((i, reply))
        posted.release()
        reply.acquire()

    thread = threading.Thread(target=server)
    thread.start()
    try:
        return _rounds(round_trip, n)
    finally:
        inbox.append(None)
        posted.release()
        thread.join()


def _asyncio_floor(n: int) -> float:
    """Round trips/s from this thread to a task on an asyncio loop in another thread."""
    loop = asyncio.new_event_loop()
    queue: asyncio.Queue[threading.Lock | None] = asyncio.Queue()

    async def server() -> None:
        while (reply := await queue.get()) is not None:
            reply.release()

    def round_trip(i: int) -> None:
        reply = threading.Lock()
        reply.acquire()
        loop.call_soon_threadsafe(queue.put_nowait, reply)
        reply.acquire()

    thread = threading.Thread(target=loop.run_until_complete, args=(server(),))
    thread.start()
    try:
        return _rounds(round_trip, n)
    finally:
        loop.call_soon_threadsafe(queue.put_nowait, None)
        thread.join()
        loop.close()


def run() -> list[Record]:
    """Measure and compare. Rates are in messages (or asks) per second, lifecycles in µs."""
    base_tell = _best_rate(lambda n: asyncio.run(_queue_tell(n)), TELL_N)
    base_ask = _best_rate(lambda n: asyncio.run(_queue_ask(n)), ASK_N)
    tell = _best_rate(_on("asyncio", _actors_tell), TELL_N)
    tell_async = _best_rate(_on("asyncio", partial(_actors_tell, sink=_AsyncSink)), TELL_N)
    ask = _best_rate(_on("asyncio", _actors_ask), ASK_N)
    trio_tell = _best_rate(_on("trio", _actors_tell), TELL_N)
    trio_ask = _best_rate(_on("trio", _actors_ask), ASK_N)
    with _one_cpu():
        thread_ask, thread_tell = _threaded_actors(THREAD_N)
        pykka_ask, pykka_tell = _pykka(THREAD_N)
        floor = _thread_floor(THREAD_N)
        asyncio_floor = _asyncio_floor(THREAD_N)
    tell_base = ("asyncio.Queue put_nowait/get", base_tell)
    ask_base = ("asyncio.Queue + Future", base_ask)
    pykka_ask_base = ("pykka ask, thread to thread", pykka_ask)
    rows = [
        ("actors tell (asyncio)", tell, "msg/s", tell_base, 0.7),
        ("actors tell, async on_receive (asyncio)", tell_async, "msg/s", tell_base, None),
        ("actors ask (asyncio)", ask, "ask/s", ask_base, 0.9),
        ("actors tell (trio)", trio_tell, "msg/s", tell_base, None),
        ("actors ask (trio)", trio_ask, "ask/s", ask_base, None),
        ("actors ask from a thread (start_in_thread)", thread_ask, "ask/s", pykka_ask_base, 3.0),
        ("floor: bare thread-to-thread round trip", floor, "/s", pykka_ask_base, None),
        ("floor: thread to a task on an asyncio loop", asyncio_floor, "/s", pykka_ask_base, None),
        ("actors ask from a thread vs the asyncio floor", thread_ask, "ask/s",
         ("thread to a task on an asyncio loop", asyncio_floor), None),
        ("actors tell from a thread (returns once queued)", thread_tell, "msg/s",
         ("pykka tell, thread to thread", pykka_tell), None),
    ]  # fmt: skip
    records = [
        compare(name, value, unit, baseline=base, baseline_value=base_value, target=target)
        for name, value, unit, (base, base_value), target in rows
    ]
    for backend in ("asyncio", "trio"):
        value = 1e6 / _best_rate(_on(backend, _actors_lifecycle), LIFECYCLE_N)
        base_value = 1e6 / _best_rate(_on(backend, _bare_lifecycle), LIFECYCLE_N)
        name = f"actor lifecycle: spawn + ask + stop ({backend})"
        base = "anyio start_soon + stream"  # on the same backend
        record = compare(
            name, value, "µs", baseline=base, baseline_value=base_value, target=None,
            lower_is_better=True,
        )  # fmt: skip
        records.append(record)
    return records


if __name__ == "__main__":
    from ._harness import report

    start = time.perf_counter()
    report("actors_core", run())
    print(f"({time.perf_counter() - start:.1f} s)")
