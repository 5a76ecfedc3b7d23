"""Envelopes: a message in transit with its sender, correlation id and headers.

A plain ``tell`` from outside any actor stores the bare message in the mailbox (nothing to wrap);
everything else travels in an :class:`Envelope`. An ``ask`` travels in :class:`Request`, an
envelope with a reply slot that the caller waits on.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from contextvars import ContextVar
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, TypeAlias

if TYPE_CHECKING:
    from ._cell import Cell
    from ._ref import ActorRef
    from ._signal import Wakeup

#: Anything an actor accepts: messages are arbitrary Python objects.
Message: TypeAlias = Any

#: Shared empty headers (read-only): most envelopes carry none.
NO_HEADERS: Mapping[str, str] = MappingProxyType({})

#: The cell whose task is running (set once per actor task); ``None`` outside actors.
CURRENT: ContextVar[Cell | None] = ContextVar("actors_current_cell", default=None)

_correlation_ids = itertools.count(1)
new_correlation_id = _correlation_ids.__next__

PENDING, DONE, FAILED, TIMED_OUT, ABANDONED = 0, 1, 2, 3, 4


class Envelope:
    """A message with its metadata, as the receiving actor sees it (``context.envelope``).

    Attributes:
        message: the message itself.
        sender: the sending actor's ref, or ``None`` when sent from outside any actor.
        correlation_id: an id shared by a request and its reply (set for ``ask``), else ``None``.
        headers: small string metadata (trace context travels here). Treat it as read-only:
            messages an actor sends while handling this one inherit the same mapping.
    """

    __slots__ = ("correlation_id", "headers", "message", "sender")

    def __init__(
        self,
        message: Message,
        sender: ActorRef | None = None,
        correlation_id: int | None = None,
        headers: Mapping[str, str] = NO_HEADERS,
    ) -> None:
        self.message = message
        self.sender = sender
        self.correlation_id = correlation_id
        self.headers = headers

    def __repr__(self) -> str:
        sender = None if self.sender is None else self.sender.name
        return (
            f"{type(self).__name__}(message={self.message!r}, sender={sender!r}, "
            f"correlation_id={self.correlation_id!r}, headers={dict(self.headers)!r})"
        )


class Request(Envelope):
    """An ``ask`` in flight: the envelope plus the slot its reply lands in.

    ``state`` says what ``value`` holds: the reply (``DONE``), the error to re-raise in the
    caller (``FAILED``), or nothing yet (``PENDING``; ``TIMED_OUT`` and ``ABANDONED`` never get
    one). Only the event loop's thread changes it.
    """

    __slots__ = ("deadline", "event", "state", "value")

    def __init__(
        self,
        message: Message,
        sender: ActorRef | None,
        headers: Mapping[str, str],
        event: Wakeup,
    ) -> None:
        self.message = message
        self.sender = sender
        self.correlation_id = new_correlation_id()
        self.headers = headers
        self.event = event
        self.state = PENDING
        # Set only when used (every store counts on this path): ``value`` with the state,
        # ``deadline`` when the system's timer arms the request.
        self.value: Any
        self.deadline: float

    def resolve(self, value: Any) -> None:
        """Deliver the reply; a reply to an abandoned or timed-out request is discarded.

        (The actor's message loop inlines this on its hot path.)
        """
        if self.state == PENDING:
            self.state = DONE
            self.value = value
            event = self.event
            if not event.done():
                event.set_result(None)

    def time_out(self) -> None:
        """No reply in time (called by the system's timer): wake the caller, who raises."""
        self.state = TIMED_OUT
        event = self.event
        if not event.done():
            event.set_result(None)

    def fail(self, error: BaseException) -> None:
        """Deliver an error to the caller (re-raised there)."""
        if self.state == PENDING:
            self.state = FAILED
            self.value = error
            event = self.event
            if not event.done():
                event.set_result(None)


def current_envelope() -> Envelope | None:
    """Return the envelope of the message the current actor is handling.

    Returns ``None`` outside an actor (or between messages). Useful to read the ``headers`` (trace
    context) of the message that caused the current code to run.
    """
    cell = CURRENT.get()
    return None if cell is None else cell.envelope()


def make_envelope(
    message: Message,
    sender: ActorRef | None,
    headers: Mapping[str, str] | None,
    cell: Cell | None,
) -> Envelope:
    """Wrap ``message``, inheriting sender and headers from the handling actor ``cell``."""
    if cell is not None:
        if sender is None:
            sender = cell.ref
        if headers is None:
            headers = inherited_headers(cell)
    return Envelope(message, sender, None, NO_HEADERS if headers is None else headers)


def inherited_headers(cell: Cell) -> Mapping[str, str]:
    """The headers of the message ``cell`` is handling (what its outgoing messages inherit)."""
    current = cell.current
    return current.headers if type(current) in _ENVELOPE_TYPES else NO_HEADERS


_ENVELOPE_TYPES = (Envelope, Request)
