"""Core actor benchmarks: tell throughput and ask round trips, against raw asyncio and Pykka.

* tell: one producer sends N messages to one actor (a plain ``def on_receive`` that counts),
  yielding every 256 messages; baseline: ``asyncio.Queue(1000).put_nowait`` and a consumer
  ``await get()`` loop doing the same counting, with the same yields. Also reported with an
  ``async def on_receive``.
* ask: sequential round trips (default 5 s timeout armed); baseline: an ``asyncio.Queue`` plus a
  ``Future`` per request. Also against Pykka's thread-based ask.
* The same tell/ask figures on trio, against the asyncio baselines (reported, no target).
* lifecycle: what the spell runtime does per run, one actor after another: spawn a named
  temporary actor under a supervisor, ask it once, stop it; in µs per actor. Baseline, on the
  same backend: its hand-written equivalent in anyio, ``tg.start_soon`` of a task reading a
  memory object stream, one request with a reply event, then closing the stream and waiting
  for the task to end.
"""

from __future__ import annotations

import asyncio
import time
from functools import partial
from typing import Any

import anyio
import anyio.lowlevel
import pykka
from anyio.streams.memory import MemoryObjectReceiveStream

import actors

from ._harness import Record, best_rate, compare

TELL_N = 200_000
ASK_N = 20_000
PYKKA_TELL_N = 50_000
PYKKA_ASK_N = 5_000
LIFECYCLE_N = 5_000
BATCH = 256


# -- raw asyncio baselines -----------------------------------------------------------------


async def _queue_tell(n: int) -> None:
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
    for i in range(n):
        queue.put_nowait(i)
        if i % BATCH == BATCH - 1:
            await asyncio.sleep(0)
    await done.wait()
    await task


async def _queue_ask(n: int) -> None:
    queue: asyncio.Queue[tuple[int, asyncio.Future[int]]] = asyncio.Queue()

    async def server() -> None:
        while True:
            message, future = await queue.get()
            future.set_result(message)

    task = asyncio.create_task(server())
    loop = asyncio.get_running_loop()
    for i in range(n):
        future: asyncio.Future[int] = loop.create_future()
        queue.put_nowait((i, future))
        await future
    task.cancel()


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


async def _actors_tell(n: int, sink: type[_Sink] = _Sink) -> None:
    async with actors.open_system() as system:
        done = anyio.Event()
        ref = await system.spawn(sink, n, done)
        tell = ref.tell
        for i in range(n):
            tell(i)
            if i % BATCH == BATCH - 1:
                await anyio.lowlevel.checkpoint()
        await done.wait()


async def _actors_ask(n: int) -> None:
    async with actors.open_system() as system:
        ref = await system.spawn(_Echo)
        ask = ref.ask
        for i in range(n):
            await ask(i)


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


async def _bare_lifecycle(n: int) -> None:
    async with anyio.create_task_group() as tg:
        for i in range(n):
            send, receive = anyio.create_memory_object_stream[tuple[Any, _Answer]](1)
            finished = anyio.Event()
            tg.start_soon(_one_shot_server, receive, finished)
            answer = _Answer()
            await send.send((i, answer))
            await answer.done.wait()
            send.close()
            await finished.wait()


async def _actors_lifecycle(n: int) -> None:
    async with actors.open_system() as system:
        supervisor = await system.spawn_supervisor(name="runs")
        for i in range(n):
            ref = await supervisor.spawn(_Echo, name=f"run-{i}", restart="temporary")
            await ref.ask(i, timeout=None)
            await ref.stop()


def _per_actor_us(backend: str, fn: Any) -> float:
    return 1e6 / best_rate(_timed(backend, fn, LIFECYCLE_N))


def _timed(backend: str, fn: Any, n: int) -> Any:
    def run() -> int:
        anyio.run(fn, n, backend=backend)
        return n

    return run


# -- Pykka ---------------------------------------------------------------------------------


class _PykkaSink(pykka.ThreadingActor):
    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    def on_receive(self, message: Any) -> Any:
        if message == "get":
            return self.count
        self.count += 1
        return None


def _pykka_tell() -> int:
    ref = _PykkaSink.start()
    try:
        for i in range(PYKKA_TELL_N):
            ref.tell(i)
        ref.ask("get")
    finally:
        ref.stop()
    return PYKKA_TELL_N


def _pykka_ask() -> int:
    ref = _PykkaSink.start()
    try:
        for _ in range(PYKKA_ASK_N):
            ref.ask("get")
    finally:
        ref.stop()
    return PYKKA_ASK_N


def _asyncio_rate(fn: Any, n: int) -> float:
    return best_rate(lambda: (asyncio.run(fn(n)), n)[1])


def run() -> list[Record]:
    """Measure and compare; every figure is the best of 5 runs.

    Rates are in messages (or asks) per second; the lifecycle is in µs per actor.
    """
    base_tell = _asyncio_rate(_queue_tell, TELL_N)
    base_ask = _asyncio_rate(_queue_ask, ASK_N)
    tell = best_rate(_timed("asyncio", _actors_tell, TELL_N))
    tell_async = best_rate(_timed("asyncio", partial(_actors_tell, sink=_AsyncSink), TELL_N))
    ask = best_rate(_timed("asyncio", _actors_ask, ASK_N))
    pykka_tell = best_rate(_pykka_tell, repeat=3)
    pykka_ask = best_rate(_pykka_ask, repeat=3)
    trio_tell = best_rate(_timed("trio", _actors_tell, TELL_N))
    trio_ask = best_rate(_timed("trio", _actors_ask, ASK_N))
    lifecycle = {
        backend: (
            _per_actor_us(backend, _actors_lifecycle),
            _per_actor_us(backend, _bare_lifecycle),
        )
        for backend in ("asyncio", "trio")
    }
    tell_base = ("asyncio.Queue put_nowait/get", base_tell)
    ask_base = ("asyncio.Queue + Future", base_ask)
    rows = [
        ("actors tell (asyncio)", tell, "msg/s", tell_base, 0.7),
        ("actors tell, async on_receive (asyncio)", tell_async, "msg/s", tell_base, None),
        ("actors ask (asyncio)", ask, "ask/s", ask_base, 0.7),
        ("actors ask vs Pykka (asyncio)", ask, "ask/s", ("pykka ask", pykka_ask), 3.0),
        ("actors tell vs Pykka (asyncio)", tell, "msg/s", ("pykka tell", pykka_tell), None),
        ("actors tell (trio)", trio_tell, "msg/s", tell_base, None),
        ("actors ask (trio)", trio_ask, "ask/s", ask_base, None),
    ]
    records = [
        compare(name, value, unit, baseline=base, baseline_value=base_value, target=target)
        for name, value, unit, (base, base_value), target in rows
    ]
    for backend, (value, base_value) in lifecycle.items():
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
