"""The ``state`` global, end to end in Lua, JavaScript and Tengo, on a real SQLite store.

Every spell here exists in every engine and must behave the same. In Tengo an API error comes
back as an error value (``is_error(r)``, ``r.value``) and a function fails by returning one.
"""

from __future__ import annotations

import json
import os
import pathlib
from collections.abc import AsyncIterator
from typing import Any

import anyio
import pytest

from llmspell import open_runtime
from llmspell._api import describe_api
from llmspell._check import check_source
from llmspell._runtime import Runtime, SpellSource
from llmspell.state import MemoryStateStore, SqliteStateStore
from llmspell.tools import Permissions

from .spellkit import run_source

pytestmark = pytest.mark.anyio
BOTH = pytest.mark.parametrize("ext", ["lua", "js", "tengo"])


@pytest.fixture
async def store(tmp_path: pathlib.Path) -> AsyncIterator[SqliteStateStore]:
    async with SqliteStateStore(tmp_path / "state.db") as s:
        yield s


@pytest.fixture
async def runtime(store: SqliteStateStore, tmp_path: pathlib.Path) -> AsyncIterator[Runtime]:
    permissions = Permissions(workspace=tmp_path, allow=frozenset({"fs.write"}))
    async with open_runtime(state=store, permissions=permissions) as rt:
        yield rt


async def run_ok(rt: Runtime, source: str, ext: str, name: str = "spell") -> Any:
    ran = await rt.run(SpellSource(source, f"{name}.{ext}"))
    assert ran.ok, ran.error
    return ran.value


CALLS = {
    "lua": """
        state.set("context", {topic = "quantum", tags = {"a", "b"}, n = 1.5, ok = true})
        state.set("context.user.name", "Ada")
        local before = state.get("context")
        local counter = state.update("runs", function(n) return (n or 0) + 1 end)
        local deleted = state.delete("context.tags")
        local missing = state.delete("nope")
        state.set("gone", 1)
        state.set("gone", nil)
        return {before = before, user = state.get("context.user.name"), counter = counter,
                deleted = deleted, missing = missing, keys = state.keys(),
                prefixed = state.keys("ru"), absent = state.get("absent.deeper") == nil}
    """,
    "js": """
        await state.set("context", {topic: "quantum", tags: ["a", "b"], n: 1.5, ok: true});
        await state.set("context.user.name", "Ada");
        const before = await state.get("context");
        const counter = await state.update("runs", n => (n ?? 0) + 1);
        const deleted = await state.delete("context.tags");
        const missing = await state.delete("nope");
        await state.set("gone", 1);
        await state.set("gone", null);
        return {before, user: await state.get("context.user.name"), counter, deleted, missing,
                keys: await state.keys(), prefixed: await state.keys("ru"),
                absent: (await state.get("absent.deeper")) === null};
    """,
    "tengo": """
        state.set("context", {topic: "quantum", tags: ["a", "b"], n: 1.5, ok: true})
        state.set("context.user.name", "Ada")
        before := state.get("context")
        counter := state.update("runs", func(n) { return (n || 0) + 1 })
        deleted := state.delete("context.tags")
        missing := state.delete("nope")
        state.set("gone", 1)
        state.set("gone", undefined)
        export {before: before, user: state.get("context.user.name"), counter: counter,
                deleted: deleted, missing: missing, keys: state.keys(),
                prefixed: state.keys("ru"), absent: is_undefined(state.get("absent.deeper"))}
    """,
}


@BOTH
async def test_the_five_calls_on_the_spells_own_scope(
    ext: str, runtime: Runtime, store: SqliteStateStore
) -> None:
    value = await run_ok(runtime, CALLS[ext], ext, name="report")
    assert value == {
        "before": {
            "topic": "quantum",
            "tags": ["a", "b"],
            "n": 1.5,
            "ok": True,
            "user": {"name": "Ada"},
        },
        "user": "Ada",
        "counter": 1,
        "deleted": True,
        "missing": False,
        "keys": ["context", "runs"],
        "prefixed": ["runs"],
        "absent": True,
    }
    # the spell's own scope is spell:<file stem>; nothing leaked into other scopes
    assert await store.get("spell:report", "context") == {
        "topic": "quantum",
        "n": 1.5,
        "ok": True,
        "user": {"name": "Ada"},
    }
    assert await store.keys("global") == []


RUNS = {
    "lua": "return state.update('runs', function(n) return (n or 0) + 1 end)",
    "js": "return await state.update('runs', n => (n ?? 0) + 1);",
    "tengo": 'export state.update("runs", func(n) { return (n || 0) + 1 })',
}


@BOTH
async def test_values_survive_from_one_run_and_runtime_to_the_next(
    ext: str, tmp_path: pathlib.Path
) -> None:
    path = tmp_path / "state.db"
    for expected in (1, 2):
        async with open_runtime(state=path) as rt:  # the runtime opens and closes the store
            assert await run_ok(rt, RUNS[ext], ext) == expected
    async with open_runtime(state=str(path)) as rt:
        assert await run_ok(rt, RUNS[ext], ext) == 3


SCOPES = {
    "lua": """
        state.global:set("hits", 10)
        local user = state.scope("user:42")
        user:set("profile.name", "Ada")
        local other = state.scope("user:7")
        return {hits = state.global:get("hits"), name = user:get("profile.name"),
                scope = user.scope, global_scope = state.global.scope,
                other = other:get("profile.name") == nil, own = state.get("hits") == nil,
                keys = user:keys(), updated = state.global:update("hits", function(n) return n * 2 end),
                deleted = user:delete("profile")}
    """,
    "js": """
        await state.global.set("hits", 10);
        const user = await state.scope("user:42");
        await user.set("profile.name", "Ada");
        const other = await state.scope("user:7");
        return {hits: await state.global.get("hits"), name: await user.get("profile.name"),
                scope: user.scope, global_scope: state.global.scope,
                other: (await other.get("profile.name")) === null, own: (await state.get("hits")) === null,
                keys: await user.keys(), updated: await state.global.update("hits", n => n * 2),
                deleted: await user.delete("profile")};
    """,
    "tengo": """
        state.global.set("hits", 10)
        user := state.scope("user:42")
        user.set("profile.name", "Ada")
        other := state.scope("user:7")
        export {hits: state.global.get("hits"), name: user.get("profile.name"),
                scope: user.scope, global_scope: state.global.scope,
                other: is_undefined(other.get("profile.name")), own: is_undefined(state.get("hits")),
                keys: user.keys(), updated: state.global.update("hits", func(n) { return n * 2 }),
                deleted: user.delete("profile")}
    """,
}


@BOTH
async def test_global_and_named_scopes(ext: str, runtime: Runtime, store: SqliteStateStore) -> None:
    value = await run_ok(runtime, SCOPES[ext], ext)
    assert value == {
        "hits": 10,
        "name": "Ada",
        "scope": "user:42",
        "global_scope": "global",
        "other": True,
        "own": True,
        "keys": ["profile"],
        "updated": 20,
        "deleted": True,
    }
    assert await store.get("global", "hits") == 20
    assert await store.keys("user:42") == []


SHARED = {
    "lua": "state.global:set('from_' .. params.who, true); return state.scope('spell:writer'):get('mine')",
    "js": "await state.global.set('from_' + params.who, true); return await (await state.scope('spell:writer')).get('mine');",
    "tengo": 'state.global.set("from_" + params.who, true)\nexport state.scope("spell:writer").get("mine")',
}


@BOTH
async def test_spells_have_their_own_scopes_and_share_global(
    ext: str, runtime: Runtime, store: SqliteStateStore
) -> None:
    await store.set("spell:writer", "mine", "written by writer")
    ran = await runtime.run(SpellSource(SHARED[ext], f"reader.{ext}"), params={"who": ext})
    assert ran.ok, ran.error
    assert ran.value == "written by writer"
    assert await store.get("global", f"from_{ext}") is True


COUNT = {
    "lua": "return state.global:update('count', function(n) return (n or 0) + 1 end)",
    "js": "return await state.global.update('count', n => (n ?? 0) + 1);",
    "tengo": 'export state.global.update("count", func(n) { return (n || 0) + 1 })',
}


@pytest.mark.slow
@BOTH
async def test_100_concurrent_spells_incrementing_one_counter_end_at_100(
    ext: str, runtime: Runtime, store: SqliteStateStore
) -> None:
    spell = SpellSource(COUNT[ext], f"counter.{ext}")
    results: list[Any] = []

    async def one() -> None:
        ran = await runtime.run(spell)
        assert ran.ok, ran.error
        results.append(ran.value)

    async with anyio.create_task_group() as tg:
        for _ in range(100):
            tg.start_soon(one)
    assert await store.get("global", "count") == 100
    assert sorted(results) == list(range(1, 101))  # each saw its own increment


PROMISE_ALL = """
    await Promise.all(Array.from({length: 20}, () => state.update("n", n => (n ?? 0) + 1)));
    return await state.get("n");
"""


async def test_js_promise_all_over_state_updates(runtime: Runtime) -> None:
    assert await run_ok(runtime, PROMISE_ALL, "js") == 20


FAILING_UPDATE = {
    "lua": """
        state.set("n", 41)
        local ok, err = pcall(state.update, "n", function(n) error("refused " .. n) end)
        return {ok = ok, err = tostring(err), n = state.get("n")}
    """,
    "js": """
        await state.set("n", 41);
        let err = null;
        try { await state.update("n", n => { throw new Error("refused " + n); }); } catch (e) { err = String(e); }
        return {ok: err === null, err, n: await state.get("n")};
    """,
    "tengo": """
        state.set("n", 41)
        r := state.update("n", func(n) { return error("refused " + string(n)) })
        export {ok: !is_error(r), err: is_error(r) ? r.value : "", n: state.get("n")}
    """,
}


@BOTH
async def test_an_update_function_that_raises_changes_nothing(ext: str, runtime: Runtime) -> None:
    value = await run_ok(runtime, FAILING_UPDATE[ext], ext)
    assert value["ok"] is False and "refused 41" in value["err"]
    assert value["n"] == 41


BAD = {
    "lua": """
        local function try(f, ...) local ok, err = pcall(f, ...); return ok and "no error" or tostring(err) end
        state.set("keep", 1)
        local cyclic = {}
        cyclic.me = cyclic
        return {
          cycle = try(state.set, "keep", {inner = cyclic}),
          fn = try(state.set, "keep", {handler = function() end}),
          nan = try(state.set, "keep", {x = 0/0}),
          inf = try(state.set, "keep", math.huge),
          path = try(state.set, "a..b", 1),
          empty = try(state.get, ""),
          through = try(state.set, "keep.deeper", 1),
          update_fn = try(state.update, "keep", 5),
          update_value = try(state.update, "keep", function() return function() end end),
          scope = try(state.scope, ""),
          keep = state.get("keep"),
          keys = state.keys(),
        }
    """,
    "js": """
        const attempt = async (f) => { try { await f(); return "no error"; } catch (e) { return String(e); } };
        await state.set("keep", 1);
        const cyclic = {};
        cyclic.me = cyclic;
        return {
          cycle: await attempt(() => state.set("keep", {inner: cyclic})),
          fn: await attempt(() => state.set("keep", {handler: () => 1})),
          nan: await attempt(() => state.set("keep", {x: NaN})),
          inf: await attempt(() => state.set("keep", Infinity)),
          path: await attempt(() => state.set("a..b", 1)),
          empty: await attempt(() => state.get("")),
          through: await attempt(() => state.set("keep.deeper", 1)),
          update_fn: await attempt(() => state.update("keep", 5)),
          update_value: await attempt(() => state.update("keep", () => (() => 1))),
          scope: await attempt(() => state.scope("")),
          keep: await state.get("keep"),
          keys: await state.keys(),
        };
    """,
    "tengo": """
        math := import("math")
        try := func(r) { return is_error(r) ? r.value : "no error" }
        state.set("keep", 1)
        cyclic := {}
        cyclic.me = cyclic
        export {
          cycle: try(state.set("keep", {inner: cyclic})),
          fn: try(state.set("keep", {handler: func() {}})),
          nan: try(state.set("keep", {x: math.nan()})),
          inf: try(state.set("keep", math.inf(1))),
          path: try(state.set("a..b", 1)),
          empty: try(state.get("")),
          through: try(state.set("keep.deeper", 1)),
          update_fn: try(state.update("keep", 5)),
          update_value: try(state.update("keep", func() { return func() {} })),
          scope: try(state.scope("")),
          keep: state.get("keep"),
          keys: state.keys()
        }
    """,
}


@BOTH
async def test_bad_input_is_refused_naming_the_path_and_nothing_is_written(
    ext: str, runtime: Runtime
) -> None:
    value = await run_ok(runtime, BAD[ext], ext)
    # a cycle never reaches the store: the engine refuses it while converting the arguments
    assert "state.set: " in value["cycle"]
    assert "contains itself" in value["cycle"] or "cyclic" in value["cycle"]
    assert "'keep.handler' is a function" in value["fn"]
    assert "'keep.x' is nan" in value["nan"]
    assert "for 'keep' is not JSON: it is inf" in value["inf"]
    assert "'a..b' is not a valid path" in value["path"]
    assert "'' is not a valid path" in value["empty"]
    assert "'keep.deeper' reaches into 'keep', which holds a number" in value["through"]
    assert "state.update: parameter 'fn' must be a function" in value["update_fn"]
    assert "for 'keep' is not JSON: it is a function" in value["update_value"]
    assert "state.scope: parameter 'scope'" in value["scope"]
    assert value["keep"] == 1 and value["keys"] == ["keep"]


HUGE = {
    "lua": "local ok, err = pcall(state.set, 'big', string.rep('x', 16 * 1024 * 1024 + 1)); return {ok = ok, err = tostring(err), keys = state.keys()}",
    "js": "let err = null; try { await state.set('big', 'x'.repeat(16 * 1024 * 1024 + 1)); } catch (e) { err = String(e); } return {ok: err === null, err, keys: await state.keys()};",
    "tengo": 'text := import("text")\nr := state.set("big", text.repeat("x", 16 * 1024 * 1024 + 1))\nexport {ok: !is_error(r), err: r.value, keys: state.keys()}',
}


@BOTH
async def test_a_value_over_16_mib_is_refused(ext: str, runtime: Runtime) -> None:
    ran = await runtime.run(SpellSource(HUGE[ext], f"spell.{ext}"), limits=None)
    assert ran.ok, ran.error
    assert ran.value["ok"] is False
    assert "for 'big' is 16,777,219 bytes as JSON; the limit is 16,777,216" in ran.value["err"]
    assert ran.value["keys"] in ([], {})


CREATE = {
    "lua": """
        local s = state.create{persistence = "memory"}
        s:set("conversation_id", "abc123")
        s:set("context", {user = "John", topic = "quantum computing", password = "hunter2",
                          prefs = {theme = "dark", api_key = "k"}})
        local flat = s:transform{type = "flatten"}
        local some = s:transform{type = "filter", keys = {"conversation_id", "context.topic"}}
        local clean = s:transform{type = "sanitize"}
        local only = s:transform{type = "sanitize", keys = {"user"}}
        local other = state.create{}
        other:set("context", {user = "Ann", extra = 1})
        other:set("new", true)
        local theirs = s:merge(other, {strategy = "deep", conflictResolution = "theirs"})
        local ours = s:merge(other, {strategy = "deep", conflictResolution = "ours"})
        local shallow = s:merge(other, {strategy = "shallow"})
        return {
          flat_keys = flat:keys(), flat_user = flat:get("context.user"),
          some = {id = some:get("conversation_id"), context = some:get("context")},
          clean = clean:get("context"), only = only:get("context.user"),
          theirs = theirs:get("context"), ours = ours:get("context.user"), new = ours:get("new"),
          shallow = shallow:get("context"), untouched = s:get("context.user"),
          own = state.keys(),
        }
    """,
    "js": """
        const s = await state.create({persistence: "memory"});
        await s.set("conversation_id", "abc123");
        await s.set("context", {user: "John", topic: "quantum computing", password: "hunter2",
                                prefs: {theme: "dark", api_key: "k"}});
        const flat = await s.transform({type: "flatten"});
        const some = await s.transform({type: "filter", keys: ["conversation_id", "context.topic"]});
        const clean = await s.transform({type: "sanitize"});
        const only = await s.transform({type: "sanitize", keys: ["user"]});
        const other = await state.create({});
        await other.set("context", {user: "Ann", extra: 1});
        await other.set("new", true);
        const theirs = await s.merge(other, {strategy: "deep", conflictResolution: "theirs"});
        const ours = await s.merge(other, {strategy: "deep", conflictResolution: "ours"});
        const shallow = await s.merge(other, {strategy: "shallow"});
        return {
          flat_keys: await flat.keys(), flat_user: await flat.get("context.user"),
          some: {id: await some.get("conversation_id"), context: await some.get("context")},
          clean: await clean.get("context"), only: await only.get("context.user"),
          theirs: await theirs.get("context"), ours: await ours.get("context.user"), new: await ours.get("new"),
          shallow: await shallow.get("context"), untouched: await s.get("context.user"),
          own: await state.keys(),
        };
    """,
    "tengo": """
        s := state.create({persistence: "memory"})
        s.set("conversation_id", "abc123")
        s.set("context", {user: "John", topic: "quantum computing", password: "hunter2",
                          prefs: {theme: "dark", api_key: "k"}})
        flat := s.transform({type: "flatten"})
        some := s.transform({type: "filter", keys: ["conversation_id", "context.topic"]})
        clean := s.transform({type: "sanitize"})
        only := s.transform({type: "sanitize", keys: ["user"]})
        other := state.create({})
        other.set("context", {user: "Ann", extra: 1})
        other.set("new", true)
        theirs := s.merge(other, {strategy: "deep", conflictResolution: "theirs"})
        ours := s.merge(other, {strategy: "deep", conflictResolution: "ours"})
        shallow := s.merge(other, {strategy: "shallow"})
        export {
          flat_keys: flat.keys(), flat_user: flat.get("context.user"),
          some: {id: some.get("conversation_id"), context: some.get("context")},
          clean: clean.get("context"), only: only.get("context.user"),
          theirs: theirs.get("context"), ours: ours.get("context.user"), new: ours.get("new"),
          shallow: shallow.get("context"), untouched: s.get("context.user"),
          own: state.keys()
        }
    """,
}


@BOTH
async def test_created_stores_transform_and_merge(ext: str, runtime: Runtime) -> None:
    value = await run_ok(runtime, CREATE[ext], ext)
    assert value["flat_keys"] == [
        "context.password",
        "context.prefs.api_key",
        "context.prefs.theme",
        "context.topic",
        "context.user",
        "conversation_id",
    ]
    assert value["flat_user"] == "John"
    assert value["some"] == {"id": "abc123", "context": {"topic": "quantum computing"}}
    assert value["clean"] == {
        "user": "John",
        "topic": "quantum computing",
        "password": "[redacted]",
        "prefs": {"theme": "dark", "api_key": "[redacted]"},
    }
    assert value["only"] == "[redacted]"
    assert value["theirs"] == {
        "user": "Ann",
        "topic": "quantum computing",
        "password": "hunter2",
        "prefs": {"theme": "dark", "api_key": "k"},
        "extra": 1,
    }
    assert value["ours"] == "John" and value["new"] is True
    assert value["shallow"] == {"user": "Ann", "extra": 1}
    assert value["untouched"] == "John"  # transforms and merges leave their inputs alone
    assert value["own"] in ([], {})  # a created store is separate from the spell's state


FILES = {
    "lua": """
        local db = state.create{persistence = "sqlite", path = "data/notes.db"}
        db:set("note", {text = "hello"})
        local js = state.create{persistence = "file", path = "notes.json"}
        js:set("note", "saved")
        local merged = db:merge(state.global, {strategy = "shallow"})
        return {note = db:get("note.text"), file = js:get("note"), merged = merged:keys()}
    """,
    "js": """
        const db = await state.create({persistence: "sqlite", path: "data/notes.db"});
        await db.set("note", {text: "hello"});
        const js = await state.create({persistence: "file", path: "notes.json"});
        await js.set("note", "saved");
        const merged = await db.merge(state.global, {strategy: "shallow"});
        return {note: await db.get("note.text"), file: await js.get("note"), merged: await merged.keys()};
    """,
    "tengo": """
        db := state.create({persistence: "sqlite", path: "data/notes.db"})
        db.set("note", {text: "hello"})
        js := state.create({persistence: "file", path: "notes.json"})
        js.set("note", "saved")
        merged := db.merge(state.global, {strategy: "shallow"})
        export {note: db.get("note.text"), file: js.get("note"), merged: merged.keys()}
    """,
}


@BOTH
async def test_created_file_stores_live_in_the_workspace(
    ext: str, runtime: Runtime, store: SqliteStateStore, tmp_path: pathlib.Path
) -> None:
    await store.set("global", "g", 1)
    value = await run_ok(runtime, FILES[ext], ext)
    assert value == {"note": "hello", "file": "saved", "merged": ["g", "note"]}
    assert json.loads((tmp_path / "notes.json").read_text()) == {"global": {"note": "saved"}}
    async with SqliteStateStore(tmp_path / "data" / "notes.db") as db:
        assert await db.get("global", "note") == {"text": "hello"}


REFUSED = {
    "lua": """
        local function try(f, ...) local ok, err = pcall(f, ...); return ok and "no error" or tostring(err) end
        return {
          outside = try(state.create, {persistence = "file", path = "../outside.json"}),
          absolute = try(state.create, {persistence = "sqlite", path = "/etc/x.db"}),
          nopath = try(state.create, {persistence = "file"}),
          kind = try(state.create, {persistence = "disk"}),
          option = try(state.create, {persistance = "memory"}),
          merge = try(function() return state.create{}:merge({}, {}) end),
          strategy = try(function() return state.create{}:merge(state.global, {strategy = "wide"}) end),
          transform = try(function() return state.create{}:transform{type = "upper"} end),
        }
    """,
    "js": """
        const attempt = async (f) => { try { await f(); return "no error"; } catch (e) { return String(e); } };
        return {
          outside: await attempt(() => state.create({persistence: "file", path: "../outside.json"})),
          absolute: await attempt(() => state.create({persistence: "sqlite", path: "/etc/x.db"})),
          nopath: await attempt(() => state.create({persistence: "file"})),
          kind: await attempt(() => state.create({persistence: "disk"})),
          option: await attempt(() => state.create({persistance: "memory"})),
          merge: await attempt(async () => (await state.create({})).merge({}, {})),
          strategy: await attempt(async () => (await state.create({})).merge(state.global, {strategy: "wide"})),
          transform: await attempt(async () => (await state.create({})).transform({type: "upper"})),
        };
    """,
    "tengo": """
        try := func(r) { return is_error(r) ? r.value : "no error" }
        export {
          outside: try(state.create({persistence: "file", path: "../outside.json"})),
          absolute: try(state.create({persistence: "sqlite", path: "/etc/x.db"})),
          nopath: try(state.create({persistence: "file"})),
          kind: try(state.create({persistence: "disk"})),
          option: try(state.create({persistance: "memory"})),
          merge: try(state.create({}).merge({}, {})),
          strategy: try(state.create({}).merge(state.global, {strategy: "wide"})),
          transform: try(state.create({}).transform({type: "upper"}))
        }
    """,
}


@BOTH
async def test_created_stores_refuse_bad_options_and_paths_outside_the_workspace(
    ext: str, runtime: Runtime, tmp_path: pathlib.Path
) -> None:
    value = await run_ok(runtime, REFUSED[ext], ext)
    assert (
        "state.create: parameter 'path' '../outside.json' escapes the workspace" in value["outside"]
    )
    assert "is outside the workspace" in value["absolute"]
    assert "parameter 'path' is required for persistence 'file'" in value["nopath"]
    assert "parameter 'persistence' must be one of memory, sqlite, file" in value["kind"]
    assert "parameter 'persistance' is not an option" in value["option"]
    assert "store.merge: parameter 'other' must be a store" in value["merge"]
    assert "parameter 'strategy' must be one of deep, shallow" in value["strategy"]
    assert "parameter 'type' must be one of filter, flatten, sanitize" in value["transform"]
    assert sorted(os.listdir(tmp_path)) == ["state.db", "state.db-shm", "state.db-wal"]


@BOTH
async def test_a_store_file_needs_the_fs_write_permission(
    ext: str, store: SqliteStateStore, tmp_path: pathlib.Path
) -> None:
    source = {
        "lua": "return state.create{persistence = 'file', path = 'x.json'}:get('a')",
        "js": "return await (await state.create({persistence: 'file', path: 'x.json'})).get('a');",
        "tengo": 'r := state.create({persistence: "file", path: "x.json"})\nexport r.get("a")',
    }[ext]
    async with open_runtime(state=store, permissions=Permissions(workspace=tmp_path)) as rt:
        ran = await rt.run(SpellSource(source, f"spell.{ext}"))
    assert not ran.ok
    assert "needs the fs.write permission (run with --allow fs.write)" in (ran.error or "")
    assert not (tmp_path / "x.json").exists()


async def test_a_runtime_creates_its_default_database_only_when_state_is_used(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    async with open_runtime() as rt:
        assert (await run_source("print('no state')", "lua", runtime=rt)).result.ok
        assert not (tmp_path / ".llmspell").exists()
        assert (await run_source("state.set('a', 1)", "lua", runtime=rt)).result.ok
    async with SqliteStateStore(tmp_path / ".llmspell" / "state.db") as db:
        assert await db.get("spell:spell", "a") == 1


async def test_a_corrupt_database_fails_the_run_with_a_message_naming_it(
    tmp_path: pathlib.Path,
) -> None:
    path = tmp_path / "state.db"
    path.write_bytes(b"garbage " * 1000)
    async with open_runtime(state=path) as rt:
        ran = await run_source("return state.get('a')", "lua", runtime=rt)
    assert not ran.result.ok
    assert f"state store '{path}': is not a SQLite database" in (ran.result.error or "")
    assert (
        ran.result.traceback is None
        or "Traceback (most recent call last)" not in ran.result.traceback
    )


def test_check_knows_the_state_api() -> None:
    namespaces = describe_api()
    good = (
        "local f = function(n) return n end; "
        "state.global:get('a'); state.scope('x'):set('a', 1); state.create{}; state.update('a', f)"
    )
    assert check_source(good, "ok.lua", namespaces) == []
    problems = check_source("state.fetch('a')", "bad.lua", namespaces)
    assert len(problems) == 1 and "state.fetch is not part of the API" in str(problems[0])


async def test_memory_runtime_state_is_per_runtime() -> None:
    async with open_runtime(state=":memory:") as rt:
        assert (await run_source(RUNS["lua"], "lua", runtime=rt)).result.value == 1
        assert (await run_source(RUNS["lua"], "lua", runtime=rt)).result.value == 2
    async with open_runtime(state=MemoryStateStore()) as rt:
        assert (await run_source(RUNS["lua"], "lua", runtime=rt)).result.value == 1
