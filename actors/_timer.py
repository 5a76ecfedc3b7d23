"""Ask and stop deadlines without a cancel scope (or a loop timer) each.

A cancel scope with a deadline costs ~4-6 µs on either backend, as much as the rest of an ask
round trip (and as much again as stopping an idle actor). Instead, pending deadlines are
queued by timeout value: with one timeout value the deadlines arrive in order, so each queue is
sorted and the head is the next to expire. One task per system sleeps until the earliest head
deadline and times out what has expired. Whoever finishes first (a caller that got its reply,
an incarnation that stopped in time) marks its entry done and pops finished entries off the
head of its queue, so the queues hold only what is still in flight (plus any finished out of
order behind a slow one).

The task does not sleep "forever" while deadlines are coming and going: it wakes at least every
``TICK`` seconds, so a deadline beyond the next wake-up (the usual case: a timeout of seconds)
never has to wake it. Once a whole tick passed without any new deadline, it sleeps until the
next one.
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
    :meth:`time_out` on a pending entry whose ``deadline`` has passed.
    """

    deadline: float
    state: int
    timer_queue: deque[Timed] | None

    def time_out(self) -> None: ...


class DeadlineTimer:
    """Expires the pending deadlines of one system; :meth:`run` is its task."""

    def __init__(
        self,
        event_cls: Callable[[], anyio.Event],
        clock: Callable[[], float] = anyio.current_time,
    ) -> None:
        self._clock = clock
        self._queues: dict[float, deque[Timed]] = {}
        self._next = math.inf
        self._event_cls = event_cls
        self._wake: anyio.Event | None = None
        self._added = 0

    def add(self, entry: Timed, timeout: float) -> None:
        """Time ``entry`` out unless it is finished within ``timeout`` seconds."""
        deadline = entry.deadline = self._clock() + timeout
        queue = self._queues.get(timeout)
        if queue is None:
            queue = self._queues[timeout] = deque()
        entry.timer_queue = queue
        queue.append(entry)
        self._added += 1
        if deadline < self._next:
            self._next = deadline
            wake = self._wake
            if wake is not None:
                self._wake = None
                wake.set()

    def _expire(self) -> float:
        """Time out every due entry; return the next deadline (``inf`` if none)."""
        now = self._clock()
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
        return upcoming

    async def run(self) -> None:
        """Sleep until the next deadline (or an earlier one is added), expire, repeat."""
        while True:
            upcoming = self._expire()
            if self._added and upcoming == math.inf:
                upcoming = self._clock() + TICK
            self._added = 0
            self._next = upcoming
            wake = self._wake = self._event_cls()
            with anyio.move_on_after(upcoming - self._clock()):
                await wake.wait()


def forget(entry: Timed) -> None:
    """Pop finished entries off the head of ``entry``'s queue (called once it is finished)."""
    queue = entry.timer_queue
    if queue is not None:
        while queue and queue[0].state:
            queue.popleft()
