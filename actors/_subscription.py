"""Subscriptions of the event bus: a bounded queue, an overflow policy and a delivery task.

The publishing side (:meth:`Subscription._offer`, ``_put``) runs in the publisher's task (or the
log writer's, for logged events); the delivery side (``_run``) is the subscription's own task in
the bus's task group. A subscription with no handler is a ``wait_for`` waiter: it keeps the first
event and has no task. A subscription made with ``since=`` first catches up from the event log
(``_replay.catch_up``), then goes on live.
"""

from __future__ import annotations

import contextvars
import inspect
import logging
import weakref
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Literal, Protocol, TypeAlias

import anyio
import anyio.lowlevel

from ._exceptions import ESCAPES, ActorDeadError, SystemClosedError, escaped
from ._topics import split_pattern

if TYPE_CHECKING:
    from ._bus import EventBus
    from ._records import SubscriptionStatistics

__all__ = [
    "Event",
    "Handler",
    "Overflow",
    "QueueGroup",
    "Subscription",
]

_log = logging.getLogger("actors.bus")

Overflow: TypeAlias = Literal["block", "drop_newest", "drop_oldest", "disconnect"]
_OVERFLOWS = ("block", "drop_newest", "drop_oldest", "disconnect")
_NO_HEADERS: Mapping[str, str] = MappingProxyType({})
_NEW, _OPEN, _CLOSING, _CLOSED = "new", "open", "closing", "closed"
DELIVERING: contextvars.ContextVar[weakref.ref[Subscription] | None] = contextvars.ContextVar(
    "actors_bus_delivering", default=None
)
"""The subscription whose delivery task is running (its handler, and what that calls), by weak
reference: a context copied into a task the handler starts must not keep it alive."""
HANDLER_FAILED = "bus.handler_failed"
SUBSCRIBER_DISCONNECTED = "bus.subscriber_disconnected"
SUBSCRIBER_OVERFLOW = "bus.subscriber_overflow"


@dataclass(frozen=True, slots=True, init=False)
class Event:
    """One published event, shared (read-only) by every subscriber that receives it.

    Attributes:
        topic: the topic it was published to, e.g. ``"order.created"``.
        payload: whatever the publisher passed (for an event read back from the log: the
            payload decoded from its JSON, so tuples come back as lists).
        headers: small string metadata (trace context travels here).
        timestamp: wall-clock publication time, seconds since the epoch.
        seq: the event's sequence number in the bus's event log (or, on a bus with a backend,
            in the backend's store: JetStream's stream sequence), or ``None`` for an event that
            was not logged (no log, or a topic the log leaves out).
    """

    topic: str
    payload: Any
    headers: Mapping[str, str]
    timestamp: float
    seq: int | None

    def __init__(
        self,
        topic: str,
        payload: Any,
        headers: Mapping[str, str],
        timestamp: float,
        seq: int | None = None,
    ) -> None:
        # One event per publish: set the slots directly, at half the cost of the frozen
        # dataclass __init__ (which goes through object.__setattr__ for each field).
        _set_topic(self, topic)
        _set_payload(self, payload)
        _set_headers(self, headers)
        _set_timestamp(self, timestamp)
        _set_seq(self, seq)


_set_topic, _set_payload, _set_headers, _set_timestamp, _set_seq = (
    vars(Event)[field].__set__ for field in ("topic", "payload", "headers", "timestamp", "seq")
)


class _EventSlots:
    """:class:`Event`'s layout, writable: where the bus builds the event of each publish
    (:func:`_event`).

    Each slot setter above is a method-wrapper call (its arguments packed in a tuple), ~750
    instructions; five of them were most of an event's cost. Here the five fields are plain
    attribute stores (~30 each), then the object becomes an ``Event`` by ``__class__``
    assignment, which CPython allows only between types of the same layout (the same slot
    names: it lays them out sorted) and checks on every assignment. Should ``Event``'s fields
    change and these not, it raises ``TypeError`` instead of building a wrong event. ~1.5k
    instructions an event, against ~4.3k with the setters (callgrind).
    """

    __slots__ = ("headers", "payload", "seq", "timestamp", "topic")


def _event(
    topic: str, payload: Any, headers: Mapping[str, str], timestamp: float, seq: int | None = None
) -> Event:
    """``Event(topic, payload, headers, timestamp, seq)`` at a third of the cost (see
    :class:`_EventSlots`): how the bus builds the event of each publish."""
    ev: Any = _EventSlots()
    ev.topic = topic
    ev.payload = payload
    ev.headers = headers
    ev.timestamp = timestamp
    ev.seq = seq
    ev.__class__ = Event
    return ev  # type: ignore[no-any-return]


class _Sender(Protocol):
    """An actor-like subscriber: the event is put in its mailbox with ``await send(event)``."""

    def send(self, message: Any, /) -> Awaitable[object]: ...


#: A subscriber: a sync or async callable taking the :class:`Event`, or an :class:`ActorRef`.
Handler: TypeAlias = Callable[[Event], object] | _Sender


def _resolve(handler: Handler) -> tuple[Callable[[Event], Any], bool]:
    """Return the function to call for each event and whether it is a coroutine function."""
    send = getattr(handler, "send", None)
    if inspect.iscoroutinefunction(send) or (callable(send) and not callable(handler)):
        assert send is not None
        return send, inspect.iscoroutinefunction(send)
    if not callable(handler):
        raise TypeError(f"a subscriber must be callable or have an async send(): {handler!r}")
    is_async = inspect.iscoroutinefunction(handler) or inspect.iscoroutinefunction(
        getattr(handler, "__call__", None)  # noqa: B004 - an object with an async __call__
    )
    return handler, is_async


class Subscription:
    """A handle on one subscription; :meth:`cancel` it (or use it as a context manager).

    Attributes:
        pattern: the pattern it matches.
        name: a name for statistics and error reports.
    """

    __slots__ = (
        "__weakref__",
        "_behind",
        "_blocking",
        "_bus",
        "_cancelled",
        "_catching_up",
        "_delivered",
        "_dropped",
        "_failed",
        "_fast_limit",
        "_fn",
        "_is_async",
        "_is_sender",
        "_maxlen",
        "_once",
        "_overflow",
        "_overflowing",
        "_owner",
        "_queue",
        "_reserved",
        "_result",
        "_running",
        "_sharing",
        "_spaces",
        "_upto",
        "_wakeup",
        "name",
        "pattern",
    )

    def __init__(
        self,
        bus: EventBus,
        pattern: str,
        handler: Handler | None,
        *,
        queue_size: int,
        overflow: Overflow,
        name: str | None,
        once: bool,
        since: int | None = None,
        owner: object = None,
    ) -> None:
        split_pattern(pattern)
        if overflow not in _OVERFLOWS:
            raise ValueError(f"overflow must be one of {', '.join(_OVERFLOWS)}, not {overflow!r}")
        if queue_size < 1:
            raise ValueError(f"queue_size must be at least 1, not {queue_size}")
        self._bus = bus
        self.pattern = pattern
        self._fn: Callable[[Event], Any] | None = None
        self._is_async = self._is_sender = False
        if handler is not None:
            self._fn, self._is_async = _resolve(handler)
            self._is_sender = self._fn is not handler
        if name is None:  # a function's qualified name, an actor's name, or the repr
            name = getattr(handler, "__qualname__", None)
            actor_name = getattr(handler, "name", None) if self._is_sender else None
            name = name or (actor_name if isinstance(actor_name, str) else repr(handler))
        self.name: str = name
        self._queue: deque[Event] = deque()
        self._maxlen = queue_size
        self._overflow = overflow
        self._blocking = overflow == "block"
        self._owner = owner  # "block" holds back only publishers with this owner (if not None)
        self._overflowing = False  # dropping since the queue was last empty (reported once)
        self._once = once
        # publish appends directly while the queue is shorter than this; 0 = take _offer()
        plain = not once and handler is not None and since is None
        self._fast_limit = queue_size if plain else 0
        # since=: logged events with seq <= _upto are dropped on arrival (already delivered)
        self._upto = since
        self._catching_up = since is not None
        self._behind = False  # a logged event was left out during catch-up: read the log again
        self._cancelled = self._running = False
        self._wakeup: anyio.Event | None = None  # set while the delivery task is idle
        # one event per publisher waiting for room, first come first: freeing one slot wakes one
        # and reserves the slot for it (a later publish must not take it: order is kept)
        self._spaces: deque[anyio.Event] = deque()
        self._reserved = 0
        self._result: Event | None = None  # wait_for's event
        self._delivered = self._dropped = self._failed = 0
        self._sharing: QueueGroup | None = None  # the local queue group it is a member of

    def __repr__(self) -> str:
        state = "cancelled" if self._cancelled else "active"
        return f"<Subscription {self.name!r} on {self.pattern!r} {state}>"

    def __enter__(self) -> Subscription:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.cancel()

    @property
    def cancelled(self) -> bool:
        """Whether the subscription was cancelled (or disconnected, or fired once)."""
        return self._cancelled

    def cancel(self) -> None:
        """Stop delivering; events still queued are discarded. Idempotent."""
        if self._cancelled:
            return
        self._cancelled = True
        self._fast_limit = 0
        self._reserved = 0
        self._queue.clear()
        self._bus._remove(self)
        if self._wakeup is not None:
            self._wakeup.set()
            self._wakeup = None
        self._wake_publishers()

    @property
    def dropped(self) -> int:
        """Events lost to the overflow policy so far (``statistics().dropped``, without
        building the statistics: a handler may read it on every event)."""
        return self._dropped

    @property
    def queued(self) -> int:
        """Events waiting in the queue (``statistics().queued``, without building the
        statistics: a caller may ask whether it is idle after every event)."""
        return len(self._queue)

    def statistics(self) -> SubscriptionStatistics:
        """Return this subscription's counters."""
        from ._records import SubscriptionStatistics

        return SubscriptionStatistics(
            self.pattern,
            self.name,
            len(self._queue),
            self._delivered,
            self._dropped,
            self._failed,
        )

    # -- publishing side ---------------------------------------------------------------------

    def _offer(self, ev: Event) -> bool:
        """Queue ``ev`` or apply the overflow policy; ``False`` = full and the policy blocks."""
        if self._cancelled or self._result is not None:
            return True  # cancelled, or a once/wait_for subscription that already has its event
        if self._fn is None:  # a wait_for waiter: no queue, no task
            self._result = ev
            self.cancel()
            return True
        queue = self._queue
        if self._upto is not None and ev.seq is not None:
            if ev.seq <= self._upto:
                return True  # delivered from the log already (or before ``since``)
            if self._catching_up and len(queue) + self._reserved >= self._maxlen:
                self._behind = True  # the log has it: catch-up reads it again
                return True
        if self._no_room():
            if self._blocking:
                return False
            if self._overflow == "drop_newest":
                self._drop()
                return True
            if self._overflow == "disconnect":
                self._dropped += 1
                self._disconnect("queue full")
                return True
            if queue.popleft().seq is not None and self._catching_up:
                self._behind = True  # not lost: catch-up reads it again
            else:
                self._drop()
        self._enqueue(ev)
        return True

    def _foreign(self, owner: object) -> bool:
        """Whether a publisher of ``owner`` must not wait for this subscription's room: one of
        another owner, or this subscription's own handler (it would wait for itself)."""
        if self._owner is not None and self._owner != owner:
            return True
        delivering = DELIVERING.get()
        return delivering is not None and delivering() is self

    def _no_room(self) -> bool:
        """Whether a new event cannot be queued now: the queue is full, or publishers wait
        for room (those woken with a kept slot and not yet run included): a new one goes
        behind them, so that a subscriber sees events in the order they were published."""
        return bool(
            len(self._queue) + self._reserved >= self._maxlen or self._spaces or self._reserved
        )

    def _overflow_drop(self, ev: Event) -> None:
        """A full ``"block"`` queue and a publisher it must not hold back (another owner's, or
        a logged event): the oldest queued event makes room for ``ev``, counted and reported."""
        queue = self._queue
        self._drop()
        if queue:
            queue.popleft()
            self._enqueue(ev)  # else every slot is kept for a waiting publisher: ev is dropped

    def _drop(self, count: int = 1) -> None:
        """Count events lost to a full queue; the first of a run of losses (until the queue is
        next empty) is reported as ``bus.subscriber_overflow``."""
        self._dropped += count
        if not self._overflowing:
            self._overflowing = True
            payload = {
                "pattern": self.pattern,
                "subscription": self.name,
                "owner": None if self._owner is None else str(self._owner),
                "dropped": self._dropped,
            }
            self._bus._emit(SUBSCRIBER_OVERFLOW, payload)

    def _enqueue(self, ev: Event) -> None:
        self._queue.append(ev)
        wakeup = self._wakeup
        if wakeup is not None:
            self._wakeup = None
            wakeup.set()
        if self._once:
            self._result = ev  # nothing more is queued
            self._bus._index.remove(self.pattern, self)

    async def _put(self, ev: Event) -> None:
        """Wait for room in a full ``"block"`` queue, then queue ``ev``: publishers waiting
        for room get it in the order they came, before any later publish."""
        bus, spaces = self._bus, self._spaces
        bus._blocked += 1
        space = bus._new_event()
        spaces.append(space)
        self._fast_limit = 0  # publish goes through _offer (which queues behind us) meanwhile
        queued = False
        try:
            await space.wait()
            if bus._state is _CLOSED:
                raise SystemClosedError("the event bus closed while publish waited")
            if not self._cancelled and self._result is None:
                self._reserved -= 1  # the slot _wake_publishers kept for this publisher
                queued = True
                self._enqueue(ev)
        finally:
            bus._blocked -= 1
            if not space.is_set():
                spaces.remove(space)  # this publish was cancelled while it waited
            elif not queued and not self._cancelled and bus._state is not _CLOSED:
                self._reserved -= 1  # woken, then cancelled: pass the slot on
                self._wake_publishers()
            self._restore_fast_path()
            bus._changed()

    def _restore_fast_path(self) -> None:
        """Let publish append directly again once nobody waits for room (never for a
        subscription that takes logged events ``since`` a sequence number: it filters them)."""
        if self._spaces or self._reserved or self._cancelled or self._once:
            return
        if self._fn is not None and self._upto is None:
            self._fast_limit = self._maxlen

    async def _wait_room(self) -> None:
        """Wait until the queue is below its size (for a logged event queued past it). Waits
        in line with blocked publishers; a slot kept for it on waking is passed on, since it
        queues nothing more."""
        bus, spaces = self._bus, self._spaces
        bus._blocked += 1
        self._fast_limit = 0
        try:
            while not self._cancelled and len(self._queue) >= self._maxlen:
                if bus._state is _CLOSED:
                    return
                space = bus._new_event()
                spaces.append(space)
                try:
                    await space.wait()
                finally:
                    if not space.is_set():
                        spaces.remove(space)
                    elif not self._cancelled and bus._state is not _CLOSED:
                        self._reserved -= 1
                        self._wake_publishers()
        finally:
            bus._blocked -= 1
            self._restore_fast_path()
            bus._changed()

    # -- delivery side ---------------------------------------------------------------------

    def _busy(self) -> bool:
        return self._running and (bool(self._queue) or self._wakeup is None)

    async def _run(self) -> None:
        """The delivery task: drain the queue in batches, then sleep until an event arrives."""
        queue, fn, bus = self._queue, self._fn, self._bus
        assert fn is not None
        DELIVERING.set(weakref.ref(self))  # this task's context only
        try:
            if self._catching_up:
                await self._catch_up()
            while not self._cancelled:
                if not queue:
                    self._overflowing = False
                    wakeup = self._wakeup = bus._new_event()
                    bus._changed()
                    await wakeup.wait()
                    continue
                if self._is_async:
                    await self._drain_async(queue, fn)
                else:
                    ok, spaces = 0, self._spaces
                    while queue:
                        ev = queue.popleft()
                        if spaces:  # (a handler may wait: the publishers go on meanwhile)
                            self._wake_publishers()
                        try:
                            result = fn(ev)
                            if result is not None and hasattr(result, "__await__"):
                                await result
                        except Exception as exc:
                            self._fail(ev, exc)
                        except ESCAPES as escape:
                            self._fail(ev, escaped(self.name, escape))
                        else:
                            ok += 1
                    self._delivered += ok
                    self._wake_publishers()
                if self._once:
                    self.cancel()
                elif queue:  # a handler published to its own pattern: let others run too
                    await anyio.lowlevel.checkpoint()
        finally:
            self._running = False
            bus._retire(self)
            bus._changed()

    async def _drain_async(self, queue: deque[Event], fn: Callable[[Event], Any]) -> None:
        while queue:
            ev = queue.popleft()
            if self._spaces:
                self._wake_publishers()
            try:
                await fn(ev)
            except Exception as exc:
                self._fail(ev, exc)
            except ESCAPES as escape:
                self._fail(ev, escaped(self.name, escape))
            else:
                self._delivered += 1

    async def _catch_up(self) -> None:
        from ._replay import catch_up

        log = self._bus.event_log
        assert log is not None
        try:
            await catch_up(self, log)
        except Exception as exc:
            _log.warning("bus subscriber %r could not replay the log", self.name, exc_info=exc)
            self._disconnect(f"replay failed: {type(exc).__name__}: {exc}")

    async def _deliver(self, ev: Event) -> None:
        """Hand one event to the handler (used for events replayed from the log)."""
        fn = self._fn
        assert fn is not None
        try:
            result = fn(ev)
            if result is not None and hasattr(result, "__await__"):
                await result
        except Exception as exc:
            self._fail(ev, exc)
        except ESCAPES as escape:
            self._fail(ev, escaped(self.name, escape))
        else:
            self._delivered += 1

    def _purge(self, upto: int | None) -> None:
        """Drop queued logged events (with ``seq <= upto``, or all when ``upto`` is None)."""
        queue = self._queue
        kept = [ev for ev in queue if ev.seq is None or (upto is not None and ev.seq > upto)]
        if len(kept) != len(queue):
            queue.clear()
            queue.extend(kept)
            self._wake_publishers()

    def _wake_publishers(self) -> None:
        """Wake as many waiting publishers as there is room for, first come first, keeping a
        slot for each (all of them, once cancelled or closed)."""
        spaces = self._spaces
        if not spaces:
            return
        if self._cancelled or self._result is not None or self._bus._state is _CLOSED:
            while spaces:
                spaces.popleft().set()
            return
        room = self._maxlen - len(self._queue) - self._reserved
        while spaces and room > 0:
            spaces.popleft().set()
            self._reserved += 1
            room -= 1

    def _fail(self, ev: Event, exc: Exception) -> None:
        self._failed += 1
        if self._is_sender and isinstance(exc, ActorDeadError):
            self._disconnect(f"subscriber stopped: {exc}")
            return
        _log.warning("bus handler %r failed on %r", self.name, ev.topic, exc_info=exc)
        if ev.topic != HANDLER_FAILED:
            payload = {
                "pattern": self.pattern,
                "topic": ev.topic,
                "subscription": self.name,
                "error": f"{type(exc).__name__}: {exc}",
            }
            self._bus._emit(HANDLER_FAILED, payload)

    def _disconnect(self, reason: str) -> None:
        self._dropped += len(self._queue)
        self.cancel()
        payload = {"pattern": self.pattern, "subscription": self.name, "reason": reason}
        self._bus._emit(SUBSCRIBER_DISCONNECTED, payload)


class QueueGroup:
    """The subscriptions sharing one pattern and queue name on the local bus: each event goes
    to one member, the first idle one in round-robin order (else the one with the shortest
    queue). The bus's index holds the group; publish treats it like one subscription (it has
    no queue of its own, so publish always goes through :meth:`_offer`)."""

    __slots__ = ("_chosen", "_members", "_next", "_queue", "name", "pattern")

    _fast_limit = 0
    _maxlen = 0
    _cancelled = False

    def __init__(self, pattern: str, name: str) -> None:
        self.pattern = pattern
        self.name = name
        self._members: list[Subscription] = []
        self._next = 0
        self._queue: deque[Event] = deque()  # always empty: publish never appends here
        self._chosen: Subscription | None = None

    @property
    def _blocking(self) -> bool:
        """True when every member blocks and is full (``publish_nowait`` must refuse)."""
        return all(m._blocking and m._no_room() for m in self._members)

    def _no_room(self) -> bool:
        return True  # (no queue of its own: _blocking says whether every member is full)

    def _pick(self) -> Subscription | None:
        members = self._members
        count = len(members)
        if not count:
            return None
        best: Subscription | None = None
        for i in range(count):
            member = members[(self._next + i) % count]
            if member._cancelled:
                continue
            load = len(member._queue) + member._reserved + (0 if member._wakeup else 1)
            if load == 0:
                best = member
                break
            if best is None or load < (
                len(best._queue) + best._reserved + (0 if best._wakeup else 1)
            ):
                best = member
        if best is not None:
            self._next = (members.index(best) + 1) % count
        return best

    def _offer(self, ev: Event) -> bool:
        member = self._chosen = self._pick()
        return True if member is None else member._offer(ev)

    async def _put(self, ev: Event) -> None:
        member = self._chosen
        if member is not None:
            await member._put(ev)

    _owner = None  # members are nobody's: a group is shared

    def _foreign(self, owner: object) -> bool:
        member = self._chosen
        return member is not None and member._foreign(owner)

    def _overflow_drop(self, ev: Event) -> None:
        if self._chosen is not None:
            self._chosen._overflow_drop(ev)

    def _drop(self, count: int = 1) -> None:
        if self._chosen is not None:
            self._chosen._drop(count)

    @property
    def _dropped(self) -> int:
        return 0

    @_dropped.setter
    def _dropped(self, value: int) -> None:  # the bus's own events, dropped when full
        if self._chosen is not None:
            self._chosen._dropped += value
