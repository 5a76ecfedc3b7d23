"""Test helpers: a probe actor that records what it is sent, and a bus event recorder.

Example::

    async with actors.open_system() as system:
        events = actors.testing.EventRecorder.attach(system.bus, "actor.>")
        probe = await actors.testing.create_probe(system, name="probe")
        probe.ref.tell("hello")
        assert await probe.receive() == "hello"
        await events.wait_for("actor.started")
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import anyio

from ._actor import Actor, Terminated
from ._bus import EventBus
from ._envelope import Envelope, Message
from ._ref import ActorRef
from ._subscription import Event
from ._system import ActorSystem

__all__ = ["EventRecorder", "ProbeActor", "TestProbe", "create_probe"]


class _Watch:
    __slots__ = ("on", "ref")

    def __init__(self, ref: ActorRef, on: bool) -> None:
        self.ref, self.on = ref, on


class TestProbe:
    """Records every message its actor receives, for assertions.

    Attributes:
        ref: the probe actor's ref (send it messages, or hand it out as a collaborator).
        messages: every message received, in order.
        envelopes: the envelope of each message (sender, headers, correlation id).
    """

    __test__ = False  # not a pytest test class

    def __init__(self, reply: Callable[[Message], Any] | None = None) -> None:
        self.messages: list[Message] = []
        self.envelopes: list[Envelope] = []
        self._reply = reply
        self._read = 0
        self._changed = anyio.Event()
        self.ref: ActorRef

    def _record(self, message: Message, envelope: Envelope | None) -> Any:
        self.messages.append(message)
        self.envelopes.append(envelope or Envelope(message))
        self._changed.set()
        return None if self._reply is None else self._reply(message)

    async def _wait_change(self) -> None:
        self._changed = anyio.Event()
        await self._changed.wait()

    async def receive(self, timeout: float = 5.0) -> Message:  # noqa: ASYNC109
        """Return the next message not yet returned, waiting up to ``timeout`` seconds."""
        with anyio.fail_after(timeout):
            while self._read >= len(self.messages):
                await self._wait_change()
        self._read += 1
        return self.messages[self._read - 1]

    async def wait_for_count(self, count: int, timeout: float = 5.0) -> list[Message]:  # noqa: ASYNC109
        """Wait until at least ``count`` messages have arrived; return them all."""
        with anyio.fail_after(timeout):
            while len(self.messages) < count:
                await self._wait_change()
        return list(self.messages)

    async def watch(self, ref: ActorRef) -> None:
        """Make the probe watch ``ref``: it will receive :class:`~actors.Terminated`."""
        await self.ref.ask(_Watch(ref, True))

    async def unwatch(self, ref: ActorRef) -> None:
        """Stop watching ``ref``."""
        await self.ref.ask(_Watch(ref, False))

    async def expect_terminated(self, ref: ActorRef, timeout: float = 5.0) -> Terminated:  # noqa: ASYNC109
        """Wait for the ``Terminated`` notice of ``ref`` and return it."""
        while True:
            message = await self.receive(timeout)
            if isinstance(message, Terminated) and message.ref is ref:
                return message


class ProbeActor(Actor):
    """The actor behind a :class:`TestProbe`; replies with ``probe``'s ``reply(message)``."""

    def __init__(self, probe: TestProbe) -> None:
        self.probe = probe

    def on_receive(self, message: Message) -> Any:
        """Record the message (or watch/unwatch, for :meth:`TestProbe.watch`)."""
        if isinstance(message, _Watch):
            if message.on:
                self.context.watch(message.ref)
            else:
                self.context.unwatch(message.ref)
            return None
        return self.probe._record(message, self.context.envelope)


async def create_probe(
    system: ActorSystem,
    *,
    name: str | None = None,
    reply: Callable[[Message], Any] | None = None,
    **options: Any,
) -> TestProbe:
    """Spawn a probe actor in ``system`` and return its :class:`TestProbe`.

    Args:
        system: where to spawn it.
        name: register it under this name.
        reply: computes the reply to each ``ask`` (default: ``None``).
        options: more ``spawn`` options (``mailbox_size``, ``overflow``, ...).
    """
    probe = TestProbe(reply)
    probe.ref = await system.spawn(ProbeActor, probe, name=name, **options)
    return probe


class EventRecorder:
    """A synchronous bus subscriber that records events in order.

    Attributes:
        events: every event received.
    """

    def __init__(self) -> None:
        self.events: list[Event] = []
        self._changed = anyio.Event()

    @classmethod
    def attach(cls, bus: EventBus, pattern: str = ">") -> EventRecorder:
        """Create a recorder and subscribe it to ``pattern`` on ``bus``."""
        recorder = cls()
        bus.subscribe(pattern, recorder, name="EventRecorder")
        return recorder

    def __call__(self, event: Event) -> None:
        self.events.append(event)
        self._changed.set()

    def topics(self) -> list[str]:
        """The topics received, in order."""
        return [event.topic for event in self.events]

    def payloads(self, topic: str) -> list[Any]:
        """The payloads of the events on ``topic``, in order."""
        return [event.payload for event in self.events if event.topic == topic]

    async def wait_for(self, topic: str, count: int = 1, timeout: float = 5.0) -> list[Any]:  # noqa: ASYNC109
        """Wait until ``count`` events on ``topic`` have arrived; return their payloads."""
        with anyio.fail_after(timeout):
            while len(self.payloads(topic)) < count:
                self._changed = anyio.Event()
                await self._changed.wait()
        return self.payloads(topic)
