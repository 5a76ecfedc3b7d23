"""Publishers blocked on a full ``"block"`` queue: freeing a slot wakes one of them, in the order
they came, so that each blocked publish costs O(1) however many are waiting."""

from __future__ import annotations

import contextvars
from typing import Any

import anyio
import pytest

from actors import Event, EventBus, MailboxFullError

pytestmark = pytest.mark.anyio


async def test_a_freed_slot_wakes_one_publisher_in_arrival_order() -> None:
    n = 300
    seen: list[Any] = []
    waits = 0

    async with EventBus() as bus:
        make = bus._new_event

        class Counted(type(make())):  # type: ignore[misc]
            async def wait(self) -> None:
                nonlocal waits
                waits += 1
                await super().wait()

        bus._new_event = Counted
        gate = anyio.Event()

        async def handler(event: Event) -> None:
            await gate.wait()
            seen.append(event.payload)

        bus.subscribe("job.*", handler, queue_size=1)
        async with anyio.create_task_group() as tg:
            for i in range(n):
                tg.start_soon(bus.publish, "job.x", i)
                await anyio.wait_all_tasks_blocked()  # each publisher arrives in turn
            gate.set()
        await bus._drain()
    assert seen == list(range(n))
    # Every blocked publisher waits about once; waking them all per slot made it n * n / 2.
    assert waits < 3 * n, waits


async def test_a_woken_publisher_stays_ahead_of_a_newcomer() -> None:
    """A publisher woken for a freed slot runs a moment later; a publish arriving in between
    (from another task) goes behind it, never ahead: the subscriber sees publish order."""
    seen: list[Any] = []
    newcomer: list[str] = []

    async with EventBus() as bus:
        gate = anyio.Event()

        def publish_elsewhere() -> None:  # as another task would, not as this handler
            try:
                bus.publish_nowait("job.x", 3)
                newcomer.append("queued")
            except MailboxFullError:
                newcomer.append("would block")

        async def handler(event: Event) -> None:
            if event.payload == 0:
                await gate.wait()
            elif event.payload == 1:  # the slot 1 freed was just kept for the blocked 2
                contextvars.Context().run(publish_elsewhere)
            seen.append(event.payload)

        bus.subscribe("job.*", handler, queue_size=1)
        async with anyio.create_task_group() as tg:
            await bus.publish("job.x", 0)  # taken by the handler, which waits at the gate
            await anyio.wait_all_tasks_blocked()
            await bus.publish("job.x", 1)  # fills the queue
            tg.start_soon(bus.publish, "job.x", 2)  # waits for room
            await anyio.wait_all_tasks_blocked()
            gate.set()
        await bus._drain()
    assert newcomer == ["would block"]
    assert seen == [0, 1, 2]
