"""ActorRef: the only handle others hold on an actor."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import anyio

from ._envelope import (
    ABANDONED,
    CURRENT,
    DONE,
    NO_HEADERS,
    PENDING,
    TIMED_OUT,
    Envelope,
    Message,
    Request,
    inherited_headers,
    make_envelope,
    new_correlation_id,
)
from ._exceptions import ActorDeadError, AskTimeoutError

if TYPE_CHECKING:
    from ._cell import Cell
    from ._records import ActorStatistics

#: ``Request.__new__``: ``ask`` sets the fields itself (a call of ``__init__`` is a frame).
_new_request = object.__new__


class ActorRef:
    """A handle on an actor: send it messages, ask it questions, stop it.

    A ref stays valid across restarts: the supervisor swaps in a new instance behind the same
    ref and mailbox. Refs compare and hash by identity (one ref per actor).

    Attributes:
        name: the actor's name (unique in its system when given at spawn).
    """

    __slots__ = ("__weakref__", "_cell", "_mailbox", "name")

    def __init__(self, cell: Cell) -> None:
        self._cell = cell
        self._mailbox = cell.mailbox
        self.name = cell.name

    def __repr__(self) -> str:
        state = "alive" if self._cell.alive else "dead"
        return f"<{type(self).__name__} {self.name!r} {state}>"

    @property
    def is_alive(self) -> bool:
        """``False`` once the actor has stopped for good (restarts do not count)."""
        return self._cell.alive

    def tell(
        self,
        message: Message,
        *,
        sender: ActorRef | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        """Send ``message`` without waiting (fire and forget).

        Inside an actor, ``sender`` defaults to that actor and ``headers`` to those of the
        message it is handling. A message to a stopped actor goes to dead letters.

        Raises:
            MailboxFullError: (a ``WouldBlock``) the mailbox is full and its overflow policy is
                ``"wait"`` or ``"raise"``; with ``"drop_newest"``/``"drop_oldest"`` a message
                is dropped and counted instead.
        """
        current = CURRENT.get()
        if current is None and sender is None and headers is None:
            item = Envelope(message) if isinstance(message, Envelope) else message
        else:
            item = make_envelope(message, sender, headers, current)
        mailbox = self._mailbox
        queue = mailbox.queue
        if len(queue) < mailbox.limit:
            queue.append(item)
            waiter = mailbox.waiter
            if waiter is not None:
                mailbox.waiter = None
                try:
                    waiter.set_result(None)
                except Exception:  # cancelled as the actor slept: its task is ending
                    if not waiter.done():
                        raise
        elif not mailbox.put_full(item, nowait=True):
            self._cell.dead_letter(item)

    #: Alias of :meth:`tell`, which never waits (the ``op_nowait`` name of the pair).
    tell_nowait = tell

    async def send(
        self,
        message: Message,
        *,
        sender: ActorRef | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        """Send ``message``, waiting for room in the mailbox if it is full.

        Raises:
            ActorDeadError: the actor is stopped (or stopped while we waited for room).
            MailboxFullError: the mailbox is full and its overflow policy is ``"raise"``.
        """
        current = CURRENT.get()
        if current is None and sender is None and headers is None:
            item = Envelope(message) if isinstance(message, Envelope) else message
        else:
            item = make_envelope(message, sender, headers, current)
        mailbox = self._mailbox
        queue = mailbox.queue
        if len(queue) < mailbox.limit:
            queue.append(item)
            mailbox.wake()
        elif not await mailbox.put(item):
            raise self._dead_error()

    async def ask(
        self,
        message: Message,
        *,
        timeout: float | None = 5.0,  # noqa: ASYNC109 - the ask's own deadline, not a scope
        headers: Mapping[str, str] | None = None,
    ) -> Any:
        """Send ``message`` and wait for the reply: the return value of ``on_receive``.

        If the handler raises, the same exception is raised here and the actor carries on.

        Args:
            message: the request.
            timeout: seconds to wait for the reply (``None``: forever). A reply arriving
                later is discarded.
            headers: metadata for the envelope (inside an actor: inherited by default).

        Raises:
            AskTimeoutError: no reply within ``timeout``.
            ActorDeadError: the actor is stopped, or stopped before handling the request.
            MailboxFullError: the mailbox is full and its policy is ``"raise"`` or
                ``"drop_newest"`` (or the request was dropped by ``"drop_oldest"``).
        """
        # The hot path, written out (each call saved shows in the benchmarks): build the
        # request (Request.__init__), queue it and wake the actor (Mailbox.put_nowait), arm
        # the deadline (DeadlineTimer.add), sleep on the request's signal.
        cell = self._cell
        request = _new_request(Request)
        request.message = message
        request.correlation_id = new_correlation_id()
        request.event = signal = cell.new_signal()
        request.state = PENDING
        current = CURRENT.get()
        if current is None:
            request.sender = None
            request.headers = headers or NO_HEADERS
        else:
            request.sender = current.ref
            request.headers = inherited_headers(current) if headers is None else headers
        mailbox = self._mailbox
        queue = mailbox.queue
        if len(queue) < mailbox.limit:
            queue.append(request)
            waiter = mailbox.waiter
            if waiter is not None:
                mailbox.waiter = None
                try:
                    waiter.set_result(None)
                except Exception:  # cancelled as the actor slept: its task is ending
                    if not waiter.done():
                        raise
        else:  # full or closed
            await self._put_waiting(request, timeout)
        if timeout is not None:  # armed = cell.timer.add(request, timeout), inlined
            timer = cell.timer
            if timeout == timer.last_timeout:
                armed = timer.last_queue
            else:
                armed = timer.queue_for(timeout)
            request.deadline = deadline = timer.clock() + timeout
            armed.append(request)
            timer.added = True
            if deadline < timer.next_deadline:
                timer.wake_before(deadline)
        try:
            await signal
        except BaseException:
            if request.state == PENDING:
                request.state = ABANDONED
            raise
        if timeout is not None:  # forget(armed), inlined
            while armed and armed[0].state:
                armed.popleft()
        if request.state == DONE:
            return request.value
        if request.state == TIMED_OUT:
            raise self._timed_out(timeout)
        raise request.value

    async def _put_waiting(self, request: Request, timeout: float | None) -> None:  # noqa: ASYNC109
        """Put a request into a full mailbox: wait for room (counted in the ask's timeout).

        Raises ``ActorDeadError`` at once if the mailbox is closed.
        """
        if self._mailbox.closed:
            raise self._dead_error()
        with anyio.move_on_after(timeout):
            if not await self._mailbox.put(request):
                raise self._dead_error()
            return
        raise AskTimeoutError(f"actor {self.name!r}: no room in its mailbox within {timeout} s")

    async def stop(self) -> None:
        """Stop the actor for good and return once it has stopped.

        Messages already in the mailbox are handled first (new ones go to dead letters); then
        ``on_stop`` runs. An explicitly stopped actor is never restarted. Called by the actor
        on itself, it returns at once and the actor stops after the current message.
        """
        await self._cell.stop()

    def statistics(self) -> ActorStatistics:
        """Return the actor's counters."""
        return self._cell.statistics()

    def _timed_out(self, timeout: float | None) -> AskTimeoutError:
        return AskTimeoutError(f"actor {self.name!r} did not reply within {timeout} s")

    def _dead_error(self) -> ActorDeadError:
        return ActorDeadError(f"actor {self.name!r} is stopped")
