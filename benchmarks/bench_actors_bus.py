"""Event bus and hooks of ``actors``: fan-out throughput and hook overhead.

* bus fan-out: 10 wildcard subscribers (5 on ``order.*``, 5 on ``order.>``) with sync handlers;
  publish N events with ``await bus.publish`` and count every delivery until all are drained.
  Compared with blinker ``send`` to 10 receivers and pyee's sync ``emit`` to 10 listeners,
  both measured in the same run, both with target ratio 1.0. (Both peers call every handler
  inside ``send``/``emit``; the bus queues each event per subscriber and a task per
  subscriber delivers it.)
* publish with no matching subscriber (one subscriber elsewhere): against the least a
  publish can do, a hand-written exact-topic bus whose ``async def publish`` looks the
  topic up in a dict of subscriber queues and appends the event to each (here: none).
  Target 0.5: at most twice that, for matching wildcard patterns and counting the publish.
* hooks: ``await hooks.run(...)`` on a point without handlers, against an ``async def`` that
  runs the same (empty) handler list in a plain loop. Target 0.8: "near zero" overhead, within
  a quarter of that loop. With 3 handlers, against calling the same 3 functions inline
  (reported).

The per-call rows time ``await call(i)`` in a loop on asyncio (best of ``REPEAT`` rounds, the
same loop overhead on both sides). Every row counts CPU time, as the single-loop rows of
``bench_actors_core`` do.
"""

from __future__ import annotations

import gc
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import anyio.lowlevel
import blinker
import pyee

from actors import Event, EventBus, HookRegistry

from ._harness import Record, compare
from .bench_actors_core import cpu_clock

SUBSCRIBERS = 10
EVENTS = 50_000
REPEAT = 5


def _bus_fanout(backend: str) -> float:
    """Best deliveries/s over ``REPEAT`` rounds of ``EVENTS`` publishes to 10 subscribers."""

    async def main() -> float:
        best = 0.0
        count = 0

        def on_event(event: Event) -> None:
            nonlocal count
            count += 1

        async with EventBus() as bus:
            for i in range(SUBSCRIBERS):
                bus.subscribe("order.*" if i % 2 else "order.>", on_event)
            await anyio.wait_all_tasks_blocked()
            target = EVENTS * SUBSCRIBERS
            for _ in range(REPEAT):
                count = 0
                start = cpu_clock()
                for i in range(EVENTS):
                    await bus.publish("order.created", i)
                while count < target:  # poll once publishing is done
                    await anyio.lowlevel.checkpoint()
                best = max(best, target / (cpu_clock() - start))
        return best

    return anyio.run(main, backend=backend)


def _best_rate(round_: Callable[[], int]) -> float:
    """Best operations per CPU second of ``REPEAT`` calls of ``round_`` (it returns its count)."""
    best = 0.0
    for _ in range(REPEAT):
        gc.collect()
        start = cpu_clock()
        n = round_()
        best = max(best, n / (cpu_clock() - start))
    return best


def _blinker_send() -> float:
    signal = blinker.Signal()
    count = 0

    def make() -> Callable[..., None]:
        def receiver(sender: Any, **kwargs: Any) -> None:
            nonlocal count
            count += 1

        return receiver

    receivers = [make() for _ in range(SUBSCRIBERS)]  # blinker holds receivers weakly
    for receiver in receivers:
        signal.connect(receiver)

    def round_() -> int:
        for i in range(EVENTS):
            signal.send("order.created", payload=i)
        return EVENTS * SUBSCRIBERS

    return _best_rate(round_)


def _pyee_emit() -> float:
    emitter = pyee.EventEmitter()
    count = 0

    def make() -> Callable[[Any], None]:
        def listener(payload: Any) -> None:
            nonlocal count
            count += 1

        return listener

    for _ in range(SUBSCRIBERS):
        emitter.on("order.created", make())

    def round_() -> int:
        for i in range(EVENTS):
            emitter.emit("order.created", i)
        return EVENTS * SUBSCRIBERS

    return _best_rate(round_)


def _ns_per_call(call: Callable[[int], Awaitable[object]], n: int = 200_000) -> float:
    """Best ns per ``await call(i)`` on asyncio (the loop overhead is included)."""

    async def main() -> float:
        best = float("inf")
        for _ in range(REPEAT):
            gc.collect()
            start = cpu_clock()
            for i in range(n):
                await call(i)
            best = min(best, (cpu_clock() - start) / n * 1e9)
        return best

    return anyio.run(main, backend="asyncio")


def _three_handlers() -> tuple[Callable[[int], Any], Callable[[int], Any], Callable[[int], Any]]:
    def add_one(value: int) -> int:
        return value + 1

    def observe(value: int) -> None:
        return None

    async def check(value: int) -> None:
        return None

    return add_one, observe, check


def _hooks() -> list[Record]:
    hooks = HookRegistry()
    empty = _ns_per_call(lambda v: hooks.run("llm.before_generate", v))
    no_handlers: list[Callable[[int], int]] = []

    async def plain_run(value: int) -> int:
        for handler in no_handlers:
            value = handler(value)
        return value

    plain_empty = _ns_per_call(lambda v: plain_run(v))
    handlers = _three_handlers()
    for priority, handler in enumerate(handlers):
        hooks.register("tool.before_call", handler, priority=-priority)
    three = _ns_per_call(lambda v: hooks.run("tool.before_call", v))
    add_one, observe, check = handlers

    async def direct(value: int) -> int:
        value = add_one(value)
        observe(value)
        await check(value)
        return value

    plain = _ns_per_call(direct)
    return [
        compare(
            "hooks: run() on a point without handlers",
            empty,
            "ns",
            baseline="ns, the empty handler list run",
            baseline_value=plain_empty,
            target=0.8,
            lower_is_better=True,
        ),
        compare(
            "hooks: run() with 3 handlers (2 sync, 1 async)",
            three,
            "ns",
            baseline="ns, the 3 calls inlined",
            baseline_value=plain,
            target=None,
            lower_is_better=True,
        ),
    ]


def _publish_no_subscriber() -> Record:
    n = 200_000

    async def measure(publish: Callable[[str, int], Awaitable[None]]) -> float:
        best = float("inf")
        for _ in range(REPEAT):
            gc.collect()
            start = cpu_clock()
            for i in range(n):
                await publish("audit.nobody", i)
            best = min(best, (cpu_clock() - start) / n * 1e9)
        return best

    async def ours() -> float:
        async with EventBus() as bus:
            bus.subscribe("order.*", lambda e: None)
            return await measure(bus.publish)

    queues: dict[str, list[deque[tuple[str, object]]]] = {"order.created": [deque()]}

    async def plain_publish(topic: str, payload: object) -> None:
        for queue in queues.get(topic, ()):
            queue.append((topic, payload))

    ns = anyio.run(ours, backend="asyncio")
    plain = anyio.run(measure, plain_publish, backend="asyncio")
    return compare(
        "bus: publish with no matching subscriber",
        ns,
        "ns",
        baseline="ns, a dict lookup and append",
        baseline_value=plain,
        target=0.5,
        lower_is_better=True,
    )


def run() -> list[Record]:
    """Measure and return the records (asyncio unless stated)."""
    blinker_rate = _blinker_send()
    pyee_rate = _pyee_emit()
    asyncio_rate = _bus_fanout("asyncio")
    trio_rate = _bus_fanout("trio")
    name = "bus: fan-out to 10 wildcard subscribers"
    return [
        compare(
            name,
            asyncio_rate,
            "/s",
            baseline="blinker send, 10 receivers",
            baseline_value=blinker_rate,
            target=1.0,
        ),
        compare(
            name,
            asyncio_rate,
            "/s",
            baseline="pyee sync emit, 10 listeners",
            baseline_value=pyee_rate,
            target=1.0,
        ),
        compare(
            f"{name} (trio)",
            trio_rate,
            "/s",
            baseline="blinker send, 10 receivers",
            baseline_value=blinker_rate,
            target=None,
        ),
        _publish_no_subscriber(),
        *_hooks(),
    ]


if __name__ == "__main__":
    from ._harness import report

    report("actors_bus", run())
