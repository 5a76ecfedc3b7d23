"""Publishers blocked on a full ``"block"`` queue: freeing a slot wakes one of them, in the order
they came, so that each blocked publish costs O(1) however many are waiting."""

from __future__ import annotations

from typing import Any

import anyio
import pytest

from actors import Event, EventBus

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
