"""The EventLog seam: both implementations (memory and SQLite), on asyncio and trio."""

from __future__ import annotations

import json
import pathlib
import sqlite3

import pytest

from actors import EventBus, EventLogError, LogRecord, SqliteEventLog, _logwriter

from .eventlogs import KINDS, make_log, record

pytestmark = pytest.mark.anyio


@pytest.fixture(params=KINDS)
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


async def test_appends_get_consecutive_numbers_never_reused(
    kind: str, tmp_path: pathlib.Path
) -> None:
    async with make_log(kind, tmp_path) as log:
        assert await log.latest_seq() == 0
        assert await log.append([record("a"), record("b"), record("c")]) == [1, 2, 3]
        assert await log.append([record("d")]) == [4]
        assert await log.append([]) == []
        assert await log.prune(max_events=1) == 3
        assert [e.seq for e in await log.read()] == [4]
        assert await log.prune(max_age_seconds=1, now=5000.0) == 1  # now empty
        assert await log.read() == []
        assert await log.latest_seq() == 4  # pruning does not renumber
        assert await log.append([record("e")]) == [5]


async def test_a_large_batch_is_stored_whole_and_in_order(
    kind: str, tmp_path: pathlib.Path
) -> None:
    sizes = [1, 3, 128, 300, 255]  # the SQLite log inserts up to 128 rows per statement
    batches = [
        [
            LogRecord(
                f"b.{size}",
                json.dumps([size, i]),
                json.dumps({"i": str(i)}) if i % 3 else None,
                float(i),
            )
            for i in range(size)
        ]
        for size in sizes
    ]
    async with make_log(kind, tmp_path) as log:
        seqs = [await log.append(batch) for batch in batches]
        stored = await log.read()
    assert [len(s) for s in seqs] == sizes
    assert [seq for s in seqs for seq in s] == list(range(1, sum(sizes) + 1))
    expected = [
        (r.topic, json.loads(r.payload), json.loads(r.headers or "{}"), r.timestamp)
        for batch in batches
        for r in batch
    ]
    assert [(e.topic, e.payload, dict(e.headers), e.timestamp) for e in stored] == expected
    assert [e.seq for e in stored] == list(range(1, sum(sizes) + 1))


async def test_read_selects_by_pattern_and_sequence(kind: str, tmp_path: pathlib.Path) -> None:
    topics = ["order.created", "order.created.eu", "user.created", "order", "order.shipped"]
    async with make_log(kind, tmp_path) as log:
        await log.append([record(t) for t in topics])

        async def seqs(pattern: str, **kwargs: int | bool | None) -> list[int | None]:
            return [e.seq for e in await log.read(pattern, **kwargs)]  # type: ignore[arg-type]

        assert await seqs(">") == [1, 2, 3, 4, 5]
        assert await seqs("order.*") == [1, 5]
        assert await seqs("order.>") == [1, 2, 5]
        assert await seqs("*.created") == [1, 3]
        assert await seqs("*.*.eu") == [2]
        assert await seqs("order") == [4]
        assert await seqs("nothing.here") == []
        assert await seqs(">", since=2) == [3, 4, 5]
        assert await seqs(">", since=1, until=3) == [2, 3]
        assert await seqs(">", limit=2) == [1, 2]
        assert await seqs(">", limit=2, newest=True) == [4, 5]
        assert await seqs("order.>", since=1, limit=1, newest=True) == [5]


async def test_a_pattern_token_is_literal_not_a_regex(kind: str, tmp_path: pathlib.Path) -> None:
    async with make_log(kind, tmp_path) as log:
        await log.append([record("a+b.c"), record("aab.c"), record("x.[y]"), record("x.y")])
        assert [e.topic for e in await log.read("a+b.*")] == ["a+b.c"]
        assert [e.topic for e in await log.read("x.[y]")] == ["x.[y]"]


async def test_payloads_and_headers_round_trip_through_json(
    kind: str, tmp_path: pathlib.Path
) -> None:
    payload = {"id": 1, "tags": ["ü", "☃"], "nested": {"ok": True, "none": None}}
    async with make_log(kind, tmp_path) as log:
        await log.append(
            [
                LogRecord("a", json.dumps(payload), json.dumps({"trace": "t1"}), 1234.5),
                LogRecord("b", "[1,2]", None, 1235.0),
            ]
        )
        first, second = await log.read()
    assert (first.topic, first.payload, dict(first.headers)) == ("a", payload, {"trace": "t1"})
    assert (first.timestamp, first.seq) == (1234.5, 1)
    assert (second.payload, dict(second.headers), second.seq) == ([1, 2], {}, 2)
    if kind == "sqlite":  # no headers are stored as NULL, for other readers of the file
        conn = sqlite3.connect(tmp_path / "state.db")
        try:
            stored = conn.execute("SELECT headers FROM event_log ORDER BY seq").fetchall()
        finally:
            conn.close()
        assert stored == [('{"trace": "t1"}',), (None,)]


def test_payloads_are_encoded_as_the_stdlib_encodes_them() -> None:
    strict, lenient = _logwriter._strict, _logwriter._lenient
    payload = {"id": 1, "tags": ["ü", "☃"], "x": 0.1, "nested": {"ok": True, "none": None}}
    expected = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
    assert strict(payload) == lenient(payload) == expected
    cycle: list[object] = [1]
    cycle.append(cycle)
    with pytest.raises(ValueError, match="Circular reference"):
        strict({"items": cycle})
    with pytest.raises(ValueError, match="not JSON compliant"):
        strict([float("nan")])
    with pytest.raises(TypeError, match="not JSON serializable"):
        strict({"when": object()})
    marker = object()
    assert json.loads(lenient({"when": marker})) == {"when": repr(marker)}
    assert json.loads(lenient({"items": cycle})) == repr({"items": cycle})
    assert json.loads(lenient([float("nan")])) == "[nan]"


async def test_prune_by_count_and_by_age(kind: str, tmp_path: pathlib.Path) -> None:
    async with make_log(kind, tmp_path) as log:
        await log.append([record("t", str(i), timestamp=1000.0 + i) for i in range(10)])
        assert await log.prune() == 0
        assert await log.prune(max_age_seconds=5, now=1010.0) == 5  # 1000..1004 are too old
        assert [e.payload for e in await log.read()] == [5, 6, 7, 8, 9]
        assert await log.prune(max_events=2) == 3
        assert [e.payload for e in await log.read()] == [8, 9]
        # both at once: count keeps 1, age drops nothing more
        assert await log.prune(max_events=1, max_age_seconds=100, now=1010.0) == 1
        assert [e.seq for e in await log.read()] == [10]


async def test_retention_is_applied_when_a_log_opens(tmp_path: pathlib.Path) -> None:
    async with SqliteEventLog(tmp_path / "s.db") as log:
        await log.append([record("t", str(i)) for i in range(10)])
    async with SqliteEventLog(tmp_path / "s.db", max_events=3) as log:
        assert [e.payload for e in await log.read()] == [7, 8, 9]
    async with SqliteEventLog(tmp_path / "s.db", max_age_seconds=60) as log:
        assert await log.read() == []  # their timestamp (1000.0) is decades old


async def test_which_topics_are_logged(kind: str, tmp_path: pathlib.Path) -> None:
    default = make_log(kind, tmp_path)
    assert default.logs("order.created") and default.logs("actor.restarted")
    assert not default.logs("llm.chunk") and not default.logs("actor.started")
    custom = make_log(kind, tmp_path, topics=["order.>", "user.*"], exclude=["order.debug.>"])
    assert custom.logs("order.created") and custom.logs("user.created")
    assert not custom.logs("order.debug.x") and not custom.logs("llm.chunk.x")
    assert not custom.logs("user.a.b")
    with pytest.raises(ValueError, match="topic"):
        custom.logs("bad..topic")


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"topics": "order.>"}, "lists of patterns"),
        ({"topics": []}, "topics must name"),
        ({"exclude": ["a.>.b"]}, "'>' is allowed only"),
        ({"max_events": 0}, "max_events"),
        ({"max_events": 2.5}, "max_events"),
        ({"max_age_seconds": -1}, "max_age_seconds"),
        ({"prune_interval": -1}, "prune_interval"),
    ],
)
async def test_invalid_options_are_named(
    kind: str, tmp_path: pathlib.Path, options: dict[str, object], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        make_log(kind, tmp_path, **options)


async def test_invalid_reads_are_named(kind: str, tmp_path: pathlib.Path) -> None:
    async with make_log(kind, tmp_path) as log:
        for kwargs, message in [
            ({"since": -1}, "since"),
            ({"since": True}, "since"),
            ({"until": "3"}, "until"),
            ({"limit": 0}, "limit"),
        ]:
            with pytest.raises(ValueError, match=message):
                await log.read(">", **kwargs)  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="empty token"):
            await log.read("a..b")
        with pytest.raises(ValueError, match="max_events"):
            await log.prune(max_events=-3)


async def test_a_closed_log_refuses_work(kind: str, tmp_path: pathlib.Path) -> None:
    log = make_log(kind, tmp_path)
    async with log:
        await log.append([record("a")])
    await log.aclose()  # idempotent
    with pytest.raises(EventLogError, match="closed"):
        await log.append([record("b")])
    with pytest.raises(EventLogError, match="closed"):
        await log.read()


async def test_an_sqlite_log_must_be_opened_once(tmp_path: pathlib.Path) -> None:
    log = SqliteEventLog(tmp_path / "s.db")
    with pytest.raises(EventLogError, match="not open"):
        await log.read()
    async with log:
        with pytest.raises(EventLogError, match="only once"):
            await log.open()
    with pytest.raises(ValueError, match="busy_timeout"):
        SqliteEventLog(tmp_path / "s.db", busy_timeout=-1)
    with pytest.raises(TypeError, match="EventLog"):
        EventBus(event_log=str(tmp_path / "s.db"))  # type: ignore[arg-type]


async def test_a_reader_neither_creates_the_file_nor_the_table(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "dir" / "state.db"
    with pytest.raises(EventLogError, match="unable to open"):
        async with SqliteEventLog(path, create=False):
            pass
    assert not path.parent.exists()
    path.parent.mkdir()
    sqlite3.connect(path).execute("CREATE TABLE state (k TEXT)").connection.close()
    async with SqliteEventLog(path, create=False) as reader:
        assert await reader.read() == [] and await reader.latest_seq() == 0
        async with SqliteEventLog(path) as writer:  # creates the table beside the other one
            await writer.append([record("a"), record("b")])
            assert [e.topic for e in await reader.read()] == ["a", "b"]  # no reopen needed
            assert await reader.latest_seq() == 2
    tables = {row[0] for row in sqlite3.connect(path).execute("SELECT name FROM sqlite_master")}
    assert {"state", "event_log"} <= tables


async def test_a_locked_database_is_an_event_log_error(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "s.db"
    async with SqliteEventLog(path, busy_timeout=0) as log:
        other = sqlite3.connect(path, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")  # another process holds the write lock
        try:
            with pytest.raises(EventLogError, match="locked") as caught:
                await log.append([record("a")])
            assert isinstance(caught.value.__cause__, sqlite3.OperationalError)
        finally:
            other.execute("ROLLBACK")
            other.close()
        assert await log.append([record("a")]) == [1]  # nothing half-written before


async def test_an_in_memory_sqlite_log_works_on_one_connection() -> None:
    async with SqliteEventLog(":memory:") as log:
        assert await log.append([record("a"), record("b")]) == [1, 2]
        assert [e.topic for e in await log.read("b")] == ["b"]
        assert log.commits == 1
