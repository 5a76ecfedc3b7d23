"""Actors shared by the runtime's tests."""

from __future__ import annotations

from typing import Any

import anyio

import actors


class Worker(actors.Actor):
    """Logs its lifecycle into a shared list; counts messages.

    Messages: ``"crash"`` raises, ``"exit"`` exits normally (``context.stop()``), ``"ping"``
    answers ``"pong"``, ``"count"`` answers the count of other messages.
    """

    def __init__(self, log: list[str]) -> None:
        self.log = log
        self.count = 0

    def on_start(self) -> None:
        self.log.append(f"start {self.context.name}")

    def on_receive(self, message: Any) -> Any:
        if message == "crash":
            raise RuntimeError(f"{self.context.name} crashed")
        if message == "exit":
            self.context.stop()
            return None
        if message == "ping":
            return "pong"
        if message == "count":
            return self.count
        self.count += 1
        return None

    def on_failure(self, error: Exception) -> None:
        self.log.append(f"fail {self.context.name}")

    def on_stop(self) -> None:
        self.log.append(f"stop {self.context.name}")


class Blocker(actors.Actor):
    """Holds on ``"block"`` until ``release`` is set (``entered`` says it is holding).

    ``"crash"`` raises; anything else is recorded in ``seen`` and echoed back.
    """

    def __init__(self, entered: anyio.Event, release: anyio.Event, seen: list[Any]) -> None:
        self.entered, self.release, self.seen = entered, release, seen

    async def on_receive(self, message: Any) -> Any:
        if message == "block":
            self.entered.set()
            await self.release.wait()
            return "released"
        if message == "crash":
            raise RuntimeError("crash")
        self.seen.append(message)
        return message


async def spawn_blocked(
    system: actors.ActorSystem, **options: Any
) -> tuple[actors.ActorRef, anyio.Event, list[Any]]:
    """Spawn a :class:`Blocker` and wait until it holds a ``"block"`` message.

    Returns the ref, the event that releases it and the list of later messages it handled.
    """
    entered, release = anyio.Event(), anyio.Event()
    seen: list[Any] = []
    ref = await system.spawn(Blocker, entered, release, seen, **options)
    ref.tell("block")
    await entered.wait()
    return ref, release, seen
