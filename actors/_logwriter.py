"""Group commit: the task that appends a bus's logged events to its log, in batches.

A logged ``publish`` encodes its payload (in the publisher's task, so a payload that is not JSON
fails there, naming the topic), adds the event to the *collecting* batch and waits for that
batch. The writer task takes the whole collecting batch, appends it to the log in one call (one
transaction), then fans each event out to the subscribers of its topic, in sequence order, and
wakes the batch's publishers. While it commits, new publishes collect in the next batch: the
busier the bus, the bigger the batches, and one commit serves them all.

One batch is committed at a time. Handing the log the next batch while one commits, so that
the loop's work overlaps SQLite's, was measured on the floor of this path
(``benchmarks/_logfloor.py``, two batches in flight of half the publishers each): no faster, on
either backend. Nothing collects while all publishers wait for the batch in flight, split
batches double the commits, and the log's thread needs the GIL back after each statement while
the loop holds it.

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
from collections.abc import Awaitable, Callable, Generator, Mapping, Sequence
from json.encoder import c_make_encoder, encode_basestring  # type: ignore[attr-defined]
from typing import TYPE_CHECKING, Any

import anyio
import anyio.lowlevel

from ._eventlog import EventLog, LogRecord
from ._exceptions import EventLogError, MailboxFullError, SystemClosedError
from ._signal import Signal, signal_factory
from ._subscription import _event

if TYPE_CHECKING:
    from ._bus import EventBus
    from ._subscription import Subscription

__all__ = ["LogWriter"]

_log = logging.getLogger("actors.bus")

# topic, payload, headers, record, and (asyncio) the publisher's future or None (publish_nowait)
_Item = tuple[str, Any, Mapping[str, str], LogRecord, Any]
_new_tuple = tuple.__new__  # a NamedTuple's __new__ is a Python function: twice the cost

_OPTIONS: dict[str, Any] = {"ensure_ascii": False, "allow_nan": False, "separators": (",", ":")}
_checked = json.JSONEncoder(**_OPTIONS).encode
_checked_repr = json.JSONEncoder(**_OPTIONS, default=repr).encode


def _chunks(default: Callable[[Any], Any] | None) -> Callable[[Any, int], list[str]] | None:
    """The C encoder behind ``json.JSONEncoder(**_OPTIONS, default=default).encode``, made once
    (``encode`` makes a new one per call, half the cost of a small payload), without the
    circular-reference check: a value that contains itself fails with RecursionError, and the
    callers then encode again the checked way, for the stdlib's own error. It returns the
    text's chunks (``"".join`` them); ``None`` on a Python without the C accelerator."""
    if c_make_encoder is None:
        return None
    chunks: Callable[[Any, int], list[str]]
    chunks = c_make_encoder(None, default, encode_basestring, None, ":", ",", False, False, False)
    return chunks


_strict_chunks, _repr_chunks = _chunks(None), _chunks(repr)
_join = "".join


def _strict(payload: Any) -> str:
    try:
        if _strict_chunks is not None:
            return _join(_strict_chunks(payload, 0))
    except (TypeError, ValueError, RecursionError):
        pass
    return _checked(payload)  # the same error, or a cycle's ValueError


def _lenient(payload: Any) -> str:
    """The runtime's own events: whatever is not JSON is logged as its ``repr``."""
    try:
        if _repr_chunks is not None:
            return _join(_repr_chunks(payload, 0))
    except (ValueError, RecursionError):
        pass
    try:
        return _checked_repr(payload)
    except ValueError:  # a cycle, or NaN
        return _strict(repr(payload))


class _Batch:
    """Events committed together, and their publishers' wake-ups (see :meth:`LogWriter.append`)."""

    __slots__ = ("error", "event", "finished", "full", "items", "seqs", "withdrawn")

    def __init__(self) -> None:
        self.items: list[_Item | None] = []  # None: withdrawn by a cancelled publisher (trio)
        self.seqs: Sequence[int | None] = []
        self.withdrawn = 0  # items set to None
        self.full: dict[int, list[Subscription]] = {}  # item -> "block" queues it overfilled
        self.error: BaseException | None = None
        self.finished = False
        self.event: anyio.Event | None = None  # trio: one event for all

    def finish(
        self, error: BaseException | None = None, call_soon: Callable[..., object] | None = None
    ) -> None:
        """The batch is committed and fanned out (or failed: ``error``): wake its publishers,
        with one loop callback if given the loop's ``call_soon`` (see :func:`_wake_all`).

        On asyncio each publisher's future gets its outcome: its ``seq``, a :class:`_Room` (the
        event overfilled a ``"block"`` queue) or the error to raise; on trio the batch's event
        is set and each publisher reads the outcome from the batch (:meth:`outcome`).
        """
        if error is not None:
            self.error = error
        self.finished = True
        if call_soon is not None and self.error is None and not self.full:
            call_soon(_wake_all, self.items, self.seqs)
        else:
            for index, item in enumerate(self.items):
                if item is not None and item[4] is not None:
                    _settle(item[4], self.outcome(index))
        if self.event is not None:
            self.event.set()

    def outcome(self, index: int) -> int | _Room | BaseException:
        """What the publisher of item ``index`` gets: its ``seq``, a :class:`_Room` to wait
        for, or the error to raise (a new one per publisher, chained to the batch's)."""
        error = self.error
        if error is not None:
            item = self.items[index]
            assert item is not None
            if isinstance(error, SystemClosedError):
                return SystemClosedError(str(error))
            failed = EventLogError(f"logging an event on {item[0]!r} failed: {error}")
            failed.__cause__ = error
            return failed
        seq = self.seqs[index]
        assert seq is not None
        if self.full:
            subs = self.full.get(index)
            if subs:
                return _Room(seq, subs)
        return seq


class _Room:
    """A committed event queued past the size of full ``"block"`` queues: its publisher awaits
    this (room in each of them, backpressure as on the unlogged path), then has its ``seq``."""

    __slots__ = ("seq", "subs")

    def __init__(self, seq: int, subs: list[Subscription]) -> None:
        self.seq, self.subs = seq, subs

    def __await__(self) -> Generator[Any, Any, int]:
        for sub in self.subs:
            yield from sub._wait_room().__await__()
        return self.seq


def _settle(future: Any, outcome: object) -> None:
    """Hand ``outcome`` to a publisher's future (unless it was cancelled meanwhile)."""
    if not future.done():
        if isinstance(outcome, BaseException):
            future.set_exception(outcome)
        else:
            future.set_result(outcome)


def _wake_all(items: list[_Item | None], seqs: Sequence[int | None]) -> None:
    """Wake a committed batch's publishers (asyncio) from one loop callback, each with its
    ``seq``: each one's task steps here.

    ``future.set_result`` would schedule each waiting task's wake-up as a callback of its own
    (a ``Handle`` made and run in Python by the loop, per publisher). Instead, a future whose
    only done-callback is its task's wake-up (read from ``_callbacks``) has it removed, gets its
    result, and the wake-up runs here at once, in its context, exactly as the loop would have
    run it; anything else (a cancelled publisher's future is done already, a task cancelled by
    one woken before it too) takes the ordinary path. This runs as a plain loop callback,
    outside any task, so each task may step in turn; should one raise (SystemExit), the rest
    are woken by a callback of their own.
    """
    for index, item in enumerate(items):  # (no seqs if all were withdrawn: none is read)
        if item is None or (future := item[4]) is None:
            continue
        callbacks = getattr(future, "_callbacks", None)  # (none once done: cancelled)
        if callbacks is not None and len(callbacks) == 1:
            ((callback, context),) = callbacks
            if future.remove_done_callback(callback) == 1:
                future.set_result(seqs[index])
                try:
                    context.run(callback, future)
                except BaseException:  # (a task re-raises only SystemExit, KeyboardInterrupt)
                    rest = index + 1
                    future.get_loop().call_soon(_wake_all, items[rest:], seqs[rest:])
                    raise
                continue
        if not future.done():
            future.set_result(seqs[index])


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
        # the log's own cache of which topics it logs, read by publish before calling
        # log.logs() (a call fewer per publish); an empty dict if a subclass decides otherwise
        self.logged_topics: dict[str, bool] = log._logged if type(log).logs is EventLog.logs else {}
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
        self,
        topic: str,
        payload: Any,
        headers: Mapping[str, str],
        encode: Callable[[Any], str],
        future: Any = None,
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
        self._collect(topic, payload, headers, text, head, future)
        return batch, len(batch.items) - 1

    def _collect(
        self,
        topic: str,
        payload: Any,
        headers: Mapping[str, str],
        text: str,
        head: str | None,
        future: Any,
    ) -> None:
        """Add an encoded event to the collecting batch and wake the writer."""
        record = _new_tuple(LogRecord, (topic, text, head, time.time()))  # LogRecord(...)
        self._batch.items.append((topic, payload, headers, record, future))
        self._pending += 1
        wakeup = self._wakeup
        if wakeup is not None:
            self._wakeup = None
            wakeup.set()

    def append(
        self, topic: str, payload: Any, headers: Mapping[str, str]
    ) -> Awaitable[int | _Room]:
        """Log one event; return what to await until it is committed and fanned out.

        The awaitable gives the event's ``seq``, or (asyncio) a :class:`_Room` when the event
        overfilled a ``"block"`` queue, to await in turn for the ``seq`` (see ``publish``).

        On asyncio it is a loop future of the publisher's own, awaited by ``publish`` itself:
        no coroutine of ours in between, and a cancelled publisher cancels only its own future.
        A publisher cancelled before the writer takes the batch withdraws the event: the writer
        leaves out the items whose future is done (cancelled) when it takes a batch.

        Raises:
            ValueError: the payload (or headers) cannot be encoded as JSON.

        The awaitable raises :class:`EventLogError` (the batch failed to commit; the event is
        not logged nor delivered) or :class:`SystemClosedError` (the bus closed first).
        """
        new_future = self._new_future
        if new_future is None:
            return self._append_trio(topic, payload, headers)
        # the usual event (no headers, the C encoder) is encoded here, a call fewer per
        # publish; anything else, or a payload the C encoder refuses, takes _add with _strict
        # (its own fallback, or the error)
        text = None
        if not headers and _strict_chunks is not None:
            try:
                text = _join(_strict_chunks(payload, 0))
            except (TypeError, ValueError, RecursionError):
                pass
        future = new_future()
        if text is None:
            self._add(topic, payload, headers, _strict, future)
        else:
            self._collect(topic, payload, headers, text, None, future)
        return future

    async def _append_trio(self, topic: str, payload: Any, headers: Mapping[str, str]) -> int:
        """:meth:`append` on trio: one event for the batch, and the outcome read from it."""
        batch, index = self._add(topic, payload, headers, _strict)
        try:
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
        if batch.error is None and not batch.full:
            seq = batch.seqs[index]
            assert seq is not None
            return seq
        outcome = batch.outcome(index)
        if isinstance(outcome, BaseException):
            raise outcome
        if isinstance(outcome, _Room):
            return await outcome
        return outcome

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
        if self._new_future is not None:
            # asyncio: a future done already is a cancelled publisher's, whose event is
            # withdrawn (on trio the publisher withdraws its own: see _append_trio)
            taken: list[_Item] = items  # type: ignore[assignment]  # (none is None yet)
            records = [item[3] for item in taken if item[4] is None or not item[4].done()]
            if len(records) < len(items):
                for index, item in enumerate(items):
                    if item is not None and item[4] is not None and item[4].done():
                        items[index] = None
                        batch.withdrawn += 1
                        self._pending -= 1
        else:
            records = [item[3] for item in items if item is not None]
        live = items if not batch.withdrawn else [item for item in items if item is not None]
        if not live:
            return
        try:
            seqs = await self.log.append(records)
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
        index_ = self._bus._index
        cached, lookup, seqs = index_._cache.get, index_.lookup, batch.seqs
        for index, item in enumerate(batch.items):
            if item is None:
                continue
            topic, payload, headers, record, _ = item
            subs = cached(topic)
            if subs is None:
                subs = lookup(topic)
            if not subs:  # logged, and nobody listens: no Event to build (~3k instructions)
                continue
            ev = _event(topic, payload, headers, record.timestamp, seqs[index])
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
