"""Queue groups on the local bus: ``subscribe(pattern, handler, queue="name")``."""

from __future__ import annotations

from collections import Counter

import anyio
import pytest

from actors import Event, EventBus, MailboxFullError

pytestmark = pytest.mark.anyio


async def test_each_event_goes_to_one_member_of_a_queue_group() -> None:
    seen: dict[str, list[int]] = {"a": [], "b": [], "c": []}
    everyone: list[int] = []
    async with EventBus() as bus:
        for key in seen:
            bus.subscribe("job.*", lambda e, k=key: seen[k].append(e.payload), queue="workers")
        bus.subscribe("job.*", lambda e: everyone.append(e.payload))  # not in the group
        for i in range(30):
            await bus.publish("job.new", i)
        await bus.flush()
    taken = seen["a"] + seen["b"] + seen["c"]
    assert sorted(taken) == list(range(30))  # each exactly once
    assert all(seen.values())  # idle members take turns: every member got work
    assert everyone == list(range(30))


async def test_the_least_busy_member_takes_the_next_event() -> None:
    release = anyio.Event()
    slow: list[int] = []
    fast: list[int] = []

    async def on_slow(event: Event) -> None:
        slow.append(event.payload)
        await release.wait()

    async with EventBus() as bus:
        bus.subscribe("job", on_slow, queue="w")
        bus.subscribe("job", lambda e: fast.append(e.payload), queue="w")
        await anyio.wait_all_tasks_blocked()
        for i in range(5):
            await bus.publish("job", i)
            await anyio.wait_all_tasks_blocked()
        assert slow == [0]  # busy with the first: the others went to the idle member
        assert fast == [1, 2, 3, 4]
        release.set()


async def test_groups_are_per_name_and_pattern_and_cancel_leaves_the_rest() -> None:
    got: Counter[str] = Counter()
    async with EventBus() as bus:
        a = bus.subscribe("t", lambda e: got.update(["a"]), queue="g1")
        bus.subscribe("t", lambda e: got.update(["b"]), queue="g1")
        bus.subscribe("t", lambda e: got.update(["c"]), queue="g2")
        await bus.publish("t")
        await bus.publish("t")
        await bus.flush()
        assert got["a"] + got["b"] == 2 and got["c"] == 2
        a.cancel()
        got.clear()
        for _ in range(4):
            await bus.publish("t")
        await bus.flush()
        assert got == {"b": 4, "c": 4}
        stats = bus.statistics()
        assert stats.delivered == 2 + 2 + 8


async def test_a_full_blocking_group_refuses_publish_nowait() -> None:
    gate = anyio.Event()

    async def hold(event: Event) -> None:
        await gate.wait()

    async with EventBus() as bus:
        bus.subscribe("t", hold, queue="g", queue_size=1)
        bus.subscribe("t", hold, queue="g", queue_size=1)
        await anyio.wait_all_tasks_blocked()
        for _ in range(4):  # two being handled, two queued
            bus.publish_nowait("t")
            await anyio.wait_all_tasks_blocked()
        with pytest.raises(MailboxFullError):
            bus.publish_nowait("t")
        gate.set()


async def test_invalid_queue_names_are_refused() -> None:
    bus = EventBus()
    for bad in ("", "a.b", "a b", "x*"):
        with pytest.raises(ValueError, match="queue"):
            bus.subscribe("t", print, queue=bad)


async def test_concurrent_flushes_all_return() -> None:
    gate = anyio.Event()
    returned: list[int] = []

    async def hold(event: Event) -> None:
        await gate.wait()

    async def flush(bus: EventBus, n: int) -> None:
        await bus.flush()
        returned.append(n)

    async with EventBus() as bus:
        bus.subscribe("t", hold)
        await bus.publish("t")
        with anyio.fail_after(10):  # hang detection
            async with anyio.create_task_group() as tg:
                for n in range(3):
                    tg.start_soon(flush, bus, n)
                await anyio.wait_all_tasks_blocked()
                assert returned == []  # the handler is still busy
                gate.set()
    assert sorted(returned) == [0, 1, 2]
