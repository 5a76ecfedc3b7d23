"""The StateStore contract, run against every store: SQLite, JSON file and memory."""

from __future__ import annotations

import math
import pathlib
from collections.abc import AsyncIterator
from typing import Any

import anyio
import anyio.lowlevel
import pytest

from llmspell.state import (
    MAX_VALUE_BYTES,
    FileStateStore,
    MemoryStateStore,
    SqliteStateStore,
    StateConflictError,
    StateError,
    StateStore,
    StateValueError,
)

pytestmark = pytest.mark.anyio

KINDS = ["sqlite", "file", "memory"]


def make(kind: str, tmp_path: pathlib.Path, **kw: Any) -> StateStore:
    if kind == "sqlite":
        return SqliteStateStore(tmp_path / "state.db", **kw)
    if kind == "file":
        return FileStateStore(tmp_path / "state.json", **kw)
    return MemoryStateStore(**kw)


@pytest.fixture(params=KINDS)
async def store(
    request: pytest.FixtureRequest, tmp_path: pathlib.Path
) -> AsyncIterator[StateStore]:
    async with make(request.param, tmp_path) as s:
        yield s


async def test_set_get_delete_and_sorted_keys(store: StateStore) -> None:
    assert await store.get("global", "missing") is None
    await store.set("global", "b", 2)
    await store.set("global", "a", {"x": [1, 2.5, "three", None, True]})
    await store.set("global", "ä", "non-ascii ✓")
    await store.set("other", "a", "other scope")
    assert await store.get("global", "a") == {"x": [1, 2.5, "three", None, True]}
    assert await store.get("global", "ä") == "non-ascii ✓"
    assert await store.get("other", "a") == "other scope"
    assert await store.keys("global") == ["a", "b", "ä"]
    assert await store.keys("global", "b") == ["b"]
    assert await store.keys("nobody") == []
    assert await store.delete("global", "b") is True
    assert await store.delete("global", "b") is False
    assert await store.items("global") == {
        "a": {"x": [1, 2.5, "three", None, True]},
        "ä": "non-ascii ✓",
    }


async def test_setting_none_deletes(store: StateStore) -> None:
    await store.set("global", "a", 1)
    await store.set("global", "a", None)
    assert await store.keys("global") == []


async def test_dot_paths_reach_into_objects_and_create_them(store: StateStore) -> None:
    await store.set("global", "context.user.name", "Ada")
    await store.set("global", "context.topic", "quantum")
    assert await store.get("global", "context") == {"user": {"name": "Ada"}, "topic": "quantum"}
    assert await store.get("global", "context.user.name") == "Ada"
    assert await store.get("global", "context.nothing.deeper") is None
    assert await store.delete("global", "context.user") is True
    assert await store.delete("global", "context.user") is False
    assert await store.get("global", "context") == {"topic": "quantum"}
    assert await store.keys("global") == ["context"]


@pytest.mark.parametrize("kind", KINDS)
async def test_an_exact_top_level_key_wins_over_a_nested_path(
    kind: str, tmp_path: pathlib.Path
) -> None:
    # Flattened stores hold leaves under their dot paths as top-level keys ("context.user");
    # a path names such a key exactly before it reaches into nested values.
    rows = {"context": '{"user":"nested","topic":"t"}', "context.user": '"flat"'}
    if kind == "sqlite":
        import sqlite3

        async with make(kind, tmp_path):  # creates the table
            pass
        with sqlite3.connect(tmp_path / "state.db") as db:
            db.executemany("INSERT INTO state VALUES ('global', ?, ?, 1)", list(rows.items()))
    elif kind == "file":
        body = ",".join(f'"{k}": {v}' for k, v in rows.items())
        (tmp_path / "state.json").write_text(f'{{"global": {{{body}}}}}')
    async with make(kind, tmp_path) as store:
        if isinstance(store, MemoryStateStore):
            store._load({"global": rows})
        assert await store.get("global", "context.user") == "flat"
        assert await store.get("global", "context.topic") == "t"
        assert await store.update("global", "context.user", _const("flat 2")) == "flat 2"
        await store.set("global", "context.topic", "t2")
        assert await store.items("global") == {
            "context": {"user": "nested", "topic": "t2"},
            "context.user": "flat 2",
        }
        assert await store.delete("global", "context.user") is True
        assert await store.get("global", "context.user") == "nested"


async def test_a_path_through_a_non_object_is_refused_and_nothing_is_written(
    store: StateStore,
) -> None:
    await store.set("global", "a", 5)
    with pytest.raises(StateValueError, match=r"'a\.b' reaches into 'a', which holds a number"):
        await store.set("global", "a.b", 1)
    assert await store.get("global", "a") == 5
    assert await store.get("global", "a.b") is None


@pytest.mark.parametrize("path", ["", "a..b", ".a", "a.", 7, None])
async def test_invalid_paths_are_refused_naming_the_path(store: StateStore, path: Any) -> None:
    for call in (
        lambda: store.get("global", path),
        lambda: store.set("global", path, 1),
        lambda: store.delete("global", path),
        lambda: store.update("global", path, _const(1)),
    ):
        with pytest.raises(StateValueError) as info:
            await call()
        assert info.value.parameter == "path"
        assert repr(path) in str(info.value) or "must be a string" in str(info.value)
    assert await store.keys("global") == []


async def test_invalid_scopes_are_refused(store: StateStore) -> None:
    with pytest.raises(StateValueError, match="scope"):
        await store.set("", "a", 1)
    with pytest.raises(StateValueError, match="scope"):
        await store.keys(None)  # type: ignore[arg-type]


def _cycle() -> dict[str, Any]:
    inner: dict[str, Any] = {}
    inner["me"] = inner
    return {"inner": inner}


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (print, "'x' is not JSON: it is a function"),
        ({"f": lambda: 1}, "'x.f' is a function"),
        (math.nan, "it is nan"),
        ([1, {"y": math.inf}], r"'x\[2\].y' is inf"),
        (-math.inf, "it is -inf"),
        (_cycle(), "'x.inner.me' is 'x.inner' again"),
        ({"s": {1, 2}}, "'x.s' is a set"),
        ({(1, 2): "tuple key"}, "has a key of type tuple"),
    ],
)
async def test_values_that_are_not_json_are_refused_naming_the_path(
    store: StateStore, value: Any, message: str
) -> None:
    await store.set("global", "x", "before")
    with pytest.raises(StateValueError, match=message) as info:
        await store.set("global", "x", value)
    assert info.value.path == "x" and info.value.parameter == "value"
    with pytest.raises(StateValueError, match=message.replace("'x", "'n.x")):
        await store.set("global", "n.x", value)
    assert await store.get("global", "x") == "before"
    assert await store.keys("global") == ["x"]


async def test_a_value_over_16_mib_is_refused(store: StateStore) -> None:
    big = "x" * (MAX_VALUE_BYTES - 2)  # its JSON text adds two quotes: exactly the limit
    await store.set("global", "big", big)
    assert await store.get("global", "big") == big
    with pytest.raises(StateValueError, match=r"for 'big2' is 16,777,217 bytes as JSON"):
        await store.set("global", "big2", big + "y")
    with pytest.raises(StateValueError, match="16 MiB"):  # counted in UTF-8 bytes
        await store.set("global", "big3", "é" * (MAX_VALUE_BYTES // 2))
    assert await store.keys("global") == ["big"]


async def test_values_are_copies(store: StateStore) -> None:
    value = {"list": [1]}
    await store.set("global", "v", value)
    value["list"].append(2)
    got = await store.get("global", "v")
    got["list"].append(3)
    assert await store.get("global", "v") == {"list": [1]}


async def test_update_applies_fn_and_returns_the_new_value(store: StateStore) -> None:
    assert await store.update("global", "n", _increment) == 1
    assert await store.update("global", "n", _increment) == 2
    assert await store.update("global", "stats.runs", _increment) == 1
    assert await store.get("global", "stats") == {"runs": 1}
    assert await store.update("global", "n", _const(None)) is None  # None deletes
    assert await store.keys("global") == ["stats"]


async def test_update_with_a_raising_fn_changes_nothing(store: StateStore) -> None:
    await store.set("global", "n", 41)

    async def boom(current: Any) -> Any:
        raise RuntimeError("no")

    with pytest.raises(RuntimeError, match="no"):
        await store.update("global", "n", boom)
    with pytest.raises(StateValueError, match="'n' is not JSON: it is a function"):
        await store.update("global", "n", _const(print))
    assert await store.get("global", "n") == 41


async def test_concurrent_updates_in_one_process_lose_nothing(store: StateStore) -> None:
    calls = 0

    async def slow_increment(current: Any) -> int:
        nonlocal calls
        calls += 1
        await anyio.lowlevel.checkpoint()  # let the other updaters read the value meanwhile
        return (current or 0) + 1

    async with anyio.create_task_group() as tg:
        for _ in range(40):
            tg.start_soon(store.update, "global", "counter", slow_increment)
            tg.start_soon(store.update, "global", "nested.counter", slow_increment)
    assert await store.get("global", "counter") == 40
    assert await store.get("global", "nested.counter") == 40
    assert calls > 80  # they did collide, and were retried


async def test_update_gives_up_with_a_clear_error_when_the_value_keeps_changing(
    tmp_path: pathlib.Path,
) -> None:
    for kind in KINDS:
        async with make(kind, tmp_path / kind, update_attempts=5) as store:
            calls = 0

            async def meddle(current: Any, store: StateStore = store) -> int:
                nonlocal calls
                calls += 1
                await store.set("global", "n", calls * 100)  # another writer, every time
                return 1

            with pytest.raises(StateConflictError, match="'n' in scope 'global' kept changing"):
                await store.update("global", "n", meddle)
            assert calls == 5
            assert await store.get("global", "n") == 500


async def test_a_closed_store_refuses_calls(tmp_path: pathlib.Path) -> None:
    for kind in KINDS:
        store = make(kind, tmp_path / kind)
        await store.set("global", "a", 1)
        await store.aclose()
        with pytest.raises(StateError, match="closed"):
            await store.get("global", "a")


@pytest.mark.parametrize("kind", ["sqlite", "file"])
async def test_values_survive_reopening(kind: str, tmp_path: pathlib.Path) -> None:
    async with make(kind, tmp_path) as store:
        await store.set("global", "a", {"deep": [1, 2]})
        await store.set("spell:x", "runs", 3)
    async with make(kind, tmp_path) as store:
        assert await store.get("global", "a.deep") == [1, 2]
        assert await store.get("spell:x", "runs") == 3


@pytest.mark.parametrize("kind", ["sqlite", "file"])
async def test_stores_open_lazily_and_create_their_directory(
    kind: str, tmp_path: pathlib.Path
) -> None:
    store = make(kind, tmp_path / "deeper" / "dir")
    assert not (tmp_path / "deeper").exists()
    await store.set("global", "a", 1)
    assert (tmp_path / "deeper" / "dir").is_dir()
    await store.aclose()


async def test_two_stores_on_one_file_see_each_others_writes(tmp_path: pathlib.Path) -> None:
    for kind in ["sqlite", "file"]:
        async with make(kind, tmp_path) as one, make(kind, tmp_path) as two:
            await one.set("global", "k", 1)
            assert await two.get("global", "k") == 1
            await two.update("global", "k", _increment)
            assert await one.update("global", "k", _increment) == 3


async def _increment(current: Any) -> int:
    return (current or 0) + 1


def _const(value: Any) -> Any:
    async def fn(current: Any) -> Any:
        return value

    return fn


def test_the_public_surface_is_pinned() -> None:
    import ast
    import types

    import llmspell.state as state

    exported = {
        name
        for name, value in vars(state).items()
        if not name.startswith("_") and not isinstance(value, types.ModuleType)
    } - {"annotations"}
    assert (
        exported
        == set(state.__all__)
        == {
            "CONFLICTS",
            "DEFAULT_STATE_PATH",
            "MAX_VALUE_BYTES",
            "PERSISTENCE",
            "STRATEGIES",
            "TRANSFORMS",
            "FileStateStore",
            "JsonValue",
            "MemoryStateStore",
            "RowStore",
            "SqliteStateStore",
            "StateConflictError",
            "StateError",
            "StateFileError",
            "StateStore",
            "StateValueError",
            "UpdateFn",
            "check_scope",
            "create_state_store",
            "flatten_items",
            "merge",
            "merge_items",
            "open_state_store",
            "persistence_for",
            "sanitize_items",
            "transform",
        }
    )
    source = pathlib.Path(state.__file__ or "").read_text(encoding="utf-8")
    for node in ast.parse(source).body:
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            assert all(alias.asname == alias.name for alias in node.names)
