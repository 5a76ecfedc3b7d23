"""aiosqlite's connection, plus whole transactions run in its thread: the state store's and
the workflow store's (one connection class for both).

A module of its own so that only opening a database imports aiosqlite: the stores import it on
first connect, not at start-up (every ``llmspell run`` imports the state package).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import aiosqlite


class Connection(aiosqlite.Connection):
    """aiosqlite's connection, plus work run whole in the connection's thread (aiosqlite's own
    ``execute_insert``/``execute_fetchall`` are built the same way)."""

    async def run(self, fn: Callable[..., Any], *args: Any) -> Any:
        """``fn(sqlite3 connection, *args)`` in the connection's thread; its result."""
        return await self._execute(fn, self._conn, *args)  # type: ignore[no-untyped-call]

    async def execute_write(self, sql: str, params: tuple[Any, ...]) -> int:
        """``BEGIN IMMEDIATE``, ``sql``, ``COMMIT`` in one call; the number of rows changed."""
        changed: int = await self._execute(self._execute_write, sql, params)  # type: ignore[no-untyped-call]
        return changed

    def _execute_write(self, sql: str, params: tuple[Any, ...]) -> int:
        db = self._conn
        db.execute("BEGIN IMMEDIATE")
        try:
            changed = db.execute(sql, params).rowcount
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise
        return changed
