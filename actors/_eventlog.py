"""The durable event log: the :class:`EventLog` seam and :class:`MemoryEventLog`, its fake.

An event log stores bus events and numbers them. Each appended event gets a sequence number,
``seq``: one more than the last one ever given, never reused, even after old events are pruned.
A bus created with a log (``actors.open_system(event_log=...)``) uses it like this:

* ``await bus.publish(topic, payload)`` on a *logged* topic encodes the payload as JSON, hands
  the event to the bus's writer and returns the event's ``seq`` once the event is committed and
  queued for every subscriber: a subscriber never sees an event that the log does not have.
  Publishes made while a commit is running share the next transaction (*group commit*), so a
  hundred concurrent publishers cost a handful of commits, not a hundred.
* ``bus.replay(pattern, since=seq)`` reads logged events back; ``bus.subscribe(pattern,
  handler, since=seq)`` replays, then continues live, with no gap and no duplicate.

Which topics are logged is the log's choice: a topic matching one of ``topics`` (default
``">"``, everything) and none of ``exclude`` (default :attr:`EventLog.DEFAULT_EXCLUDE`: the
high-frequency internals, such as stream chunks and actor starts and stops).

Retention: ``max_events`` keeps the newest events only, ``max_age_seconds`` drops older ones. It
is applied when the log is opened and then by the bus's writer, after a commit, at most once per
``prune_interval`` seconds.

Implementing the seam: subclass :class:`EventLog` and write :meth:`~EventLog.append`,
:meth:`~EventLog.read`, :meth:`~EventLog.latest_seq`, :meth:`~EventLog.prune` and
:meth:`~EventLog.aclose` (and :meth:`~EventLog.open` if there is anything to open). ``append``
gets a whole batch and must store it atomically, with consecutive sequence numbers; the bus
never calls it concurrently. Raise :class:`~actors.EventLogError` for storage failures.
"""

from __future__ import annotations

import json
import re
import time
from abc import ABC, abstractmethod
from bisect import bisect_right
from collections.abc import Iterable, Sequence
from types import MappingProxyType, TracebackType
from typing import NamedTuple, TypedDict, Unpack

import anyio.lowlevel

from ._exceptions import EventLogError
from ._subscription import _NO_HEADERS, Event
from ._topics import TopicIndex, pattern_regex

__all__ = [
    "EventLog",
    "LogOptions",
    "LogRecord",
    "MemoryEventLog",
    "check_retention",
    "decode_event",
    "validate_read",
]

_CACHE_LIMIT = 4096


class LogRecord(NamedTuple):
    """One event as it is appended to a log (the bus builds these; logs store them).

    Attributes:
        topic: the event's topic.
        payload: the payload as JSON text.
        headers: the headers as a JSON object's text, or ``None`` when there are none.
        timestamp: publication time, seconds since the epoch.
    """

    topic: str
    payload: str
    headers: str | None
    timestamp: float


def decode_event(
    seq: int, topic: str, payload: str, headers: str | None, timestamp: float
) -> Event:
    """Rebuild an :class:`~actors.Event` from a stored row."""
    head = _NO_HEADERS if headers is None else MappingProxyType(json.loads(headers))
    return Event(topic, json.loads(payload), head, timestamp, seq)


def validate_read(pattern: str, since: int, until: int | None, limit: int | None) -> str | None:
    """Check the arguments of :meth:`EventLog.read`; return the pattern's regex (or ``None``)."""
    regex = pattern_regex(pattern)
    _check_seq("since", since)
    if until is not None:
        _check_seq("until", until)
    if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool) or limit < 1):
        raise ValueError(f"limit must be a positive int or None, not {limit!r}")
    return regex


def _check_seq(name: str, value: object) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ValueError(f"{name} must be a sequence number (an int >= 0), not {value!r}")


def check_retention(max_events: int | None, max_age_seconds: float | None) -> None:
    """Check retention limits (``None`` or positive).

    Raises:
        ValueError: naming the invalid limit.
    """
    if max_events is not None and (
        not isinstance(max_events, int) or isinstance(max_events, bool) or max_events < 1
    ):
        raise ValueError(f"max_events must be a positive int or None, not {max_events!r}")
    if max_age_seconds is not None and (
        not isinstance(max_age_seconds, int | float)
        or isinstance(max_age_seconds, bool)
        or not max_age_seconds > 0
    ):
        raise ValueError(
            f"max_age_seconds must be a positive number or None, not {max_age_seconds!r}"
        )


class LogOptions(TypedDict, total=False):
    """The options every :class:`EventLog` takes (see its constructor)."""

    topics: Iterable[str]
    exclude: Iterable[str]
    max_events: int | None
    max_age_seconds: float | None
    prune_interval: float


class EventLog(ABC):
    """Where a bus stores its logged events. Use as ``async with log:`` or give it to a bus.

    A bus (``open_system(event_log=log)``) opens the log when it starts and closes it when it
    closes; it is the only writer of the log it owns.

    Args:
        topics: patterns of the topics to log (default ``(">",)``: all).
        exclude: patterns of topics never logged, even when they match ``topics``.
        max_events: keep at most this many of the newest events (``None``: no limit).
        max_age_seconds: drop events older than this (``None``: no limit).
        prune_interval: the bus applies retention after a commit at most this often, in
            seconds (``0``: after every commit).

    Raises:
        ValueError: an invalid pattern or limit.
    """

    #: The topics a log leaves out unless told otherwise: streamed LLM chunks (one event per
    #: token) and the start and stop of every actor.
    DEFAULT_EXCLUDE: tuple[str, ...] = ("llm.chunk", "actor.started", "actor.stopped")

    def __init__(
        self,
        *,
        topics: Iterable[str] = (">",),
        exclude: Iterable[str] = DEFAULT_EXCLUDE,
        max_events: int | None = None,
        max_age_seconds: float | None = None,
        prune_interval: float = 60.0,
    ) -> None:
        self.topics, self.exclude = tuple(topics), tuple(exclude)
        if isinstance(topics, str) or isinstance(exclude, str):
            raise ValueError("topics and exclude must be lists of patterns, not a string")
        if not self.topics:
            raise ValueError('topics must name at least one pattern (">" logs everything)')
        self._include: TopicIndex[str] = TopicIndex()
        self._exclude: TopicIndex[str] = TopicIndex()
        for pattern in self.topics:
            self._include.add(pattern, pattern)
        for pattern in self.exclude:
            self._exclude.add(pattern, pattern)
        check_retention(max_events, max_age_seconds)
        if not isinstance(prune_interval, int | float) or prune_interval < 0:
            raise ValueError(f"prune_interval must be a number >= 0, not {prune_interval!r}")
        self.max_events, self.max_age_seconds = max_events, max_age_seconds
        self.prune_interval = float(prune_interval)
        self._logged: dict[str, bool] = {}

    def logs(self, topic: str) -> bool:
        """Whether events published on ``topic`` are logged.

        Raises:
            ValueError: ``topic`` is not a valid topic.
        """
        found = self._logged.get(topic)
        if found is None:
            found = bool(self._include.lookup(topic)) and not self._exclude.lookup(topic)
            if len(self._logged) >= _CACHE_LIMIT:
                self._logged.clear()
            self._logged[topic] = found
        return found

    async def __aenter__(self) -> EventLog:
        await self.open()
        try:
            await self.enforce_retention()
        except BaseException:
            with anyio.CancelScope(shield=True):
                await self.aclose()
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        with anyio.CancelScope(shield=True):
            await self.aclose()

    async def open(self) -> None:
        """Prepare the log for use (create files, connect). The default does nothing."""

    async def enforce_retention(self) -> int:
        """Apply ``max_events`` and ``max_age_seconds``; return how many events were dropped."""
        if self.max_events is None and self.max_age_seconds is None:
            return 0
        return await self.prune(max_events=self.max_events, max_age_seconds=self.max_age_seconds)

    @abstractmethod
    async def append(self, records: Sequence[LogRecord]) -> list[int]:
        """Store ``records`` atomically (all or none); return their sequence numbers, in order.

        Raises:
            EventLogError: nothing was stored.
        """

    @abstractmethod
    async def read(
        self,
        pattern: str = ">",
        *,
        since: int = 0,
        until: int | None = None,
        limit: int | None = None,
        newest: bool = False,
    ) -> list[Event]:
        """Return stored events matching ``pattern`` with ``since < seq <= until``, oldest first.

        Args:
            pattern: a topic pattern (``*`` one token, ``>`` the rest).
            since: only events after this sequence number.
            until: only events up to this sequence number (``None``: no bound).
            limit: at most this many events (``None``: all).
            newest: with ``limit``, the newest ``limit`` events instead of the oldest
                (still returned oldest first).

        Raises:
            ValueError: an invalid pattern, sequence number or limit.
            EventLogError: the log could not be read.
        """

    @abstractmethod
    async def latest_seq(self) -> int:
        """The highest sequence number ever committed (``0`` if none; pruning keeps it)."""

    @abstractmethod
    async def prune(
        self,
        *,
        max_events: int | None = None,
        max_age_seconds: float | None = None,
        now: float | None = None,
    ) -> int:
        """Drop all but the newest ``max_events`` and those older than ``max_age_seconds``.

        Args:
            max_events: how many of the newest events to keep (``None``: no count limit).
            max_age_seconds: the age limit, compared with the events' timestamps.
            now: the current time for the age limit (default: ``time.time()``).

        Returns:
            How many events were dropped.
        """

    @abstractmethod
    async def aclose(self) -> None:
        """Release the log's resources; later calls raise :class:`~actors.EventLogError`.

        Idempotent.
        """


class MemoryEventLog(EventLog):
    """An event log in memory: the same behaviour as a durable one, minus the durability.

    Payloads round-trip through JSON as they would on disk. ``append`` yields to the event
    loop once, as a write would, so concurrent publishes are grouped into batches here too.
    Useful in tests and for a bus that wants replay without a file.

    Attributes:
        commits: how many batches were appended.
    """

    def __init__(self, **options: Unpack[LogOptions]) -> None:
        super().__init__(**options)
        self._rows: list[tuple[int, str, str, str | None, float]] = []
        self._last = 0
        self._closed = False
        self.commits = 0

    def _check_open(self) -> None:
        if self._closed:
            raise EventLogError("the event log is closed")

    async def append(self, records: Sequence[LogRecord]) -> list[int]:
        """See :meth:`EventLog.append`."""
        await anyio.lowlevel.checkpoint()
        self._check_open()
        first = self._last + 1
        self._rows.extend((first + i, *record) for i, record in enumerate(records))
        self._last += len(records)
        self.commits += 1
        return list(range(first, self._last + 1))

    async def read(
        self,
        pattern: str = ">",
        *,
        since: int = 0,
        until: int | None = None,
        limit: int | None = None,
        newest: bool = False,
    ) -> list[Event]:
        """See :meth:`EventLog.read`."""
        regex = validate_read(pattern, since, until, limit)
        await anyio.lowlevel.checkpoint()
        self._check_open()
        rows = self._rows
        start = bisect_right(rows, since, key=lambda row: row[0])
        stop = len(rows) if until is None else bisect_right(rows, until, key=lambda row: row[0])
        match = None if regex is None else re.compile(regex).fullmatch
        found = [row for row in rows[start:stop] if match is None or match(row[1])]
        if limit is not None:
            found = found[-limit:] if newest else found[:limit]
        return [decode_event(*row) for row in found]

    async def latest_seq(self) -> int:
        """See :meth:`EventLog.latest_seq`."""
        self._check_open()
        return self._last

    async def prune(
        self,
        *,
        max_events: int | None = None,
        max_age_seconds: float | None = None,
        now: float | None = None,
    ) -> int:
        """See :meth:`EventLog.prune`."""
        check_retention(max_events, max_age_seconds)
        self._check_open()
        before = len(self._rows)
        if max_events is not None:
            del self._rows[: max(0, len(self._rows) - max_events)]
        if max_age_seconds is not None:
            cutoff = (time.time() if now is None else now) - max_age_seconds
            self._rows = [row for row in self._rows if row[4] >= cutoff]
        return before - len(self._rows)

    async def aclose(self) -> None:
        """See :meth:`EventLog.aclose`."""
        self._closed = True
