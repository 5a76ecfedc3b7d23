"""JavaScript: eager_api calls (events.emit) started from inside the spell's code (asyncio)."""

from __future__ import annotations

from typing import Any

import anyio
import anyio.lowlevel
import pytest

from llmspell import open_runtime
from llmspell._exceptions import (
    LimitExceeded,
    SpellInterrupted,
    SpellRuntimeError,
)
from llmspell._runtime import SpellSource
from llmspell.engines import Limits
from llmspell.engines.js import JsEngine
from llmspell.engines.js._instance import EAGER_BURST

from ._eager_host import EagerHost

ENGINE = JsEngine()
LIMITS = Limits(memory_bytes=16 << 20, cpu_seconds=2.0, timeout_seconds=10.0)


async def run(host: EagerHost, source: str, limits: Limits = LIMITS) -> Any:
    async with ENGINE.open(source, "eager.js", host.api, limits) as instance:
        return await instance.run_main()


@pytest.mark.anyio
async def test_eager_calls_give_settled_promises_values_errors_and_context() -> None:
    host = EagerHost(method="now")  # (o.obj.m: an eager call that finishes at once)
    host.var.set("caller")
    source = """
        const p = e.now(1);
        const r = [p instanceof Promise, await p, await e.later(2), await e.now(3)];
        for (const f of [() => e.bad(1), () => e.now(1, 2, 3), () => e.huge()]) {
          try { await f(); r.push('no error'); } catch (err) { r.push(err.name + ': ' + err.message); }
        }
        r.push(await e.weather('rain'), await o.obj.m(4));
        r.push(await e.now(5).then((v) => 'then ' + v[0]));
        return r;
    """
    result = await run(host, source)
    assert result[:4] == [True, [1, "caller"], [2, "caller"], [3, "caller"]]
    assert result[4] == "ParameterError: e.bad: parameter 'value' is wrong"
    assert result[5] == "TypeError: e.now expects 1 argument (value), got 3"
    assert (
        result[6]
        == "TypeError: e.huge: cannot convert a Python set to a script value (in its result)"
    )
    assert result[7:] == ["weather=rain", [4, "caller"], "then 5"]
    assert host.started == ["now 1", "later 2", "now 3", "now 4", "now 5"]


@pytest.mark.anyio
async def test_an_eager_call_runs_before_the_script_goes_on_up_to_a_burst_per_turn() -> None:
    host = EagerHost()
    source = f"""
        for (let i = 0; i < {EAGER_BURST + 36}; i++) e.now(i);
        e.mark();
        await e.later('x');  // (not eager any more this turn: it waits for the workers)
        e.now('y');
        e.mark();
    """
    await run(host, source)
    # the first EAGER_BURST ran inside the loop; the rest once the turn was over
    assert host.marks == [EAGER_BURST, EAGER_BURST + 38]
    assert host.started == [f"now {i}" for i in range(EAGER_BURST + 36)] + ["later x", "now y"]


@pytest.mark.anyio
async def test_an_uncaught_eager_failure_names_the_spells_line() -> None:
    host = EagerHost()
    with pytest.raises(SpellRuntimeError) as caught:
        await run(host, "const a = 1;\n\nawait e.bad(a);\n")
    assert caught.value.line == 3
    assert "e.bad: parameter 'value' is wrong" in caught.value.message
    with pytest.raises(SpellRuntimeError) as caught:  # not awaited: reported unhandled
        await run(host, "e.now(1);\ne.bad(2);\nreturn 1;\n")
    assert caught.value.line == 2


@pytest.mark.anyio
async def test_an_eager_call_that_waits_leaves_the_script_free() -> None:
    host = EagerHost()
    source = "return await e.held(function (x) { return x * 2; });"
    results: list[Any] = []
    async with ENGINE.open(source, "held.js", host.api, LIMITS) as instance:
        async with anyio.create_task_group() as tg:

            async def main() -> None:
                results.append(await instance.run_main())

            tg.start_soon(main)
            while host.callback is None:
                await anyio.lowlevel.checkpoint()
            assert await host.callback(21) == 42  # (while the main code waits in e.held)
            host.release.set()
    assert results == ["released"] and host.cleaned == 1


@pytest.mark.anyio
async def test_an_eager_call_that_waits_is_cancelled_by_interrupt() -> None:
    host = EagerHost()
    errors: list[BaseException] = []
    async with ENGINE.open("e.held(print); return 1;", "stuck.js", host.api, LIMITS) as inst:
        async with anyio.create_task_group() as tg:

            async def main() -> None:
                try:
                    await inst.run_main()
                except SpellInterrupted as exc:
                    errors.append(exc)

            tg.start_soon(main)
            while host.callback is None:
                await anyio.lowlevel.checkpoint()
            inst.interrupt("stop")
    assert len(errors) == 1 and host.cleaned == 1


@pytest.mark.anyio
async def test_limits_still_apply_to_eager_calls() -> None:
    host = EagerHost()
    with pytest.raises(LimitExceeded) as caught:
        await run(host, "try { await e.over(); } catch (err) { return 'caught'; }")
    assert caught.value.limit == "output"
    with pytest.raises(LimitExceeded) as caught:
        await run(host, "for (;;) e.now(1);", Limits(cpu_seconds=0.2, timeout_seconds=10.0))
    assert caught.value.limit == "cpu"
    with pytest.raises(LimitExceeded) as caught:  # calls started and not awaited hold memory
        await run(host, "for (;;) e.later('x'.repeat(1000));", Limits(memory_bytes=4 << 20))
    assert caught.value.limit == "memory"


SPELL_EVENTS = """
    const N = %d, got = [];
    let done;
    const all = new Promise((resolve) => { done = resolve; });
    events.on("t.*", (event, topic) => { got.push(topic + event.n); if (got.length === N) done(); });
    const order = [];
    for (let i = 0; i < N; i++) {
      order.push(i);
      if (i %% 3 === 0) await events.emit("t.a", {n: i}); else events.emit("t.b", {n: i});
    }
    try { await events.emit(42); } catch (err) { order.push(err.message); }
    await all;
    return {order, got};
"""


@pytest.mark.parametrize("anyio_backend", ["asyncio", "trio"])
@pytest.mark.anyio
async def test_a_spells_events_reach_its_handler_in_order(anyio_backend: str) -> None:
    n = 3 * EAGER_BURST
    async with open_runtime() as rt:
        result = await rt.run(SpellSource(SPELL_EVENTS % n, "ev.js"), log=lambda *a: None)
    assert result.ok, result.error
    order, got = result.value["order"], result.value["got"]
    assert order[:n] == list(range(n))
    assert order[n:] == [
        "events.emit: parameter 'topic' must be a non-empty string like 'agent.*.started'"
    ]
    assert got == [("t.a" if i % 3 == 0 else "t.b") + str(i) for i in range(n)]


@pytest.mark.anyio
async def test_an_eager_call_starts_after_the_calls_started_before_it() -> None:
    source = """
        const seen = events.wait("x.ready", 5);  // not awaited: it starts first all the same
        await events.emit("x.ready", {n: 1});
        return (await seen).n;
    """
    async with open_runtime() as rt:
        result = await rt.run(SpellSource(source, "w.js"), log=lambda *a: None)
    assert result.ok, result.error
    assert result.value == 1
