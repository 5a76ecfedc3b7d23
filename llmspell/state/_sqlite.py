"""The runtime's store: one SQLite database through aiosqlite (asyncio only).

One table holds every scope::

    state(scope TEXT, key TEXT, value TEXT, version INTEGER, PRIMARY KEY (scope, key))

``value`` is the JSON text of a top-level key; ``version`` changes on every write of the row
(a new row starts at a random 62-bit number, so a row deleted and created again does not
repeat a version a slow updater may still hold).

* **Durable when acknowledged.** WAL journal, ``synchronous=NORMAL``: a committed write
  survives the process being killed at any moment (not a power cut: use a UPS or ``FULL``).
  Every write is its own ``BEGIN IMMEDIATE`` … ``COMMIT``, and the call returns after the
  commit. ``BEGIN IMMEDIATE`` takes the write lock up front, waiting up to ``busy_timeout``
  for other processes (a deferred transaction that reads and then writes can fail at once
  with ``SQLITE_BUSY`` in WAL mode).
* **One connection, one owner.** aiosqlite runs the connection in its own thread and feeds it
  one call at a time, in order: it is the connection's only owner. Every store operation is
  *one* such call: a read, or a whole ``BEGIN IMMEDIATE`` … ``COMMIT`` run in that thread. So
  operations of one process are serialised without a lock, a transaction is never split
  across awaits, and cancelling a caller can never leave one open (the call still finishes;
  a cancelled write may have committed, as with any database).
* **Atomic updates between processes.** ``update`` reads ``(value, version)``, runs its
  function with no lock held, then ``UPDATE … WHERE version = ?``; zero rows changed means
  another writer won, and it tries again (see :class:`~llmspell.state.RowStore`).
* **Clear errors at open.** A file that is not a database, a directory that cannot be
  created, a database that cannot be written: :class:`StateFileError` naming the file.
"""

from __future__ import annotations

import asyncio
import os
import pathlib
from typing import TYPE_CHECKING, Any

import anyio
import anyio.to_thread

from ._errors import StateError, StateFileError
from ._rows import ANY, DEFAULT_UPDATE_ATTEMPTS, Expect, Row, RowStore

if TYPE_CHECKING:
    import sqlite3

    from .._aiosqlite import Connection

PRAGMAS = ("PRAGMA journal_mode=WAL", "PRAGMA synchronous=NORMAL")
"""What every connection to a state database runs first (besides ``busy_timeout``)."""

SCHEMA = (
    "CREATE TABLE IF NOT EXISTS state ("
    "scope TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL, version INTEGER NOT NULL, "
    "PRIMARY KEY (scope, key)) WITHOUT ROWID"
)

_SELECT_ONE = "SELECT key, value, version FROM state WHERE scope = ? AND key = ?"
_SELECT_TWO = "SELECT key, value, version FROM state WHERE scope = ? AND key IN (?, ?)"
_UPSERT = (
    "INSERT INTO state (scope, key, value, version) VALUES (?, ?, ?, ?) "
    "ON CONFLICT (scope, key) DO UPDATE SET value = excluded.value, version = version + 1"
)
_INSERT_NEW = (
    "INSERT INTO state (scope, key, value, version) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING"
)
_UPDATE_IF = (
    "UPDATE state SET value = ?, version = version + 1 WHERE scope = ? AND key = ? AND version = ?"
)
_DELETE = "DELETE FROM state WHERE scope = ? AND key = ?"
_DELETE_IF = "DELETE FROM state WHERE scope = ? AND key = ? AND version = ?"
_KEYS = "SELECT key FROM state WHERE scope = ? AND key >= ? AND substr(key, 1, ?) = ? ORDER BY key"
_ITEMS = "SELECT key, value FROM state WHERE scope = ? ORDER BY key"


class SqliteStateStore(RowStore):
    """Every scope in one SQLite database file.

    Args:
        path: the database file (its directory is created), or ``":memory:"``.
        busy_timeout: seconds a write waits for another process's write lock.
        update_attempts: how many times ``update`` calls its function before giving up.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        busy_timeout: float = 5.0,
        update_attempts: int = DEFAULT_UPDATE_ATTEMPTS,
    ) -> None:
        super().__init__(update_attempts=update_attempts)
        self.path = os.fspath(path)
        self.busy_timeout = busy_timeout
        self._db: Connection | None = None
        self._opening = anyio.Lock(fast_acquire=True)
        self._closed = False

    def __repr__(self) -> str:
        return f"SqliteStateStore({self.path!r})"

    # -- connection --------------------------------------------------------------------------

    async def open(self) -> None:
        await self._connection()

    async def _connection(self) -> Connection:
        """The open connection (opening it on first use)."""
        if self._db is not None:
            return self._db
        async with self._opening:
            if self._db is not None:
                return self._db
            if self._closed:
                raise StateError(f"the state store {self.path!r} is closed")
            try:
                asyncio.get_running_loop()
            except RuntimeError:
                raise StateError(
                    "the SQLite state store needs asyncio (aiosqlite); on trio use a memory or "
                    "file store"
                ) from None
            if self.path != ":memory:":
                try:
                    pathlib.Path(self.path).parent.mkdir(parents=True, exist_ok=True)
                except OSError as exc:
                    raise StateFileError(
                        self.path, f"cannot create its directory: {exc.strerror or exc}"
                    ) from None
            with anyio.CancelScope(shield=True):  # never leave a half-open connection behind
                db = self._db = await self._connect()
            return db

    async def _connect(self) -> Connection:
        # aiosqlite leaves its thread a future to settle after a failed connect, which fails
        # if the loop has closed by then; try the file once in a plain thread first instead.
        import sqlite3  # on first connect, not at start-up (a run may keep no state)

        await anyio.to_thread.run_sync(self._try_connect)
        path, timeout = self.path, self.busy_timeout
        from .._aiosqlite import Connection  # aiosqlite on first connect, not at start-up

        db = Connection(
            lambda: sqlite3.connect(path, isolation_level=None, timeout=timeout),
            iter_chunk_size=64,
        )
        try:
            await db
        except sqlite3.Error as exc:
            raise StateFileError(self.path, _describe(exc)) from None
        try:
            for pragma in (*PRAGMAS, f"PRAGMA busy_timeout={int(self.busy_timeout * 1000)}"):
                await db.execute(pragma)
            await db.execute(SCHEMA)
            columns = {row[1] for row in await db.execute_fetchall("PRAGMA table_info(state)")}
            if not {"scope", "key", "value", "version"} <= columns:
                raise StateFileError(
                    self.path, "has a table 'state' that is not llmspell's (other columns)"
                )
            await db.execute("BEGIN IMMEDIATE")  # fails now, not at the first write, if the
            await db.execute("ROLLBACK")  # database cannot be written
        except sqlite3.Error as exc:
            await db.close()
            raise StateFileError(self.path, _describe(exc)) from None
        except BaseException:
            await db.close()
            raise
        return db

    def _try_connect(self) -> None:
        import sqlite3

        try:
            sqlite3.connect(self.path).close()
        except sqlite3.Error as exc:
            raise StateFileError(self.path, _describe(exc)) from None

    async def aclose(self) -> None:
        async with self._opening:
            self._closed = True
            db, self._db = self._db, None
            if db is not None:
                with anyio.CancelScope(shield=True):
                    await db.close()  # after the calls already queued

    # -- row primitives ----------------------------------------------------------------------

    async def _read(self, scope: str, keys: tuple[str, ...]) -> dict[str, Row]:
        sql = _SELECT_ONE if len(keys) == 1 else _SELECT_TWO
        rows = await self._query(sql, (scope, *keys))
        return {key: Row(value, version) for key, value, version in rows}

    async def _keys(self, scope: str, prefix: str) -> list[str]:
        rows = await self._query(_KEYS, (scope, prefix, len(prefix), prefix))
        return [key for (key,) in rows]

    async def _items(self, scope: str) -> dict[str, str]:
        return {key: value for key, value in await self._query(_ITEMS, (scope,))}

    async def _write(self, scope: str, key: str, text: str | None, expect: Expect) -> bool:
        if text is None:
            if isinstance(expect, Row):
                return await self._transaction(_DELETE_IF, (scope, key, expect.token)) == 1
            if expect is None:
                return False  # "delete if absent": nothing to do, and nothing was there
            return await self._transaction(_DELETE, (scope, key)) == 1
        if isinstance(expect, Row):
            return await self._transaction(_UPDATE_IF, (text, scope, key, expect.token)) == 1
        import random

        version = random.getrandbits(62)  # (the global generator: reseeded in a forked child)
        sql = _UPSERT if expect is ANY else _INSERT_NEW
        return await self._transaction(sql, (scope, key, text, version)) == 1

    async def _query(self, sql: str, params: tuple[Any, ...]) -> list[Any]:
        db = self._db or await self._connection()
        import sqlite3  # (imported by the connection: only bound here)

        try:
            return list(await db.execute_fetchall(sql, params))
        except sqlite3.Error as exc:
            raise self._error(exc) from None
        except ValueError:  # aiosqlite: "Connection closed"
            raise StateError(f"the state store {self.path!r} is closed") from None

    async def _transaction(self, sql: str, params: tuple[Any, ...]) -> int:
        """Run one statement in ``BEGIN IMMEDIATE`` … ``COMMIT``; the rows it changed."""
        db = self._db or await self._connection()
        import sqlite3

        try:
            return await db.execute_write(sql, params)
        except sqlite3.Error as exc:
            raise self._error(exc) from None
        except ValueError:
            raise StateError(f"the state store {self.path!r} is closed") from None

    def _error(self, exc: sqlite3.Error) -> StateError:
        import sqlite3

        if isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc):
            return StateError(
                f"state store {self.path!r}: another process held the write lock for more "
                f"than {self.busy_timeout:g}s"
            )
        return StateFileError(self.path, _describe(exc))


def _describe(exc: sqlite3.Error) -> str:
    message = str(exc)
    hints = {
        "file is not a database": "is not a SQLite database (is it the right file?)",
        "unable to open database file": "cannot be opened (a missing or unwritable directory?)",
        "readonly database": "cannot be written (read-only file or directory)",
        "disk I/O error": "cannot be read or written (disk I/O error)",
        "malformed": "is corrupt (database disk image is malformed)",
    }
    for needle, hint in hints.items():
        if needle in message:
            return hint
    return message
