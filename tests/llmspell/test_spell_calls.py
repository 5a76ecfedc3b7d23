"""How spells call the API, end to end through the runtime: calls made without ``await``,
argument counts, errors with lines, and Lua's ``nil, message`` convention."""

from __future__ import annotations

import itertools
from typing import Any

import anyio
import pytest

import actors
from llmspell import SpellSource, open_runtime

from .spellkit import run_source

pytestmark = pytest.mark.anyio


async def test_unawaited_emits_all_reach_the_spells_own_handler_in_order() -> None:
    # Over twice the subscriber's queue: most of these publishes wait for room, all at once.
    # (Each blocked publish used to wake every other: 4,000 took 27 s; see test_bus_backpressure.)
    source = """
        const seen = [];
        const id = await events.on("bench.x", (event) => {
          seen.push(event.i);
          if (seen.length === 2500) events.off(id);
        });
        for (let i = 0; i < 2500; i++) events.emit("bench.x", {i});
        while (seen.length < 2500) await sleep(0.001);
        return seen.every((v, i) => v === i) ? seen.length : seen.slice(0, 20);
    """
    ran = await run_source(source, "js")
    assert ran.result.ok, ran.result.error
    assert ran.result.value == 2500


async def test_an_unawaited_emit_waiting_for_room_holds_back_no_other_topic() -> None:
    # The first handler call waits for an event of another topic that the main code emits
    # after filling the first topic's queue: emits to one topic wait for room in line, and
    # that line must not hold back the other topic's emit (the run would never end).
    source = """
        let go = false;
        const seen = [];
        await events.on("bench.go", (event) => { go = true; });
        const id = await events.on("bench.x", async (event) => {
          while (event.i === 0 && !go) await sleep(0.001);
          seen.push(event.i);
          if (seen.length === 600) events.off(id);
        });
        for (let i = 0; i < 600; i++) events.emit("bench.x", {i});
        events.emit("bench.go", 1);
        while (seen.length < 600) await sleep(0.001);
        return seen.every((v, i) => v === i) ? seen.length : seen.slice(0, 20);
    """
    with anyio.fail_after(60):
        ran = await run_source(source, "js")
    assert ran.result.ok, ran.result.error
    assert ran.result.value == 600


async def test_lua_emits_past_a_full_queue_wait_for_room_and_all_arrive_in_order() -> None:
    # Over twice the handler's queue (QUEUE_SIZE): an emit that finds the queue full must
    # hold the spell back until there is room (not drop, not fail) and keep the order.
    source = """
        local n, ok, id = 0, true, nil
        id = events.on("probe.x", function(event)
          n = n + 1
          if event.i ~= n then ok = false end
          if n == 600 then events.off(id); print(ok and "in order" or "out of order") end
        end)
        for i = 1, 600 do events.emit("probe.x", {i = i}) end
    """
    ran = await run_source(source, "lua")
    assert ran.result.ok, ran.result.error
    assert ran.output == "in order\n"
    assert not [msg for _, msg, _ in ran.logs if "dropped" in msg]


async def test_a_lua_emit_on_a_logged_topic_returns_once_the_event_is_committed() -> None:
    # print() reaches the output sink with no turn of the event loop after the emit: only an
    # emit that waited for its commit has its event in the log's count there
    log = actors.MemoryEventLog()
    async with open_runtime(event_log=log) as rt:
        logged: list[int] = []

        def output(text: str) -> None:
            logged.append(rt.system.bus.statistics().logged)

        source = 'for i = 1, 3 do events.emit("probe.logged", {i = i}); print(i) end'
        result = await rt.run(SpellSource(source, "spell.lua"), output=output)
        assert result.ok, result.error
        probes = [event.payload for event in await log.read("probe.logged")]
    assert probes == [{"i": 1}, {"i": 2}, {"i": 3}]
    assert [b - a for a, b in itertools.pairwise(logged)] == [1, 1]


MAIN_ERRORS = {
    # QuickJS records no position for some of these (the first two gave no line at all, the
    # third the line of the await before it): the engine finds it.
    "const q = null.foo;": "TypeError: cannot read property 'foo' of null",
    "const r = null[0];": "TypeError: cannot read property '0' of null",
    "await sleep(0);\nconst q = null.foo;": "TypeError: cannot read property 'foo' of null",
    "throw 'plain string';": "plain string",
    "const {a} = null;": "TypeError: Cannot convert undefined or null to object",
    "for (const x of null) {}": "TypeError: cannot read property 'Symbol.iterator' of null",
    "const o = {};\no.a.b = 1;": "TypeError: cannot set property 'b' of undefined",
    "nope();": "ReferenceError: nope is not defined",
}


@pytest.mark.parametrize("code", list(MAIN_ERRORS))
async def test_js_errors_in_the_main_code_carry_their_line(code: str) -> None:
    source = "const pad = 1;\n\n" + code
    line = source.count("\n") + 1  # the error is on the last line
    ran = await run_source(source, "js")
    assert ran.result.error == f"spell.js:{line}: {MAIN_ERRORS[code]}"
    assert ran.result.error_line == line


async def test_lua_errors_in_the_main_code_carry_their_line() -> None:
    ran = await run_source("local a = 1\n\nlocal q = nil .. 'x'\n", "lua")
    assert (ran.result.error or "").startswith("spell.lua:3: attempt to concatenate a nil value")
    assert ran.result.error_line == 3


WRONG_COUNTS = {
    "lua": 'local ok, err = pcall(llm.complete, "hi", 10)\nreturn err',
    "js": 'try { await llm.complete("hi", 10); } catch (e) { return e.message; }',
}


@pytest.mark.parametrize("ext", ["lua", "js"])
async def test_wrong_argument_counts_are_said_in_the_scripts_terms(ext: str) -> None:
    ran = await run_source(WRONG_COUNTS[ext], ext)
    assert ran.result.value == "llm.complete expects 1 argument (request), got 2"


@pytest.mark.parametrize("ext", ["lua", "js", "tengo"])
async def test_a_wrong_argument_count_ends_an_uncaught_run_with_its_line(ext: str) -> None:
    # (in Tengo it cannot be caught: a wrong argument count is a runtime error there)
    call = 'log.info("a", {}, "extra")'
    source = {
        "lua": f"local x = 1\n{call}",
        "js": f"const x = 1;\n{call};",
        "tengo": f"x := 1\n{call}",
    }
    ran = await run_source(source[ext], ext)
    assert ran.result.error_line == 2
    assert (ran.result.error or "").endswith(
        "log.info expects 2 arguments (message, fields), got 3"
    )


async def test_a_lua_tool_handlers_nil_and_message_is_a_tool_error() -> None:
    source = """
        tools.register({name = "weather", description = "x",
                        parameters = {city = {type = "string"}},
                        handler = function(args)
                          if args.city ~= "Paris" then return nil, "unknown city " .. args.city end
                          return {sky = "clear"}
                        end})
        local ok, err = pcall(tools.call, "weather", {city = "Lisbon"})
        local fine = tools.call("weather", {city = "Paris"})
        return {ok, err, fine.sky}
    """
    ran = await run_source(source, "lua")
    assert ran.result.value == [False, "tool 'weather': spell.lua: unknown city Lisbon", "clear"]


async def test_lua_functions_called_from_python_report_nil_and_message() -> None:
    from llmspell._exceptions import SpellRuntimeError
    from llmspell.engines import Api, Limits, Namespace, engine_for

    kept: list[Any] = []

    async def keep(fn: Any) -> None:
        kept.append(fn)

    api = Api({"t": Namespace({"keep": keep})}, {}, {}, print)
    source = "t.keep(function(x) if x then return nil, 'no ' .. x end return 1, 'two' end)"
    async with engine_for("k.lua").open(source, "k.lua", api, Limits()) as instance:
        await instance.run_main()
        assert await kept[0](None) == 1  # a second result that is not after nil is just dropped
        with pytest.raises(SpellRuntimeError) as info:
            await kept[0]("way")
    assert (info.value.filename, info.value.message) == ("k.lua", "no way")
