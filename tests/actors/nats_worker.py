"""A separate process on the NATS bus, for the cross-process tests (test_bus_nats.py).

``python -m tests.actors.nats_worker URL worker NAME DELAY ACK_WAIT``: shares ``job.new`` in the
queue group ``workers``; for each job publishes ``job.started`` then, after ``DELAY`` seconds
of work, ``job.done`` (payload ``{"worker", "job"}``), and returns (the event is acknowledged).
It announces itself with ``worker.ready`` once subscribed and runs until killed.

``python -m tests.actors.nats_worker URL publish COUNT``: publishes ``cross.event`` 0..COUNT-1
with a ``traceparent`` header, then exits.
"""

from __future__ import annotations

import sys

import anyio

from actors import Event, EventBus
from actors.nats import NatsBackend


async def work(url: str, name: str, delay: float, ack_wait: float) -> None:
    async with EventBus(backend=NatsBackend(url, ack_wait=ack_wait)) as bus:

        async def on_job(event: Event) -> None:
            job = {"worker": name, "job": event.payload}
            await bus.publish("job.started", job)
            await anyio.sleep(delay)
            await bus.publish("job.done", job)

        bus.subscribe("job.new", on_job, queue="workers")
        await bus.publish("worker.ready", name)
        await anyio.sleep_forever()


async def publish(url: str, count: int) -> None:
    async with EventBus(backend=NatsBackend(url)) as bus:
        for i in range(count):
            await bus.publish("cross.event", i, headers={"traceparent": f"00-{i:032x}-01"})


if __name__ == "__main__":
    url, mode, *rest = sys.argv[1:]
    if mode == "worker":
        anyio.run(work, url, rest[0], float(rest[1]), float(rest[2]))
    else:
        anyio.run(publish, url, int(rest[0]))
