"""The Tengo engine from the spell's and the host's point of view."""

from __future__ import annotations

from typing import Any

import anyio
import anyio.lowlevel
import pytest

from llmspell._check import check_source
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
    engine_for,
    sync_api,
)
from llmspell.engines.tengo import ENGINE as ENGINE_CLASS
from llmspell.engines.tengo import TengoEngine

from ._eager_host import EagerHost

pytestmark = pytest.mark.anyio

ENGINE = TengoEngine()
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

        self.agent = HostObject("agent", {"run": echo, "name_of": upper}, {"name": "r", "steps": 3})

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


async def run(
    source: str, host: Host | None = None, limits: Limits = LIMITS, filename: str = "hello.tengo"
) -> Any:
    host = host or Host()
    async with ENGINE.open(source, filename, host.api, limits) as instance:
        return await instance.run_main()


async def test_engine_is_found_by_extension_and_declared() -> None:
    assert isinstance(engine_for("x.tengo"), TengoEngine)
    assert ENGINE_CLASS is TengoEngine
    assert TengoEngine.name == "tengo" and TengoEngine.extensions == (".tengo",)


async def test_globals_namespaces_and_values() -> None:
    host = Host()
    result = await run(
        """
        a := t.echo(1, 2)
        log.info("hi", {n: params.n})
        export [a, t.version, params.topic, log.upper("x"), tools.weather("Lisbon", 2),
                tools.list(1, 2, 3), t.echo()]
        """,
        host,
    )
    assert result == [1, "1.0", "quantum", "X", {"tool": "weather", "args": ["Lisbon", 2]}, 3, None]
    assert ("info", ("hi", {"n": 3})) in host.calls


async def test_values_cross_both_ways() -> None:
    result = await run(
        """
        v := t.echo({i: 1, f: 2.5, s: "é", b: true, u: undefined, a: [1, [2]], c: 'x',
                     y: bytes("hi"), im: immutable({k: [1]}), e: error("bad")})
        export [v, is_map(v), is_array(v.a), type_name(v.f), t.echo(9223372036854775807)]
        """
    )
    assert result == [
        {
            "i": 1,
            "f": 2.5,
            "s": "é",
            "b": True,
            "u": None,
            "a": [1, [2]],
            "c": "x",
            "y": "hi",
            "im": {"k": [1]},
            "e": "bad",
        },
        True,
        True,
        "float",
        9223372036854775807,
    ]


async def test_host_objects_have_methods_and_fields_and_come_back_as_themselves() -> None:
    result = await run(
        """
        a := t.agent()
        export [a.name, a.steps, a.run("go"), a.name_of("x"), t.same(a), is_callable(a.run)]
        """
    )
    assert result == ["r", 3, "go", "X", True, True]


async def test_api_errors_are_error_values() -> None:
    result = await run(
        """
        e := t.fail()
        k := t.crash()
        export [is_error(e), e.value, k.value, string(e)]
        """
    )
    assert result[0] is True
    assert result[1] == "t.fail: parameter 'messages' is required"
    assert result[2] == "t.crash: 'x'"
    assert result[3] == "error: \"t.fail: parameter 'messages' is required\""


async def test_an_unchecked_api_error_used_as_a_value_says_what_the_error_was() -> None:
    with pytest.raises(SpellRuntimeError) as info:
        await run("r := t.fail()\nexport r.content", filename="use.tengo")
    assert info.value.line == 2
    assert info.value.message == (
        "invalid index on error (error: \"t.fail: parameter 'messages' is required\")"
    )


async def test_runtime_error_has_file_line_and_trace() -> None:
    source = 'f := func(x) {\n  return x + "s"\n}\ny := 1\nf(y)\n'
    with pytest.raises(SpellRuntimeError) as info:
        await run(source, filename="spells/err.tengo")
    err = info.value
    assert err.filename == "spells/err.tengo" and err.line == 2
    assert err.message == "invalid operation: int + string"
    assert "at spells/err.tengo:2:10" in err.traceback
    assert "at spells/err.tengo:5:1" in err.traceback
    assert str(err).startswith("spells/err.tengo:2: invalid operation")


async def test_syntax_and_compile_errors_give_line_and_column() -> None:
    with pytest.raises(SpellSyntaxError) as info:
        ENGINE.check("a := 1\nb := (2 + \n", "bad.tengo")
    # Tengo reports the end of input where the operand is missing
    assert (info.value.line, info.value.column) == (2, 12)
    assert str(info.value).startswith("bad.tengo:2: syntax error: expected operand")
    with pytest.raises(SpellSyntaxError) as info:
        await run("x := 1\nbreak\n", filename="c.tengo")
    assert info.value.line == 2 and "break not allowed outside loop" in info.value.message
    with pytest.raises(SpellSyntaxError) as info:
        await run("x := nope + 1", filename="c.tengo")
    assert info.value.message == "unresolved reference 'nope'"
    ENGINE.check('x := llm.complete({prompt: "hi"})\nexport x', "ok.tengo")  # API names ok


async def test_check_reports_unknown_api_names_and_syntax_errors() -> None:
    echo = Host().api.namespaces["t"].functions["echo"]
    api = Api({"llm": Namespace({"complete": echo})}, {}, {"params": {}}, print)
    problems = check_source("x := llm.compleet({})\n", "a.tengo", api)
    assert [str(p) for p in problems] == [
        "a.tengo:1:10: llm.compleet is not part of the API; did you mean llm.complete? "
        "(known: complete)"
    ]
    problems = check_source("x := := 1\n", "a.tengo", api)
    assert str(problems[0]).startswith("a.tengo:1:6: syntax error")


async def test_print_and_fmt_go_to_output() -> None:
    host = Host()
    await run(
        """
        fmt := import("fmt")
        print("a", 1, [1, "b"], undefined)
        fmt.println("x", 2)
        fmt.printf("%05.1f|%-3d|%q\\n", 3.14159, 7, "q")
        """,
        host,
    )
    assert host.output == ['a 1 [1, "b"] \n', "x2\n", '003.1|7  |"q"\n']


async def test_callbacks_run_while_main_is_suspended() -> None:
    host = Host()
    source = """
    t.register("handler", func(event, topic) {
        log.info("got " + topic)
        return {seen: event.id, echoed: t.echo(event.id * 2)}
    })
    export t.block("main done")
    """
    async with ENGINE.open(source, "cb.tengo", host.api, LIMITS) as instance:
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
        t.register("double", func(x) { return t.count(x, x) * x })
        export t.call("double", 21)
        """
    )
    assert result == 42


async def test_callback_arguments_are_padded_or_dropped_and_errors_fail_it() -> None:
    host = Host()
    source = """
    t.register("one", func(a) { return a })
    t.register("two", func(a, b) { return [a, b] })
    t.register("rest", func(a, ...r) { return r })
    t.register("err", func() {
        return error("nope")
    })
    """
    async with ENGINE.open(source, "cb.tengo", host.api, LIMITS) as instance:
        await instance.run_main()
        assert await host.functions["one"](1, 2, 3) == 1
        assert await host.functions["two"](1) == [1, None]
        assert await host.functions["rest"](1, 2, 3) == [2, 3]
        with pytest.raises(SpellRuntimeError) as info:
            await host.functions["err"]()
        assert (info.value.line, info.value.message) == (6, "nope")
        assert await host.functions["one"]("still works") == "still works"


async def test_two_callbacks_in_flight_at_once() -> None:
    host = Host()
    source = 't.register("f", func(x) { return t.block(x) + "!" })'
    async with ENGINE.open(source, "c.tengo", host.api, LIMITS) as instance:
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


async def test_callbacks_after_cancelled_failed_and_overflowing_ones_run_normally() -> None:
    # the greenlets of finished callbacks are reused: an interrupted one must not be, and no
    # failure may leave anything behind for the next callback
    host = Host()
    source = """
    n := 0
    t.register("count", func() { n += 1; return n })
    t.register("wait", func() { n += 100; return t.block() })
    t.register("hold", func() { v := t.block(1); n += v; return n })
    t.register("bad", func() { return 1 + "a" })
    t.register("deep", func() {
        f := undefined
        f = func(i) { return f(i + 1) + 1 }
        return f(0)
    })
    """
    async with ENGINE.open(source, "cb.tengo", host.api, LIMITS) as instance:
        await instance.run_main()
        assert await host.functions["count"]() == 1
        async with anyio.create_task_group() as tg:
            tg.start_soon(host.functions["wait"])
            await anyio.wait_all_tasks_blocked()
            assert host.blocked == 1
            tg.cancel_scope.cancel()  # the callback is cancelled while suspended in t.block
        with pytest.raises(SpellRuntimeError) as bad:
            await host.functions["bad"]()
        assert bad.value.message == "invalid operation: int + string"
        with pytest.raises(SpellRuntimeError) as deep:
            await host.functions["deep"]()
        assert deep.value.message == "stack overflow"
        results: list[Any] = []

        async def hold() -> None:
            results.append(await host.functions["hold"]())

        async with anyio.create_task_group() as tg:
            for _ in range(6):  # more suspended at once than the engine keeps idle after
                tg.start_soon(hold)
            await anyio.wait_all_tasks_blocked()
            assert host.blocked == 7
            host.release.set()
        assert sorted(results) == [102, 103, 104, 105, 106, 107]
        assert await host.functions["count"]() == 108


async def test_limit_from_api_cannot_be_caught() -> None:
    with pytest.raises(LimitExceeded) as info:
        await run('for i := 0; i < 3; i++ { t.over() }\nexport "escaped"')
    assert info.value.limit == "output"


async def test_timeout_while_suspended_in_an_api_call() -> None:
    with anyio.fail_after(2):
        with pytest.raises(LimitExceeded) as info:
            await run("sleep(60)", limits=Limits(timeout_seconds=0.05))
    assert info.value.limit == "timeout"


async def test_closed_instance_refuses_calls() -> None:
    host = Host()
    async with ENGINE.open(
        't.register("f", func() { return 1 })', "x.tengo", host.api, LIMITS
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
    source = 't.register("f", func() { return t.block() })'
    async with anyio.create_task_group() as tg:
        async with ENGINE.open(source, "x.tengo", host.api, LIMITS) as instance:
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
    source = "a := []\nfor i := 0; i < 10; i++ { a = append(a, t.echo(i)) }"
    async with ENGINE.open(source, "s.tengo", host.api, LIMITS) as i:
        await i.run_main()
        stats = i.statistics()
    assert stats.api_calls == 10
    assert 0 < stats.cpu_seconds < 1
    assert 0 < stats.memory_bytes < LIMITS.memory_bytes


async def test_script_function_from_another_instance_is_refused() -> None:
    one, two = Host(), Host()
    async with ENGINE.open('t.register("f", func() {})', "a.tengo", one.api, LIMITS) as a:
        await a.run_main()
        async with ENGINE.open("r := t.echo(0)\nexport r", "b.tengo", two.api, LIMITS) as b:
            fn = one.functions["f"]

            async def give(*args: Any) -> Any:
                return fn

            api = Api({"t": Namespace({"echo": give})}, {}, {}, two.output.append)
            async with ENGINE.open("r := t.echo()\nexport r.value", "c.tengo", api, LIMITS) as c:
                assert "another spell" in await c.run_main()
            await b.run_main()


async def test_run_main_returns_the_exported_value_and_stops() -> None:
    assert await run("x := 1") is None
    assert await run("export {a: [1, 2.5, 'c']}\nx := undefined + 1") == {"a": [1, 2.5, "c"]}


async def test_sandbox_has_no_os_module() -> None:
    with pytest.raises(SpellSyntaxError) as info:
        await run('os := import("os")')
    assert "module 'os' not found" in info.value.message


async def test_int_arithmetic_wraps_as_in_go_and_floats_stay_apart() -> None:
    result = await run(
        """
        max := 9223372036854775807
        min := -9223372036854775807 - 1
        export [max + 1, min - 1, max * 2, 1 << 63, 1 << 64, -7 / 2, -7 % 2, 7 / 2.0,
                9223372036854775807 + 1, type_name(1 + 1.0), 5 == 5.0, -min]
        """
    )
    assert result == [
        -9223372036854775808,
        9223372036854775807,
        -2,
        -9223372036854775808,
        0,
        -3,
        -1,
        3.5,
        -9223372036854775808,
        "float",
        True,
        -9223372036854775808,
    ]


async def test_eager_api_values_errors_and_context() -> None:
    host = EagerHost()
    host.var.set("caller")
    source = """
        a := e.now(1)
        b := e.later(2)
        c := e.now(3)
        err1 := e.bad(1)
        err2 := e.later_bad(1)
        err3 := e.huge()
        d := e.weather("rain")
        f := o.obj.m(4)
        export [a, b, c, err1.value, err2.value, err3.value, d, f]
    """
    async with ENGINE.open(source, "eager.tengo", host.api, LIMITS) as instance:
        result = await instance.run_main()
        assert instance.statistics().api_calls == 8
    assert result[:3] == [[1, "caller"], [2, "caller"], [3, "caller"]]
    assert result[3] == "e.bad: parameter 'value' is wrong"
    assert result[4] == "e.later_bad: 'late'"
    assert result[5] == "e.huge: cannot pass a Python set to a spell"
    assert result[6:] == ["weather=rain", [4, "caller"]]
    assert host.started == ["now 1", "later 2", "now 3", "later 4"]


async def test_eager_api_limit_ends_the_run() -> None:
    with pytest.raises(LimitExceeded):
        async with ENGINE.open("e.over()", "over.tengo", EagerHost().api, LIMITS) as instance:
            await instance.run_main()


async def test_eager_call_that_waits_leaves_the_interpreter_free() -> None:
    host = EagerHost()
    source = "export e.held(func(x) { return x * 2 })"
    async with ENGINE.open(source, "held.tengo", host.api, LIMITS) as instance:
        async with anyio.create_task_group() as tg:
            results: list[Any] = []

            async def main() -> None:
                results.append(await instance.run_main())

            tg.start_soon(main)
            while host.callback is None:
                await anyio.lowlevel.checkpoint()
            assert await host.callback(21) == 42  # (while the main file waits in e.held)
            host.release.set()
    assert results == ["released"] and host.cleaned == 1


async def test_eager_call_that_waits_is_cancelled_by_interrupt() -> None:
    host = EagerHost()
    source = "e.held(func(x) { return x })"
    async with ENGINE.open(source, "stuck.tengo", host.api, LIMITS) as instance:
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
