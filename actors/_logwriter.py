"""Group commit: the task that appends a bus's logged events to its log, in batches.

A logged ``publish`` encodes its payload (in the publisher's task, so a payload that is not JSON
fails there, naming the topic), adds the event to the *collecting* batch and waits for that
batch. The writer task takes the whole collecting batch, appends it to the log in one call (one
transaction), then fans each event out to the subscribers of its topic, in sequence order, and
wakes the batch's publishers. While it commits, new publishes collect in the next batch: the
busier the bus, the bigger the batches, and one commit serves them all.

Fanning out in the writer, after the commit, gives three guarantees: a subscriber never sees an
event the log does not have; every subscriber sees logged events in sequence order (so the live
part of ``subscribe(..., since=)`` continues its replay in order); and an event that was
committed is delivered even if its publisher was cancelled while waiting. A publisher cancelled
*before* the writer took its batch withdraws the event: it is neither logged nor delivered.

The writer itself never waits for a subscriber. A ``"block"`` subscriber whose queue is full
gets the event anyway (its queue may exceed its size by the events in flight), and it is that
event's publisher who waits for room before ``publish`` returns: backpressure as on the unlogged
path, without the deadlock of a writer waiting for a handler that waits for the writer (a full
subscriber whose handler publishes a logged event).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from json.encoder import c_make_encoder, encode_basestring  # type: ignore[attr-defined]
from typing import TYPE_CHECKING, Any

import anyio
import anyio.lowlevel

from ._eventlog import EventLog, LogRecord
from ._exceptions import EventLogError, MailboxFullError, SystemClosedError
from ._signal import Signal, signal_factory
from ._subscription import Event

if TYPE_CHECKING:
    from ._bus import EventBus
    from ._subscription import Subscription

__all__ = ["LogWriter"]

_log = logging.getLogger("actors.bus")

_Item = tuple[str, Any, Mapping[str, str], LogRecord]  # topic, payload, headers, record
_new_tuple = tuple.__new__  # a NamedTuple's __new__ is a Python function: twice the cost

_OPTIONS: dict[str, Any] = {"ensure_ascii": False, "allow_nan": False, "separators": (",", ":")}
_checked = json.JSONEncoder(**_OPTIONS).encode
_checked_repr = json.JSONEncoder(**_OPTIONS, default=repr).encode


def _fast(default: Callable[[Any], Any] | None) -> Callable[[Any], str]:
    """The C encoder behind ``json.JSONEncoder(**_OPTIONS, default=default).encode``, made once
    (``encode`` makes a new one per call, half the cost of a small payload), without the
    circular-reference check: a value that contains itself fails with RecursionError, and the
    callers then encode again the checked way, for the stdlib's own error."""
    if c_make_encoder is None:  # (a Python without the C accelerator)
        return json.JSONEncoder(**_OPTIONS, default=default).encode
    chunks = c_make_encoder(None, default, encode_basestring, None, ":", ",", False, False, False)
    return lambda value: "".join(chunks(value, 0))


_fast_strict, _fast_repr = _fast(None), _fast(repr)


def _strict(payload: Any) -> str:
    try:
        return _fast_strict(payload)
    except (TypeError, ValueError, RecursionError):
        return _checked(payload)  # the same error, or a cycle's ValueError


def _lenient(payload: Any) -> str:
    """The runtime's own events: whatever is not JSON is logged as its ``repr``."""
    try:
        return _fast_repr(payload)
    except (ValueError, RecursionError):
        pass
    try:
        return _checked_repr(payload)
    except ValueError:  # a cycle, or NaN
        return _strict(repr(payload))


class _Batch:
    """Events committed together, and their publishers' wake-ups (see :meth:`LogWriter.append`)."""

    __slots__ = ("error", "event", "finished", "full", "items", "seqs", "waiters", "withdrawn")

    def __init__(self) -> None:
        self.items: list[_Item | None] = []  # None: withdrawn by a cancelled publisher
        self.seqs: Sequence[int | None] = []
        self.withdrawn = 0  # items set to None
        self.full: dict[int, list[Subscription]] = {}  # item -> "block" queues it overfilled
        self.error: BaseException | None = None
        self.finished = False
        self.waiters: list[Signal] = []  # asyncio: a future per publisher
        self.event: anyio.Event | None = None  # trio: one event for all

    def finish(
        self, error: BaseException | None = None, call_soon: Callable[..., object] | None = None
    ) -> None:
        """The batch is committed and fanned out (or failed: ``error``): wake its publishers,
        with one loop callback if given the loop's ``call_soon`` (see :func:`_wake_all`)."""
        if error is not None:
            self.error = error
        self.finished = True
        if call_soon is not None and len(self.waiters) > 1:
            call_soon(_wake_all, self.waiters)
        else:
            for waiter in self.waiters:
                if not waiter.done():
                    waiter.set_result(None)
        if self.event is not None:
            self.event.set()


def _wake_all(waiters: list[Any]) -> None:
    """Wake a batch's publishers (asyncio) from one loop callback: each one's task steps here.

    ``future.set_result`` would schedule each waiting task's wake-up as a callback of its own
    (a ``Handle`` made and run in Python by the loop, per publisher). Instead, a future whose
    only done-callback is its task's wake-up (read from ``_callbacks``) has it removed, gets its
    result, and the wake-up runs here, in its context, exactly as the loop would have run it;
    anything else (a cancelled publisher's future is done already) takes the ordinary path.
    This runs as a plain loop callback, outside any task, so each task may step in turn.
    """
    ready: list[tuple[Callable[[Any], object], Any, Any]] = []
    for future in waiters:
        if future.done():
            continue
        callbacks = getattr(future, "_callbacks", None)
        if callbacks is not None and len(callbacks) == 1:
            ((callback, context),) = callbacks
            if future.remove_done_callback(callback) == 1:
                future.set_result(None)
                ready.append((callback, context, future))
                continue
        future.set_result(None)
    for index, (callback, context, future) in enumerate(ready):
        try:
            context.run(callback, future)
        except BaseException:  # (a task re-raises only SystemExit and KeyboardInterrupt)
            loop = future.get_loop()
            for callback, context, future in ready[index + 1 :]:
                loop.call_soon(callback, future, context=context)
            raise


def _future_factory() -> Callable[[], Signal] | None:
    """On asyncio, the loop's future class (see ``_signal``); elsewhere (trio) ``None``."""
    native = anyio.lowlevel.current_token().native_token
    return signal_factory() if hasattr(native, "create_future") else None


class LogWriter:
    """The group-commit writer of one bus (created and run by the bus when it opens).

    Attributes:
        log: the event log written to.
        logged: events committed.
        commits: batches committed.
        failed: events whose batch failed to commit.
    """

    def __init__(self, bus: EventBus, log: EventLog, *, max_pending: int = 10_000) -> None:
        self.log = log
        self._bus = bus
        self._max_pending = max_pending
        self._new_future = _future_factory()
        native: Any = anyio.lowlevel.current_token().native_token
        self._call_soon = native.call_soon if self._new_future is not None else None
        self._batch = _Batch()  # collecting
        self._inflight: _Batch | None = None  # being committed and fanned out
        self._wakeup: anyio.Event | None = None
        self._pending = 0  # events added and not yet done
        self._next_prune = time.monotonic() + log.prune_interval
        self.logged = self.commits = self.failed = 0

    def busy(self) -> bool:
        """Whether events wait to be committed or delivered."""
        return self._pending > 0

    def _add(
        self, topic: str, payload: Any, headers: Mapping[str, str], encode: Callable[[Any], str]
    ) -> tuple[_Batch, int]:
        try:
            text = encode(payload)
            head = json.dumps(dict(headers), ensure_ascii=False) if headers else None
        except (TypeError, ValueError) as exc:
            raise ValueError(
                f"topic {topic!r} is logged, so its payload and headers must be"
                f" JSON-serialisable: {exc}"
            ) from None
        batch = self._batch
        record = _new_tuple(LogRecord, (topic, text, head, time.time()))  # LogRecord(...)
        batch.items.append((topic, payload, headers, record))
        self._pending += 1
        wakeup = self._wakeup
        if wakeup is not None:
            self._wakeup = None
            wakeup.set()
        return batch, len(batch.items) - 1

    async def append(self, topic: str, payload: Any, headers: Mapping[str, str]) -> int:
        """Log one event and wait until it is committed and fanned out; return its ``seq``.

        Raises:
            ValueError: the payload (or headers) cannot be encoded as JSON.
            EventLogError: the batch failed to commit; the event is not logged nor delivered.
            SystemClosedError: the bus closed first.
        """
        batch, index = self._add(topic, payload, headers, _strict)
        try:
            # On asyncio a loop future per publisher: cheaper than an event (which makes one
            # per waiter anyway), and a cancelled publisher cancels only its own. On trio one
            # event for the batch.
            if self._new_future is not None:
                future = self._new_future()
                batch.waiters.append(future)
                await future
            else:
                event = batch.event
                if event is None:
                    event = batch.event = self._bus._new_event()
                await event.wait()
        except BaseException:
            if batch is self._batch:  # not taken yet: withdraw the event
                batch.items[index] = None
                batch.withdrawn += 1
                self._pending -= 1
                self._bus._changed()
            raise
        error = batch.error
        if error is not None:
            if isinstance(error, SystemClosedError):
                raise SystemClosedError(str(error))
            raise EventLogError(f"logging an event on {topic!r} failed: {error}") from error
        if batch.full:
            for sub in batch.full.get(index, ()):
                await sub._wait_room()  # backpressure: the event is queued, wait for the room
        seq = batch.seqs[index]
        assert seq is not None
        return seq

    def append_nowait(
        self, topic: str, payload: Any, headers: Mapping[str, str], *, lenient: bool = False
    ) -> None:
        """Queue one event for the log without waiting (delivered once committed).

        Raises:
            MailboxFullError: (a ``WouldBlock``) too many events wait for the log already.
            ValueError: the payload cannot be encoded as JSON (unless ``lenient``).
        """
        if self._pending >= self._max_pending:
            raise MailboxFullError(f"{self._pending} events are waiting for the event log")
        self._add(topic, payload, headers, _lenient if lenient else _strict)

    async def run(self) -> None:
        """Commit and fan out batches until cancelled (by the bus, once it has drained)."""
        bus = self._bus
        try:
            while True:
                batch = self._batch
                if not batch.items:
                    wakeup = self._wakeup = bus._new_event()
                    await wakeup.wait()
                    continue
                self._batch = _Batch()
                self._inflight = batch
                self._pending += 1  # busy until retention has run too: close waits for it
                try:
                    await self._commit(batch)
                    self._inflight = None
                    batch.finish(call_soon=self._call_soon)
                    await self._maybe_prune()
                finally:
                    self._pending -= 1
                bus._changed()
        finally:
            closed = SystemClosedError("the event bus closed before the event was logged")
            for left in (self._inflight, self._batch):
                if left is not None and not left.finished:
                    left.finish(closed)

    async def _commit(self, batch: _Batch) -> None:
        items = batch.items
        live = items if not batch.withdrawn else [item for item in items if item is not None]
        if not live:
            return
        try:
            seqs = await self.log.append([item[3] for item in live if item is not None])
            if len(seqs) != len(live):
                raise EventLogError(f"the log returned {len(seqs)} numbers for {len(live)} events")
        except Exception as exc:
            batch.error = exc
            self.failed += len(live)
            self._pending -= len(live)
            _log.warning("event log append of %d events failed", len(live), exc_info=exc)
            return
        self.commits += 1
        self.logged += len(live)
        if live is items:
            batch.seqs = seqs
        else:
            numbers = iter(seqs)
            batch.seqs = [None if item is None else next(numbers) for item in items]
        self._pending -= len(live)
        self._fan_out(batch)

    def _fan_out(self, batch: _Batch) -> None:
        lookup = self._bus._index.lookup
        for index, item in enumerate(batch.items):
            if item is None:
                continue
            topic, payload, headers, record = item
            subs = lookup(topic)
            if not subs:  # logged, and nobody listens: no Event to build (~6k instructions)
                continue
            ev = Event(topic, payload, headers, record.timestamp, batch.seqs[index])
            for sub in subs:
                queue = sub._queue
                if len(queue) < sub._fast_limit:
                    queue.append(ev)
                    wakeup = sub._wakeup
                    if wakeup is not None:
                        sub._wakeup = None
                        wakeup.set()
                elif not sub._offer(ev):  # a full "block" queue: see the module docstring
                    if sub._owner is not None:  # a tenant's: the log keeps what it misses
                        sub._overflow_drop(ev)
                    else:
                        sub._enqueue(ev)
                        batch.full.setdefault(index, []).append(sub)

    async def _maybe_prune(self) -> None:
        log = self.log
        if log.max_events is None and log.max_age_seconds is None:
            return
        now = time.monotonic()
        if now < self._next_prune:
            return
        self._next_prune = now + log.prune_interval
        try:
            await log.enforce_retention()
        except Exception as exc:
            _log.warning("event log retention failed", exc_info=exc)
