"""The Lua engine from the spell's and the host's point of view."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import anyio
import anyio.lowlevel
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from llmspell._exceptions import (
    LimitExceeded,
    ParameterError,
    SpellClosedError,
    SpellInterrupted,
    SpellRuntimeError,
    SpellSyntaxError,
)
from llmspell.engines import (
    Api,
    HostObject,
    Limits,
    Namespace,
    ScriptFunction,
    ScriptInstance,
    sync_api,
)
from llmspell.engines.lua import LuaEngine

from ._eager_host import EagerHost

pytestmark = pytest.mark.anyio

ENGINE = LuaEngine()
LIMITS = Limits(memory_bytes=8 * 1024 * 1024, cpu_seconds=2.0, timeout_seconds=5.0)


class Host:
    """A small script API that records what the spell did."""

    def __init__(self) -> None:
        self.output: list[str] = []
        self.calls: list[tuple[str, tuple[Any, ...]]] = []
        self.functions: dict[str, ScriptFunction] = {}
        self.release = anyio.Event()
        self.blocked = 0

        async def echo(*args: Any) -> Any:
            self.calls.append(("echo", args))
            return args[0] if args else None

        async def count(*args: Any) -> int:
            await anyio.lowlevel.checkpoint()
            return len(args)

        async def fail(*args: Any) -> None:
            raise ParameterError("t.fail", "messages", "is required")

        async def crash(*args: Any) -> None:
            raise KeyError("x")

        async def over(*args: Any) -> None:
            raise LimitExceeded("output", "too much")

        async def block(value: Any = None) -> Any:
            self.blocked += 1
            await self.release.wait()
            return value

        async def register(name: str, fn: ScriptFunction) -> str:
            self.functions[name] = fn
            return name

        async def call(name: str, *args: Any) -> Any:
            return await self.functions[name](*args)

        @sync_api
        async def info(message: str, fields: Any = None) -> None:
            self.calls.append(("info", (message, fields)))

        @sync_api
        async def upper(text: str) -> str:
            return text.upper()

        async def tool(name: str, *args: Any) -> Any:
            return {"tool": name, "args": list(args)}

        self.agent = HostObject(
            "agent", {"run": echo, "name_of": upper}, {"name": "researcher", "steps": 3}
        )

        async def make_agent(config: Any = None) -> HostObject:
            return self.agent

        async def same(obj: Any) -> bool:
            return obj is self.agent

        async def sleep(seconds: float) -> None:
            await anyio.sleep(seconds)

        self.api = Api(
            namespaces={
                "t": Namespace(
                    {
                        "echo": echo,
                        "count": count,
                        "fail": fail,
                        "crash": crash,
                        "over": over,
                        "block": block,
                        "register": register,
                        "call": call,
                        "agent": make_agent,
                        "same": same,
                    },
                    values={"version": "1.0"},
                ),
                "log": Namespace({"info": info, "upper": upper}),
                "tools": Namespace({"list": count}, dynamic=tool),
            },
            functions={"sleep": sleep},
            values={"params": {"topic": "quantum", "n": 3}},
            output=self.output.append,
        )
        self.api_info = info


async def run(
    source: str, host: Host | None = None, limits: Limits = LIMITS, filename: str = "hello.lua"
) -> Any:
    host = host or Host()
    async with ENGINE.open(source, filename, host.api, limits) as instance:
        return await instance.run_main()


async def test_globals_and_call_styles() -> None:
    host = Host()
    result = await run(
        """
        local a = t.echo(1)
        local b = t:echo(2)
        local c = t.echo{x = 1}
        log.info("hello", {k = "v"})
        return {a, b, c.x, t.version, params.topic, params.n, t:count(1, 2, 3)}
        """,
        host,
    )
    assert result == [1, 2, 1, "1.0", "quantum", 3, 3]
    assert ("info", ("hello", {"k": "v"})) in host.calls


async def test_arguments_keep_their_count_and_nils() -> None:
    host = Host()
    await run("t.echo() t.echo(nil) t.echo(1, nil, 3) t:echo()", host)
    assert [args for name, args in host.calls] == [(), (None,), (1, None, 3), ()]


async def test_nested_and_flat_tables_reach_lua_whole() -> None:
    # A flat table is built without lupa's recursion; one with tables inside with it, even
    # when a host object's table (its fields converted on the way) comes after them.
    async def values() -> Any:
        fresh = HostObject("thing", {}, {"n": 1})  # first seen here: its table is made now
        return {"flat": {"a": 1, "b": "x"}, "mixed": {"list": [1, {"k": [2]}], "host": fresh}}

    api = Api(
        namespaces={"t": Namespace({"values": values})}, functions={}, values={}, output=print
    )
    source = """
        local v = t.values()
        return {type(v.flat), v.flat.a, v.flat.b, type(v.mixed.list), v.mixed.list[2].k[1],
                v.mixed.host.n}
    """
    async with ENGINE.open(source, "nested.lua", api, LIMITS) as instance:
        assert await instance.run_main() == ["table", 1, "x", "table", 2, 1]


async def test_dynamic_namespace() -> None:
    result = await run(
        """
        local a = tools.weather("Paris", 3)
        local b = tools:search{q = "lua"}
        return {a, b, tools.weather == tools.weather, tools.list(1, 2)}
        """
    )
    assert result == [
        {"tool": "weather", "args": ["Paris", 3]},
        {"tool": "search", "args": [{"q": "lua"}]},
        True,
        2,
    ]


async def test_host_object_methods_fields_and_identity() -> None:
    result = await run(
        """
        local a = t.agent{name = "r"}
        return {a:run("x"), a.run("y"), a:name_of("z"), a.name, a.steps,
                t.same(a), a == t.agent(), tostring(a):match("^agent")}
        """
    )
    assert result == ["x", "y", "Z", "researcher", 3, True, True, "agent"]


async def test_namespace_values_of_every_kind() -> None:
    # The API is installed by a Lua chunk generated per Api: constants, host objects whose
    # fields are constants (built by the chunk), other values (converted per instance), names
    # that need escaping, aliases, and a value named like a function (the function wins).
    async def hello(who: str) -> str:
        return f"hi {who}"

    async def method() -> str:
        return "m"

    fixed = HostObject("fixed", {"m": method}, {"a": -1.5, "b": True, "c": 'é\n"\\0'})
    loose = HostObject("loose", {"m": method}, {"data": [1, 2]})
    ns = Namespace(
        {"hello": hello},
        values={
            "n": 2**62,
            "s": "x\x00y",
            "lst": [1, 2, 3],
            "d": {"k": "v"},
            "fixed": fixed,
            "loose": loose,
            "hello": "shadowed",
        },
    )
    api = Api(
        {"we-ird ns": ns, "alias": ns, "other": Namespace({}, values={"f": fixed})},
        {},
        {"params": {}},
        lambda text: None,
    )
    source = r"""
        local ns = _G["we-ird ns"]
        assert(ns == alias and ns.hello("you") == "hi you")
        assert(ns.n == 4611686018427387904 and ns.s == "x\0y" and #ns.s == 3)
        assert(ns.lst[3] == 3 and ns.d.k == "v")
        assert(ns.fixed == other.f and ns.fixed ~= ns.loose)
        assert(ns.fixed.a == -1.5 and ns.fixed.b == true and ns.fixed.c == "é\n\"\\0")
        assert(ns.loose.data[2] == 2 and ns.fixed:m() == "m" and ns.loose.m() == "m")
        return {ns.fixed, ns.loose}
    """
    async with ENGINE.open(source, "v.lua", api, LIMITS) as instance:
        result = await instance.run_main()
    assert isinstance(result, list) and result[0] is fixed and result[1] is loose


async def test_sync_api_runs_where_lua_cannot_yield() -> None:
    result = await run(
        """
        local s = ("a b"):gsub("%a", function(c) return log.upper(c) end)
        local t2 = {3, 1, 2}
        table.sort(t2, function(x, y) log.info("cmp") return x < y end)
        local ok, err = pcall(string.gsub, "a", "%a", function(c) return t.echo(c) end)
        return {s, t2, ok, err}
        """
    )
    assert result[:3] == ["A B", [1, 2, 3], False]
    assert "this API call cannot be made here" in result[3]


async def test_api_error_caught_by_pcall_has_clean_message() -> None:
    result = await run(
        """
        local ok, err = pcall(t.fail, {})
        local ok2, err2 = pcall(t.crash)
        local ok3, err3 = pcall(log.upper)
        return {ok, err, ok2, err2, ok3, err3}
        """
    )
    assert result == [
        False,
        "t.fail: parameter 'messages' is required",
        False,
        "t.crash: 'x'",
        False,
        "log.upper expects 1 argument (text), got 0",
    ]


async def test_uncaught_api_error_has_file_line_and_traceback() -> None:
    with pytest.raises(SpellRuntimeError) as info:
        await run("local x = 1\nlocal function go()\n  return t.fail() + 1\nend\ngo()\n")
    err = info.value
    assert (err.filename, err.line) == ("hello.lua", 3)
    assert err.message == "t.fail: parameter 'messages' is required"
    assert "hello.lua:3: in local 'go'" in err.traceback
    assert "hello.lua:5: in main chunk" in err.traceback
    assert "?" not in err.traceback


async def test_runtime_error_and_error_tables() -> None:
    with pytest.raises(SpellRuntimeError) as info:
        await run("\nlocal t = nil\nprint(t.x)")
    assert info.value.line == 3
    assert info.value.message == "attempt to index a nil value (local 't')"
    assert str(info.value) == "hello.lua:3: attempt to index a nil value (local 't')"
    with pytest.raises(SpellRuntimeError) as info:
        await run("error({code = 42, reason = 'bad'})")
    assert info.value.line == 1
    assert '"code": 42' in info.value.message and '"reason": "bad"' in info.value.message
    with pytest.raises(SpellRuntimeError) as info:
        await run("error(setmetatable({}, {__tostring = function() return 'custom' end}))")
    assert info.value.message == "custom"


async def test_a_spell_run_again_from_its_kept_bytecode_behaves_the_same() -> None:
    """The engine parses a spell once per version (source and file name) and loads its bytecode
    afterwards: a run from it returns the same, and its errors name the same line, local and
    traceback as the first run's."""
    from llmspell.engines.lua import _chunks

    source = "\nlocal function go(t)\n  return t.x\nend\nif params.n == 3 then local v = go(nil) return v end"
    source += "\nreturn params.topic"
    seen = []
    for _ in range(2):
        with pytest.raises(SpellRuntimeError) as info:
            await run(source, filename="again.lua")
        seen.append((str(info.value), info.value.line, info.value.traceback))
        assert (source, "again.lua") in _chunks._spells
    assert seen[0] == seen[1]
    assert seen[0][:2] == ("again.lua:3: attempt to index a nil value (local 't')", 3)
    assert "again.lua:3: in local 'go'" in seen[0][2]
    assert "again.lua:5: in main chunk" in seen[0][2]
    host = Host()
    host.api.values["params"] = {"n": 1, "topic": "kept"}
    assert await run(source, host, filename="again.lua") == "kept"


async def test_syntax_errors_in_check_and_open() -> None:
    with pytest.raises(SpellSyntaxError) as info:
        ENGINE.check("local x = 1\nx = = 2\n", "bad.lua")
    assert (info.value.filename, info.value.line) == ("bad.lua", 2)
    assert "unexpected symbol" in info.value.message
    ENGINE.check("#!/usr/bin/env llmspell\nprint('ok')\n", "ok.lua")
    with pytest.raises(SpellSyntaxError) as info:
        async with ENGINE.open("\n\nfor", "bad.lua", Host().api, LIMITS):
            pass
    assert info.value.line == 3


async def test_long_file_names_still_locate_errors() -> None:
    name = "/home/someone/projects/spells/research/deeply/nested/analysis_spell.lua"
    with pytest.raises(SpellRuntimeError) as info:
        await run("\nerror('boom')", filename=name)
    assert (info.value.filename, info.value.line, info.value.message) == (name, 2, "boom")


async def test_print_goes_to_output() -> None:
    host = Host()
    await run("print('a', 1, nil, true, 2.5) print() print(t)", host)
    assert host.output[:2] == ["a\t1\tnil\ttrue\t2.5\n", "\n"]
    assert host.output[2].startswith("t: ")


async def test_print_from_api_functions_is_used() -> None:
    host = Host()
    printed: list[tuple[Any, ...]] = []

    @sync_api
    async def my_print(*args: Any) -> None:
        printed.append(args)

    api = Api(host.api.namespaces, {"print": my_print}, {}, host.api.output)
    async with ENGINE.open("print('x', 1)", "p.lua", api, LIMITS) as instance:
        await instance.run_main()
    assert printed == [("x", 1)]
    assert host.output == []


async def test_callbacks_run_while_main_is_suspended() -> None:
    host = Host()
    source = """
    t.register("handler", function(event, topic)
        log.info("got " .. topic)
        return {seen = event.id, echoed = t.echo(event.id * 2)}
    end)
    return t.block("main done")
    """
    async with ENGINE.open(source, "cb.lua", host.api, LIMITS) as instance:
        async with anyio.create_task_group() as tg:
            results: list[Any] = []

            async def main() -> None:
                results.append(await instance.run_main())

            tg.start_soon(main)
            await anyio.wait_all_tasks_blocked()
            assert host.blocked == 1
            reply = await host.functions["handler"]({"id": 7}, "order.created")
            assert reply == {"seen": 7, "echoed": 14}
            host.release.set()
        assert results == ["main done"]
    assert ("info", ("got order.created", None)) in host.calls


async def test_api_function_calls_back_into_the_spell() -> None:
    result = await run(
        """
        t.register("double", function(x) return t.count(x, x) * x end)
        return t.call("double", 21)
        """
    )
    assert result == 42


async def test_two_callbacks_in_flight_at_once() -> None:
    host = Host()
    source = "t.register('f', function(x) return t.block(x) .. '!' end)"
    async with ENGINE.open(source, "c.lua", host.api, LIMITS) as instance:
        await instance.run_main()
        results: dict[str, Any] = {}

        async def call(x: str) -> None:
            results[x] = await host.functions["f"](x)

        async with anyio.create_task_group() as tg:
            tg.start_soon(call, "a")
            tg.start_soon(call, "b")
            await anyio.wait_all_tasks_blocked()
            assert host.blocked == 2
            host.release.set()
        assert results == {"a": "a!", "b": "b!"}
        assert instance.statistics().api_calls == 3


async def test_callbacks_one_after_another_each_start_afresh() -> None:
    """Finished callbacks leave their coroutine to the next: results, errors (with a clean
    traceback), failures, concurrent calls and yields inside each call stay each call's own."""
    host = Host()
    source = """
    local function check(x) if x < 0 then error("negative " .. x) end return x end
    t.register("f", function(x, y)
        if x == 0 then return nil, "zero" end
        return {check(x), y or "-", t.count(x), coroutine.isyieldable()}
    end)
    t.register("slow", function(x) return t.block(x) end)
    """
    async with ENGINE.open(source, "again.lua", host.api, LIMITS) as instance:
        await instance.run_main()
        f = host.functions["f"]
        for round in range(3):
            for x in range(1, 7):
                assert await f(x) == [x, "-", 1, False]
            with pytest.raises(SpellRuntimeError) as info:
                await f(-round)  # (-0 is 0: a nil, "zero" failure on the first round)
            if round == 0:
                assert info.value.message == "zero"
                continue
            assert info.value.message == f"negative -{round}" and info.value.line == 2
            assert info.value.traceback.splitlines()[-1].strip() == (
                "again.lua:5: in function <again.lua:3>"
            )
        results: list[Any] = []

        async def slow(x: int) -> None:
            results.append(await host.functions["slow"](x))

        async with anyio.create_task_group() as tg:
            for x in range(6):
                tg.start_soon(slow, x)
            await anyio.wait_all_tasks_blocked()
            assert await f(5, "y") == [5, "y", 1, False]  # (while six wait in t.block)
            host.release.set()
        assert sorted(results) == list(range(6))
        assert await f(9) == [9, "-", 1, False]


async def test_user_coroutines_can_call_the_api() -> None:
    result = await run(
        """
        local co = coroutine.create(function(a)
            local b = coroutine.yield(t.echo(a) + 1)
            return t.echo(b * 2)
        end)
        local _, x = coroutine.resume(co, 1)
        local ok, y = coroutine.resume(co, 10)
        local gen = coroutine.wrap(function() for i = 1, 3 do coroutine.yield(t.echo(i)) end end)
        return {x, y, ok, gen() + gen() + gen(), coroutine.status(co)}
        """
    )
    assert result == [2, 20, True, 6, "dead"]


async def test_limit_from_api_cannot_be_caught() -> None:
    with pytest.raises(LimitExceeded) as info:
        await run("for i = 1, 3 do pcall(t.over) end return 'escaped'")
    assert str(info.value) == "output limit exceeded: too much"


async def test_timeout_while_suspended_in_an_api_call() -> None:
    with anyio.fail_after(2):
        with pytest.raises(LimitExceeded) as info:
            await run("sleep(60)", limits=Limits(timeout_seconds=0.05))
    assert str(info.value) == "timeout limit exceeded: the spell ran longer than 0.05 s"


async def test_closed_instance_refuses_calls() -> None:
    host = Host()
    async with ENGINE.open(
        "t.register('f', function() return 1 end)", "x.lua", host.api, LIMITS
    ) as i:
        await i.run_main()
        assert await host.functions["f"]() == 1
    with pytest.raises(SpellClosedError):
        await host.functions["f"]()
    with pytest.raises(SpellClosedError):
        await i.run_main()


async def test_closing_cancels_a_pending_callback() -> None:
    host = Host()
    outcome: list[BaseException] = []
    source = "t.register('f', function() return t.block() end)"
    async with anyio.create_task_group() as tg:
        async with ENGINE.open(source, "x.lua", host.api, LIMITS) as instance:
            await instance.run_main()

            async def call() -> None:
                try:
                    await host.functions["f"]()
                except SpellClosedError as exc:
                    outcome.append(exc)

            tg.start_soon(call)
            await anyio.wait_all_tasks_blocked()
    assert len(outcome) == 1


async def test_statistics() -> None:
    host = Host()
    async with ENGINE.open("for i = 1, 10 do t.echo(i) end", "s.lua", host.api, LIMITS) as i:
        await i.run_main()
        stats = i.statistics()
    assert stats.api_calls == 10
    assert 0 < stats.cpu_seconds < 1
    assert 0 < stats.memory_bytes < LIMITS.memory_bytes


async def test_run_main_returns_converted_values() -> None:
    assert await run("return") is None
    assert await run("return {}") == {}
    assert await run("return {1, nil, 3}") == {1: 1, 3: 3}
    assert await run("return {[2] = 'b', [1] = 'a'}") == ["a", "b"]
    assert await run("return {[1.5] = 1, [true] = 2, x = {y = {}}}") == {
        1.5: 1,
        "true": 2,
        "x": {"y": {}},
    }
    assert await run("return 3, 4") == 3
    assert await run("return 2^63, math.maxinteger, 1.0") == 2.0**63
    f = await run("return function() end")
    assert isinstance(f, ScriptFunction)


async def test_unicode_both_ways() -> None:
    host = Host()
    result = await run(
        """
        local s = t.echo("héllo wörld 🎉")
        return {s, #s, utf8.len(s), "\\255ok", "日本"}
        """,
        host,
    )
    assert result == ["héllo wörld 🎉", 18, 13, "\ufffdok", "日本"]


async def test_cyclic_and_deep_tables_are_refused() -> None:
    result = await run(
        """
        local a = {} a.self = a
        local ok, err = pcall(t.echo, a)
        local deep = {} local cur = deep
        for i = 1, 200 do cur.next = {} cur = cur.next end
        local ok2, err2 = pcall(t.echo, deep)
        local shared = {1}
        return {ok, err, ok2, err2, t.echo({shared, shared})}
        """
    )
    assert result[0] is False and "contains itself" in result[1]
    assert result[2] is False and "deeper than" in result[3]
    assert result[4] == [[1], [1]]


async def test_python_values_that_cannot_cross() -> None:
    async def weird() -> Any:
        return {1, 2}

    api = Api({"w": Namespace({"weird": weird})}, {}, {}, print)
    async with ENGINE.open("return {pcall(w.weird)}", "w.lua", api, LIMITS) as instance:
        assert await instance.run_main() == [False, "w.weird: cannot pass a Python set to a spell"]
    host = Host()
    async with ENGINE.open(
        "t.register('f', function(x) return x end)", "f.lua", host.api, LIMITS
    ) as i:
        await i.run_main()
        with pytest.raises(TypeError):
            await host.functions["f"](object())
        a: list[Any] = []
        a.append(a)
        with pytest.raises(ValueError):
            await host.functions["f"](a)


def _lua_normal(value: Any) -> Any:
    """What a JSON-like value looks like after a trip through Lua (nil holes, {} for [])."""
    if isinstance(value, list):
        items = {i: _lua_normal(v) for i, v in enumerate(value, 1) if v is not None}
        if list(items) == list(range(1, len(items) + 1)) and items:
            return list(items.values())
        return items
    if isinstance(value, dict):
        return {k: _lua_normal(v) for k, v in value.items() if v is not None}
    return value


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False)
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=8), children, max_size=5)
    ),
    max_leaves=20,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(value=json_values)
async def test_round_trip_property(value: Any) -> None:
    host = Host()
    source = "t.register('id', function(...) return t.echo(...) end)"
    async with ENGINE.open(source, "rt.lua", host.api, LIMITS) as instance:
        await instance.run_main()
        back = await host.functions["id"](value)
    expected = _lua_normal(value)
    assert back == expected
    if isinstance(value, float) and not math.isinf(value):
        assert isinstance(back, float)


async def test_instances_are_isolated() -> None:
    host = Host()
    async with ENGINE.open("x = 1 string.trim = 1 return x", "a.lua", host.api, LIMITS) as a:
        async with ENGINE.open("return {x, string.trim}", "b.lua", host.api, LIMITS) as b:
            assert await a.run_main() == 1
            assert await b.run_main() == {}


def _api_with(**functions: Callable[..., Any]) -> Api:
    return Api({"h": Namespace(functions)}, {}, {}, print)


async def test_script_function_from_another_instance_is_refused() -> None:
    host = Host()
    src = "t.register('f', function() return 1 end)"
    async with ENGINE.open(src, "a.lua", host.api, LIMITS) as a:
        await a.run_main()
        foreign = host.functions["f"]

        async def give() -> Any:
            return foreign

        async with ENGINE.open(
            "return {pcall(h.give)}", "b.lua", _api_with(give=give), LIMITS
        ) as b:
            assert await b.run_main() == [False, "h.give: cannot pass a function of another spell"]


async def test_engine_attributes() -> None:
    assert (LuaEngine.name, LuaEngine.extensions) == ("lua", (".lua",))
    instance: ScriptInstance
    async with ENGINE.open("", "e.lua", Host().api, LIMITS) as instance:
        assert await instance.run_main() is None


async def test_script_functions_refuse_reentry_and_other_threads() -> None:
    host = Host()
    seen: list[str] = []

    @sync_api
    async def reenter(fn: ScriptFunction) -> None:
        coro = fn()
        try:
            coro.send(None)
        except RuntimeError as exc:
            seen.append(str(exc))

    api = Api({**host.api.namespaces, "r": Namespace({"reenter": reenter})}, {}, {}, print)
    source = "t.register('f', function() return 1 end) r.reenter(function() end)"
    async with ENGINE.open(source, "r.lua", api, LIMITS) as instance:
        await instance.run_main()
        assert seen and "while the spell's code is running" in seen[0]
        with pytest.raises(RuntimeError):
            await anyio.to_thread.run_sync(anyio.run, host.functions["f"])
        assert await host.functions["f"]() == 1


async def test_functions_a_spell_passes_outlive_the_coroutine_that_passed_them() -> None:
    """lupa ties a Lua object to the Lua thread it was made in. A handler registered by the main
    chunk (a coroutine) is called long after that coroutine ended and Lua collected it; the
    engine must hold it through the main state, or calling and freeing it touches freed memory
    (this crashed the process)."""
    import anyio

    from llmspell import open_runtime
    from llmspell._runtime import SpellSource

    # 200 events of 4,000 garbage tables each: Lua's collector completes many cycles, so the main
    # coroutine is collected long before the last event (20,000 each took ~7 s of the run's 10 s
    # CPU budget, and a loaded machine pushed it over)
    source = """
        local n = 0
        local sub
        sub = events.on("tick", function(event)
          local junk = {}
          for i = 1, 4000 do junk[i] = {i, tostring(i) .. "padding padding"} end
          n = n + 1
          if n == 200 then events.off(sub); print("handled " .. n) end
        end)
        events.emit("ready", {})
    """
    out: list[str] = []
    async with open_runtime(state=":memory:") as rt:
        ready = rt.system.bus.subscribe("ready", lambda e: None)
        async with anyio.create_task_group() as tg:
            results = []

            async def run() -> None:
                results.append(
                    await rt.run(SpellSource(source, "r.lua"), output=out.append, resident=True)
                )

            tg.start_soon(run)
            await rt.system.bus.wait_for("ready", timeout=5)
            for _ in range(200):
                await rt.system.bus.publish("tick", {})
        ready.cancel()
    assert results[0].ok, results[0].error
    assert out == ["handled 200\n"]


async def test_eager_api_values_errors_and_context() -> None:
    host = EagerHost()
    host.var.set("caller")
    source = """
        local a = e.now(1)
        local b = e.later(2)
        local c = e.now(3)
        local ok1, err1 = pcall(e.bad, 1)
        local ok2, err2 = pcall(e.now, 1, 2, 3)
        local ok3, err3 = pcall(e.huge)
        local d = e.weather("rain")
        local f = o.obj:m(4)
        local g = coroutine.wrap(function() return e.later(5) end)()
        local ok4, err4 = pcall(string.gsub, "a", "%a", function(c) return e.now(c) end)
        return {a, b, c, ok1, err1, ok2, err2, ok3, err3, d, f, g, ok4, err4}
    """
    async with ENGINE.open(source, "eager.lua", host.api, LIMITS) as instance:
        result = await instance.run_main()
        assert instance.statistics().api_calls == 9  # (the refused one is not made)
    assert result[:4] == [[1, "caller"], [2, "caller"], [3, "caller"], False]
    assert result[4] == "e.bad: parameter 'value' is wrong"
    assert result[5] is False and result[6] == "e.now expects 1 argument (value), got 3"
    assert result[7] is False and result[8] == "e.huge: cannot pass a Python set to a spell"
    assert result[9:12] == ["weather=rain", [4, "caller"], [5, "caller"]]
    assert result[12] is False and "this API call cannot be made here" in result[13]
    assert host.started == ["now 1", "later 2", "now 3", "later 4", "later 5"]


async def test_eager_call_that_waits_leaves_the_interpreter_free() -> None:
    host = EagerHost()
    source = "return e.held(function(x) return x * 2 end)"
    async with ENGINE.open(source, "held.lua", host.api, LIMITS) as instance:
        async with anyio.create_task_group() as tg:
            results: list[Any] = []

            async def main() -> None:
                results.append(await instance.run_main())

            tg.start_soon(main)
            while host.callback is None:
                await anyio.lowlevel.checkpoint()
            assert await host.callback(21) == 42  # (while the main chunk waits in e.held)
            host.release.set()
    assert results == ["released"] and host.cleaned == 1


async def test_eager_call_that_waits_is_cancelled_by_interrupt() -> None:
    host = EagerHost()
    async with ENGINE.open("e.held(print)", "stuck.lua", host.api, LIMITS) as instance:
        async with anyio.create_task_group() as tg:
            errors: list[BaseException] = []

            async def main() -> None:
                try:
                    await instance.run_main()
                except SpellInterrupted as exc:
                    errors.append(exc)

            tg.start_soon(main)
            while host.callback is None:
                await anyio.lowlevel.checkpoint()
            instance.interrupt("stop")
    assert len(errors) == 1 and host.cleaned == 1
