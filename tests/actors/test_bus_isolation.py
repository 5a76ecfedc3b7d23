"""Bus isolation with real actors: backpressure and death of actor subscribers, tenants whose
full queues never hold back another tenant's publishers, and runtime events that a full queue
misses (counted) without being lost for everyone else."""

from __future__ import annotations

from typing import Any

import anyio
import pytest

import actors
from actors import Event, EventBus, MemoryEventLog
from actors.testing import EventRecorder

pytestmark = pytest.mark.anyio


class Slow(actors.Actor):
    """Records every event it is sent; holds on each until its gate opens."""

    def __init__(self, seen: list[Any], gate: anyio.Event) -> None:
        self.seen, self.gate = seen, gate

    async def on_receive(self, message: Any) -> None:
        self.seen.append(message.payload if isinstance(message, Event) else message)
        await self.gate.wait()


async def test_a_real_actor_subscriber_under_backpressure_drops_and_counts() -> None:
    seen: list[Any] = []
    gate = anyio.Event()
    async with actors.open_system() as system:
        ref = await system.spawn(Slow, seen, gate, name="slow", mailbox_size=1)
        sub = system.bus.subscribe("job.*", ref, queue_size=1, overflow="drop_newest")
        for i in range(5):  # 0 handled (held), 1 in the mailbox, 2 waits in send, 3 queued, 4 lost
            await system.bus.publish("job.run", i)
            await anyio.wait_all_tasks_blocked()
        assert seen == [0]
        assert sub.statistics().dropped == 1
        gate.set()
        await anyio.wait_all_tasks_blocked()
        assert seen == [0, 1, 2, 3]
        assert system.bus.statistics().dropped == 1


async def test_a_real_actor_subscriber_under_block_holds_back_its_publisher() -> None:
    seen: list[Any] = []
    gate = anyio.Event()
    async with actors.open_system() as system:
        ref = await system.spawn(Slow, seen, gate, name="slow", mailbox_size=1)
        system.bus.subscribe("job.*", ref, queue_size=1)
        for i in range(4):  # held, mailbox, send, queue: all room taken
            await system.bus.publish("job.run", i)
            await anyio.wait_all_tasks_blocked()
        with anyio.move_on_after(0.2) as scope:
            await system.bus.publish("job.run", 4)
        assert scope.cancelled_caught  # a "block" subscriber holds back its publisher
        gate.set()
        await system.bus.publish("job.run", 5)
        await anyio.wait_all_tasks_blocked()
        assert seen == [0, 1, 2, 3, 5]


async def test_a_real_actor_subscriber_that_dies_is_disconnected() -> None:
    seen: list[Any] = []
    gate = anyio.Event()
    gate.set()
    async with actors.open_system() as system:
        disconnected = EventRecorder.attach(system.bus, "bus.subscriber_disconnected")
        ref = await system.spawn(Slow, seen, gate, name="mortal")
        sub = system.bus.subscribe("job.*", ref)
        await system.bus.publish("job.run", 1)
        await anyio.wait_all_tasks_blocked()
        await ref.stop()
        await system.bus.publish("job.run", 2)  # its send fails: the actor is gone
        [notice] = await disconnected.wait_for("bus.subscriber_disconnected")
        assert notice["subscription"] == "mortal"
        assert sub.cancelled
        assert sub.statistics().failed == 1
        assert seen == [1]
        await system.bus.publish("job.run", 3)  # publishing goes on


async def test_a_full_tenant_queue_never_holds_back_another_tenants_publisher() -> None:
    gate = anyio.Event()
    seen: list[Any] = []

    async def slow(event: Event) -> None:
        seen.append(event.payload)
        await gate.wait()

    async with EventBus() as bus:
        overflow = EventRecorder.attach(bus, "bus.subscriber_overflow")
        sub = bus.subscribe("x", slow, queue_size=2, owner="run-a", name="a:handler")
        other: list[Any] = []
        bus.subscribe("x", lambda e: other.append(e.payload), owner="run-b")
        with anyio.fail_after(5):  # would block forever if run-a's queue held run-b back
            for i in range(10):
                await bus.publish("x", i, owner="run-b")
                await bus.publish("x", -i)  # the runtime's (no owner): not held back either
                bus.publish_nowait("x", 100 + i, owner="run-b")
        await anyio.wait_all_tasks_blocked()
        assert len(other) == 30  # run-b's own subscriber got everything
        assert seen == [-9]  # the newest two were kept: one is being handled
        stats = sub.statistics()
        assert (stats.queued, stats.dropped) == (1, 28)
        [report] = overflow.payloads("bus.subscriber_overflow")  # once per run of drops
        assert report == {
            "pattern": "x",
            "subscription": "a:handler",
            "owner": "run-a",
            "dropped": 1,
        }
        await bus.publish("x", "fills", owner="run-b")
        with anyio.move_on_after(0.2) as scope:  # its own publisher does wait for room
            await bus.publish("x", "mine", owner="run-a")
        assert scope.cancelled_caught
        gate.set()
        await anyio.wait_all_tasks_blocked()
        assert seen == [-9, 109, "fills"]  # "mine" gave up waiting (cancelled): not queued


async def test_owned_queue_keeps_the_newest_events() -> None:
    gate = anyio.Event()
    seen: list[Any] = []

    async def slow(event: Event) -> None:
        seen.append(event.payload)
        await gate.wait()

    async with EventBus() as bus:
        bus.subscribe("x", slow, queue_size=3, owner="a")
        for i in range(10):
            await bus.publish("x", i, owner="b")
            await anyio.wait_all_tasks_blocked()
        gate.set()
        await anyio.wait_all_tasks_blocked()
        assert seen == [0, 7, 8, 9]


async def test_a_logged_event_never_waits_for_a_tenants_full_queue() -> None:
    gate = anyio.Event()

    async def slow(event: Event) -> None:
        await gate.wait()

    async with EventBus(event_log=MemoryEventLog()) as bus:
        sub = bus.subscribe("x", slow, queue_size=1, owner="run-a")
        with anyio.fail_after(5):
            seqs = [await bus.publish("x", i, owner="run-a") for i in range(5)]
        assert all(isinstance(seq, int) for seq in seqs)
        assert sub.statistics().dropped == 3
        gate.set()


async def test_a_full_block_subscriber_misses_runtime_events_counted_others_get_them() -> None:
    gate = anyio.Event()

    async def stuck(event: Event) -> None:
        await gate.wait()

    async with actors.open_system() as system:
        stuck_sub = system.bus.subscribe(">", stuck, queue_size=1)
        lifecycle = EventRecorder.attach(system.bus, "actor.>")
        await system.bus.publish("fill", 1)
        await system.bus.publish("fill", 2)  # held by the handler, then the queue's one slot
        await anyio.wait_all_tasks_blocked()
        for i in range(3):
            ref = await system.spawn(Slow, [], gate, name=f"a{i}")
            await ref.stop()
        started = await lifecycle.wait_for("actor.started", count=3)
        assert [p["actor"] for p in started] == ["a0", "a1", "a2"]
        await lifecycle.wait_for("actor.stopped", count=3)
        assert stuck_sub.statistics().dropped >= 6  # each one it missed is counted
        assert system.bus.statistics().dropped >= 6
        gate.set()


async def test_a_handler_publishing_to_its_own_full_queue_does_not_wait_for_itself() -> None:
    seen: list[Any] = []

    async with EventBus() as bus:

        async def echo(event: Event) -> None:
            seen.append(event.payload)
            if event.payload < 5:
                for _ in range(3):  # more than its queue holds: would wait for itself
                    await bus.publish("x", event.payload + 1)

        sub = bus.subscribe("x", echo, queue_size=1)
        with anyio.fail_after(5):
            await bus.publish("x", 0)
            await anyio.wait_all_tasks_blocked()
        assert seen[0] == 0 and seen[-1] == 5
        assert sub.statistics().dropped > 0
