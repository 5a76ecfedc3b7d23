"""The engine seam in every engine: API functions marked ``with_context`` get the Api's context,
and the binding plan an engine caches per Api is shared without mixing up runs."""

from __future__ import annotations

import gc
from contextvars import ContextVar
from typing import Any

import anyio
import anyio.lowlevel
import pytest

from llmspell._exceptions import SpellRuntimeError
from llmspell.engines import (
    Api,
    HostObject,
    Limits,
    Namespace,
    ScriptFunction,
    Suspended,
    engine_for,
    sync_api,
    with_context,
)

pytestmark = pytest.mark.anyio

LIMITS = Limits(memory_bytes=32 * 1024 * 1024, cpu_seconds=5.0, timeout_seconds=10.0)
BOTH = pytest.mark.parametrize("ext", ["lua", "js", "tengo"])


@with_context
async def whoami(ctx: str, suffix: Any = None) -> str:
    return f"{ctx}{suffix or ''}"


@sync_api
@with_context
async def whoami_now(ctx: str) -> str:
    return ctx


@with_context
async def keyed(ctx: str, key: str, *args: Any) -> list[Any]:
    return [ctx, key, *args]


async def plain(*args: Any) -> list[Any]:
    return list(args)


@with_context
async def greet(ctx: str, name: Any = None) -> str:
    return f"{ctx} greets {name}"


AGENT = HostObject("agent", {"greet": greet}, {"name": "a1"})


async def make_agent() -> HostObject:
    return AGENT


NAMESPACES = {
    "ctx": Namespace(
        {"whoami": whoami, "now": whoami_now, "plain": plain, "agent": make_agent},
        dynamic=keyed,
    )
}
FUNCTIONS = {"who": whoami}

SOURCES = {
    "lua": """
        local agent = ctx.agent()
        return {ctx.whoami("!"), ctx.now(), ctx.plain(1, 2), ctx.weather("x"), who(),
                agent:greet("Ada")}
    """,
    "js": """
        const agent = await ctx.agent();
        return [await ctx.whoami("!"), await ctx.now(), await ctx.plain(1, 2),
                await ctx.weather("x"), await who(), await agent.greet("Ada")];
    """,
    "tengo": """
        agent := ctx.agent()
        export [ctx.whoami("!"), ctx.now(), ctx.plain(1, 2), ctx.weather("x"), who(),
                agent.greet("Ada")]
    """,
}


async def _run(ext: str, api: Api) -> Any:
    engine = engine_for(f"seam.{ext}")
    async with engine.open(SOURCES[ext], f"seam.{ext}", api, LIMITS) as instance:
        return await instance.run_main()


@BOTH
async def test_context_functions_get_their_instances_context(ext: str) -> None:
    # Two Apis over the same mappings share the engine's cached plan but not their context.
    for context in ("run-1", "run-2", "run-1"):
        api = Api(NAMESPACES, FUNCTIONS, {}, print, context)
        assert await _run(ext, api) == [
            f"{context}!",
            context,
            [1, 2],
            [context, "weather", "x"],
            context,
            f"{context} greets Ada",
        ]


@BOTH
async def test_different_apis_are_bound_separately(ext: str) -> None:
    async def other(*args: Any) -> str:
        return "other"

    renamed = {"ctx": Namespace({**NAMESPACES["ctx"].functions, "whoami": other}, keyed)}
    first = await _run(ext, Api(NAMESPACES, FUNCTIONS, {}, print, "c"))
    second = await _run(ext, Api(renamed, FUNCTIONS, {}, print, "c"))
    assert first[0] == "c!"
    assert second[0] == "other"
    assert second[1:] == first[1:]


@BOTH
async def test_namespace_values_holding_host_objects(ext: str) -> None:
    # JS cannot share such a plan as text: each instance encodes the host object itself.
    namespaces = {"ctx": Namespace(NAMESPACES["ctx"].functions, keyed, {"agent1": AGENT})}
    source = {
        "lua": 'return ctx.agent1:greet("Bo")',
        "js": 'return await ctx.agent1.greet("Bo")',
        "tengo": 'export ctx.agent1.greet("Bo")',
    }[ext]
    engine = engine_for(f"seam.{ext}")
    for context in ("x", "y"):
        api = Api(namespaces, FUNCTIONS, {}, print, context)
        async with engine.open(source, f"seam.{ext}", api, LIMITS) as instance:
            assert await instance.run_main() == f"{context} greets Bo"


FREED_SPELLS = {
    "lua": """
        events.off(events.on("never.*", function() end))
        local r = llm.complete("hi")
        print(r.content ~= nil)
        hooks.register({beforeGenerate = function() end})
        return json.encode({ok = true})
    """,
    "js": """
        await events.off(await events.on("never.*", () => {}));
        const r = await llm.complete("hi");
        print(r.content !== null);
        hooks.register({beforeGenerate: () => {}});
        return json.encode({ok: true});
    """,
    "tengo": """
        events.off(events.on("never.*", func() {}))
        r := llm.complete("hi")
        print(r.content != undefined)
        hooks.register({beforeGenerate: func() {}})
        export json.encode({ok: true})
    """,
}


@BOTH
async def test_a_finished_run_frees_its_interpreter_without_the_gc(ext: str) -> None:
    # No reference cycle may hold a closed instance (and its whole interpreter) until the
    # cyclic GC happens to run: with 1,000s of runs that is both memory and GC time.
    from llmspell import open_runtime
    from llmspell.engines.js._instance import _JsInstance
    from llmspell.engines.lua._instance import LuaInstance
    from llmspell.engines.tengo._instance import TengoInstance

    from .spellkit import run_source

    kinds = (LuaInstance, _JsInstance, TengoInstance)
    async with open_runtime() as rt:
        gc.collect()
        # instances an earlier test left referenced (a ScriptFunction it kept) are not this one's
        earlier = {id(o) for o in gc.get_objects() if isinstance(o, kinds)}
        gc.disable()
        try:
            for _ in range(3):
                ran = await run_source(FREED_SPELLS[ext], ext, runtime=rt)
                assert ran.result.ok, ran.result.error
            alive = [o for o in gc.get_objects() if isinstance(o, kinds) and id(o) not in earlier]
        finally:
            gc.enable()
    assert alive == []


LIMIT_SPELLS = {
    "cpu": {"lua": "while true do end", "js": "while (true) {}", "tengo": "for {}"},
    "memory": {
        "lua": "local t = {} for i = 1, 1e8 do t[i] = ('x'):rep(64) .. i end",
        "js": "const t = []; for (let i = 0; ; i++) t.push('x'.repeat(64) + i);",
        "tengo": 'text := import("text")\n'
        't := []\nfor i := 0; true; i++ { t = append(t, text.repeat("x", 64) + string(i)) }',
    },
    "output": {
        "lua": "for i = 1, 100 do print(('y'):rep(99)) end",
        "js": "for (let i = 0; i < 100; i++) console.log('y'.repeat(99));",
        "tengo": 'text := import("text")\nfor i := 0; i < 100; i++ { print(text.repeat("y", 99)) }',
    },
    "timeout": {"lua": "ctx.nap()", "js": "await ctx.nap();", "tengo": "ctx.nap()"},
}
LIMIT_WORDS = {
    "cpu": "cpu limit exceeded: the spell used more than 0.2 s of CPU time",
    "memory": "memory limit exceeded: the spell needed more than 8388608 bytes of memory",
    "output": "output limit exceeded: the spell printed more than 2000 bytes",
    "timeout": "timeout limit exceeded: the spell ran longer than 0.3 s",
}


@BOTH
@pytest.mark.parametrize("kind", list(LIMIT_SPELLS))
async def test_every_engine_words_each_limit_alike(ext: str, kind: str) -> None:
    import anyio

    from llmspell._exceptions import LimitExceeded

    async def nap() -> None:
        await anyio.sleep(30)

    printed: list[str] = []
    api = Api({"ctx": Namespace({"nap": nap})}, {}, {}, printed.append)
    limits = Limits(
        memory_bytes=8 * 1024 * 1024,
        cpu_seconds=0.2 if kind == "cpu" else 30.0,
        timeout_seconds=0.3 if kind == "timeout" else 30.0,  # CPU time lags wall time when busy
        output_bytes=2000,
    )
    engine = engine_for(f"limit.{ext}")
    with pytest.raises(LimitExceeded) as caught:
        async with engine.open(LIMIT_SPELLS[kind][ext], f"limit.{ext}", api, limits) as inst:
            await inst.run_main()
    assert str(caught.value) == LIMIT_WORDS[kind]
    if kind == "output":  # whole lines up to the limit, nothing past it
        assert "".join(printed) == ("y" * 99 + "\n") * 20


FLOATS = [
    2.0**-24,
    0.1 + 0.2,
    1 / 3,
    -580688369014696.25,
    274564663099778.125,
    2.0**-1074,
    7.120236347223045e-307,
    1.7976931348623157e308,
    1e16,
    1e-5,
    123.456,
    2.0**60,
]


async def test_json_encode_writes_the_same_text_in_every_engine() -> None:
    # The shortest form that reads back as the same number (Python's repr), in every engine.
    from llmspell._api import build_surface

    expected = "[" + ",".join(map(repr, FLOATS)) + "]"
    namespaces = {"json": build_surface().namespaces["json"]}
    sources = {
        "lua": "return json.encode(params.floats)",
        "js": "return json.encode(params.floats)",
        "tengo": "export json.encode(params.floats)",
    }
    for ext, source in sources.items():
        api = Api(namespaces, {}, {"params": {"floats": FLOATS}}, print)
        engine = engine_for(f"json.{ext}")
        async with engine.open(source, f"json.{ext}", api, LIMITS) as instance:
            assert await instance.run_main() == expected, ext


async def _two(a: Any, b: Any) -> str:
    return "two"


async def _range(a: Any, b: Any = None) -> str:
    return "range"


async def _none() -> str:
    return "none"


async def _var(first: Any, *rest: Any) -> str:
    return "var"


@sync_api
@with_context
async def _sync_one(ctx: Any, value: Any = None) -> str:
    return "sync"


ARITY_CALLS = {
    "t.two(1)": "t.two expects 2 arguments (a, b), got 1",
    "t.two(1, 2, 3)": "t.two expects 2 arguments (a, b), got 3",
    "t.range()": "t.range expects at least 1 argument (a, b), got 0",
    "t.range(1, 2, 3)": "t.range expects 1 to 2 arguments (a, b), got 3",
    "t.none(1)": "t.none expects no arguments, got 1",
    "t.var()": "t.var expects at least 1 argument (first), got 0",
    "t.sync(1, 2)": "t.sync expects 1 argument (value), got 2",
    "who(1, 2, 3)": "who expects 1 argument (suffix), got 3",
}


@BOTH
@pytest.mark.parametrize("call", list(ARITY_CALLS))
async def test_argument_counts_are_checked_in_the_scripts_terms(ext: str, call: str) -> None:
    namespaces = {
        "t": Namespace(
            {"two": _two, "range": _range, "none": _none, "var": _var, "sync": _sync_one}
        )
    }
    api = Api(namespaces, FUNCTIONS, {}, print, "ctx")
    source = {
        "lua": f"local ok, err = pcall(function() return {call} end) return {{ok, err}}",
        "js": f"try {{ await {call}; return [true]; }} catch (e) {{ return [false, e.message]; }}",
        "tengo": f"x := 1\n{call}",
    }[ext]
    engine = engine_for(f"arity.{ext}")
    async with engine.open(source, f"arity.{ext}", api, LIMITS) as instance:
        if ext == "tengo":  # as for any Tengo function: a runtime error, which Tengo cannot catch
            with pytest.raises(SpellRuntimeError) as caught:
                await instance.run_main()
            assert (caught.value.message, caught.value.line) == (ARITY_CALLS[call], 2)
        else:
            assert await instance.run_main() == [False, ARITY_CALLS[call]]


@BOTH
async def test_calls_within_their_counts_go_through(ext: str) -> None:
    namespaces = {"t": Namespace({"two": _two, "range": _range, "var": _var, "sync": _sync_one})}
    api = Api(namespaces, FUNCTIONS, {}, print, "ctx")
    calls = ["t.two(1, 2)", "t.range(1)", "t.range(1, 2)", "t.var(1)", "t.var(1, 2, 3)", "t.sync()"]
    source = {
        "lua": "return {" + ", ".join(calls) + "}",
        "js": "return [" + ", ".join(f"await {c}" for c in calls) + "]",
        "tengo": "export [" + ", ".join(calls) + "]",
    }[ext]
    engine = engine_for(f"arity.{ext}")
    async with engine.open(source, f"arity.{ext}", api, LIMITS) as instance:
        assert await instance.run_main() == ["two", "range", "range", "var", "var", "sync"]


CALLER: ContextVar[str] = ContextVar("seam_caller", default="nobody")


async def probe() -> str:
    await anyio.lowlevel.checkpoint()  # (lets the other caller's calls in between)
    return CALLER.get()


@sync_api
async def probe_now() -> str:
    return CALLER.get()


CALLBACK_SPELLS = {
    "lua": """
        t.keep(function(tag)
          local first = t.probe()
          return {tag, first, t.probe(), t.now()}
        end)
        return t.probe()
    """,
    "js": """
        t.keep(async (tag) => {
          const later = async () => [await t.probe(), t.now()];
          const pending = later();  // started by the callback: its calls are the callback's
          const first = await t.probe();
          return [tag, first, ...(await pending)];
        });
        return await t.probe();
    """,
    "tengo": """
        t.keep(func(tag) {
          first := t.probe()
          return [tag, first, t.probe(), t.now()]
        })
        export t.probe()
    """,
}


@BOTH
async def test_a_script_functions_api_calls_run_in_its_callers_context(ext: str) -> None:
    # What a context variable holds (the trace context, say) follows a call into the script:
    # an event or tool handler's own calls nest under whoever called it, even in an engine
    # that runs API calls on tasks of its own (JS), and even after the handler awaited.
    kept: list[ScriptFunction] = []

    async def keep(fn: ScriptFunction) -> None:
        kept.append(fn)

    api = Api({"t": Namespace({"probe": probe, "now": probe_now, "keep": keep})}, {}, {}, print)
    results: dict[str, Any] = {}

    async def call(tag: str) -> None:
        CALLER.set(tag)
        results[tag] = await kept[0](tag)

    CALLER.set("opener")
    engine = engine_for(f"seam.{ext}")
    async with engine.open(CALLBACK_SPELLS[ext], f"seam.{ext}", api, LIMITS) as instance:
        assert await instance.run_main() == "opener"
        async with anyio.create_task_group() as tg:
            for tag in ("a", "b", "c"):
                tg.start_soon(call, tag)
    assert results == {tag: [tag] * 4 for tag in "abc"}


START_SPELLS = {
    "lua": """
        t.keep(function(x)
          if x == "wait" then return t.probe() end
          if x == "fail" then error("bad " .. x) end
          return x .. "!"
        end)
        return 1
    """,
    "js": """
        t.keep((x) => {
          if (x === "wait") return t.probe();
          if (x === "fail") throw new Error("bad " + x);
          return x + "!";
        });
        return 1;
    """,
    "tengo": """
        t.keep(func(x) {
          if x == "wait" { return t.probe() }
          if x == "fail" { return error("bad " + x) }
          return x + "!"
        })
        export 1
    """,
}


@BOTH
async def test_start_runs_a_script_function_here_until_it_waits(ext: str) -> None:
    # ScriptFunction.start (how the bus delivers events to script handlers): a call that does
    # not wait ends inside start, with its value or its error; one that waits hands back the
    # rest, which still runs in the caller's context.
    kept: list[ScriptFunction] = []

    async def keep(fn: ScriptFunction) -> None:
        kept.append(fn)

    api = Api({"t": Namespace({"probe": probe, "keep": keep})}, {}, {}, print)
    engine = engine_for(f"start.{ext}")
    async with engine.open(START_SPELLS[ext], f"start.{ext}", api, LIMITS) as instance:
        assert await instance.run_main() == 1
        fn = kept[0]
        assert fn.start("go") == "go!"
        CALLER.set("starter")
        rest = fn.start("wait")
        assert isinstance(rest, Suspended)
        assert await rest == "starter"
        with pytest.raises(SpellRuntimeError, match="bad fail") as caught:
            fn.start("fail")
        assert caught.value.filename == f"start.{ext}"
        if ext != "tengo":  # (a Tengo error value carries no line)
            assert caught.value.line == 4
        assert await fn("again") == "again!"  # awaiting it works as before
