"""The bus backend seam: where events travel when they must leave the process.

:class:`~actors.EventBus` keeps one public API (``publish / subscribe / once / wait_for /
replay``) and the same subject rules whatever carries the events. Without a backend (the
default) events go straight from the publisher to in-process queues (``_bus.py``). With a
:class:`BusBackend` (``EventBus(backend=...)``, e.g. :class:`actors.nats.NatsBackend`) every
publish goes to the backend, and every subscription is a *consumer* of the backend that hands
out :class:`Delivery` objects: the bus calls the handler, then acknowledges the delivery when
the handler returns, tells the backend the work is still in progress while the handler runs
(more often than the backend's ack wait, so a long LLM call is not redelivered elsewhere),
refuses it (``nak``, with a growing delay) when the handler raised, and past ``max_deliver``
attempts publishes it to a dead-letter topic (``dead.<topic>`` by default) and acknowledges it.

Delivery is at least once: a handler may see an event again after a crash (of its process, or of
the backend before the acknowledgement was stored). ``subscribe(..., queue="name")`` shares
the events among every subscription with that queue name and pattern, in any process: each
event goes to one of them.

A backend implements :class:`BusBackend`; this module also holds the subscription class that
drives a backend's consumer (:class:`RemoteSubscription`), so a backend only moves bytes.
"""

from __future__ import annotations

import logging
import math
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import anyio

from ._subscription import Event, Handler, Subscription

if TYPE_CHECKING:
    from ._bus import EventBus

__all__ = ["BusBackend", "BusConsumer", "Delivery", "RemoteSubscription", "check_queue_name"]

_log = logging.getLogger("actors.bus")

#: Header naming the subscription whose handler failed past ``max_deliver`` (dead letters).
DEAD_SUBSCRIPTION = "Actors-Dead-Subscription"
#: Header with the last error of a dead letter.
DEAD_ERROR = "Actors-Dead-Error"
#: Header with the topic a dead letter was first published to.
DEAD_TOPIC = "Actors-Dead-Topic"


@runtime_checkable
class Delivery(Protocol):
    """One event handed to one consumer; settle it with exactly one of ack, nak or term."""

    @property
    def event(self) -> Event:
        """The event (its ``seq``: the backend's sequence number, e.g. JetStream's)."""
        ...

    @property
    def attempt(self) -> int:
        """1 for the first delivery, 2 for the first redelivery, ..."""
        ...

    async def ack(self) -> None:
        """The event is done: never deliver it to this consumer again."""
        ...

    async def nak(self, delay: float) -> None:
        """The event failed: deliver it again after ``delay`` seconds."""
        ...

    async def in_progress(self) -> None:
        """Still working on it: restart the ack-wait timer."""
        ...


@runtime_checkable
class BusConsumer(Protocol):
    """A backend subscription: deliveries of the events matching one pattern."""

    async def fetch(self, limit: int, timeout: float) -> Sequence[Delivery]:  # noqa: ASYNC109
        """Wait up to ``timeout`` seconds for deliveries; return up to ``limit`` (maybe none)."""
        ...

    async def settled_through(self) -> int:
        """The sequence number up to which every event of this consumer is settled
        (acknowledged, or dead-lettered), whoever of a queue group handled it."""
        ...

    async def close(self) -> None:
        """Stop consuming (an unnamed consumer is deleted; a queue's stays for the others)."""
        ...


@runtime_checkable
class BusBackend(Protocol):
    """Carries events between processes (see the module docstring).

    Attributes:
        ack_wait: seconds after which an unacknowledged delivery is redelivered.
        max_deliver: deliveries of one event to one consumer before it is dead-lettered.
        dead_letter_prefix: dead letters of ``topic`` go to ``<prefix>.<topic>``.
    """

    ack_wait: float
    max_deliver: int
    dead_letter_prefix: str

    @property
    def connected(self) -> bool:
        """Whether the backend is reachable now (for readiness probes)."""
        ...

    async def open(self) -> None:
        """Connect; raise a clear error (naming the address) if that is impossible."""
        ...

    async def close(self) -> None:
        """Flush and disconnect."""
        ...

    async def publish(self, topic: str, payload: Any, headers: Mapping[str, str]) -> int:
        """Store the event durably and return its sequence number.

        Raises:
            ValueError: the payload or headers cannot be encoded (the message names the topic).
            ConnectionError: the backend stayed unreachable past its buffering bound.
        """
        ...

    async def consumer(
        self, pattern: str, *, queue: str | None, since: int | None, name: str
    ) -> BusConsumer:
        """Start consuming events matching ``pattern``: new ones (published from now on), or
        those with a sequence number above ``since``; shared with every consumer of the same
        ``queue`` name and pattern when ``queue`` is given."""
        ...

    def replay(self, pattern: str, since: int) -> AsyncIterator[Event]:
        """The stored events matching ``pattern`` with a sequence number above ``since``."""
        ...


def check_queue_name(queue: object) -> str:
    """Validate a queue (work-sharing group) name: letters, digits, ``-`` and ``_``."""
    if not isinstance(queue, str) or not queue:
        raise ValueError(f"queue must be a non-empty string, not {queue!r}")
    bad = [c for c in queue if not (c.isascii() and (c.isalnum() or c in "-_"))]
    if bad:
        raise ValueError(
            f"queue {queue!r} may contain only ASCII letters, digits, '-' and '_' (not {bad[0]!r})"
        )
    return queue


#: Naks wait ``NAK_BASE * 2 ** (attempt - 1)`` seconds, at most ``NAK_MAX``.
NAK_BASE = 0.1
NAK_MAX = 30.0


def nak_delay(attempt: int) -> float:
    """The backoff before redelivering an event whose handler failed ``attempt`` times."""
    return min(NAK_MAX, NAK_BASE * math.pow(2, max(0, attempt - 1)))


class RemoteSubscription(Subscription):
    """A subscription fed by a backend consumer instead of an in-process queue.

    The delivery task fetches up to ``batch`` deliveries at a time (one for a queue group, so
    the least busy member takes the next event), calls the handler on each in order, and
    settles each one: ack when the handler returned, nak with backoff when it raised, dead
    letter past ``max_deliver``. A keep-alive task sends ``in_progress`` for every delivery
    held (the one being handled and those fetched behind it) every third of the ack wait.
    """

    __slots__ = (
        "_consumer",
        "_done_seq",
        "_expect",
        "_fetching",
        "_group",
        "_handling",
        "_held",
        "_ready",
    )

    def __init__(
        self,
        bus: EventBus,
        pattern: str,
        handler: Handler,
        *,
        queue_size: int,
        name: str | None,
        once: bool,
        since: int | None,
        group: str | None,
    ) -> None:
        super().__init__(
            bus, pattern, handler, queue_size=queue_size, overflow="block", name=name,
            once=once, since=None,
        )  # fmt: skip
        self._upto = since
        self._fast_limit = 0  # never fed by publish
        self._group = group
        self._consumer: BusConsumer | None = None
        self._held: list[Delivery] = []
        self._handling = False
        self._done_seq = 0  # the highest sequence number handled here (for flush)
        self._expect = 0  # the highest sequence number this bus published that matches
        self._ready = anyio.Event()  # set once the consumer exists (or failed)
        self._fetching: anyio.CancelScope | None = None  # cancel() interrupts a fetch

    def cancel(self) -> None:
        """Stop delivering; deliveries fetched and not yet handled are redelivered (to
        another member of the queue group, or nobody). Idempotent."""
        super().cancel()
        if self._fetching is not None:
            self._fetching.cancel()

    @property
    def queue(self) -> str | None:
        """The work-sharing group's name, or ``None``."""
        return self._group

    def _busy(self) -> bool:
        return self._running and (self._handling or bool(self._held) or not self._ready.is_set())

    async def _run(self) -> None:
        bus = self._bus
        backend = bus._backend
        assert backend is not None and self._fn is not None
        try:
            if self._cancelled:  # cancelled before it started (wait_for timed out at once)
                bus._subscribed()
                self._ready.set()
                return
            try:
                self._consumer = await backend.consumer(
                    self.pattern, queue=self._group, since=self._upto, name=self.name
                )
            except Exception as exc:
                _log.warning("bus subscriber %r could not subscribe", self.name, exc_info=exc)
                self._disconnect(f"could not subscribe: {type(exc).__name__}: {exc}")
                return
            finally:
                self._ready.set()
                bus._subscribed()
            async with anyio.create_task_group() as tg:
                tg.start_soon(self._keep_alive, backend.ack_wait)
                await self._consume(self._consumer, backend.max_deliver)
                tg.cancel_scope.cancel()
        finally:
            self._held = []
            consumer, self._consumer = self._consumer, None
            if consumer is not None:
                with anyio.CancelScope(shield=True), anyio.move_on_after(5):
                    try:
                        await consumer.close()
                    except Exception as exc:
                        _log.debug("closing consumer of %r failed: %r", self.name, exc)
            self._running = False
            bus._retire(self)
            bus._changed()

    async def _consume(self, consumer: BusConsumer, max_deliver: int) -> None:
        batch = 1 if self._group is not None or self._once else min(self._maxlen, 256)
        bus = self._bus
        while not self._cancelled:
            deliveries: Sequence[Delivery] = ()
            try:
                with anyio.CancelScope() as self._fetching:
                    deliveries = await consumer.fetch(batch, 1.0)
            except Exception as exc:  # the backend reconnects; try again shortly
                _log.debug("bus subscriber %r: fetch failed: %r", self.name, exc)
                await anyio.sleep(0.1)
                continue
            finally:
                self._fetching = None
            if not deliveries:
                bus._changed()
                continue
            held = self._held = list(deliveries)
            while held and not self._cancelled:
                delivery = held[0]
                await self._settle(delivery, max_deliver)
                del held[0]
                if self._once and self._result is not None:
                    self.cancel()
            for delivery in held:  # cancelled: hand them back now, not after the ack wait
                try:
                    await delivery.nak(0)
                except Exception as exc:
                    _log.debug("bus subscriber %r: nak failed: %r", self.name, exc)
            self._held = []
            bus._changed()

    async def _settle(self, delivery: Delivery, max_deliver: int) -> None:
        fn = self._fn
        assert fn is not None
        ev = delivery.event
        self._handling = True
        try:
            result = fn(ev)
            if result is not None and hasattr(result, "__await__"):
                await result
        except Exception as exc:
            self._handling = False
            self._fail(ev, exc)
            await self._refuse(delivery, exc, max_deliver)
            return
        self._handling = False
        self._delivered += 1
        if self._once:
            self._result = ev
        if ev.seq is not None and ev.seq > self._done_seq:
            self._done_seq = ev.seq
        try:
            await delivery.ack()
        except Exception as exc:  # redelivered after the ack wait: at least once
            _log.warning("bus subscriber %r: ack of %r failed: %r", self.name, ev.topic, exc)

    async def _refuse(self, delivery: Delivery, exc: Exception, max_deliver: int) -> None:
        bus = self._bus
        ev = delivery.event
        try:
            if 0 < max_deliver <= delivery.attempt:
                await bus._dead_letter(ev, self.name, exc)
                await delivery.ack()
                if ev.seq is not None and ev.seq > self._done_seq:
                    self._done_seq = ev.seq
            else:
                await delivery.nak(nak_delay(delivery.attempt))
        except Exception as error:  # not settled: the backend redelivers after the ack wait
            _log.warning("bus subscriber %r: could not settle %r: %r", self.name, ev.topic, error)

    async def _keep_alive(self, ack_wait: float) -> None:
        period = max(0.05, ack_wait / 3)
        while True:
            await anyio.sleep(period)
            for delivery in list(self._held):
                try:
                    await delivery.in_progress()
                except Exception as exc:
                    _log.debug("in_progress for %r failed: %r", self.name, exc)

    async def _caught_up(self) -> bool:
        """Whether every event this bus published that matches the pattern is settled (by
        this subscription, or by another member of its queue group)."""
        if self._cancelled or not self._running:
            return True
        if not self._ready.is_set() or self._handling or self._held:
            return False
        expect = self._expect
        if not expect or (self._done_seq >= expect and not self._failed):
            return True  # in order: handled here (no redelivery pending)
        consumer = self._consumer
        if consumer is None:
            return True
        try:
            return await consumer.settled_through() >= expect
        except Exception:
            return False
