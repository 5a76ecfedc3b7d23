"""Ask and stop deadlines without a cancel scope (or a loop timer) each.

A cancel scope with a deadline costs ~4-6 µs on either backend, as much as the rest of an ask
round trip (and as much again as stopping an idle actor). Instead, pending deadlines are
queued by timeout value: with one timeout value the deadlines arrive in order, so each queue is
sorted and the head is the next to expire. One task per system sleeps until the earliest head
deadline and times out what has expired. Whoever finishes first (a caller that got its reply,
an incarnation that stopped in time) marks its entry done and pops finished entries off the
head of its queue (:func:`forget`), so the queues hold only what is still in flight (plus any
finished out of order behind a slow one).

The task does not sleep "forever" while deadlines are coming and going: it wakes at least every
``TICK`` seconds, so a deadline beyond the next wake-up (the usual case: a timeout of seconds)
never has to wake it. Once a whole tick passed without any new deadline, it sleeps until the
next one.

Arming a deadline is on the path of every ``ask``, so ``ActorRef.ask`` inlines :meth:`add`
(the public attributes of :class:`DeadlineTimer` are that fast path's state; a change to
``add`` goes there too).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable
from typing import Protocol

import anyio

from ._envelope import PENDING

TICK = 1.0


class Timed(Protocol):
    """What the timer expires: an ask in flight, or an incarnation asked to stop.

    ``state`` is ``PENDING`` until the entry is finished (any other value); the timer calls
    :meth:`time_out` on a pending entry whose ``deadline`` (set by :meth:`DeadlineTimer.add`)
    has passed.
    """

    deadline: float
    state: int

    def time_out(self) -> None: ...


class DeadlineTimer:
    """Expires the pending deadlines of one system; :meth:`run` is its task.

    Attributes:
        clock: the loop's clock.
        last_timeout: the timeout value last armed (NaN: none), and ``last_queue`` its queue:
            most entries share one value, and this saves hashing a float per ``ask``.
        next_deadline: when the task wakes next (``inf``: only when woken).
        added: whether anything was armed since the task last woke.
    """

    def __init__(
        self,
        event_cls: Callable[[], anyio.Event],
        clock: Callable[[], float] = anyio.current_time,
    ) -> None:
        self.clock = clock
        self.last_timeout = math.nan  # NaN equals nothing
        self.last_queue: deque[Timed] = deque()
        self.next_deadline = math.inf
        self.added = False
        self._queues: dict[float, deque[Timed]] = {}
        self._event_cls = event_cls
        self._wake: anyio.Event | None = None

    def add(self, entry: Timed, timeout: float) -> deque[Timed]:
        """Time ``entry`` out unless it is finished within ``timeout`` seconds.

        Returns the queue to :func:`forget` once the entry is finished (its ``state`` set).
        """
        queue = self.last_queue if timeout == self.last_timeout else self.queue_for(timeout)
        deadline = entry.deadline = self.clock() + timeout
        queue.append(entry)
        self.added = True
        if deadline < self.next_deadline:
            self.wake_before(deadline)
        return queue

    def queue_for(self, timeout: float) -> deque[Timed]:
        """The queue of ``timeout`` (made if needed); it becomes ``last_queue``."""
        queue = self._queues.get(timeout)
        if queue is None:
            queue = self._queues[timeout] = deque()
        self.last_timeout, self.last_queue = timeout, queue
        return queue

    def wake_before(self, deadline: float) -> None:
        """A deadline earlier than the task's next wake-up was added: wake it to re-plan."""
        self.next_deadline = deadline
        wake = self._wake
        if wake is not None:
            self._wake = None
            wake.set()

    def _expire(self) -> float:
        """Time out every due entry; return the next deadline (``inf`` if none)."""
        now = self.clock()
        upcoming = math.inf
        for timeout, queue in list(self._queues.items()):
            while queue:
                head = queue[0]
                if head.state != PENDING:
                    queue.popleft()
                elif head.deadline <= now:
                    queue.popleft()
                    head.time_out()
                else:
                    upcoming = min(upcoming, head.deadline)
                    break
            if not queue:
                del self._queues[timeout]
                if queue is self.last_queue:
                    self.last_timeout = math.nan
        return upcoming

    async def run(self) -> None:
        """Sleep until the next deadline (or an earlier one is added), expire, repeat."""
        while True:
            upcoming = self._expire()
            if self.added and upcoming == math.inf:
                upcoming = self.clock() + TICK
            self.added = False
            self.next_deadline = upcoming
            wake = self._wake = self._event_cls()
            with anyio.move_on_after(upcoming - self.clock()):
                await wake.wait()


def forget(queue: deque[Timed]) -> None:
    """Pop finished entries off the head of ``queue`` (once an entry of it is finished)."""
    while queue and queue[0].state:
        queue.popleft()
