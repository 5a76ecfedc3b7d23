"""Ask deadlines without a cancel scope per ask.

A cancel scope with a deadline costs ~4-6 µs on either backend, as much as the rest of an ask
round trip. Instead, pending requests are queued by timeout value: with one timeout value the
deadlines arrive in order, so each queue is sorted and the head is the next to expire. One
task per system sleeps until the earliest head deadline and fails what has expired. A caller
that got its reply pops finished requests off the head of its queue, so the queues hold only
requests still in flight (plus any finished out of order behind a slow one).

The task does not sleep "forever" while asks are coming and going: it wakes at least every
``TICK`` seconds, so an ask whose deadline is beyond the next wake-up (the usual case: a
timeout of seconds) never has to wake it. Once a whole tick passed without any ask, it sleeps
until the next one.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable

import anyio

from ._envelope import PENDING, TIMED_OUT, Request

TICK = 1.0


class AskTimer:
    """Expires pending asks of one system; :meth:`run` is its task."""

    def __init__(
        self,
        event_cls: Callable[[], anyio.Event],
        clock: Callable[[], float] = anyio.current_time,
    ) -> None:
        self._clock = clock
        self._queues: dict[float, deque[Request]] = {}
        self._next = math.inf
        self._event_cls = event_cls
        self._wake: anyio.Event | None = None
        self._added = 0

    def add(self, request: Request, timeout: float) -> None:
        """Fail ``request`` with a timeout unless it is answered within ``timeout`` seconds."""
        deadline = request.deadline = self._clock() + timeout
        queue = self._queues.get(timeout)
        if queue is None:
            queue = self._queues[timeout] = deque()
        request.timer_queue = queue
        queue.append(request)
        self._added += 1
        if deadline < self._next:
            self._next = deadline
            wake = self._wake
            if wake is not None:
                self._wake = None
                wake.set()

    def _expire(self) -> float:
        """Time out every due request; return the next deadline (``inf`` if none)."""
        now = self._clock()
        upcoming = math.inf
        for timeout, queue in list(self._queues.items()):
            while queue:
                head = queue[0]
                if head.state != PENDING:
                    queue.popleft()
                elif head.deadline <= now:
                    queue.popleft()
                    head.state = TIMED_OUT
                    if not head.event.done():
                        head.event.set_result(None)
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


def forget(request: Request) -> None:
    """Pop finished requests off the head of ``request``'s timer queue (called on reply)."""
    queue = request.timer_queue
    if queue is not None:
        while queue and queue[0].state:
            queue.popleft()
