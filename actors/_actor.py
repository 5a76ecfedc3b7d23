"""The :class:`Actor` base class, its :class:`ActorContext` and the :class:`Terminated` notice."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ._envelope import Envelope, Message

if TYPE_CHECKING:
    from ._actor_cell import ActorCell
    from ._ref import ActorRef
    from ._system import ActorSystem


@dataclass(frozen=True, slots=True)
class Terminated:
    """Delivered to a watcher when the actor it watches stops for good (never on a restart).

    Attributes:
        ref: the actor that stopped.
        reason: ``"normal"`` (it exited by itself and was not restarted), ``"stopped"``
            (``ref.stop()`` or shutdown), ``"failed"`` (it crashed and was not restarted) or
            ``"escalated"`` (it failed too often and its supervisor gave up on it).
        error: the exception behind ``"failed"`` or ``"escalated"``, else ``None``.
    """

    ref: ActorRef
    reason: str
    error: BaseException | None = None


class ActorContext:
    """What an actor knows about its place in the system: ``self.context`` inside an actor.

    Attributes:
        self: the actor's own ref (stable across restarts).
        system: the :class:`~actors.ActorSystem` it runs in.
        name: the actor's name.
    """

    __slots__ = ("_cell", "name", "self", "system")

    def __init__(self, cell: ActorCell) -> None:
        self._cell = cell
        ref = cell.ref
        assert ref is not None, "made for an actor that is starting"
        self.self: ActorRef = ref
        self.system: ActorSystem = cell.system
        self.name: str = cell.name

    @property
    def envelope(self) -> Envelope | None:
        """The envelope of the message being handled (``None`` between messages)."""
        return self._cell.envelope()

    @property
    def sender(self) -> ActorRef | None:
        """The sender of the message being handled, or ``None`` (sent from outside actors)."""
        envelope = self._cell.envelope()
        return None if envelope is None else envelope.sender

    def watch(self, ref: ActorRef) -> None:
        """Receive :class:`Terminated` when ``ref`` stops for good (at once if it already has)."""
        self._cell.watch(ref)

    def unwatch(self, ref: ActorRef) -> None:
        """Stop watching ``ref``; a no-op if not watching."""
        self._cell.unwatch(ref)

    def stop(self) -> None:
        """Exit normally after the current message.

        The supervisor's restart type decides what happens next: a ``"permanent"`` actor is
        restarted, a ``"transient"`` or ``"temporary"`` one stops for good. Messages still in
        the mailbox wait for the next instance (or go to dead letters). To stop for good
        whatever the restart type, call ``await context.self.stop()``.
        """
        self._cell.request_halt(drain=False)


class Actor:
    """Base class for actors: subclass it and override :meth:`on_receive`.

    The runtime creates the instance (again on every restart, from the same arguments), sets
    :attr:`context`, awaits :meth:`on_start`, then hands it one message at a time, in order.
    Each lifecycle method may be written as ``async def`` or as a plain ``def``; a plain
    ``on_receive`` is called directly, which is faster.

    Example::

        class Counter(actors.Actor):
            async def on_start(self) -> None:
                self.n = 0

            def on_receive(self, message):
                if message == "inc":
                    self.n += 1
                elif message == "get":
                    return self.n  # the reply to ask()
    """

    context: ActorContext

    def on_start(self) -> Any:
        """Prepare the actor; runs before the first message of each instance.

        An exception here counts as a crash (on the first start, ``spawn`` raises it).
        """
        return None

    def on_receive(self, message: Message) -> Any:
        """Handle one message; the return value is the reply to an ``ask``.

        An exception from an ``ask`` goes back to the caller and the actor carries on; an
        exception from a ``tell`` (or ``send``) crashes the actor: :meth:`on_failure` runs and
        the supervisor applies its strategy (the failing message is dropped).
        """
        raise NotImplementedError(f"{type(self).__name__} does not implement on_receive")

    def on_failure(self, error: Exception) -> Any:
        """Called when this instance crashes (before :meth:`on_stop`); errors here are logged."""
        return None

    def on_stop(self) -> Any:
        """Clean up; runs whenever an instance whose :meth:`on_start` completed ends."""
        return None
