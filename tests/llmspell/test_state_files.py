"""What the SQLite and JSON-file stores promise about their files: settings, clear errors
naming the file, atomic replacement, and writes that survive cancellation."""

from __future__ import annotations

import json
import os
import pathlib
import sqlite3
import threading

import anyio
import anyio.to_thread
import pytest

from llmspell import ConfigError
from llmspell.state import (
    FileStateStore,
    SqliteStateStore,
    StateError,
    StateFileError,
    open_state_store,
)

pytestmark = pytest.mark.anyio


async def test_sqlite_uses_wal_synchronous_normal_and_a_busy_timeout(
    tmp_path: pathlib.Path,
) -> None:
    async with SqliteStateStore(tmp_path / "s.db", busy_timeout=2.5) as store:
        await store.set("global", "a", 1)
        db = store._db
        assert db is not None
        settings = {}
        for pragma in ("journal_mode", "synchronous", "busy_timeout"):
            (settings[pragma],) = (await db.execute_fetchall(f"PRAGMA {pragma}"))[0]
    assert settings == {"journal_mode": "wal", "synchronous": 1, "busy_timeout": 2500}


async def test_a_file_that_is_not_a_database_is_a_clear_error_at_open(
    tmp_path: pathlib.Path,
) -> None:
    path = tmp_path / "state.db"
    path.write_bytes(b"this is not a database, just some text that is long enough" * 40)
    store = SqliteStateStore(path)
    with pytest.raises(StateFileError) as info:
        await store.open()
    assert str(path) in str(info.value) and "is not a SQLite database" in str(info.value)
    assert isinstance(info.value, ConfigError)  # the CLI reports it as a usage error (exit 2)
    await store.aclose()


async def test_a_damaged_database_page_is_reported_naming_the_file(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "state.db"
    async with SqliteStateStore(path) as store:
        for i in range(200):
            await store.set("global", f"k{i}", "x" * 200)
    data = bytearray(path.read_bytes())
    data[4096 : 4096 * 3] = b"\xff" * (4096 * 2)  # overwrite the table's pages
    path.write_bytes(bytes(data))
    async with SqliteStateStore(path) as store:
        with pytest.raises(StateFileError, match=f"{path}.*(corrupt|not a SQLite)"):
            for i in range(200):
                await store.get("global", f"k{i}")


@pytest.mark.parametrize("case", ["parent is a file", "path is a directory", "no wal"])
async def test_a_database_that_cannot_be_opened_or_written_names_the_file(
    tmp_path: pathlib.Path, case: str
) -> None:
    if case == "parent is a file":
        (tmp_path / "file").write_text("x")
        path = tmp_path / "file" / "state.db"
        expected = "cannot create its directory"
    elif case == "path is a directory":
        path = tmp_path / "state.db"
        path.mkdir()
        expected = "cannot be opened"
    else:  # the WAL file cannot be created beside the database: it cannot be written
        path = tmp_path / "state.db"
        sqlite3.connect(path).close()
        (tmp_path / "state.db-wal").mkdir()
        expected = "cannot be (opened|read or written)"
    with pytest.raises(StateFileError, match=expected) as info:
        async with open_state_store(path):
            pass
    assert info.value.file == str(path)


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes read-only files")
async def test_a_read_only_database_is_refused_at_open(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "state.db"
    async with SqliteStateStore(path) as store:
        await store.set("global", "a", 1)
    os.chmod(path, 0o444)
    os.chmod(tmp_path, 0o555)
    try:
        with pytest.raises(StateFileError, match="cannot be"):
            async with open_state_store(path):
                pass
    finally:
        os.chmod(tmp_path, 0o755)


async def test_a_foreign_table_named_state_is_refused(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "other.db"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE state (id INTEGER PRIMARY KEY, payload BLOB)")
    with pytest.raises(StateFileError, match="not llmspell's"):
        async with open_state_store(path):
            pass


async def test_a_write_waits_for_another_process_lock_then_fails_clearly(
    tmp_path: pathlib.Path,
) -> None:
    path = tmp_path / "s.db"
    async with SqliteStateStore(path, busy_timeout=0.05) as store:
        await store.set("global", "a", 1)
        other = sqlite3.connect(path, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")  # another writer holds the lock
        try:
            with pytest.raises(StateError, match=r"held the write lock for more than 0\.05s"):
                await store.set("global", "a", 2)
        finally:
            other.execute("ROLLBACK")
            other.close()
        await store.set("global", "a", 3)  # the connection is fine afterwards
        assert await store.get("global", "a") == 3


async def test_a_write_cancelled_inside_its_transaction_ends_it(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "s.db"
    async with SqliteStateStore(path) as store:
        await store.open()
        db = store._db
        assert db is not None
        begun = threading.Event()
        await db.set_trace_callback(lambda sql: begun.set() if sql == "BEGIN IMMEDIATE" else None)
        other = sqlite3.connect(path, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")  # our BEGIN waits for this lock
        try:
            with anyio.CancelScope() as scope:
                async with anyio.create_task_group() as tg:
                    tg.start_soon(store.set, "global", "during", "value")
                    await anyio.to_thread.run_sync(begun.wait)
                    scope.cancel()  # cancelled while its transaction is starting
            other.execute("ROLLBACK")
        finally:
            other.close()
        # the transaction ran to its end in the connection's thread, before later calls
        assert await store.get("global", "during") == "value"
        assert not db.in_transaction
        await store.set("global", "after", 1)
        assert await store.get("global", "after") == 1


def test_the_sqlite_store_says_it_needs_asyncio() -> None:
    async def main() -> None:
        store = SqliteStateStore(":memory:")
        with pytest.raises(StateError, match="needs asyncio"):
            await store.set("global", "a", 1)
        await store.aclose()

    anyio.run(main, backend="trio")


def test_memory_and_file_stores_work_on_trio(tmp_path: pathlib.Path) -> None:
    async def main() -> None:
        async with FileStateStore(tmp_path / "s.json") as store:
            await store.set("global", "a.b", 1)
            assert await store.update("global", "a.b", _plus_one) == 2

    anyio.run(main, backend="trio")


async def _plus_one(n: int) -> int:
    return n + 1


async def test_the_json_file_is_readable_json_of_scopes(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "s.json"
    async with FileStateStore(path) as store:
        await store.set("global", "conversation_id", "abc123")
        await store.set("global", "context", {"user": "John", "topic": "quantum"})
        await store.set("spell:x", "ünïcode", "✓")
        await store.delete("spell:x", "ünïcode")
    assert json.loads(path.read_text("utf-8")) == {
        "global": {"conversation_id": "abc123", "context": {"user": "John", "topic": "quantum"}}
    }
    assert sorted(os.listdir(tmp_path)) == ["s.json", "s.json.lock"]  # no temp


async def test_the_file_store_sees_a_file_replaced_by_someone_else(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "s.json"
    async with FileStateStore(path) as store:
        await store.set("global", "a", 1)
        replacement = tmp_path / "new.json"
        replacement.write_text('{"global": {"a": 2, "b": [1]}}')
        os.replace(replacement, path)
        assert await store.get("global", "a") == 2
        assert await store.keys("global") == ["a", "b"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{not json", "is not valid JSON"),
        ('["a list"]', "expected an object of scopes"),
        ('{"global": 5}', "expected an object of scopes"),
        ('{"global": {"a": NaN}}', "holds a value that is not JSON"),
    ],
)
async def test_a_bad_json_file_is_a_clear_error_naming_it(
    tmp_path: pathlib.Path, text: str, message: str
) -> None:
    path = tmp_path / "s.json"
    path.write_text(text)
    with pytest.raises(StateFileError, match=message) as info:
        async with FileStateStore(path):
            pass
    assert info.value.file == str(path)


async def test_an_empty_json_file_is_an_empty_store(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "s.json"
    path.write_text("")
    async with FileStateStore(path) as store:
        assert await store.keys("global") == []
        await store.set("global", "a", 1)
    assert json.loads(path.read_text()) == {"global": {"a": 1}}
