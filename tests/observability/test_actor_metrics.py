"""Actor and bus metrics, read from the runtime's statistics at scrape time (asyncio and trio)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import anyio.to_thread
import pytest

import actors
import observability

from .promtext import Samples, scrape, value

pytestmark = pytest.mark.anyio


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@asynccontextmanager
async def watched() -> AsyncIterator[tuple[actors.ActorSystem, observability.Observability]]:
    obs = observability.create_observer(metrics=True)
    async with actors.open_system() as system:
        detach = obs.attach(system)
        try:
            yield system, obs
        finally:
            detach()


async def scrape_from_a_thread(obs: observability.Observability) -> Samples:
    """As prometheus-client's HTTP server does: from another thread."""
    return await anyio.to_thread.run_sync(scrape, obs)


class Echo(actors.Actor):
    async def on_receive(self, message: Any) -> Any:
        if message == "crash":
            raise RuntimeError("crash")
        return message


class Gate(actors.Actor):
    """Holds its first message until the test opens the gate."""

    def __init__(self, gate: anyio.Event) -> None:
        self.gate = gate

    async def on_receive(self, message: Any) -> None:
        await self.gate.wait()


async def test_messages_handled_never_fall_when_actors_stop() -> None:
    async with watched() as (system, obs):
        echo = await system.spawn(Echo, name="echo:1")
        for i in range(3):
            assert await echo.ask(i, timeout=5) == i
        alive = await scrape_from_a_thread(obs)
        await echo.stop()
        stopped = await scrape_from_a_thread(obs)
        again = await system.spawn(Echo, name="echo:2")
        await again.ask("x", timeout=5)
        later = await scrape_from_a_thread(obs)
    assert value(alive, "llmspell_actor_messages_total") == 3
    assert value(stopped, "llmspell_actor_messages_total") == 3  # the stopped actor still counts
    assert value(later, "llmspell_actor_messages_total") == 4
    assert value(alive, "llmspell_actors", group="echo") == 1
    assert value(stopped, "llmspell_actors", group="echo") is None


async def test_restarts_failures_and_dead_letters() -> None:
    async with watched() as (system, obs):
        workers = await system.spawn_supervisor(name="workers", max_restarts=5)
        worker = await workers.spawn(Echo, name="worker:1")
        with pytest.raises(RuntimeError):
            await worker.ask("crash", timeout=5)  # an ask's failure goes back to the caller
        restarted = anyio.Event()
        system.bus.subscribe("actor.restarted", lambda event: restarted.set())
        worker.tell("crash")  # a tell's failure goes to the supervisor, which restarts it
        await restarted.wait()
        await anyio.wait_all_tasks_blocked()
        gone = await system.spawn(Echo, name="gone")
        await gone.stop()
        gone.tell("hello?")
        s = await scrape_from_a_thread(obs)
    assert value(s, "llmspell_actor_restarts_total", group="worker") == 1
    assert value(s, "llmspell_actor_message_failures_total") == 2
    assert value(s, "llmspell_actor_dead_letters_total") == 1


async def test_mailbox_depth_of_a_busy_actor() -> None:
    async with watched() as (system, obs):
        gate = anyio.Event()
        slow = await system.spawn(Gate, gate, name="slow:1")
        for i in range(5):
            slow.tell(i)
        await anyio.wait_all_tasks_blocked()  # the first is being handled, four wait
        s = await scrape_from_a_thread(obs)
        gate.set()
    assert value(s, "llmspell_actor_mailbox_depth", group="slow") == 4
    assert value(s, "llmspell_actors", group="slow") == 1


async def test_bus_deliveries_drops_and_handler_failures() -> None:
    handled: list[int] = []
    gate = anyio.Event()

    async def slow(event: actors.Event) -> None:
        await gate.wait()
        handled.append(event.payload)

    def failing(event: actors.Event) -> None:
        raise ValueError("bad handler")

    async with watched() as (system, obs):
        system.bus.subscribe("work", slow, queue_size=1, overflow="drop_newest")
        system.bus.subscribe("oops", failing)
        for i in range(4):
            await system.bus.publish("work", i)
        await system.bus.publish("oops", None)
        await anyio.wait_all_tasks_blocked()
        busy = await scrape_from_a_thread(obs)
        gate.set()
        await anyio.wait_all_tasks_blocked()
        s = await scrape_from_a_thread(obs)
    assert value(s, "llmspell_bus_events_dropped_total") == 4 - len(handled) > 0
    assert value(s, "llmspell_bus_handler_failures_total") == 1
    assert value(s, "llmspell_bus_events_delivered_total") == len(handled)
    assert value(busy, "llmspell_bus_subscriptions") == 3  # the two here and the observer's own
    published = value(s, "llmspell_bus_events_published_total")
    assert published is not None and published >= 5
