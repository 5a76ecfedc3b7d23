"""Escape and exhaustion attempts against the Tengo sandbox.

Each attempt must end in a clear error within its limit, and the process must go on serving
spells: after every attempt a fresh instance runs normally.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from llmspell._exceptions import LimitExceeded, SpellRuntimeError, SpellSyntaxError
from llmspell.engines import Api, Limits, Namespace, ScriptFunction
from llmspell.engines.tengo import TengoEngine

pytestmark = pytest.mark.anyio

ENGINE = TengoEngine()
LIMITS = Limits(
    memory_bytes=4 * 1024 * 1024, cpu_seconds=0.25, timeout_seconds=3.0, output_bytes=4096
)
# Seconds any attempt may take in total, limits included: CPU time of the process where the limit
# is CPU, memory or output (a busy machine does not inflate it), wall time for the wall-clock one.
SLACK = 2.0


def make_api(output: list[str], functions: dict[str, ScriptFunction]) -> Api:
    async def echo(x: Any = None) -> Any:
        return x

    async def register(fn: ScriptFunction) -> None:
        functions["f"] = fn

    async def python_function() -> Any:
        return print

    return Api(
        {"t": Namespace({"echo": echo, "register": register, "python_function": python_function})},
        {},
        {},
        output.append,
    )


async def attempt(source: str, limits: Limits = LIMITS) -> Any:
    output: list[str] = []
    async with ENGINE.open(source, "evil.tengo", make_api(output, {}), limits) as instance:
        return await instance.run_main()


async def still_serving() -> None:
    assert await attempt('text := import("text")\nexport len(text.repeat("ok", 2)) + 1') == 5


LIMIT_CASES = {
    "endless loop": ("for {}", "cpu"),
    "endless loop with work": ("x := 0\nfor { x = x + 1 }", "cpu"),
    "endless recursion through tail calls": ("f := func() { return f() }\nf()", "cpu"),
    "loop in a closure called in a loop": (
        "f := func() { for i := 0; i < 100000000; i++ {} }\nfor { f() }",
        "cpu",
    ),
    "loop in a module-level function": (
        'enum := import("enum")\nenum.each(range(0, 100000), func(k, v) { for {} })',
        "cpu",
    ),
    "string doubling": ('s := "x"\nfor { s += s }', "memory"),
    "string growth": (
        'text := import("text")\nchunk := text.repeat("x", 100000)\ns := ""\nfor { s += chunk }',
        "memory",
    ),
    "array growth": ("a := []\nfor { a = append(a, 1, 2, 3, 4, 5, 6, 7, 8) }", "memory"),
    "array doubling": ("a := [1]\nfor { a = a + a }", "memory"),
    "map growth": ("m := {}\nfor i := 0; true; i++ { m[string(i)] = i }", "memory"),
    "nested growth": ("a := []\nfor { a = append(a, [1, 2, 3, 4, 5, 6, 7, 8]) }", "memory"),
    "huge range": ("r := range(0, 1 << 40)", "memory"),
    "huge bytes": ("b := bytes(1 << 40)", "memory"),
    "huge repeat": ('text := import("text")\ns := text.repeat("x", 1 << 30)', "memory"),
    "huge format width": ('s := format("%999999999d", 1)', "memory"),
    "loop of costly steps": ("a := range(0, 30000)\nb := copy(a)\nfor { x := a == b }", "cpu"),
    "huge output": ('for { print("xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx") }', "output"),
    "huge fmt output": (
        'fmt := import("fmt")\nfor { fmt.println("xxxxxxxxxxxxxxxxxxxxxxxxxxxxxx") }',
        "output",
    ),
}


@pytest.mark.parametrize(("source", "kind"), LIMIT_CASES.values(), ids=LIMIT_CASES.keys())
async def test_exhaustion_ends_with_a_limit(source: str, kind: str) -> None:
    start = time.process_time()
    with pytest.raises(LimitExceeded) as info:
        await attempt(source)
    assert time.process_time() - start < SLACK
    assert info.value.limit == kind
    assert str(info.value).startswith(f"{kind} limit exceeded: the spell ")
    await still_serving()


async def test_tight_loop_hits_the_wall_clock_timeout() -> None:
    start = time.perf_counter()
    with pytest.raises(LimitExceeded) as info:
        await attempt("for {}", Limits(cpu_seconds=30.0, timeout_seconds=0.2))
    assert info.value.limit == "timeout"
    assert time.perf_counter() - start < SLACK


async def test_deep_recursion_is_a_clean_error() -> None:
    start = time.process_time()
    with pytest.raises(SpellRuntimeError) as info:
        await attempt("f := func(n) { return 1 + f(n + 1) }\nf(0)")
    assert info.value.message == "stack overflow"
    assert info.value.line == 1
    assert time.process_time() - start < SLACK
    await still_serving()


async def test_regular_expressions_are_linear_time() -> None:
    start = time.process_time()
    result = await attempt(
        'text := import("text")\nexport text.re_match("(a+)+$", text.repeat("a", 5000) + "b")'
    )
    assert result is False
    assert time.process_time() - start < 0.5


ESCAPES = {
    "no os module": ('os := import("os")', "module 'os' not found"),
    "no file imports": ('m := import("./evil")', "module './evil' not found"),
    "no python attributes on natives": ("x := len.__globals__", "not indexable"),
}


@pytest.mark.parametrize(("source", "message"), ESCAPES.values(), ids=ESCAPES.keys())
async def test_escape_attempt_is_a_clear_error(source: str, message: str) -> None:
    with pytest.raises((SpellSyntaxError, SpellRuntimeError)) as info:
        await attempt(source)
    assert message in str(info.value)
    await still_serving()


async def test_python_objects_do_not_cross_into_the_spell() -> None:
    result = await attempt("r := t.python_function()\nexport [is_error(r), r.value]")
    assert result[0] is True and "cannot pass a Python" in result[1]


async def test_infinite_loop_in_a_callback() -> None:
    output: list[str] = []
    functions: dict[str, ScriptFunction] = {}
    start = time.process_time()
    async with ENGINE.open(
        "t.register(func() { for {} })", "cb.tengo", make_api(output, functions), LIMITS
    ) as i:
        await i.run_main()
        with pytest.raises(LimitExceeded) as info:
            await functions["f"]()
        assert info.value.limit == "cpu"
        with pytest.raises(LimitExceeded):  # sticky: the instance is done
            await functions["f"]()
    assert time.process_time() - start < SLACK
    await still_serving()


async def test_cpu_budget_is_shared_by_main_and_callbacks() -> None:
    output: list[str] = []
    functions: dict[str, ScriptFunction] = {}
    # each call does a fixed amount of work (tens of ms of CPU): the budget is CPU time, so a
    # busy machine (less CPU per second of wall time) must not change the outcome
    source = """
    for i := 0; i < 100000; i++ {}
    t.register(func() { for i := 0; i < 300000; i++ {} })
    """
    async with ENGINE.open(source, "cb.tengo", make_api(output, functions), LIMITS) as i:
        await i.run_main()
        with pytest.raises(LimitExceeded):
            for _ in range(100):
                await functions["f"]()
        assert 0.25 <= i.statistics().cpu_seconds < 0.25 + SLACK


async def test_garbage_is_not_counted_against_memory() -> None:
    # 200 strings of 100 KiB each are made and dropped: 20 MB of allocation, little live
    source = """
    text := import("text")
    n := 0
    for i := 0; i < 200; i++ { s := text.repeat("x", 100000); n += len(s) }
    export n
    """
    assert await attempt(source, Limits(memory_bytes=4 * 1024 * 1024, cpu_seconds=5)) == 20000000


async def test_full_collections_of_the_host_heap_are_not_the_spells_cpu() -> None:
    """A process holding millions of objects (a daemon, a test session): a full collection
    the spell's allocations trigger walks all of them. Charged to the spell, it made "nested
    growth" hit the CPU limit before the memory limit; it must end on memory as in a fresh
    process."""
    import gc

    from llmspell.engines._clock import spell_cpu_time

    ballast = [[i] for i in range(2_000_000)]  # two million tracked objects of the host
    before_spell, before_thread = spell_cpu_time(), time.thread_time()
    gc.collect(2)
    collected = time.thread_time() - before_thread
    assert spell_cpu_time() - before_spell < collected / 10  # the collection is left out
    source, kind = LIMIT_CASES["nested growth"]
    for _ in range(3):
        with pytest.raises(LimitExceeded) as info:
            await attempt(source)
        assert info.value.limit == kind
    del ballast
