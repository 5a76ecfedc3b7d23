"""A blocking facade over an actor system running on a background thread.

For threaded code (Flask, Django, scripts)::

    with actors.start_in_thread() as system:
        ref = system.spawn(Counter, name="counter")
        ref.tell("inc")
        assert ref.ask("get") == 1
        system.bus.publish("order.created", {"id": 2})

Every method blocks the calling thread until the event loop has done the work, is thread-safe,
and may be used from many threads at once (calls are queued to the loop through anyio's
``BlockingPortal``). Errors are raised in the calling thread. Actors, subscriber handlers and
hook handlers run in the loop's thread, never in the caller's: a handler must not call this
facade (it would wait for itself).

``ask`` does not go through the portal, which runs each call as a task of its own and answers
through a ``concurrent.futures.Future`` (~65 µs a round trip here). The request is handed to
the loop as a plain callback (``call_soon_threadsafe`` on asyncio, ``run_sync_soon`` on trio)
that queues it like ``ActorRef.ask`` does, and the reply wakes the thread through a lock
(:class:`~actors._signal.ThreadWakeup`). Only a full or closed mailbox takes the portal, to
wait for room (or raise) exactly as the async ``ask`` does.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from functools import partial
from threading import get_ident
from typing import Any

from anyio.from_thread import BlockingPortal, start_blocking_portal

from ._actor import Actor
from ._bus import EventBus
from ._envelope import ABANDONED, DONE, FAILED, NO_HEADERS, PENDING, TIMED_OUT, Message, Request
from ._eventlog import EventLog
from ._exceptions import ActorError
from ._hooks import HookRegistration, HookRegistry
from ._records import ActorStatistics, BusStatistics, SystemStatistics
from ._ref import ActorRef
from ._signal import ThreadWakeup, thread_call_in
from ._subscription import Event, Handler, Subscription
from ._subscription import Overflow as BusOverflow
from ._supervisor import SupervisorRef
from ._system import ActorSystem, open_system
from ._timer import forget

#: How often a thread waiting for a reply checks that the loop still runs (seconds).
_POLL = 0.5


@dataclass(slots=True)
class _LoopLink:
    """How threads reach the loop without the portal.

    Attributes:
        schedule: ``schedule(fn, *args)`` runs ``fn(*args)`` soon on the loop's thread
            (thread-safe; raises ``RuntimeError`` once the loop is closed).
        thread_id: the loop's thread.
        running: false once the system's thread is gone (replies will never come).
    """

    schedule: Callable[..., object]
    thread_id: int
    running: bool = True

    @classmethod
    def to_current_loop(cls) -> _LoopLink:
        """Make the link to the running loop (call it on the loop's thread)."""
        return cls(thread_call_in(), get_ident())

    def is_running(self) -> bool:
        return self.running


class _NoRoom(ActorError):
    """The loop found the mailbox full or closed: the thread takes the portal instead."""


def _ask_on_loop(ref: ActorRef, request: Request, timeout: float | None) -> None:
    """The loop's half of a blocking ask: queue the request and arm its deadline.

    Runs as a callback on the loop's thread; the fast path of :meth:`ActorRef.ask`.
    """
    if request.state != PENDING:  # the thread gave up before the loop got here
        return
    mailbox = ref._mailbox
    if len(mailbox.queue) >= mailbox.limit:
        request.fail(_NoRoom())
        return
    mailbox.put_nowait(request)
    if timeout is not None:
        # The thread cannot pop its entry off the timer's queue (only the loop touches it):
        # each blocking ask pops the finished ones ahead of it instead.
        forget(ref._cell.timer.add(request, timeout))


def _tell_on_loop(ref: ActorRef, outcome: Request, headers: Mapping[str, str] | None) -> None:
    """The loop's half of a blocking tell: ``ref.tell``, its error (if any) to ``outcome``."""
    try:
        ref.tell(outcome.message, headers=headers)
    except Exception as exc:  # MailboxFullError: raised in the calling thread
        outcome.fail(exc)
    else:
        outcome.resolve(None)


def _abandon(request: Request) -> None:
    if request.state == PENDING:
        request.state = ABANDONED


class BlockingActorRef:
    """A thread-side handle on an actor; ``ref`` is the async :class:`~actors.ActorRef`."""

    __slots__ = ("_link", "_portal", "ref")

    def __init__(self, ref: ActorRef, portal: BlockingPortal, link: _LoopLink) -> None:
        self.ref = ref
        self._portal = portal
        self._link = link

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.ref.name!r}>"

    @property
    def name(self) -> str:
        """The actor's name."""
        return self.ref.name

    @property
    def is_alive(self) -> bool:
        """``False`` once the actor has stopped for good."""
        return self.ref.is_alive

    def tell(self, message: Message, *, headers: Mapping[str, str] | None = None) -> None:
        """Send without waiting for the actor (see :meth:`ActorRef.tell`).

        Returns once the message is in the mailbox (or dropped, or dead-lettered), so that a
        full mailbox raises here.
        """
        wakeup = ThreadWakeup()
        outcome = Request(message, None, NO_HEADERS, wakeup)  # only carries the outcome back
        self._round_trip(wakeup, outcome, _tell_on_loop, self.ref, outcome, headers)
        if outcome.state == FAILED:
            raise outcome.value

    tell_nowait = tell

    def send(self, message: Message, *, headers: Mapping[str, str] | None = None) -> None:
        """Send, waiting for mailbox room (see :meth:`ActorRef.send`)."""
        self._portal.call(partial(self.ref.send, message, headers=headers))

    def ask(
        self,
        message: Message,
        *,
        timeout: float | None = 5.0,
        headers: Mapping[str, str] | None = None,
    ) -> Any:
        """Send and wait for the reply (see :meth:`ActorRef.ask`)."""
        wakeup = ThreadWakeup()
        request = Request(message, None, headers or NO_HEADERS, wakeup)
        self._round_trip(wakeup, request, _ask_on_loop, self.ref, request, timeout)
        state = request.state
        if state == TIMED_OUT:
            raise self.ref._timed_out(timeout)
        value = request.value
        request.value = None  # its entry may wait on the timer's queue a while: not the reply
        if state == DONE:
            return value
        if type(value) is _NoRoom:  # wait for room (or raise) as the async ask does
            ask = partial(self.ref.ask, message, timeout=timeout, headers=headers)
            return self._portal.call(ask)
        raise value

    def _round_trip(
        self, wakeup: ThreadWakeup, request: Request, on_loop: Callable[..., None], *args: Any
    ) -> None:
        """Run ``on_loop(*args)`` on the loop's thread; return once ``request`` is settled.

        ``wakeup`` is the request's; whatever settles the request (``on_loop``, the actor, the
        timer, a stopping actor) sets it.

        Raises:
            RuntimeError: called from the loop's own thread (it would wait for itself), or the
                system's thread has stopped.
        """
        link = self._link
        if get_ident() == link.thread_id:
            raise RuntimeError("the blocking facade cannot be used from the event loop's thread")
        link.schedule(on_loop, *args)
        try:
            settled = wakeup.wait(_POLL, link.is_running)
        except BaseException:  # interrupted (KeyboardInterrupt): a late reply is discarded
            with suppress(RuntimeError):  # the loop is gone: nothing left to tell it
                link.schedule(_abandon, request)
            raise
        if not settled:
            raise RuntimeError("the actor system's thread stopped before answering")

    def stop(self) -> None:
        """Stop the actor for good and wait until it has stopped."""
        self._portal.call(self.ref.stop)

    def statistics(self) -> ActorStatistics:
        """The actor's counters."""
        return self._portal.call(self.ref.statistics)


class BlockingSupervisorRef(BlockingActorRef):
    """A thread-side handle on a supervisor."""

    __slots__ = ()

    ref: SupervisorRef

    def spawn(
        self, actor_class: Callable[..., Actor], /, *args: Any, **options: Any
    ) -> BlockingActorRef:
        """Start an actor under this supervisor (see :meth:`SupervisorRef.spawn`)."""
        ref = self._portal.call(partial(self.ref.spawn, actor_class, *args, **options))
        return BlockingActorRef(ref, self._portal, self._link)

    def spawn_supervisor(self, **options: Any) -> BlockingSupervisorRef:
        """Start a child supervisor (see :meth:`SupervisorRef.spawn_supervisor`)."""
        ref = self._portal.call(partial(self.ref.spawn_supervisor, **options))
        return BlockingSupervisorRef(ref, self._portal, self._link)


class BlockingBus:
    """The event bus, from threads. Handlers run in the loop thread."""

    __slots__ = ("_portal", "bus")

    def __init__(self, bus: EventBus, portal: BlockingPortal) -> None:
        self.bus = bus
        self._portal = portal

    def publish(
        self, topic: str, payload: Any = None, *, headers: Mapping[str, str] | None = None
    ) -> int | None:
        """Publish, waiting while a blocking subscriber's queue is full (and, on a logged
        topic, for the commit); return the sequence number of a logged event, else ``None``."""
        return self._portal.call(partial(self.bus.publish, topic, payload, headers=headers))

    def publish_nowait(
        self, topic: str, payload: Any = None, *, headers: Mapping[str, str] | None = None
    ) -> None:
        """Publish without waiting for room (raises ``WouldBlock`` if a queue is full)."""
        self._portal.call(partial(self.bus.publish_nowait, topic, payload, headers=headers))

    def subscribe(
        self,
        pattern: str,
        handler: Handler | BlockingActorRef,
        *,
        queue_size: int = 1024,
        overflow: BusOverflow = "block",
        name: str | None = None,
        since: int | None = None,
        queue: str | None = None,
    ) -> Subscription:
        """Subscribe ``handler`` (it runs in the loop thread); ``cancel()`` the result to stop.

        See :meth:`EventBus.subscribe` (``since`` replays the event log first).
        """
        target = handler.ref if isinstance(handler, BlockingActorRef) else handler
        call = partial(
            self.bus.subscribe, pattern, target, queue_size=queue_size, overflow=overflow,
            name=name, since=since, queue=queue,
        )  # fmt: skip
        return self._portal.call(call)

    def replay(self, pattern: str = ">", *, since: int = 0) -> list[Event]:
        """Return the logged events matching ``pattern`` after ``since`` (see
        :meth:`EventBus.replay`), as a list."""

        async def collect() -> list[Event]:
            return [event async for event in self.bus.replay(pattern, since=since)]

        return self._portal.call(collect)

    def unsubscribe(self, subscription: Subscription) -> None:
        """Cancel a subscription from a thread."""
        self._portal.call(subscription.cancel)

    def wait_for(self, pattern: str, timeout: float | None = None) -> Event:
        """Block until an event matching ``pattern`` is published (after this call)."""
        return self._portal.call(self.bus.wait_for, pattern, timeout)

    def statistics(self) -> BusStatistics:
        """The bus's counters."""
        return self._portal.call(self.bus.statistics)


class BlockingHooks:
    """The hook registry, from threads. Handlers run in the loop thread."""

    __slots__ = ("_portal", "hooks")

    def __init__(self, hooks: HookRegistry, portal: BlockingPortal) -> None:
        self.hooks = hooks
        self._portal = portal

    def register(self, point: str, handler: Callable[..., Any], **options: Any) -> HookRegistration:
        """Register a handler (see :meth:`HookRegistry.register`)."""
        return self._portal.call(partial(self.hooks.register, point, handler, **options))

    def run(self, point: str, value: Any, context: dict[str, Any] | None = None) -> Any:
        """Run a hook point's handlers on ``value`` and return the result."""
        return self._portal.call(self.hooks.run, point, value, context)


class BlockingSystem:
    """The blocking facade returned by :func:`start_in_thread`.

    Attributes:
        system: the underlying :class:`~actors.ActorSystem` (use it only from the loop thread).
        portal: the anyio ``BlockingPortal`` into the loop thread.
        bus: the event bus, blocking.
        hooks: the hook registry, blocking.
    """

    def __init__(
        self, system: ActorSystem, portal: BlockingPortal, *, _link: _LoopLink | None = None
    ) -> None:
        self.system = system
        self.portal = portal
        self._link = portal.call(_LoopLink.to_current_loop) if _link is None else _link
        self.bus = BlockingBus(system.bus, portal)
        self.hooks = BlockingHooks(system.hooks, portal)

    def spawn(
        self, actor_class: Callable[..., Actor], /, *args: Any, **options: Any
    ) -> BlockingActorRef:
        """Start a top-level actor (see :meth:`ActorSystem.spawn`)."""
        ref = self.portal.call(partial(self.system.spawn, actor_class, *args, **options))
        return BlockingActorRef(ref, self.portal, self._link)

    def spawn_supervisor(self, **options: Any) -> BlockingSupervisorRef:
        """Start a top-level supervisor (see :meth:`ActorSystem.spawn_supervisor`)."""
        ref = self.portal.call(partial(self.system.spawn_supervisor, **options))
        return BlockingSupervisorRef(ref, self.portal, self._link)

    def lookup(self, name: str) -> BlockingActorRef | None:
        """The actor registered under ``name``, or ``None``."""
        ref = self.portal.call(self.system.lookup, name)
        if ref is None:
            return None
        if isinstance(ref, SupervisorRef):
            return BlockingSupervisorRef(ref, self.portal, self._link)
        return BlockingActorRef(ref, self.portal, self._link)

    def statistics(self) -> SystemStatistics:
        """The system's counters."""
        return self.portal.call(self.system.statistics)

    def shutdown(self) -> None:
        """Shut the system down now (leaving the ``with`` block does it too)."""
        self.portal.call(self.system.shutdown)


@contextmanager
def start_in_thread(
    *,
    backend: str = "asyncio",
    max_restarts: int = 3,
    period: float = 5.0,
    backoff: tuple[float, float] | None = None,
    shutdown_timeout: float = 5.0,
    dead_letter_history: int = 100,
    event_log: EventLog | str | os.PathLike[str] | None = None,
) -> Iterator[BlockingSystem]:
    """Run an actor system on a background thread; yield its blocking facade.

    Leaving the ``with`` block shuts the system down (draining mailboxes) and joins the thread.

    Args:
        backend: ``"asyncio"`` or ``"trio"``.
        max_restarts: see :class:`~actors.ActorSystem`.
        period: see :class:`~actors.ActorSystem`.
        backoff: see :class:`~actors.ActorSystem`.
        shutdown_timeout: see :class:`~actors.ActorSystem`.
        dead_letter_history: see :class:`~actors.ActorSystem`.
        event_log: see :class:`~actors.ActorSystem`.
    """
    system = open_system(
        max_restarts=max_restarts, period=period, backoff=backoff,
        shutdown_timeout=shutdown_timeout, dead_letter_history=dead_letter_history,
        event_log=event_log,
    )  # fmt: skip
    link: _LoopLink | None = None
    try:
        with start_blocking_portal(backend) as portal:
            link = portal.call(_LoopLink.to_current_loop)
            with portal.wrap_async_context_manager(system):
                yield BlockingSystem(system, portal, _link=link)
    finally:
        if link is not None:
            link.running = False  # threads still waiting for a reply give up
