"""Event logs for the tests: both implementations, built the same way."""

from __future__ import annotations

import pathlib
import sqlite3
from typing import Any

import actors

KINDS = ["memory", "sqlite"]


def make_log(kind: str, tmp_path: pathlib.Path, **options: Any) -> actors.EventLog:
    """A :class:`~actors.MemoryEventLog` or a :class:`~actors.SqliteEventLog` in ``tmp_path``."""
    if kind == "memory":
        return actors.MemoryEventLog(**options)
    return actors.SqliteEventLog(tmp_path / "state.db", **options)


def rows(path: pathlib.Path) -> dict[int, tuple[str, str]]:
    """``seq -> (topic, payload JSON)`` read with a connection of our own (not the log's)."""
    conn = sqlite3.connect(path)
    try:
        return {
            seq: (topic, payload)
            for seq, topic, payload in conn.execute("SELECT seq, topic, payload FROM event_log")
        }
    finally:
        conn.close()


def record(topic: str, payload: str = "null", timestamp: float = 1000.0) -> actors.LogRecord:
    return actors.LogRecord(topic, payload, None, timestamp)
