"""Exceptions raised by the actor runtime.

Hierarchy::

    ActorError
    ├── ActorDeadError          the actor is stopped (or was never started): ask/send fail fast
    ├── AskTimeoutError         ask() got no reply in time (also a TimeoutError)
    ├── MailboxFullError        a bounded mailbox refused a message (also anyio.WouldBlock)
    ├── NameTakenError          a registry name is already in use
    ├── SupervisorError         a supervisor exceeded its restart intensity (escalation)
    ├── HookCancelledError      a hook handler cancelled the operation
    ├── EventLogError           the durable event log failed (I/O, locked database, closed)
    └── SystemClosedError       the actor system is shut down or not started

``WouldBlock`` is anyio's, re-exported: every ``*_nowait`` operation raises it (or a subclass).
"""

from __future__ import annotations

from anyio import WouldBlock as WouldBlock

#: Raised by a handler, these would end the whole system (they are not ``Exception``s): they
#: fail that actor (or count as that bus handler's failure) instead, wrapped by
#: :func:`escaped` in an ``ActorError``. Cancellation is not among them.
ESCAPES = (KeyboardInterrupt, SystemExit, GeneratorExit)


class ActorError(Exception):
    """Root of every error raised by the actor runtime."""


class ActorDeadError(ActorError):
    """The target actor has stopped; the message was not delivered."""


class AskTimeoutError(ActorError, TimeoutError):
    """No reply arrived within the ask timeout; a late reply is discarded."""


class MailboxFullError(ActorError, WouldBlock):
    """A bounded mailbox is full and its overflow policy refuses the message."""


class NameTakenError(ActorError):
    """An actor with this name is already registered in the system."""


class SupervisorError(ActorError):
    """A supervisor exceeded its restart intensity and gave up (escalates to its parent)."""


class HookCancelledError(ActorError):
    """A hook handler cancelled the operation.

    Attributes:
        point: the hook point name, e.g. ``"order.before_ship"``.
        reason: the reason the handler gave.
    """

    def __init__(self, point: str, reason: str) -> None:
        super().__init__(f"{point} cancelled: {reason}")
        self.point = point
        self.reason = reason


class EventLogError(ActorError):
    """The event log could not append or read: the cause is chained (``__cause__``).

    A logged ``publish`` raises it when its transaction failed: the event was neither logged
    nor delivered.
    """


class SystemClosedError(ActorError):
    """The actor system is not running."""


def escaped(name: str, escape: BaseException) -> ActorError:
    """The failure of ``name`` (an actor, a bus handler) whose code raised one of ESCAPES."""
    error = ActorError(f"{name!r} raised {type(escape).__name__}: {escape}")
    error.__cause__ = escape
    return error
