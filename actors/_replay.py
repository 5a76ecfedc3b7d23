"""Reading the log back: ``bus.replay(...)`` and the catch-up of ``subscribe(..., since=seq)``.

A catch-up subscription is in the bus's index from the moment ``subscribe`` returns (call it
*T0*), so every event the writer fans out after T0 reaches its queue. Its delivery task then
replays the log in rounds, and the proof that nothing is missed or repeated goes like this:

1. A round first drops the logged events waiting in the queue. Each was fanned out, so it was
   committed already, before step 2: the log read will deliver it instead.
2. It reads ``high``, the latest committed sequence number, and delivers from the log every
   matching event with ``last < seq <= high``; then ``last = high``.
3. An event with ``seq > high`` was committed after step 2, so after T0, and was (or will be)
   fanned out to the queue. If the queue was full, the event was left out and the
   subscription marked *behind*: the log still has it, so another round reads it.
4. When a round ends not behind, the queue holds what comes after ``high``, plus perhaps
   duplicates with ``seq <= last`` (fanned out after their commit, which was before step 2):
   they are dropped from the queue, and any still on their way are dropped on arrival.

From then on the subscription is live, and the writer fans out in sequence order, so the
handler sees ``since + 1, since + 2, ...`` (those matching its pattern) in order, each once.
During catch-up, live events that the log does not have (unlogged topics) wait in the queue
under its overflow policy.
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING

from ._eventlog import EventLog, validate_read
from ._subscription import Event

if TYPE_CHECKING:
    from ._subscription import Subscription

__all__ = ["Replay", "catch_up"]

#: Events read from the log per query.
PAGE = 500


class Replay:
    """An async iterator over logged events matching ``pattern`` with ``seq > since``.

    It ends at the latest event committed when iteration began (or at ``until``); events
    logged later are not included. Reads ``PAGE`` events per query.
    """

    def __init__(self, log: EventLog, pattern: str, since: int, until: int | None = None) -> None:
        validate_read(pattern, since, until, None)
        self._log, self._pattern = log, pattern
        self._last, self._until = since, until
        self._page: deque[Event] = deque()
        self._done = False

    def __repr__(self) -> str:
        return f"<Replay {self._pattern!r} after {self._last}>"

    def __aiter__(self) -> Replay:
        return self

    async def __anext__(self) -> Event:
        if not self._page:
            if self._done:
                raise StopAsyncIteration
            if self._until is None:
                self._until = await self._log.latest_seq()
            page = await self._log.read(
                self._pattern, since=self._last, until=self._until, limit=PAGE
            )
            self._done = len(page) < PAGE
            if not page:
                raise StopAsyncIteration
            self._page.extend(page)
            last = page[-1].seq
            assert last is not None
            self._last = last
        return self._page.popleft()


async def catch_up(sub: Subscription, log: EventLog) -> None:
    """Replay ``sub``'s missed events from ``log``, then leave it live (see the module doc)."""
    last = sub._upto
    assert last is not None
    while True:
        sub._behind = False
        sub._purge(None)
        high = await log.latest_seq()
        async for ev in Replay(log, sub.pattern, last, high):
            if sub._cancelled:
                return
            await sub._deliver(ev)
            assert ev.seq is not None
            sub._upto = ev.seq  # an event already delivered is dropped if it arrives live
        last = sub._upto = max(last, high)
        if not sub._behind:
            break
    sub._catching_up = False
    sub._purge(last)
