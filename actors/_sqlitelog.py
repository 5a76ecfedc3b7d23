"""The event log in an SQLite file, through the standard library's ``sqlite3``.

aiosqlite runs on asyncio only; ``actors`` runs on trio too. So this log calls the stdlib
driver from threads, which both backends can wait for. It keeps two connections: a writer, used
for appends and pruning in the log's own writer thread (``_logthread``: one queue put and one
loop wake-up per call), and a reader, used from ``anyio.to_thread`` workers, so that a replay
never waits for a commit (WAL lets readers and a writer work at once). A lock per connection
keeps each connection to one thread at a time; the bus's writer task is the only appender, and
it hands the log whole batches, so a batch costs one thread hop and one transaction.

The file is set up for crash safety without an ``fsync`` per commit: WAL journal and
``synchronous=NORMAL`` (a committed append survives the process being killed, not a power cut;
the database is never corrupted), ``busy_timeout`` so that other processes' writes are waited
for, and ``BEGIN IMMEDIATE`` so a writer takes the write lock up front instead of failing on
upgrade. The table, ``event_log``, may share its file with other tables (the state store's):

.. code-block:: sql

    CREATE TABLE event_log (seq INTEGER PRIMARY KEY AUTOINCREMENT, topic TEXT NOT NULL,
                            payload TEXT NOT NULL, headers TEXT, time REAL NOT NULL)

``AUTOINCREMENT`` is what makes a sequence number never reused, even when pruning empties the
table.
"""

from __future__ import annotations

import contextlib
import functools
import operator
import os
import pathlib
import re
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from typing import TypeVar, Unpack

import anyio.to_thread

from ._eventlog import EventLog, LogOptions, LogRecord, check_retention, decode_event, validate_read
from ._exceptions import EventLogError
from ._logthread import WriterThread
from ._subscription import Event

__all__ = ["SqliteEventLog"]

T = TypeVar("T")

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS event_log (seq INTEGER PRIMARY KEY AUTOINCREMENT,"
    " topic TEXT NOT NULL, payload TEXT NOT NULL, headers TEXT, time REAL NOT NULL)",
    "CREATE INDEX IF NOT EXISTS event_log_time ON event_log (time)",
)
_INSERT = "INSERT INTO event_log (topic, payload, headers, time) VALUES "
_ROW = "(?, ?, NULLIF(?, ''), ?)"  # "" for no headers: sqlite3 adapts None the slow way
_ROW_BARE = "(?, ?, NULL, ?)"  # a batch without headers
_headers_of = operator.itemgetter(2)
_MAX_ROWS = 128  # rows per INSERT: 512 parameters, under SQLite's old limit of 999
_SELECT = "SELECT seq, topic, payload, headers, time FROM event_log WHERE seq > ?"
_LATEST = "SELECT seq FROM sqlite_sequence WHERE name = 'event_log'"
_NEW, _OPEN, _CLOSED = "new", "open", "closed"


@functools.lru_cache(maxsize=256)
def _compiled(regex: str) -> Callable[[str], object]:
    return re.compile(regex).fullmatch


def _match(regex: str, topic: str) -> bool:
    """The SQL function ``actors_match(regex, topic)``: NATS patterns, as regexes."""
    return _compiled(regex)(topic) is not None


@functools.cache
def _insert_sql(rows: int, row: str) -> str:
    return _INSERT + ", ".join([row] * rows)


def _insert(conn: sqlite3.Connection, records: Sequence[LogRecord]) -> None:
    """Insert ``records`` with multi-row ``INSERT`` statements of 128, 64, ..., 1 rows.

    One statement per row (``executemany``) costs ~20k instructions a row, a 100-row statement
    ~12k: the statement's set-up, the ``AUTOINCREMENT`` counter's update and the binding of a
    tuple subclass (through ``__getitem__``) are paid once per statement or avoided. Powers of
    two keep it to eight statement texts, which stay in the connection's statement cache (and
    eight more for batches without headers, the usual case: their rows bind three values, not
    four, ~1k instructions a row less).
    """
    if any(map(_headers_of, records)):
        row, width = _ROW, 4
        flat = [value for t, p, h, ts in records for value in (t, p, h or "", ts)]
    else:
        row, width = _ROW_BARE, 3
        flat = [value for t, p, _, ts in records for value in (t, p, ts)]
    start, left = 0, len(records)
    while left:
        rows = _MAX_ROWS if left >= _MAX_ROWS else 1 << (left.bit_length() - 1)
        conn.execute(_insert_sql(rows, row), flat[start * width : (start + rows) * width])
        start, left = start + rows, left - rows


class SqliteEventLog(EventLog):
    """An :class:`~actors.EventLog` in an SQLite file; works on asyncio and trio.

    Example::

        async with actors.open_system(event_log=actors.SqliteEventLog("state.db")) as system:
            seq = await system.bus.publish("order.created", {"id": 1})

    Args:
        path: the database file (created with its directory unless ``create`` is false), or
            ``":memory:"``.
        create: create the file and the table if missing. With ``False`` (a reader, such as
            ``llmspell events tail``) a missing file is an error and a missing table reads as
            an empty log.
        busy_timeout: seconds to wait for another process's write lock.
        options: see :class:`~actors.EventLog` (topics, exclude, retention).

    Attributes:
        path: the database file.
        commits: transactions committed by :meth:`append`.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        create: bool = True,
        busy_timeout: float = 5.0,
        **options: Unpack[LogOptions],
    ) -> None:
        super().__init__(**options)
        self.path = os.fspath(path)
        if not isinstance(self.path, str) or not self.path:
            raise ValueError(f"path must be a file name or ':memory:', not {path!r}")
        if not isinstance(busy_timeout, int | float) or not busy_timeout >= 0:
            raise ValueError(f"busy_timeout must be a number of seconds >= 0, not {busy_timeout!r}")
        self.create, self.busy_timeout = create, float(busy_timeout)
        self.commits = 0
        self._state = _NEW
        self._writer: sqlite3.Connection | None = None
        self._reader: sqlite3.Connection | None = None
        self._wlock = threading.Lock()
        self._rlock = threading.Lock()
        self._thread = WriterThread(f"event log writer {self.path}")

    def __repr__(self) -> str:
        return f"<SqliteEventLog {self.path!r} {self._state}>"

    # -- lifecycle ---------------------------------------------------------------------------

    async def open(self) -> None:
        """Open the file (creating it and the table if ``create``); see :class:`EventLog`.

        Raises:
            EventLogError: the file cannot be opened, or (``create=False``) does not exist.
        """
        if self._state is not _NEW:
            raise EventLogError(f"{self!r} can be opened only once")
        await self._call(self._open_sync)
        self._thread.start()
        self._state = _OPEN

    def _open_sync(self) -> None:
        memory = self.path == ":memory:"
        uri = not memory and not self.create
        target = self.path
        if uri:  # mode=rw: fail instead of creating a missing file
            target = pathlib.Path(self.path).resolve().as_uri() + "?mode=rw"
        elif not memory:
            pathlib.Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        writer = self._connect(target, uri)
        try:
            if self.create:
                writer.execute("PRAGMA journal_mode=WAL")
                writer.execute("BEGIN IMMEDIATE")
                for statement in _SCHEMA:
                    writer.execute(statement)
                writer.execute("COMMIT")
            reader = writer if memory else self._connect(target, uri)
        except BaseException:
            writer.close()
            raise
        if memory:  # one database, so one connection: reads wait for the writer's lock
            self._rlock = self._wlock
        self._writer, self._reader = writer, reader

    def _connect(self, target: str, uri: bool) -> sqlite3.Connection:
        conn = sqlite3.connect(
            target,
            timeout=self.busy_timeout,
            isolation_level=None,  # we issue BEGIN and COMMIT ourselves
            check_same_thread=False,  # worker threads take turns, under a lock
            uri=uri,
        )
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.create_function("actors_match", 2, _match, deterministic=True)
        return conn

    async def aclose(self) -> None:
        """Close both connections (waiting for a running transaction); idempotent."""
        if self._state is _CLOSED:
            return
        self._state = _CLOSED
        await self._thread.stop()  # after the writes already asked for
        await anyio.to_thread.run_sync(self._close_sync)

    def _close_sync(self) -> None:
        same = self._rlock is self._wlock
        with self._wlock, contextlib.nullcontext() if same else self._rlock:
            for conn in {id(c): c for c in (self._reader, self._writer) if c is not None}.values():
                conn.close()
            self._writer = self._reader = None

    # -- the seam ----------------------------------------------------------------------------

    async def append(self, records: Sequence[LogRecord]) -> list[int]:
        """Insert ``records`` in one ``BEGIN IMMEDIATE`` transaction; see :class:`EventLog`."""
        if not records:
            return []
        self._check_open()
        last = await self._write(functools.partial(self._append_sync, records))
        return list(range(last - len(records) + 1, last + 1))

    def _append_sync(self, records: Sequence[LogRecord]) -> int:
        with self._wlock:
            conn = self._connection(self._writer)
            conn.execute("BEGIN IMMEDIATE")
            try:
                _insert(conn, records)
                (last,) = conn.execute("SELECT last_insert_rowid()").fetchone()
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            self.commits += 1
            return int(last)

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
        self._check_open()
        sql = _SELECT
        params: list[object] = [since]
        if until is not None:
            sql += " AND seq <= ?"
            params.append(until)
        if regex is not None:
            if "*" in pattern.split(".") or pattern.endswith(">"):  # with the SQL function
                sql += " AND actors_match(?, topic)"
                params.append(regex)
            else:
                sql += " AND topic = ?"
                params.append(pattern)
        sql += " ORDER BY seq DESC" if newest and limit is not None else " ORDER BY seq"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        rows = await self._call(functools.partial(self._read_sync, sql, params))
        if newest and limit is not None:
            rows.reverse()
        return rows

    def _read_sync(self, sql: str, params: list[object]) -> list[Event]:
        with self._rlock:
            conn = self._connection(self._reader)
            try:
                rows = conn.execute(sql, params).fetchall()
            except sqlite3.OperationalError as exc:
                if "no such table" in str(exc):  # create=False, and nothing logged yet
                    return []
                raise
        return [decode_event(*row) for row in rows]

    async def latest_seq(self) -> int:
        """See :meth:`EventLog.latest_seq`."""
        self._check_open()
        return await self._call(self._latest_sync)

    def _latest_sync(self) -> int:
        with self._rlock:
            conn = self._connection(self._reader)
            try:
                row = conn.execute(_LATEST).fetchone()
            except sqlite3.OperationalError as exc:
                if "no such table" in str(exc):
                    return 0
                raise
        return 0 if row is None else int(row[0])

    async def prune(
        self,
        *,
        max_events: int | None = None,
        max_age_seconds: float | None = None,
        now: float | None = None,
    ) -> int:
        """See :meth:`EventLog.prune`: one transaction for both limits."""
        check_retention(max_events, max_age_seconds)
        self._check_open()
        if max_events is None and max_age_seconds is None:
            return 0
        cutoff = None
        if max_age_seconds is not None:
            cutoff = (time.time() if now is None else now) - max_age_seconds
        return await self._write(functools.partial(self._prune_sync, max_events, cutoff))

    def _prune_sync(self, max_events: int | None, cutoff: float | None) -> int:
        with self._wlock:
            conn = self._connection(self._writer)
            conn.execute("BEGIN IMMEDIATE")
            try:
                deleted = 0
                if max_events is not None:
                    deleted += conn.execute(
                        "DELETE FROM event_log WHERE seq <= (SELECT max(seq) FROM event_log) - ?",
                        (max_events,),
                    ).rowcount
                if cutoff is not None:
                    sql = "DELETE FROM event_log WHERE time < ?"
                    deleted += conn.execute(sql, (cutoff,)).rowcount
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            return deleted

    # -- helpers -----------------------------------------------------------------------------

    def _check_open(self) -> None:
        if self._state is not _OPEN:
            raise EventLogError(self._not_open())

    def _not_open(self) -> str:
        if self._state is _CLOSED:
            return f"the event log {self.path!r} is closed"
        return (
            f"the event log {self.path!r} is not open: use 'async with log:' or give it to "
            "open_system(event_log=...)"
        )

    def _connection(self, conn: sqlite3.Connection | None) -> sqlite3.Connection:
        if conn is None:  # closed while this call waited for its thread
            raise EventLogError(self._not_open())
        return conn

    async def _call(self, fn: Callable[[], T]) -> T:
        try:
            return await anyio.to_thread.run_sync(fn)
        except sqlite3.Error as exc:
            raise EventLogError(f"event log {self.path!r}: {exc}") from exc

    async def _write(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` in the log's writer thread (appends and pruning, in order)."""
        try:
            return await self._thread.call(fn)
        except sqlite3.Error as exc:
            raise EventLogError(f"event log {self.path!r}: {exc}") from exc
