"""KeyboardInterrupt, SystemExit and GeneratorExit raised by one handler fail that actor (or
count as that bus handler's failure); they never shut the whole system down."""

from __future__ import annotations

from typing import Any

import pytest

import actors
from actors.testing import EventRecorder

pytestmark = pytest.mark.anyio

ESCAPES = [KeyboardInterrupt, SystemExit, GeneratorExit]


class Raiser(actors.Actor):
    def __init__(self, on_start: type[BaseException] | None = None) -> None:
        self.on_start_error = on_start
        self.count = 0

    def on_start(self) -> None:
        if self.on_start_error is not None:
            raise self.on_start_error("in on_start")

    async def on_receive(self, message: Any) -> Any:
        if isinstance(message, type):
            raise message("from a handler")
        self.count += 1
        return self.count


@pytest.mark.parametrize("escape", ESCAPES)
async def test_escape_in_a_tell_fails_the_actor_and_its_supervisor_restarts_it(
    escape: type[BaseException],
) -> None:
    async with actors.open_system() as system:
        events = EventRecorder.attach(system.bus, "actor.>")
        bystander = await system.spawn(Raiser, name="bystander")
        victim = await system.spawn(Raiser, name="victim")
        assert await victim.ask("x") == 1
        victim.tell(escape)
        restarted = await events.wait_for("actor.restarted")
        assert restarted[0]["actor"] == "victim"
        failed = [e for e in events.payloads("actor.failed") if e["actor"] == "victim"]
        assert escape.__name__ in failed[0]["error"]
        assert await victim.ask("x") == 1  # a fresh instance
        assert await bystander.ask("x") == 1  # the system runs on
    # leaving the block closed the system normally: nothing escaped


@pytest.mark.parametrize("escape", ESCAPES)
async def test_escape_in_an_ask_fails_the_asker_and_the_actor(
    escape: type[BaseException],
) -> None:
    async with actors.open_system() as system:
        victim = await system.spawn(Raiser, name="victim", restart="temporary")
        with pytest.raises(actors.ActorError, match=escape.__name__):
            await victim.ask(escape)
        other = await system.spawn(Raiser, name="other")
        assert await other.ask("x") == 1


@pytest.mark.parametrize("escape", ESCAPES)
async def test_escape_in_on_start_makes_spawn_fail(escape: type[BaseException]) -> None:
    async with actors.open_system() as system:
        with pytest.raises(actors.ActorError, match=escape.__name__):
            await system.spawn(Raiser, escape, name="victim")
        assert await (await system.spawn(Raiser, name="other")).ask("x") == 1


@pytest.mark.parametrize("escape", ESCAPES)
async def test_escape_in_a_bus_handler_is_that_handlers_failure(
    escape: type[BaseException],
) -> None:
    seen: list[int] = []

    def bad(event: actors.Event) -> None:
        raise escape("in a bus handler")

    async with actors.open_system() as system:
        failures = EventRecorder.attach(system.bus, "bus.handler_failed")
        system.bus.subscribe("t", bad)
        system.bus.subscribe("t", lambda event: seen.append(event.payload))
        await system.bus.publish("t", 1)
        failed = await failures.wait_for("bus.handler_failed")
        assert escape.__name__ in failed[0]["error"]
        await system.bus.publish("t", 2)
        await failures.wait_for("bus.handler_failed", count=2)
    assert seen == [1, 2]
