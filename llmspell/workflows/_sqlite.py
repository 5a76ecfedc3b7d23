"""Workflow runs in the state database (SQLite through aiosqlite).

Two tables beside the state store's, in the same file: ``workflow_runs`` (one row per run) and
``workflow_steps`` (one row per checkpoint, keyed by run and position). WAL mode with
``synchronous=NORMAL`` survives a killed process; each checkpoint is one statement, committed
before :meth:`checkpoint` returns; read-then-write changes take the write lock first
(``BEGIN IMMEDIATE``: in WAL a deferred transaction that reads then writes can fail with
SQLITE_BUSY without waiting). Every operation is one call in the connection's thread (a whole
transaction included), so calls from concurrent steps never interleave inside a transaction and
a checkpoint costs one thread hop.
"""

from __future__ import annotations

import json
import pathlib
import sqlite3
import time
from collections.abc import Callable
from typing import Any

from .._exceptions import ConfigError
from .._json import encoder
from ._store import (
    COMPLETED,
    FAILED,
    RUNNING,
    STRANDED,
    Checkpoint,
    RunRecord,
    WorkflowStore,
    canonical,
    check_same,
    owner_alive,
    owner_id,
    with_liveness,
)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS workflow_runs (
    id TEXT PRIMARY KEY, workflow TEXT NOT NULL, spell TEXT NOT NULL, version TEXT NOT NULL,
    input TEXT NOT NULL, status TEXT NOT NULL, result TEXT, error TEXT, owner TEXT NOT NULL,
    created REAL NOT NULL, updated REAL NOT NULL, params TEXT
);
CREATE INDEX IF NOT EXISTS workflow_runs_updated ON workflow_runs (status, updated);
CREATE TABLE IF NOT EXISTS workflow_steps (
    run_id TEXT NOT NULL, position TEXT NOT NULL, name TEXT NOT NULL, output TEXT,
    error TEXT, PRIMARY KEY (run_id, position)
) WITHOUT ROWID;
"""
_COLUMNS = (
    "id, workflow, spell, version, input, status, result, error, owner, created, updated, params"
)


def _default(value: Any) -> Any:
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


# What json.dumps(value) writes (a checkpoint per step)
_dumps = encoder(_default, ensure_ascii=True, allow_nan=True, separators=(", ", ": "))


def _json(text: str | None) -> Any:
    return None if text is None else json.loads(text)


def _record(row: Any, steps: int = 0) -> RunRecord:
    """A ``workflow_runs`` row (in ``_COLUMNS`` order) as a record."""
    return with_liveness(
        RunRecord(
            id=row[0],
            workflow=row[1],
            spell=row[2],
            version=row[3],
            input=_json(row[4]),
            status=row[5],
            result=_json(row[6]),
            error=row[7],
            owner=row[8],
            created=row[9],
            updated=row[10],
            params=_json(row[11]),
            steps=steps,
        )
    )


Sync = Callable[..., Any]


def _in_transaction(db: sqlite3.Connection, fn: Sync, *args: Any) -> Any:
    db.execute("BEGIN IMMEDIATE")
    try:
        result = fn(db, *args)
        db.execute("COMMIT")
    except BaseException:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise
    return result


def _begin(
    db: sqlite3.Connection, run_id: str, values: tuple[Any, ...], workflow: str, text: str
) -> RunRecord | None:
    row = db.execute(f"SELECT {_COLUMNS} FROM workflow_runs WHERE id = ?", (run_id,)).fetchone()
    me, now = values[8], values[9]
    if row is None:
        db.execute(f"INSERT INTO workflow_runs ({_COLUMNS}) VALUES ({_MARKS})", values)
        return None
    record = _record(row)
    check_same(record, workflow, text)
    if record.status == RUNNING and record.owner != me and owner_alive(record.owner) is not False:
        raise ValueError(f"run id {run_id!r} is in progress in another process ({record.owner})")
    if record.status != COMPLETED:
        db.execute(
            "UPDATE workflow_runs SET status = ?, owner = ?, updated = ? WHERE id = ?",
            (RUNNING, me, now, run_id),
        )
    return record


def _prune(db: sqlite3.Connection, max_age: float | None, max_runs: int | None) -> int:
    doomed: set[str] = set()
    if max_age is not None:
        rows = db.execute(
            "SELECT id FROM workflow_runs WHERE status IN (?, ?) AND updated < ?",
            (COMPLETED, FAILED, time.time() - max_age),
        )
        doomed.update(row[0] for row in rows)
    if max_runs is not None:
        rows = db.execute(
            "SELECT id FROM workflow_runs WHERE status IN (?, ?) ORDER BY updated DESC "
            "LIMIT -1 OFFSET ?",
            (COMPLETED, FAILED, max_runs),
        )
        doomed.update(row[0] for row in rows)
    for run_id in doomed:
        db.execute("DELETE FROM workflow_steps WHERE run_id = ?", (run_id,))
        db.execute("DELETE FROM workflow_runs WHERE id = ?", (run_id,))
    return len(doomed)


_MARKS = ",".join("?" * 12)
_RUNS = (
    f"SELECT {_COLUMNS}, (SELECT COUNT(*) FROM workflow_steps WHERE run_id = id) FROM workflow_runs"
)


class SqliteWorkflowStore(WorkflowStore):
    """Workflow runs in the SQLite file ``path`` (created, with its directory, on first use)."""

    def __init__(self, path: str | pathlib.Path, *, busy_timeout: float = 30.0) -> None:
        self.path = pathlib.Path(path)
        self._busy_ms = int(busy_timeout * 1000)
        self._db: Any = None

    async def _call(self, fn: Sync, *args: Any) -> Any:
        """``fn(sqlite3 connection, *args)`` in the connection's thread (opened on first use)."""
        if self._db is None:
            await self._open()
        return await self._db.run(fn, *args)

    async def _open(self) -> None:
        from .._aiosqlite import Connection  # aiosqlite on first use, not at start-up

        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            path = self.path
            db = Connection(
                lambda: sqlite3.connect(path, isolation_level=None, check_same_thread=False),
                iter_chunk_size=64,
            )
            await db
        except (OSError, sqlite3.Error) as exc:
            raise ConfigError(f"{self.path}: cannot open the state database: {exc}") from None
        try:
            await db.execute(f"PRAGMA busy_timeout = {self._busy_ms}")
            await db.execute("PRAGMA journal_mode = WAL")
            await db.execute("PRAGMA synchronous = NORMAL")
            await db.executescript(_SCHEMA)
        except sqlite3.Error as exc:
            await db.close()
            raise ConfigError(
                f"{self.path}: not a usable state database ({exc}); move it away or pass "
                "another --state"
            ) from None
        if self._db is None:
            self._db = db
        else:  # another task opened it meanwhile
            await db.close()

    async def begin(
        self, run_id: str, workflow: str, spell: str, version: str, input: Any, params: Any = None
    ) -> RunRecord | None:
        text = canonical(input)
        now = time.time()
        values = (
            run_id, workflow, spell, version, text, RUNNING, None, None, owner_id(), now, now,
            json.dumps(params),
        )  # fmt: skip
        record: RunRecord | None = await self._call(
            _in_transaction, _begin, run_id, values, workflow, text
        )
        return record

    async def checkpoints(self, run_id: str) -> dict[str, Checkpoint]:
        rows = await self._call(
            lambda db: db.execute(
                "SELECT position, name, output, error FROM workflow_steps WHERE run_id = ?",
                (run_id,),
            ).fetchall()
        )
        return {row[0]: Checkpoint(row[0], row[1], _json(row[2]), row[3]) for row in rows}

    async def checkpoint(self, run_id: str, step: Checkpoint) -> None:
        values = (run_id, step.position, step.name, _dumps(step.output), step.error)
        await self._call(
            lambda db: db.execute(
                "INSERT OR REPLACE INTO workflow_steps (run_id, position, name, output, error) "
                "VALUES (?, ?, ?, ?, ?)",
                values,
            )
        )

    async def finish(self, run_id: str, status: str, result: Any, error: str | None) -> None:
        values = (status, _dumps(result), error, time.time(), run_id)
        await self._call(
            lambda db: db.execute(
                "UPDATE workflow_runs SET status = ?, result = ?, error = ?, updated = ? "
                "WHERE id = ?",
                values,
            )
        )

    async def get(self, run_id: str) -> RunRecord | None:
        row = await self._call(lambda db: db.execute(f"{_RUNS} WHERE id = ?", (run_id,)).fetchone())
        return None if row is None else _record(row, row[12])

    async def list_runs(self, *, status: str | None = None, limit: int = 100) -> list[RunRecord]:
        query = _RUNS
        args: tuple[Any, ...] = ()
        if status is not None:
            query += " WHERE status = ?"
            args = (RUNNING if status == STRANDED else status,)
        query += " ORDER BY created DESC"
        if status != STRANDED:
            query += f" LIMIT {int(limit)}"
        rows = await self._call(lambda db: db.execute(query, args).fetchall())
        runs = [_record(row, row[12]) for row in rows]
        if status is not None:
            runs = [r for r in runs if r.status == status]
        return runs[:limit]

    async def prune(self, *, max_age: float | None, max_runs: int | None) -> int:
        pruned: int = await self._call(_in_transaction, _prune, max_age, max_runs)
        return pruned

    async def aclose(self) -> None:
        if self._db is not None:
            db, self._db = self._db, None
            await db.close()
