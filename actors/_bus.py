"""The event bus: publish/subscribe on dot-separated topics with NATS-style wildcards.

Every subscription owns a bounded queue and a delivery task in the bus's task group, so a slow
subscriber never delays the others, and each subscriber sees the events of one publisher in
the order they were published. When a queue is full the subscription's overflow policy
decides: ``"block"`` (the publisher waits for room; ``publish_nowait`` raises
:class:`~actors.MailboxFullError`, a ``WouldBlock``), ``"drop_newest"``, ``"drop_oldest"`` or
``"disconnect"`` (the subscription is cancelled and ``bus.subscriber_disconnected`` is
published). Every dropped event is counted, and the first of a run of drops (until the queue is
next empty) is published as ``bus.subscriber_overflow`` with payload ``{"pattern",
"subscription", "owner", "dropped"}``.

A handler publishing to its own subscription's full ``"block"`` queue would wait for itself
forever: its oldest queued event is dropped instead (counted and reported as above).

Isolation between tenants (the spell runs of one process): a subscription made with an
``owner`` holds back, under ``"block"``, only publishers that pass the same ``owner``; for any
other publisher its full queue drops its oldest event instead (counted and reported as above),
so one tenant's slow handler never stalls another tenant, nor the runtime. A logged event never
waits for an owned subscription either (the log keeps it). The bus's and the actor system's own
events never wait for anyone: a full queue misses them, counted.

A handler that raises never affects the publisher or the other subscribers: the failure is
counted, logged and published as ``bus.handler_failed`` with payload
``{"pattern", "topic", "subscription", "error"}`` (failures while handling
``bus.handler_failed`` itself are counted but not re-published).

``publish`` suspends only when a ``"block"`` subscriber's queue is full; it is not otherwise a
checkpoint. The delivery task drains its queue in batches and calls sync handlers directly.

A bus created with an :class:`~actors.EventLog` (``EventBus(event_log=log)``, or
``open_system(event_log=...)``) logs the events of the topics the log selects: ``publish``
returns their sequence number once they are committed (see ``_eventlog.py`` and
``_logwriter.py``), :meth:`EventBus.replay` reads them back, and ``subscribe(..., since=seq)``
replays and then continues live. Unlogged topics take the path above, unchanged. A
subscriber sees a publisher's events in order among logged topics and among unlogged ones;
``publish_nowait`` on a logged topic returns before the commit, so a later unlogged event from
the same publisher may arrive first.

Example:
    >>> async def main() -> None:
    ...     async with EventBus() as bus:
    ...         bus.subscribe("order.*", print)
    ...         await bus.publish("order.created", {"id": 1})
"""

from __future__ import annotations

import json
import logging
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from types import MappingProxyType, TracebackType
from typing import TYPE_CHECKING, Any

import anyio
from anyio.abc import TaskGroup

from ._backend import (
    DEAD_ERROR,
    DEAD_SUBSCRIPTION,
    DEAD_TOPIC,
    BusBackend,
    RemoteSubscription,
    check_queue_name,
)
from ._exceptions import MailboxFullError, SystemClosedError
from ._subscription import (
    _CLOSED,
    _CLOSING,
    _NEW,
    _NO_HEADERS,
    _OPEN,
    _OVERFLOWS,
    Event,
    Handler,
    Overflow,
    QueueGroup,
    Subscription,
    _event,
)
from ._topics import TopicIndex, split_pattern, split_topic

if TYPE_CHECKING:
    from ._eventlog import EventLog
    from ._logwriter import LogWriter
    from ._records import BusStatistics

__all__ = ["EventBus"]

_log = logging.getLogger("actors.bus")


class EventBus:
    """Topic-based publish/subscribe; use as ``async with EventBus() as bus:``.

    Subscribing is allowed before the bus is entered (delivery starts on entry); publishing is
    allowed from entry until the close completes. Leaving the context (from the task that
    entered it) waits until every queue is empty and every handler idle, events published by
    handlers meanwhile included, then stops the delivery tasks; later publishes raise
    :class:`~actors.SystemClosedError`. If the block raised or was cancelled, queued events
    are discarded instead. Wrap the ``async with`` in a cancel scope to bound a close that
    waits on a stuck handler.

    Args:
        event_log: log the events of the topics it selects; the bus opens the log on entry and
            closes it on exit (after the events waiting for it are committed and delivered).
        backend: carry the events through a :class:`~actors.BusBackend` (e.g.
            :class:`actors.nats.NatsBackend`) so they cross processes (see ``_backend.py``);
            the bus opens it on entry and closes it on exit. Excludes ``event_log`` (the
            backend stores the events: ``replay`` and ``since=`` read them there).
        outbox_size: with a backend, how many ``publish_nowait`` events may wait to be sent.
    """

    def __init__(
        self,
        *,
        event_log: EventLog | None = None,
        backend: BusBackend | None = None,
        outbox_size: int = 10_000,
    ) -> None:
        if event_log is not None:
            from ._eventlog import EventLog  # (the log's modules load only for a bus with one)

            if not isinstance(event_log, EventLog):
                raise TypeError(f"event_log must be an actors.EventLog, not {event_log!r}")
        if backend is not None:
            if not isinstance(backend, BusBackend):
                raise TypeError(f"backend must be an actors.BusBackend, not {backend!r}")
            if event_log is not None:
                raise ValueError("an EventBus takes an event_log or a backend, not both")
        if outbox_size < 1:
            raise ValueError(f"outbox_size must be at least 1, not {outbox_size}")
        self._backend = backend
        self._outbox: deque[tuple[str, Any, Mapping[str, str] | None]] = deque()
        self._quit_flush_offline = False  # closing: a flush gives up once the backend is down
        self._outbox_size = outbox_size
        self._outbox_wakeup: anyio.Event | None = None
        self._sending = False
        self._pending_subs = 0  # remote subscriptions whose consumer is being created
        self._subs_ready: anyio.Event | None = None
        self._last_seq = 0  # the highest sequence number this bus published (backend)
        self._dead = self._publish_failed = 0
        self._groups: dict[tuple[str, str], QueueGroup] = {}
        self._remote_index: TopicIndex[RemoteSubscription] = TopicIndex()  # for flush
        self._remote_waiters: set[anyio.Event] = set()
        self._log = event_log
        self._writer: LogWriter | None = None
        self._index: TopicIndex[Subscription] = TopicIndex()
        self._subs: dict[int, Subscription] = {}  # id() -> live subscriptions with a handler
        self._waiters: set[Subscription] = set()
        self._totals = [0, 0, 0]  # delivered, dropped, failed of retired subscriptions
        self._published = 0
        self._blocked = 0  # publishers waiting for room
        self._state = _NEW
        self._accepting = False  # publish allowed: open, or closing (handlers may publish)
        self._plain = False  # accepting, and no log: publish takes the unlogged path at once
        self._tg: TaskGroup | None = None
        self._new_event: Callable[[], anyio.Event] = anyio.Event
        self._on_change: anyio.Event | None = None

    async def __aenter__(self) -> EventBus:
        if self._state is not _NEW:
            raise RuntimeError("an EventBus can be entered only once")
        self._new_event = type(anyio.Event())  # the backend's class: skips a dispatch
        if self._log is not None:
            await self._log.__aenter__()  # opens it and applies retention
        if self._backend is not None:
            await self._backend.open()  # raises a clear error naming the address
        tg = anyio.create_task_group()
        try:
            await tg.__aenter__()
        except BaseException:
            if self._log is not None:
                await self._log.__aexit__(None, None, None)
            if self._backend is not None:
                await self._backend.close()
            raise
        self._tg = tg
        if self._log is not None:
            from ._logwriter import LogWriter

            self._writer = LogWriter(self, self._log)
            tg.start_soon(self._writer.run, name="bus event log writer")
        if self._backend is not None:
            tg.start_soon(self._send_outbox, name="bus outbox")
        self._state = _OPEN
        self._accepting = True
        self._plain = self._writer is None and self._backend is None
        for sub in self._subs.values():
            self._start(sub)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        tg, self._tg = self._tg, None
        if tg is None:
            return
        self._state = _CLOSING
        try:
            if exc_type is None:
                await self._drain()
        finally:
            self._shutdown(tg)
            try:
                # The body's exception is not handed to the task group, so it propagates as
                # it is, not wrapped in an exception group; our tasks never raise Exceptions.
                await tg.__aexit__(None, None, None)
            finally:
                if self._log is not None:
                    await self._log.__aexit__(None, None, None)  # shielded
                if self._backend is not None:
                    with anyio.CancelScope(shield=True):
                        await self._backend.close()

    @property
    def event_log(self) -> EventLog | None:
        """The bus's event log, or ``None``."""
        return self._log

    @property
    def backend(self) -> BusBackend | None:
        """The bus's backend, or ``None`` (the local bus)."""
        return self._backend

    @property
    def connected(self) -> bool:
        """Whether events can be published: the bus is open and its backend (if any) is
        connected. For readiness probes."""
        if not self._accepting:
            return False
        return self._backend is None or self._backend.connected

    def _busy(self) -> bool:
        writer = self._writer
        return (
            bool(self._blocked)
            or (writer is not None and writer.busy())
            or bool(self._outbox)
            or self._sending
        )

    async def _drain(self) -> None:
        """Wait until every queue is empty, every handler idle and no publisher blocked."""
        while self._busy() or any(sub._busy() for sub in self._subs.values()):
            changed = self._change_event()
            await changed.wait()
        if self._backend is not None:
            # events published through this bus are handled by its subscriptions before it
            # closes, unless the backend is unreachable (they stay stored there)
            self._quit_flush_offline = True
            await self.flush()

    async def flush(
        self, subscriptions: Iterable[Subscription] | None = None, *, poll: float = 0.02
    ) -> None:
        """Wait until this bus's subscriptions (or the given ones) have handled every event
        published through this bus so far, those their handlers publish meanwhile included.

        With a backend: until each such event is acknowledged by the subscription (or, for a
        queue group, by whichever member took it, in any process); on the local bus: until no
        queue holds an event and no handler is busy. Wrap it in a cancel scope
        (``anyio.fail_after``) to bound the wait.
        """
        if self._backend is None:
            await self._drain_local(None if subscriptions is None else list(subscriptions))
            return
        chosen = None if subscriptions is None else list(subscriptions)
        while True:
            while self._outbox or self._sending:
                changed = self._change_event()
                await changed.wait()
            await self._wait_subscribed()
            target = self._last_seq
            subs = chosen if chosen is not None else list(self._subs.values())
            remote = [s for s in subs if isinstance(s, RemoteSubscription)]
            if self._quit_flush_offline and not self._backend.connected:
                _log.warning(
                    "bus closing while its backend is unreachable: not waiting for "
                    "the delivery of the events it published"
                )
                return
            if all([await s._caught_up() for s in remote]):
                if self._last_seq == target and not self._outbox and not self._sending:
                    return
                continue  # handlers published more: wait for those too
            await anyio.sleep(poll)

    async def _drain_local(self, subs: list[Subscription] | None) -> None:
        while self._busy() or any(
            sub._busy() for sub in (self._subs.values() if subs is None else subs)
        ):
            changed = self._change_event()
            await changed.wait()

    def _shutdown(self, tg: TaskGroup) -> None:
        self._state = _CLOSED
        self._accepting = self._plain = False
        self._outbox.clear()
        for done in list(self._remote_waiters):
            done.set()
        for waiter in list(self._waiters):
            waiter.cancel()
        for sub in list(self._subs.values()):
            sub._wake_publishers()
        tg.cancel_scope.cancel()

    def _change_event(self) -> anyio.Event:
        """The event the next change sets, shared by everyone waiting for one (drain, flush)."""
        changed = self._on_change
        if changed is None:
            changed = self._on_change = self._new_event()
        return changed

    def _changed(self) -> None:
        changed = self._on_change
        if changed is not None:
            self._on_change = None
            changed.set()

    def _start(self, sub: Subscription) -> None:
        assert self._tg is not None
        sub._running = True
        self._tg.start_soon(sub._run, name=f"bus subscriber {sub.name} ({sub.pattern})")

    def _closed_error(self) -> SystemClosedError:
        state = "not started" if self._state is _NEW else "closed"
        return SystemClosedError(f"the event bus is {state}")

    def subscribe(
        self,
        pattern: str,
        handler: Handler,
        *,
        queue_size: int = 1024,
        overflow: Overflow = "block",
        name: str | None = None,
        since: int | None = None,
        queue: str | None = None,
        owner: object = None,
    ) -> Subscription:
        """Deliver events whose topic matches ``pattern`` to ``handler``.

        Args:
            pattern: a topic, or a pattern with ``*`` (one token) and a final ``>`` (the rest).
            handler: a sync or async callable taking the :class:`Event`, or an object with an
                async ``send(message)`` (an ``ActorRef``: the event goes to its mailbox).
            queue_size: how many events may wait for this subscriber.
            overflow: what happens when the queue is full (see the module docstring).
            name: for statistics and error reports; defaults to the handler's name.
            since: first deliver every logged event matching ``pattern`` with a sequence
                number above ``since`` (``0``: the whole log), oldest first, then continue with
                live events: no gap and no duplicate, however publishes race the switch-over.
                Events pruned from the log are skipped. While it catches up, live logged events
                never make a publisher wait (the log has them); live unlogged ones queue under
                ``overflow``. If the log cannot be read, the subscription is disconnected
                (``bus.subscriber_disconnected``). Closing the bus waits for a catch-up as it
                waits for queued events. Needs a bus with an event log or a backend.
            queue: share the events among every subscription with this queue name (letters,
                digits, ``-``, ``_``) and the same pattern: each event goes to one of them (on
                the local bus the first idle member in turn, else the least loaded; with a
                backend, whichever process fetches it first, in any process).
            owner: who the subscription belongs to (a tenant: a run id): under ``"block"`` only
                publishers passing the same ``owner`` wait for room; for the others a full
                queue drops its oldest event (see the module docstring). Local, unshared
                subscriptions only (a backend holds the events itself).

        With a backend, ``queue_size`` bounds how many events are fetched ahead and
        ``overflow`` does not apply (the backend holds the events until they are fetched).

        Raises:
            ValueError: invalid pattern, queue size, overflow policy or ``since``, or ``since``
                without an event log.
            SystemClosedError: the bus is closed.
        """
        if since is not None:
            if self._log is None and self._backend is None:
                raise ValueError("since= needs a bus with an event log (open_system(event_log=))")
            if not isinstance(since, int) or isinstance(since, bool) or since < 0:
                raise ValueError(f"since must be a sequence number (an int >= 0), not {since!r}")
        if queue is not None:
            check_queue_name(queue)
            if since is not None and self._backend is None:
                raise ValueError("since= and queue= cannot be combined on the local bus")
        return self._subscribe(
            pattern,
            handler,
            queue_size,
            overflow,
            name,
            once=False,
            since=since,
            queue=queue,
            owner=owner,
        )

    def once(
        self,
        pattern: str,
        handler: Handler,
        *,
        queue_size: int = 1024,
        overflow: Overflow = "block",
        name: str | None = None,
    ) -> Subscription:
        """Like :meth:`subscribe`, but deliver at most one event, then cancel."""
        return self._subscribe(pattern, handler, queue_size, overflow, name, once=True)

    def _subscribe(
        self,
        pattern: str,
        handler: Handler | None,
        queue_size: int,
        overflow: Overflow,
        name: str | None,
        *,
        once: bool,
        since: int | None = None,
        queue: str | None = None,
        owner: object = None,
    ) -> Subscription:
        if self._state is _CLOSED:
            raise self._closed_error()
        if self._backend is not None and handler is not None:
            return self._subscribe_remote(
                pattern, handler, queue_size, overflow, name, once, since, queue
            )
        if queue is not None:
            assert handler is not None
            return self._subscribe_shared(pattern, handler, queue_size, overflow, name, queue)
        sub = Subscription(
            self, pattern, handler, queue_size=queue_size, overflow=overflow, name=name,
            once=once, since=since, owner=owner,
        )  # fmt: skip
        self._index.add(pattern, sub)
        if handler is None:
            self._waiters.add(sub)
        else:
            self._subs[id(sub)] = sub
            if self._state is not _NEW:
                self._start(sub)
        return sub

    def _subscribe_remote(
        self,
        pattern: str,
        handler: Handler,
        queue_size: int,
        overflow: Overflow,
        name: str | None,
        once: bool,
        since: int | None,
        queue: str | None,
    ) -> Subscription:
        if overflow not in _OVERFLOWS:
            raise ValueError(f"overflow must be one of {', '.join(_OVERFLOWS)}, not {overflow!r}")
        if queue_size < 1:
            raise ValueError(f"queue_size must be at least 1, not {queue_size}")
        sub = RemoteSubscription(
            self, pattern, handler, queue_size=queue_size, name=name, once=once, since=since,
            group=queue,
        )  # fmt: skip
        self._subs[id(sub)] = sub
        self._remote_index.add(pattern, sub)
        self._pending_subs += 1
        if self._state is not _NEW:
            self._start(sub)
        return sub

    def _subscribed(self) -> None:
        """A remote subscription's consumer exists (or failed): publishes may go on."""
        self._pending_subs -= 1
        ready = self._subs_ready
        if self._pending_subs <= 0 and ready is not None:
            self._subs_ready = None
            ready.set()

    async def _wait_subscribed(self) -> None:
        """Wait until the consumers of the subscriptions made so far exist, so an event
        published after ``subscribe`` returned reaches them."""
        while self._pending_subs > 0 and self._accepting:
            ready = self._subs_ready
            if ready is None:
                ready = self._subs_ready = self._new_event()
            await ready.wait()

    def _subscribe_shared(
        self,
        pattern: str,
        handler: Handler,
        queue_size: int,
        overflow: Overflow,
        name: str | None,
        queue: str,
    ) -> Subscription:
        sub = Subscription(
            self, pattern, handler, queue_size=queue_size, overflow=overflow, name=name,
            once=False,
        )  # fmt: skip
        group = self._groups.get((pattern, queue))
        if group is None:
            group = self._groups[pattern, queue] = QueueGroup(pattern, queue)
            self._index.add(pattern, group)  # type: ignore[arg-type]  # quacks like one
        group._members.append(sub)
        sub._sharing = group
        self._subs[id(sub)] = sub
        if self._state is not _NEW:
            self._start(sub)
        return sub

    def _remove(self, sub: Subscription) -> None:
        if isinstance(sub, RemoteSubscription):
            self._remote_index.remove(sub.pattern, sub)
            if not sub._running and not sub._ready.is_set():  # cancelled before it started
                sub._ready.set()
                self._subscribed()
        group = sub._sharing
        if group is not None:
            if sub in group._members:
                group._members.remove(sub)
            if not group._members:
                self._index.remove(group.pattern, group)  # type: ignore[arg-type]
                self._groups.pop((group.pattern, group.name), None)
        self._index.remove(sub.pattern, sub)
        self._waiters.discard(sub)
        if not sub._running:
            self._retire(sub)

    def _retire(self, sub: Subscription) -> None:
        if self._subs.pop(id(sub), None) is not None:
            self._totals[0] += sub._delivered
            self._totals[1] += sub._dropped
            self._totals[2] += sub._failed

    async def publish(
        self,
        topic: str,
        payload: Any = None,
        *,
        headers: Mapping[str, str] | None = None,
        owner: object = None,
    ) -> int | None:
        """Publish an event; wait only while a ``"block"`` subscriber's queue is full (one
        without an ``owner``, or with this ``owner``: see the module docstring).

        On a logged topic, also wait until the event is committed to the event log (together
        with whatever else is being published: group commit) and queued for every subscriber.

        Returns:
            The event's sequence number if it was logged, else ``None``.

        Raises:
            ValueError: ``topic`` is invalid or contains a wildcard; or the topic is logged and
                the payload (or headers) cannot be encoded as JSON (the message names the topic).
            EventLogError: the log failed to commit the event: it was not delivered either.
            SystemClosedError: the bus is not open.
        """
        if not self._plain:  # one test on the hot path of a bus without a log
            if not self._accepting:
                raise self._closed_error()
            if self._backend is not None:
                return await self._publish_remote(topic, payload, headers)
            writer = self._writer
            if writer is not None:
                logged = writer.logged_topics.get(topic)  # (the log's cache: a call fewer)
                if logged is None:
                    logged = writer.log.logs(topic)
                if logged:
                    self._published += 1
                    head = _NO_HEADERS if headers is None else _freeze(headers)
                    seq = await writer.append(topic, payload, head)
                    return seq if isinstance(seq, int) else await seq  # else: wait for room
        subs = self._index.lookup(topic)
        self._published += 1
        if not subs:
            return None
        ev = _event(topic, payload, _NO_HEADERS if headers is None else _freeze(headers), _now())
        for sub in subs:
            queue = sub._queue
            if len(queue) < sub._fast_limit:
                queue.append(ev)
                wakeup = sub._wakeup
                if wakeup is not None:
                    sub._wakeup = None
                    wakeup.set()
            elif not sub._offer(ev):
                if sub._foreign(owner):
                    sub._overflow_drop(ev)
                else:
                    await sub._put(ev)
        return None

    def skip_unheard(self, topic: str) -> bool:
        """Count a publish of ``topic`` that nothing would receive and return True, or return
        False (counting nothing) when something would: a subscriber, the event log, a backend.

        For publishers whose payload costs something to build: ``if not
        bus.skip_unheard(topic): await bus.publish(topic, build())`` publishes exactly as
        ``publish`` would (the statistics alike) without building a payload nobody reads.

        Raises:
            ValueError: ``topic`` is invalid or contains a wildcard.
        """
        if not self._plain or self._index.lookup(topic):
            return False
        self._published += 1
        return True

    async def _publish_remote(
        self, topic: str, payload: Any, headers: Mapping[str, str] | None
    ) -> int:
        backend = self._backend
        assert backend is not None
        split_topic(topic)
        if self._pending_subs:
            await self._wait_subscribed()
        self._published += 1
        seq = await backend.publish(topic, payload, _NO_HEADERS if headers is None else headers)
        if seq > self._last_seq:
            self._last_seq = seq
        for sub in self._remote_index.lookup(topic):
            if seq > sub._expect:
                sub._expect = seq
        return seq

    def _queue_out(
        self,
        topic: str,
        payload: Any,
        headers: Mapping[str, str] | None,
        *,
        drop: bool,
        lenient: bool = False,
    ) -> None:
        """Queue an event for the outbox task (``publish_nowait`` with a backend);
        ``lenient``: what is not JSON in the payload travels as its repr (runtime events)."""
        split_topic(topic)
        if lenient:
            payload = _jsonable(payload)
        if len(self._outbox) >= self._outbox_size:
            if drop:
                return
            raise MailboxFullError(
                f"{len(self._outbox)} events already wait to be sent to the bus backend"
            )
        self._outbox.append((topic, payload, headers))
        wakeup = self._outbox_wakeup
        if wakeup is not None:
            self._outbox_wakeup = None
            wakeup.set()

    async def _send_outbox(self) -> None:
        outbox = self._outbox
        while True:
            if not outbox:
                wakeup = self._outbox_wakeup = self._new_event()
                self._changed()
                await wakeup.wait()
                continue
            topic, payload, headers = outbox.popleft()
            self._sending = True
            try:
                await self._publish_remote(topic, payload, headers)
            except Exception as exc:
                self._publish_failed += 1
                _log.warning("bus: could not send %r to the backend", topic, exc_info=exc)
            finally:
                self._sending = False

    async def _dead_letter(self, ev: Event, subscription: str, exc: Exception) -> None:
        """Publish a dead letter for ``ev`` (its handler failed ``max_deliver`` times)."""
        backend = self._backend
        assert backend is not None
        head = dict(ev.headers)
        for key in [k for k in head if k.lower() == "nats-msg-id"]:
            del head[key]
        head[DEAD_SUBSCRIPTION] = subscription
        head[DEAD_ERROR] = f"{type(exc).__name__}: {exc}"[:1000]
        head.setdefault(DEAD_TOPIC, ev.topic)
        await backend.publish(f"{backend.dead_letter_prefix}.{ev.topic}", ev.payload, head)
        self._dead += 1

    def publish_nowait(
        self,
        topic: str,
        payload: Any = None,
        *,
        headers: Mapping[str, str] | None = None,
        owner: object = None,
    ) -> None:
        """Publish an event without waiting; all matching subscribers get it, or none.

        On a logged topic the event is handed to the log writer and delivered once committed;
        a failed commit is logged (``actors.bus`` logger) and counted in ``log_failed``.

        Raises:
            MailboxFullError: (a ``WouldBlock``) a ``"block"`` subscriber's queue is full (one
                that would hold back a publisher of ``owner``), or (logged topic) too many
                events already wait for the log.
            ValueError: ``topic`` is invalid or contains a wildcard; or the topic is logged and
                the payload cannot be encoded as JSON.
            SystemClosedError: the bus is not open.
        """
        if self._plain:  # every queue below its fast-path limit has room (as in publish)
            subs = self._index.lookup(topic)
            for sub in subs:
                if len(sub._queue) >= sub._fast_limit:
                    break
            else:
                self._published += 1
                if subs:
                    head = _NO_HEADERS if headers is None else _freeze(headers)
                    self._fan_out(subs, _event(topic, payload, head, _now()))
                return
        self._publish_nowait(topic, payload, headers, lenient=False, owner=owner)

    def _publish_nowait(
        self,
        topic: str,
        payload: Any,
        headers: Mapping[str, str] | None,
        *,
        lenient: bool,
        owner: object = None,
    ) -> None:
        """``publish_nowait``; ``lenient``: the runtime's own events, which never wait nor
        fail for a full queue (that queue misses them, counted) and log what is not JSON as
        its repr."""
        if not self._accepting:
            raise self._closed_error()
        if self._backend is not None:
            self._queue_out(topic, payload, headers, drop=False, lenient=lenient)
            return
        writer = self._writer
        if writer is not None and writer.log.logs(topic):
            head = _NO_HEADERS if headers is None else _freeze(headers)
            try:
                writer.append_nowait(topic, payload, head, lenient=lenient)
            except MailboxFullError:
                if not lenient:
                    raise
                self._totals[1] += 1  # lost before the log: counted as one drop
                return
            self._published += 1
            return
        subs = self._index.lookup(topic)
        if not lenient:
            for sub in subs:
                if (
                    len(sub._queue) >= sub._fast_limit  # (below it there is room: see publish)
                    and sub._blocking
                    and sub._no_room()
                    and not sub._cancelled
                    and not sub._foreign(owner)
                ):
                    raise MailboxFullError(f"subscriber {sub.name!r} ({sub.pattern}) is full")
        self._published += 1
        if subs:
            head = _NO_HEADERS if headers is None else _freeze(headers)
            ev = _event(topic, payload, head, _now())
            self._fan_out(subs, ev, owner=owner, drop_if_full=lenient)

    def _emit(self, topic: str, payload: object) -> None:
        """Publish the bus's own events: never waits; full ``"block"`` queues drop them."""
        if not self._accepting:
            return
        if self._backend is not None:
            self._queue_out(topic, payload, None, drop=True, lenient=True)
            return
        writer = self._writer
        if writer is not None and writer.log.logs(topic):
            try:
                writer.append_nowait(topic, payload, _NO_HEADERS, lenient=True)
            except MailboxFullError:
                self._totals[1] += 1  # lost before the log: counted as one drop
                return
            self._published += 1
            return
        self._published += 1
        subs = self._index.lookup(topic)
        if subs:
            self._fan_out(subs, _event(topic, payload, _NO_HEADERS, _now()), drop_if_full=True)

    @staticmethod
    def _fan_out(
        subs: tuple[Subscription, ...],
        ev: Event,
        *,
        owner: object = None,
        drop_if_full: bool = False,
    ) -> None:
        for sub in subs:
            queue = sub._queue
            if len(queue) < sub._fast_limit:
                queue.append(ev)
                wakeup = sub._wakeup
                if wakeup is not None:
                    sub._wakeup = None
                    wakeup.set()
            elif not sub._offer(ev):  # a full "block" queue
                if sub._foreign(owner):
                    sub._overflow_drop(ev)
                elif drop_if_full:
                    sub._drop()

    async def wait_for(self, pattern: str, timeout: float | None = None) -> Event:  # noqa: ASYNC109
        """Wait for the next event matching ``pattern`` (published after this call) and return it.

        Raises:
            TimeoutError: nothing matched within ``timeout`` seconds.
            SystemClosedError: the bus is not open, or closed while waiting.
        """
        if not self._accepting:
            raise self._closed_error()
        if self._backend is not None:
            return await self._wait_for_remote(pattern, timeout)
        waiter = self._subscribe(pattern, None, 1, "drop_newest", f"wait_for {pattern}", once=True)
        done = self._new_event()
        waiter._wakeup = done  # set by cancel(): on delivery, on close, or below
        try:
            with anyio.fail_after(timeout):
                await done.wait()
        finally:
            waiter.cancel()
        if waiter._result is None:
            raise self._closed_error()
        return waiter._result

    async def _wait_for_remote(self, pattern: str, timeout: float | None) -> Event:  # noqa: ASYNC109
        got: list[Event] = []
        done = self._new_event()

        def take(event: Event) -> None:
            got.append(event)
            done.set()

        waiter = self._subscribe(
            pattern, take, 1, "block", f"wait_for {pattern}", once=True
        )  # fmt: skip
        self._remote_waiters.add(done)
        try:
            with anyio.fail_after(timeout):
                await done.wait()  # set by take(), or by the bus closing
        finally:
            self._remote_waiters.discard(done)
            waiter.cancel()
        if not got:
            raise self._closed_error()
        return got[0]

    def replay(self, pattern: str = ">", *, since: int = 0) -> AsyncIterator[Event]:
        """Read back logged events matching ``pattern`` with a sequence number above ``since``.

        Use as ``async for event in bus.replay("order.>", since=seq):``. Events come oldest
        first, each with its ``seq``, up to the last one committed when iteration begins; those
        pruned from the log are skipped. Payloads are decoded from JSON.

        Raises:
            ValueError: an invalid pattern or ``since``, or the bus has no event log.
            SystemClosedError: the bus is not open.
        """
        if self._backend is not None:
            split_pattern(pattern)
            if not isinstance(since, int) or isinstance(since, bool) or since < 0:
                raise ValueError(f"since must be a sequence number (an int >= 0), not {since!r}")
            if self._state is _NEW or self._state is _CLOSED:
                raise self._closed_error()
            return self._backend.replay(pattern, since)
        if self._log is None:
            raise ValueError("replay needs a bus with an event log (open_system(event_log=...))")
        if self._state is _NEW or self._state is _CLOSED:
            raise self._closed_error()
        from ._replay import Replay

        return Replay(self._log, pattern, since)

    def statistics(self) -> BusStatistics:
        """Return the bus's counters and those of each live subscription."""
        from ._records import BusStatistics

        subs = tuple(sub.statistics() for sub in self._subs.values())
        delivered, dropped, failed = self._totals
        writer = self._writer
        return BusStatistics(
            self._published,
            delivered + sum(s.delivered for s in subs),
            dropped + sum(s.dropped for s in subs),
            failed + sum(s.failed for s in subs),
            subs,
            *((writer.logged, writer.commits, writer.failed) if writer else (0, 0, 0)),
            self._dead,
            self._publish_failed,
        )


_now = time.time


def _jsonable(payload: Any) -> Any:
    """``payload`` if it is JSON as it is, else a copy with what is not JSON as its repr."""
    try:
        json.dumps(payload)
    except (TypeError, ValueError):
        try:
            return json.loads(json.dumps(payload, default=repr, skipkeys=True))
        except (TypeError, ValueError):  # e.g. a circular structure
            return repr(payload)
    return payload


def _freeze(headers: Mapping[str, str]) -> Mapping[str, str]:
    if type(headers) is MappingProxyType:  # already read-only: share it
        return headers
    return MappingProxyType(dict(headers))
