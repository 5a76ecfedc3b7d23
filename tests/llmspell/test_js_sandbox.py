"""Escape and exhaustion attempts against the JavaScript sandbox.

Each attempt must end in a clear error within its limit, and a fresh instance must still run
normally afterwards (the process keeps serving spells).
"""

from __future__ import annotations

import time

import anyio
import pytest

from llmspell._exceptions import LimitExceeded, SpellRuntimeError, SpellSyntaxError
from llmspell.engines import Limits

from ._js_support import ENGINE, SMALL, Harness, assert_fresh_instance_works, run, with_gate

pytestmark = pytest.mark.anyio

ECMASCRIPT_GLOBALS = set(
    """Object Function Error EvalError RangeError ReferenceError SyntaxError TypeError URIError
    InternalError AggregateError SuppressedError Iterator Array parseInt parseFloat isNaN isFinite
    queueMicrotask decodeURI decodeURIComponent encodeURI encodeURIComponent escape unescape
    Infinity NaN undefined eval Number Boolean String Math Reflect Symbol DisposableStack
    globalThis BigInt Date RegExp JSON Proxy Map Set WeakMap WeakSet ArrayBuffer
    SharedArrayBuffer Uint8ClampedArray Int8Array Uint8Array Int16Array Uint16Array Int32Array
    Uint32Array BigInt64Array BigUint64Array Float16Array Float32Array Float64Array DataView
    Atomics Promise AsyncDisposableStack WeakRef FinalizationRegistry DOMException btoa atob
    performance""".split()
)
API_GLOBALS = {"llm", "log", "t", "tools", "print", "sleep", "parallel", "params", "console"}


WORDS = {
    "cpu": "cpu limit exceeded: the spell used more than {l.cpu_seconds:g} s of CPU time",
    "memory": "memory limit exceeded: the spell needed more than {l.memory_bytes} bytes of memory",
    "output": "output limit exceeded: the spell printed more than {l.output_bytes} bytes",
    "timeout": "timeout limit exceeded: the spell ran longer than {l.timeout_seconds:g} s",
}


async def expect_limit(
    source: str, limit: str, limits: Limits = SMALL, message: str | None = None
) -> float:
    """Run ``source``; assert it ends with ``limit``'s error as the user sees it (``message``,
    else the engine's wording for ``limits``); return the process CPU time it took (not inflated
    when the machine is busy, unlike wall time)."""
    start = time.process_time()
    with pytest.raises(LimitExceeded) as info:
        await run(source, Harness(output_limit=limits.output_bytes), limits)
    assert str(info.value) == (message or WORDS[limit].format(l=limits))
    elapsed = time.process_time() - start
    await assert_fresh_instance_works()
    return elapsed


async def test_no_host_objects_are_reachable() -> None:
    names = await run("return Object.getOwnPropertyNames(globalThis)")
    assert set(names) <= ECMASCRIPT_GLOBALS | API_GLOBALS, set(names) - ECMASCRIPT_GLOBALS
    probes = await run(
        """
        const names = ['std', 'os', 'require', 'process', 'module', 'exports', 'Deno', 'Bun',
                       'python', 'setTimeout', 'fetch', 'XMLHttpRequest', 'import', 'load',
                       '__llmspellHost'];  // the prelude takes the host's function away
        const viaFunction = Function('return this')();
        return [names.map(n => typeof globalThis[n]), viaFunction === globalThis,
                typeof Function('return typeof bridge + typeof request + typeof queue')()];
        """
    )
    assert probes == [["undefined"] * 15, True, "string"]
    assert await run("return Function('return typeof bridge + typeof request')()") == (
        "undefinedundefined"
    )
    loaded = await run(
        """
        const out = [];
        for (const name of ['os', 'std', 'qjs:os', '/etc/passwd', './spell.js']) {
          try { await import(name); out.push('LOADED ' + name); } catch (e) { out.push(e.name); }
        }
        return out;
        """
    )
    assert loaded == ["ReferenceError"] * 5
    await assert_fresh_instance_works()


async def test_stack_trace_callsites_cannot_leak_bridge_functions() -> None:
    # V8's Error.prepareStackTrace would hand out every function on the stack (the bridge's
    # included, e.g. inside a getter the bridge triggers while converting arguments).
    value = await run(
        """
        const leaked = [];
        try { Error.prepareStackTrace = (e, sites) => sites.map(s => s.getFunction()); } catch {}
        let redefined;
        try { Object.defineProperty(Error, 'prepareStackTrace', {value: () => 'x'}); }
        catch (e) { redefined = e.name; }
        const arg = { get x() { leaked.push(new Error('probe').stack); return 1; } };
        await t.echo(arg);
        return [typeof Error.prepareStackTrace, redefined, leaked.map(s => typeof s)];
        """
    )
    assert value == ["undefined", "TypeError", ["string"]]
    await assert_fresh_instance_works()


async def test_forged_bridge_messages_are_rejected_by_the_host() -> None:
    # Even a script holding the bridge could only queue ops by index; the host checks them.
    harness = Harness()
    async with ENGINE.open("return 1", "spell.js", harness.api(), SMALL) as instance:
        with pytest.raises(SpellRuntimeError, match="internal bridge error"):
            instance._process('[[1, 1, 99999, 0, ["/etc/passwd"]]]')  # type: ignore[attr-defined]
        with pytest.raises(SpellRuntimeError, match="internal bridge error"):
            instance._process('[[1, 1, 0, 1, [{"\\u0000h": 42}]]]')  # type: ignore[attr-defined]
        with pytest.raises(SpellRuntimeError, match="internal bridge error"):
            instance._process('{"op": "os.system"}')  # type: ignore[attr-defined]
    # The same through HOST, the script's one way into Python: the call fails, the run ends.
    for forged in ((99999, 0, 0, '["/etc/passwd"]'), (0, 0, 1, '[{"\\u0000h": 42}]')):
        async with ENGINE.open("return 1", "spell.js", harness.api(), SMALL) as instance:
            assert instance._host(*forged) == "L"  # type: ignore[attr-defined]
            with pytest.raises(SpellRuntimeError, match="internal error"):
                raise instance._host_limit  # type: ignore[attr-defined]
    await assert_fresh_instance_works()


async def test_prototype_pollution_does_not_disturb_the_bridge() -> None:
    harness = Harness()
    harness.source_value = {"__proto__": {"admin": True}, "\x00x": 1}
    value = await run(
        """
        const stolen = [];
        Object.defineProperty(Object.prototype, 'res', {set(v) { stolen.push(v); }, get() {}});
        Object.defineProperty(Object.prototype, 'content', {set(v) { stolen.push(v); }});
        Object.prototype.toJSON = () => 'polluted';
        Object.defineProperty(Array.prototype, '0', {set(v) { stolen.push(v); }, get() {}});
        Array.prototype.push = function () { stolen.push('push'); };
        Array.prototype[Symbol.iterator] = function* () { yield 'evil'; };
        Array.prototype.join = () => 'evil';
        String.prototype.slice = () => 'evil';
        Function.prototype.call = Function.prototype.apply = () => 'evil';
        Map.prototype.get = Map.prototype.set = () => 'evil';
        JSON.stringify = JSON.parse = () => '[]';
        try { Promise.prototype.then = () => 'evil'; } catch {}
        globalThis.Promise = function () {};
        const viaJson = await t.echo(JSON.parse('{"__proto__": {"admin": true}}'));
        const fromHost = await t.source();
        if (viaJson.admin || fromHost.admin || ({}).admin) stolen.push('__proto__');
        const r = await llm.complete({messages: ['hi']});
        const a = await t.echo([1, [2]]), b = await tools.weather('x');
        return {content: r.content, usage: r.usage, a, b, stolen: stolen.length};
        """,
        harness,
    )
    assert value == {
        "content": "echo: {'messages': ['hi']}",
        "usage": {"total_tokens": 3},
        "a": [1, [2]],
        "b": ["weather", "x"],
        "stolen": 0,
    }
    await assert_fresh_instance_works()


async def test_pollution_in_one_spell_is_invisible_in_another() -> None:
    harness = Harness()
    async with ENGINE.open(
        "Object.prototype.polluted = 'yes'; Array.prototype.map = null; await t.gate();",
        "a.js",
        harness.api(),
        SMALL,
    ) as polluter:

        async def other_spell() -> None:
            value = await run("return [({}).polluted, typeof [].map, typeof JSON.stringify]")
            assert value == [None, "function", "function"]

        await with_gate(polluter.run_main, harness, other_spell)


async def test_cpu_interrupt_cannot_be_caught() -> None:
    elapsed = await expect_limit(
        """
        for (;;) {
          try { while (true) {} } catch (e) { console.log('caught', e); }
          finally { console.log('finally'); }
        }
        """,
        "cpu",
    )
    assert elapsed < SMALL.cpu_seconds + 1.0


async def test_cpu_budget_is_summed_over_turns() -> None:
    # Each turn stays under the budget; together they exceed it.
    await expect_limit(
        "for (;;) { const end = Date.now() + 50; while (Date.now() < end) {} await t.echo(1); }",
        "cpu",
    )


async def test_infinite_loop_in_a_promise_job() -> None:
    await expect_limit(
        "Promise.resolve().then(() => { for (;;) {} }); await t.echo(1); return 'done'", "cpu"
    )


async def test_infinite_loop_in_a_callback_from_python() -> None:
    harness = Harness()
    async with ENGINE.open(
        "return async () => { await t.echo(1); for (;;) {} }", "spell.js", harness.api(), SMALL
    ) as instance:
        spin = await instance.run_main()
        start = time.process_time()
        with pytest.raises(LimitExceeded) as info:
            await spin()
        assert str(info.value) == "cpu limit exceeded: the spell used more than 0.3 s of CPU time"
        assert time.process_time() - start < SMALL.cpu_seconds + 1.0
    await assert_fresh_instance_works()


async def test_memory_bombs() -> None:
    await expect_limit("const a = []; for (;;) a.push([1, 2, 3, 4]);", "memory")
    await expect_limit("let s = 'x'; for (;;) s = (s + s).slice(0);", "memory")
    await expect_limit("const a = []; for (;;) a.push('y'.repeat(1 << 16) + a.length);", "memory")


async def test_deep_recursion_is_a_clean_error() -> None:
    with pytest.raises(SpellRuntimeError) as info:
        await run("function down(n) { return down(n + 1) + 1; }\ndown(0);")
    assert info.value.message == "RangeError: Maximum call stack size exceeded"
    assert await run(
        "function d(n) { return d(n + 1); } try { d(0) } catch (e) { return e.name }"
    ) == ("RangeError")
    await assert_fresh_instance_works()


async def test_catastrophic_regex_ends_within_the_cpu_limit() -> None:
    elapsed = await expect_limit("return /(a+)+b/.test('a'.repeat(40))", "cpu")
    assert elapsed < SMALL.cpu_seconds + 1.0


async def test_huge_output() -> None:
    harness = Harness(output_limit=SMALL.output_bytes)
    with pytest.raises(LimitExceeded) as info:
        await run("for (let i = 0; i < 1e9; i++) console.log('spam', i);", harness)
    assert str(info.value) == "output limit exceeded: the spell printed more than 4096 bytes"
    assert harness.text().startswith("spam 0\nspam 1\n")
    assert len(harness.text().encode()) <= 4096  # everything printed up to the limit, no more
    # This harness's own print function enforces the limit itself, in its own words.
    await expect_limit(
        "print('x'.repeat(10000))", "output", message="output limit exceeded: more than 4096 bytes"
    )
    # An API function raising LimitExceeded cannot be caught either.
    await expect_limit(
        "try { await t.hog(); } catch (e) { return 'caught'; }",
        "output",
        message="output limit exceeded: raised by an API function",
    )


async def test_wall_clock_timeout() -> None:
    limits = Limits(memory_bytes=16 << 20, cpu_seconds=5.0, timeout_seconds=0.2)
    assert await expect_limit("await t.slow()", "timeout", limits) < 1.0
    assert await expect_limit("for (;;) {}", "timeout", limits) < 1.0


async def test_blocking_primitives_do_not_block() -> None:
    value = await run(
        """
        try { Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 10000); }
        catch (e) { return e.message; }
        """
    )
    assert value == "cannot block in this thread"


async def test_unhandled_rejection_is_not_lost() -> None:
    with pytest.raises(SpellRuntimeError, match=r"Uncaught \(in promise\) ValueError"):
        await run("t.fail('fire and forget'); await t.echo(1);")
    await assert_fresh_instance_works()


async def test_breaking_out_of_the_wrapper_is_a_syntax_error() -> None:
    with pytest.raises(SpellSyntaxError, match="closes its own top level"):
        await run("}); globalThis.escaped = 1; (async function () {")
    with pytest.raises(LimitExceeded):
        await run("}); for (;;) {} (async function () {")
    await assert_fresh_instance_works()


async def test_thenable_pollution_ends_in_a_clear_error() -> None:
    # Every object result becomes a never-settling thenable: the run must not hang.
    with pytest.raises(SpellRuntimeError, match="deadlock"):
        await run("Object.prototype.then = function () {}; await llm.complete('x');")
    await assert_fresh_instance_works()


async def test_limits_hold_with_many_instances_alive() -> None:
    harness = Harness()
    quick = Limits(memory_bytes=16 << 20, cpu_seconds=0.1, timeout_seconds=2.0)
    async with anyio.create_task_group() as tg:
        for _ in range(3):
            tg.start_soon(expect_limit, "for (;;) {}", "cpu", quick)
        tg.start_soon(run, "await t.echo(1)", harness)
