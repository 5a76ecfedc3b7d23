"""The JavaScript engine: globals, calls, concurrency, callbacks, conversions, errors."""

from __future__ import annotations

import contextvars
import dataclasses
import math
from typing import Any

import anyio
import anyio.lowlevel
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from llmspell._exceptions import SpellClosedError, SpellRuntimeError, SpellSyntaxError
from llmspell.engines import HostObject, ScriptFunction
from llmspell.engines.js._workers import Workers

from ._js_support import ENGINE, SMALL, Harness, run, with_gate

pytestmark = pytest.mark.anyio


async def test_engine_identity() -> None:
    assert ENGINE.name == "javascript"
    assert ENGINE.extensions == (".js", ".mjs")


async def test_globals_are_the_api_and_are_locked() -> None:
    value = await run(
        """
        const kinds = [typeof llm.complete, typeof log.info, typeof print, typeof sleep,
                       typeof parallel, typeof console.log, typeof params, typeof tools.list];
        llm.complete = null; params.topic = 'changed'; print = null; llm = null;
        log.LEVEL = 'debug'; delete globalThis.tools;
        try { params.nested.list.push(3); } catch {}  // frozen: a TypeError
        return [kinds, typeof llm.complete, params.topic, params.nested.list.length, log.LEVEL,
                Object.isFrozen(llm), Object.isFrozen(params.nested), typeof print, typeof tools];
        """
    )
    assert value == [
        ["function"] * 6 + ["object", "function"],
        "function",
        "quantum",
        2,
        "info",
        True,
        True,
        "function",
        "object",
    ]


async def test_top_level_await_return_and_scope() -> None:
    assert await run("const r = await llm.complete('hi'); return r.content") == "echo: hi"
    assert await run("return Promise.resolve(41).then(x => x + 1)") == 42
    assert await run("1 + 1") is None
    assert await run("let leaked = 1; var v = 2; return [typeof globalThis.leaked, typeof v]") == [
        "undefined",
        "number",
    ]


async def test_calls_without_await_run_in_order_and_settle_before_return() -> None:
    harness = Harness()
    await run(
        "log.info('one', {n: 1}); t.record('two'); log.info('three'); t.record('four'); return 0",
        harness,
    )
    assert harness.calls == [
        ("log.info", "one", {"n": 1}),
        ("log.info", "three", None),
        ("record", "two"),
        ("record", "four"),
    ]


async def test_sync_api_calls_return_their_value_directly() -> None:
    # Functions marked sync_api (llm.agent, events.on, json.* ...) return values, not Promises:
    # `const agent = llm.agent({...}); await agent.run(...)` works; `await` on them works too.
    value = await run(
        """
        const v = t.syncEcho({n: 5});
        const agent = t.agent('ada');
        const ran = await agent.run('the dishes');
        const renamed = agent.rename('bo');
        const awaited = await t.syncEcho(7);
        const fromAwaited = await (await t.agent('cy')).run('x');
        return [v, v instanceof Promise, agent.name, ran, renamed, awaited, fromAwaited];
        """
    )
    assert value == [
        {"n": 5},
        False,
        "ada",
        "ada did the dishes",
        "ada is now bo",
        7,
        "cy did x",
    ]


async def test_sync_api_errors_are_thrown_at_the_call() -> None:
    value = await run(
        """
        let caught;
        try { t.agent(42); } catch (e) { caught = [e.message, e instanceof Error]; }
        return caught;
        """
    )
    assert value == ["t.agent: parameter 'name' must be a string", True]
    with pytest.raises(SpellRuntimeError) as info:
        await run("const a = 1;\nconst b = t.agent(null);\nreturn b;")
    assert (info.value.line, info.value.message) == (
        2,
        "t.agent: parameter 'name' must be a string",
    )


async def test_console_and_print_share_one_ordered_output() -> None:
    harness = Harness()
    await run(
        """
        console.log('a', 1, {x: [1, 'y', null]}, undefined, null, true);
        print('b');
        console.error('c', new Error('e1'), () => 1, [undefined]);
        console.info(Symbol('s'), 10n, new Date(0), 'tail');
        """,
        harness,
    )
    assert harness.text() == (
        'a 1 {"x":[1,"y",null]} undefined null true\n'
        "b\n"
        "c Error: e1 [Function: anonymous] [null]\n"
        "Symbol(s) 10n 1970-01-01T00:00:00.000Z tail\n"
    )


async def test_engine_provides_print_when_the_api_does_not() -> None:
    harness = Harness()
    api = harness.api()
    api = dataclasses.replace(
        api, functions={k: v for k, v in api.functions.items() if k != "print"}
    )
    async with ENGINE.open(
        "console.log('a'); print('b', {c: 1}, [2]); console.log('d');", "spell.js", api, SMALL
    ) as instance:
        await instance.run_main()
    assert harness.text() == 'a\nb {"c":1} [2]\nd\n'


async def test_promise_all_runs_api_calls_concurrently() -> None:
    # barrier(3) only returns once three calls are in flight at the same time.
    value = await run("return await Promise.all([t.barrier(3), t.barrier(3), t.barrier(3)])")
    assert value == [3, 3, 3]


async def test_calls_started_as_an_awaited_call_ends_still_run_concurrently() -> None:
    # What the script starts on seeing a call's result is left to the worker whose call
    # ended (no idle worker is woken for it); the calls after the one it takes must still get
    # workers of their own, whether idle ones exist or not.
    with anyio.fail_after(30):  # serialised calls would wait at the barrier forever
        value = await run(
            "await t.echo(1);\nreturn await Promise.all([t.barrier(3), t.barrier(3), t.barrier(3)])"
        )
    assert value == [3, 3, 3]


async def test_workers_wake_idle_ones_for_calls_left_by_a_finishing_call() -> None:
    barriers = [Barrier(3), Barrier(3)]
    ran: list[str] = []

    async def call(job: Any) -> None:
        kind, n = job[:2]
        ran.append(kind)
        if kind == "wait":
            await barriers[n].wait()
        elif kind == "first":  # ends, and its result makes the script start three calls
            workers.finishing()
            for _ in range(3):
                workers.submit(("wait", 1, None, "", 0, None))

    workers = Workers(call, anyio.Event, contextvars.copy_context())
    with anyio.fail_after(30):
        async with anyio.create_task_group() as tg:
            workers.start(tg)
            for _ in range(3):  # three workers, idle once these end
                workers.submit(("wait", 0, None, "", 0, None))
            await barriers[0].event.wait()
            for _ in range(10):  # (the three go idle)
                await anyio.lowlevel.checkpoint()
            assert len(workers._idle) == 3  # what this test is about
            workers.submit(("first", 0, None, "", 0, None))
            await barriers[1].event.wait()
            workers.close()
    assert ran.count("first") == 1


async def test_workers_run_the_calls_of_one_line_one_after_the_other() -> None:
    # a0 waits until b0 has run: a1 and a2 wait behind a0 (its line), b0 runs beside it.
    gate, done = anyio.Event(), anyio.Event()
    ran: list[tuple[str, int]] = []

    async def call(job: Any) -> None:
        kind, n = job[:2]
        ran.append((kind, n))
        if (kind, n) == ("a", 0):
            await gate.wait()
        elif kind == "b":
            gate.set()
        elif n == 2:
            done.set()

    workers = Workers(call, anyio.Event, contextvars.copy_context())
    with anyio.fail_after(30):
        async with anyio.create_task_group() as tg:
            workers.start(tg)
            for n in range(3):
                workers.submit(("a", n, [], "", 0, None), "a")
            workers.submit(("b", 0, [], "", 0, None), "b")
            await done.wait()
            assert not workers.backlog()
            workers.close()
    assert ran == [("a", 0), ("b", 0), ("a", 1), ("a", 2)]


class Barrier:
    """``wait`` returns once ``n`` callers wait."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.count = 0
        self.event = anyio.Event()

    async def wait(self) -> None:
        self.count += 1
        if self.count >= self.n:
            self.event.set()
        await self.event.wait()


async def test_dynamic_namespace() -> None:
    value = await run(
        """
        const a = await tools.weather('paris', {days: 2});
        const same = tools.weather === tools.weather;
        const listed = await tools.list();
        const awaited = await tools;  // not a thenable: 'then' is never a tool
        return [a, same, listed, awaited === tools, typeof tools.toString];
        """
    )
    assert value == [["weather", "paris", {"days": 2}], True, ["weather"], True, "function"]


async def test_host_objects_keep_identity_and_have_methods_and_fields() -> None:
    value = await run(
        """
        const a = await t.host('bob');
        const greeting = await a.greet('ann');
        const back = await t.echo(a);
        return [a.name, a.tags, greeting, back === a, String(a), Object.isFrozen(a),
                Object.keys(a), a];
        """
    )
    name, tags, greeting, same, text, frozen, keys, host = value
    assert (name, tags, greeting, same, text, frozen) == (
        "bob",
        ["a", "b"],
        "bob greets ann",
        True,
        "[object Agent]",
        True,
    )
    assert keys == ["name", "tags"]
    assert isinstance(host, HostObject) and host.type_name == "Agent"


async def test_api_error_is_a_catchable_error() -> None:
    value = await run(
        """
        try {
          await llm.complete();
        } catch (e) {
          return [e.name, e.message, e instanceof Error, e.stack];
        }
        """
    )
    assert value == [
        "ParameterError",
        "llm.complete: parameter 'messages' is required",
        True,
        "    at <main> (spell.js:3:21)\n",
    ]


async def test_uncaught_api_error_has_file_line_and_stack() -> None:
    with pytest.raises(SpellRuntimeError) as info:
        await run(
            "const x = 1;\nasync function ask() {\n  return await t.fail('boom');\n}\nawait ask();"
        )
    error = info.value
    assert (error.filename, error.line) == ("spell.js", 3)
    assert error.message == "ValueError: t.fail: boom"
    assert error.traceback == "    at ask (spell.js:3:18)\n    at <main> (spell.js:5:7)"


async def test_uncaught_script_error_and_non_error_throw() -> None:
    with pytest.raises(SpellRuntimeError) as info:
        await run("function f(o) {\n  return o.x.y;\n}\nf({});")
    assert (info.value.line, info.value.message) == (
        2,
        "TypeError: cannot read property 'y' of undefined",
    )
    assert "at f (spell.js:2:" in info.value.traceback
    assert "at <main> (spell.js:4:" in info.value.traceback
    with pytest.raises(SpellRuntimeError, match=r"^spell\.js:1: boom$"):  # found in the source
        await run("throw 'boom'")
    # Plain Errors and the API's own errors read as in Lua: just the message.
    with pytest.raises(SpellRuntimeError, match=r"^spell\.js:1: plain$"):
        await run("throw new Error('plain')")
    with pytest.raises(SpellRuntimeError) as info:
        await run("await llm.complete()")
    assert info.value.message == "llm.complete: parameter 'messages' is required"


async def test_unhandled_rejection_fails_the_run_but_late_handling_is_fine() -> None:
    with pytest.raises(SpellRuntimeError) as info:
        await run("t.fail('lost');\nawait t.echo(1);\nreturn 'finished'")
    assert info.value.message == "Uncaught (in promise) ValueError: t.fail: lost"
    assert info.value.line == 1
    # Handled within the same synchronous stretch, or by a combinator: not reported.
    assert await run(
        """
            const p = t.fail('x'); const q = t.fail('y');
            const r = await Promise.allSettled([q]);
            try { await p; } catch (e) { return [e.message, r[0].status]; }
            """
    ) == ["t.fail: x", "rejected"]


async def test_deadlock_is_reported_not_hung() -> None:
    with pytest.raises(SpellRuntimeError, match="deadlock"):
        await run("await new Promise(() => {})")


async def test_callbacks_from_python_while_main_is_suspended() -> None:
    harness = Harness()
    async with ENGINE.open(
        """
        let calls = 0;
        await t.keep(async (x) => { calls += 1; return (await t.echo(x)) * 2; });
        await t.keep((a, b) => { calls += 1; return {sum: a + b, calls}; });
        await t.keep(() => { throw new TypeError('bad callback'); });
        const opened = await t.gate();
        return [opened, calls];
        """,
        "spell.js",
        harness.api(),
        SMALL,
    ) as instance:
        results: list[Any] = []

        async def callbacks() -> None:
            double, add, bad = harness.kept
            results.append(await double(21))
            results.append(await add(1, 2))
            with pytest.raises(SpellRuntimeError, match="TypeError: bad callback") as info:
                await bad()
            assert info.value.line == 5

        value = await with_gate(instance.run_main, harness, callbacks)
        assert results == [42, {"sum": 3, "calls": 2}]
        assert value == ["opened", 2]
        assert await harness.kept[1](5, 5) == {"sum": 10, "calls": 3}
    with pytest.raises(SpellClosedError):
        await harness.kept[0](1)


async def test_script_functions_round_trip_and_parallel() -> None:
    value = await run(
        """
        const f = (x) => x + 1;
        const back = await t.echo(f);
        const viaPython = await t.call(async (a) => (await t.echo(a)) + '!', 'hi');
        const par = await parallel(() => t.barrier(2), () => t.barrier(2), () => 'plain');
        return [back === f, viaPython, par];
        """
    )
    assert value == [True, "hi!", [2, 2, "plain"]]


async def test_stream_callback_can_call_the_api() -> None:
    harness = Harness()
    value = await run(
        """
        const seen = [];
        const r = await llm.stream('a b c', async (chunk) => { seen.push(await t.echo(chunk)); });
        return [r.content, seen];
        """,
        harness,
    )
    assert value == ["a b c", ["a", "b", "c"]]


async def test_returned_function_is_callable_after_main_and_released() -> None:
    harness = Harness()
    async with ENGINE.open(
        "let n = 0; return {inc: () => ++n, get: () => n}", "spell.js", harness.api(), SMALL
    ) as instance:
        fns = await instance.run_main()
        assert isinstance(fns["inc"], ScriptFunction)
        assert [await fns["inc"](), await fns["inc"](), await fns["get"]()] == [1, 2, 2]
        assert instance.statistics().api_calls == 0
        del fns


async def test_conversions_script_to_python() -> None:
    value = await run(
        r"""
        return {
          ints: [0, -0, 1, -7, 2 ** 53, -(2 ** 53)], floats: [1.5, 2 ** 53 + 2, 1e20, 1e21, -2e-7],
          special: [NaN, Infinity, -Infinity], big: 12345678901234567890n,
          text: ['é😀', '\ud800', 'a\u0000b', ''], nested: {a: {b: [null, undefined, true]}},
          skipped: undefined, sym: Symbol('x'), date: new Date(86400000),
          error: new RangeError('r'), '\u0000key': 1, map: new Map([[1, 2]]),
        };
        """
    )
    assert value["ints"] == [0, 0, 1, -7, 2**53, -(2**53)]
    assert all(type(x) is int for x in value["ints"])
    assert value["floats"] == [1.5, 2.0**53 + 2, 1e20, 1e21, -2e-7]
    assert all(type(x) is float for x in value["floats"])
    nan, inf, ninf = value["special"]
    assert math.isnan(nan) and inf == math.inf and ninf == -math.inf
    assert value["big"] == 12345678901234567890
    assert value["text"] == ["é😀", "\ud800", "a\x00b", ""]
    assert value["nested"] == {"a": {"b": [None, None, True]}}
    assert "skipped" not in value and value["sym"] is None
    assert value["date"] == "1970-01-02T00:00:00.000Z"
    assert value["error"] == "RangeError: r"
    assert value["\x00key"] == 1 and value["map"] == {}


async def test_conversions_python_to_script() -> None:
    harness = Harness()
    harness.source_value = {
        "tuple": (1, 2),
        "nan": math.nan,
        "inf": -math.inf,
        "\x00odd": "\ud83d",
        "deep": [{"x": None}],
        1: "int key",
    }
    value = await run(
        r"""
        const v = await t.source();
        return [Array.isArray(v.tuple), Number.isNaN(v.nan), v.inf, v['\u0000odd'].length,
                v['\u0000odd'].charCodeAt(0), v.deep[0].x, v['1'], Object.keys(v).length];
        """,
        harness,
    )
    assert value == [True, True, -math.inf, 1, 0xD83D, None, "int key", 6]


async def test_unconvertible_values_give_clear_errors() -> None:
    value = await run(
        """
        const cyclic = {}; cyclic.self = cyclic;
        try { await t.echo(cyclic); } catch (e) { return [e.name, e.message]; }
        """
    )
    assert value == ["TypeError", "t.echo: cannot convert a cyclic structure"]
    harness = Harness()
    harness.source_value = {"bad": object()}
    value = await run("try { await t.source(); } catch (e) { return e.message; }", harness)
    assert value.startswith("t.source: ") and "cannot convert a Python object" in value


def _normalise(value: Any) -> Any:
    """What a Python value looks like after a trip through JavaScript."""
    if isinstance(value, float) and value.is_integer() and abs(value) <= 2**53:
        return int(value)
    if isinstance(value, list | tuple):
        return [_normalise(x) for x in value]
    if isinstance(value, dict):
        return {k: _normalise(x) for k, x in value.items()}
    return value


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and math.isnan(a):
        return isinstance(b, float) and math.isnan(b)
    if isinstance(a, list):
        return isinstance(b, list) and len(a) == len(b) and all(map(_same, a, b))
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    return type(a) is type(b) and a == b


_TEXT = st.text(st.characters(exclude_categories=()), max_size=8)
_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.floats() | _TEXT,
    lambda children: (
        st.lists(children, max_size=4)
        | st.tuples(children, children)
        | st.dictionaries(_TEXT, children, max_size=4)
    ),
    max_leaves=12,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(values=st.lists(_VALUES, min_size=1, max_size=8))
def test_python_values_round_trip_through_javascript(values: list[Any]) -> None:
    async def trip() -> list[Any]:
        harness = Harness()
        async with ENGINE.open("return (x) => x", "spell.js", harness.api(), SMALL) as instance:
            identity = await instance.run_main()
            return [await identity(v) for v in values]

    got = anyio.run(trip)
    for value, back in zip(values, got, strict=True):
        assert _same(_normalise(value), back), (value, back)


async def test_syntax_errors_name_file_and_line() -> None:
    source = "const a = 1;\n\nconst b = ;\n"
    with pytest.raises(SpellSyntaxError) as info:
        ENGINE.check(source, "bad.js")
    assert (info.value.filename, info.value.line) == ("bad.js", 3)
    assert "unexpected token" in info.value.message
    with pytest.raises(SpellSyntaxError) as info:
        async with ENGINE.open(source, "bad.js", Harness().api(), SMALL):
            pass
    assert (info.value.filename, info.value.line) == ("bad.js", 3)
    with pytest.raises(SpellSyntaxError, match="closes its own top level"):
        ENGINE.check("}); (async function () {", "bad.js")
    ENGINE.check("const r = await llm.complete('x'); return r;", "good.js")


async def test_closed_instance_refuses_calls() -> None:
    harness = Harness()
    async with ENGINE.open("return () => 1", "spell.js", harness.api(), SMALL) as instance:
        fn = await instance.run_main()
        with pytest.raises(RuntimeError):
            await instance.run_main()
    with pytest.raises(SpellClosedError):
        await fn()
    with pytest.raises(SpellClosedError):
        await instance.run_main()
    assert instance.statistics().memory_bytes == 0


async def test_statistics_count_calls_cpu_and_memory() -> None:
    harness = Harness()
    async with ENGINE.open(
        "for (let i = 0; i < 5; i++) await t.echo(i); let x = 0; for (let i = 0; i < 1e5; i++) x++;",
        "spell.js",
        harness.api(),
        SMALL,
    ) as instance:
        await instance.run_main()
        stats = instance.statistics()
    assert stats.api_calls == 5
    assert 0 < stats.cpu_seconds < SMALL.cpu_seconds
    assert 50_000 < stats.memory_bytes < SMALL.memory_bytes


async def test_callback_errors_do_not_end_the_instance() -> None:
    harness = Harness()
    async with ENGINE.open(
        "return (x) => { if (x) throw new Error('no'); return 'yes'; }",
        "spell.js",
        harness.api(),
        SMALL,
    ) as instance:
        fn = await instance.run_main()
        with pytest.raises(SpellRuntimeError, match=r"^spell\.js:1: no$"):
            await fn(True)
        assert await fn(False) == "yes"


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    values=st.lists(_VALUES | st.sampled_from([2.0**60, 1e-7, math.nan]), min_size=1, max_size=6)
)
@example(values=[2.0**-24])  # found: QuickJS wrote 5.9604644775390625e-08, Python ...063e-08
@example(values=[-580688369014696.25, 274564663099778.125, 2.0**-1074, 7.120236347223045e-307])
def test_native_json_matches_the_python_functions(values: list[Any]) -> None:
    # json.encode/decode run inside the engine (spells call them without await); they must
    # give what the runtime's Python functions give for the same argument.
    from llmspell._api._core import json_namespace

    python_json = json_namespace()

    async def compare() -> list[Any]:
        harness = Harness()
        harness.source_value = values
        base = harness.api()
        api = dataclasses.replace(
            base,
            namespaces={**base.namespaces, "json": python_json, "py": python_json},
        )
        async with ENGINE.open(
            r"""
            const attempt = async (f) => {
              try { return await f(); } catch (e) { return 'ERR ' + e.name + ': ' + e.message; }
            };
            const texts = ['[NaN, -Infinity, {"a": Infinity}]', '{"x": [1, 2', '"\\ud800"', 7];
            const out = [];
            for (const v of await t.source()) {
              for (const pretty of [undefined, 1]) {
                const text = await attempt(() => json.encode(v, pretty));
                out.push([text, await attempt(() => py.encode(v, pretty))]);
                if (!text.startsWith('ERR')) texts.push(text);
              }
            }
            for (const text of texts) {
              out.push([await attempt(() => json.decode(text)), await attempt(() => py.decode(text))]);
            }
            return out;
            """,
            "spell.js",
            api,
            SMALL,
        ) as instance:
            return await instance.run_main()  # type: ignore[no-any-return]

    pairs = anyio.run(compare)
    assert 2 * len(values) + 4 <= len(pairs) <= 4 * len(values) + 4
    for native, python in pairs:
        if isinstance(native, str) and "is not valid JSON" in native:
            assert python.split("JSON: ")[0] == native.split("JSON: ")[0]
        else:
            assert _same(native, python), (native, python)
