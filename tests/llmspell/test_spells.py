"""The script API behaves the same in Lua, JavaScript and Tengo (run through the real runtime)."""

from __future__ import annotations

import anyio
import pytest

from llmspell import open_runtime
from llmspell._runtime import SpellSource

from .spellkit import run_source

pytestmark = pytest.mark.anyio

BOTH = pytest.mark.parametrize("ext", ["lua", "js", "tengo"])

BASICS = {
    "lua": """
        log.info("hi", {n = 1})
        logger:warn("aliased")
        print("name", params.name)
        local data = json.decode('{"a": [1, 2, {"b": null}]}')
        print(json.encode({x = data.a[2]}))
        return {ok = true, n = #data.a}
    """,
    "js": """
        log.info("hi", {n: 1});
        logger.warn("aliased");
        print("name", params.name);
        const data = json.decode('{"a": [1, 2, {"b": null}]}');
        print(json.encode({x: data.a[1]}));
        return {ok: true, n: data.a.length};
    """,
    "tengo": """
        log.info("hi", {n: 1})
        logger.warn("aliased")
        print("name", params.name)
        data := json.decode(`{"a": [1, 2, {"b": null}]}`)
        print(json.encode({x: data.a[1]}))
        export {ok: true, n: len(data.a)}
    """,
}


@BOTH
async def test_params_print_log_json(ext: str) -> None:
    ran = await run_source(BASICS[ext], ext, params={"name": "Ada"})
    assert ran.result.ok, ran.result.error
    sep = "\t" if ext == "lua" else " "
    assert ran.output == f"name{sep}Ada\n" + '{"x":2}\n'
    assert ran.result.value == {"ok": True, "n": 3}
    assert ran.logs == [("info", "hi", {"n": 1}), ("warn", "aliased", {})]


async def test_a_runs_result_is_the_frozen_dataclass_its_fields_make() -> None:
    """The runtime builds a run's result without the dataclass's ``__init__``: it is the same
    object all the same (every field set, equal to the constructor's, frozen, replaceable)."""
    import dataclasses

    from llmspell import RunResult

    for source in (BASICS["lua"], "error('no')"):
        result = (await run_source(source, "lua", params={"name": "Ada"})).result
        fields = {f.name: getattr(result, f.name) for f in dataclasses.fields(RunResult)}
        assert result == RunResult(**fields) and result.to_json() == fields
        with pytest.raises(dataclasses.FrozenInstanceError):
            result.status = "ok"  # type: ignore[misc]
        assert dataclasses.replace(result, output="x").output == "x"


EVENTS = {
    "lua": """
        local got = {}
        local id = events.on("order.*", function(event, topic)
          got[#got + 1] = topic .. "=" .. event.id
          if event.id == 2 then events.emit("order.seen", {count = #got}) end
        end)
        local waiter = parallel(function() return events.wait("order.seen", 5) end,
                                function() events.emit("order.created", {id = 1})
                                           events.emit("order.paid", {id = 2}) end)
        events.off(id)
        return {seen = waiter[1].count, got = got}
    """,
    "js": """
        const got = [];
        const id = await events.on("order.*", async (event, topic) => {
          got.push(topic + "=" + event.id);
          if (event.id === 2) await events.emit("order.seen", {count: got.length});
        });
        const [seen] = await Promise.all([
          events.wait("order.seen", 5),
          (async () => { await events.emit("order.created", {id: 1});
                         await events.emit("order.paid", {id: 2}); })(),
        ]);
        await events.off(id);
        return {seen: seen.count, got};
    """,
    "tengo": """
        got := []
        id := events.on("order.*", func(event, topic) {
          if event.id == undefined { return }  // order.seen (Lua fails on it, JS is off by then)
          got = append(got, topic + "=" + event.id)
          if event.id == 2 { events.emit("order.seen", {count: len(got)}) }
        })
        waiter := parallel(func() { return events.wait("order.seen", 5) },
                           func() { events.emit("order.created", {id: 1})
                                    events.emit("order.paid", {id: 2}) })
        events.off(id)
        export {seen: waiter[0].count, got: got}
    """,
}


@BOTH
async def test_events_on_emit_wait(ext: str) -> None:
    ran = await run_source(EVENTS[ext], ext)
    assert ran.result.ok, ran.result.error
    assert ran.result.value == {"seen": 2, "got": ["order.created=1", "order.paid=2"]}


RESIDENT = {
    "lua": """
        events.on("tick", function(event) print("tick " .. event.n) end)
        events.emit("ready", {})
        return "main done"
    """,
    "js": """
        events.on("tick", (event) => print("tick " + event.n));
        events.emit("ready", {});
        return "main done";
    """,
    "tengo": """
        events.on("tick", func(event) { print("tick " + event.n) })
        events.emit("ready", {})
        export "main done"
    """,
}


@BOTH
async def test_resident_spell_handles_events_until_stopped(ext: str) -> None:
    chunks: list[str] = []
    async with open_runtime() as rt:
        ready = rt.system.bus.subscribe("ready", lambda event: None)
        results = []

        async def run() -> None:
            results.append(
                await rt.run(
                    SpellSource(RESIDENT[ext], f"r.{ext}"), output=chunks.append, resident=True
                )
            )

        async with anyio.create_task_group() as tg:
            tg.start_soon(run)
            await rt.system.bus.wait_for("ready", timeout=5)
            for n in (1, 2):
                await rt.system.bus.publish("tick", {"n": n})
            with anyio.fail_after(5):
                while len(chunks) < 2:
                    await anyio.wait_all_tasks_blocked()
            assert rt.active_runs
            assert rt.stop(rt.active_runs[0])
        ready.cancel()
    assert chunks == ["tick 1\n", "tick 2\n"]
    assert results[0].status == "stopped" and "stopped" in (results[0].error or "")


ERRORS = {
    "lua": ("local x = 1\nlocal y = nil\nreturn y.z\n", 3),
    "js": ("const x = 1;\nconst y = null;\nreturn y.z;\n", 3),
    "tengo": ("x := 1\ny := undefined\nexport x + y\n", 3),
}


@BOTH
async def test_runtime_error_reports_file_and_line(ext: str) -> None:
    source, line = ERRORS[ext]
    ran = await run_source(source, ext)
    assert not ran.result.ok
    assert ran.result.error_type == "SpellRuntimeError"
    assert ran.result.error_line == line
    assert f"spell.{ext}:{line}" in (ran.result.error or "")


SYNTAX = {"lua": "local x = = 1\n", "js": "const x = = 1;\n", "tengo": "x := = 1\n"}


@BOTH
async def test_syntax_error_reports_file_and_line(ext: str) -> None:
    ran = await run_source(SYNTAX[ext], ext)
    assert ran.result.error_type == "SpellSyntaxError"
    assert ran.result.error_line == 1


BAD_PARAM = {
    "lua": "local ok, err = pcall(events.on, 42, function() end)\nreturn err",
    "js": "try { await events.on(42, () => {}); } catch (e) { return e.message; }",
    "tengo": "r := events.on(42, func() {})\nexport r.value",
}


@BOTH
async def test_bad_parameter_names_the_parameter(ext: str) -> None:
    ran = await run_source(BAD_PARAM[ext], ext)
    assert ran.result.ok, ran.result.error
    assert "events.on: parameter 'pattern'" in ran.result.value


@BOTH
async def test_a_crashing_spell_does_not_affect_the_next(ext: str) -> None:
    crash, message = CRASHES[ext]
    async with open_runtime() as rt:
        bad = await run_source(crash, ext, runtime=rt)
        good = await run_source(
            "export 1 + 1" if ext == "tengo" else "return 1 + 1", ext, runtime=rt
        )
    assert not bad.result.ok and message in (bad.result.error or "")
    assert good.result.ok and good.result.value == 2


CRASHES = {
    "lua": ("error('boom')", "boom"),
    "js": ("throw new Error('boom')", "boom"),
    "tengo": ('boom := 1\nboom = boom + "!"', "invalid operation: int + string"),
}


HELLO_EXPECTED = "hello, Ada, {lang}! (2 greetings heard)\n"
LANGS = {"lua": "Lua", "js": "JavaScript", "tengo": "Tengo"}


@pytest.mark.parametrize(
    ("path", "lang"),
    [
        ("spells/hello.lua", "Lua"),
        ("spells/hello.js", "JavaScript"),
        ("spells/hello.tengo", "Tengo"),
    ],
)
async def test_hello_spells(path: str, lang: str) -> None:
    chunks: list[str] = []
    async with open_runtime() as rt:
        result = await rt.run(path, params={"name": "Ada"}, output=chunks.append)
    assert result.ok, result.error
    assert chunks[-1] == HELLO_EXPECTED.format(lang=lang)
    assert result.value == {"spell": "hello", "name": "Ada"}


@BOTH
async def test_without_an_output_callable_the_printed_text_is_in_the_result(ext: str) -> None:
    """``runtime.run(spell)`` keeps what the spell printed (it used to be dropped); given an
    ``output`` callable, the text streams there instead."""
    async with open_runtime() as rt:
        kept = await rt.run(f"spells/hello.{ext}", params={"name": "Ada"})
        chunks: list[str] = []
        streamed = await rt.run(f"spells/hello.{ext}", output=chunks.append)
    assert kept.ok and kept.output is not None
    assert kept.output.endswith(HELLO_EXPECTED.format(lang=LANGS[ext]))
    assert kept.to_json()["output"] == kept.output
    assert streamed.output is None and "".join(chunks).startswith("heard hello.greeted")


@BOTH
async def test_a_resident_spell_outlives_its_timeout_each_callback_gets_its_own(ext: str) -> None:
    from llmspell.engines import Limits

    chunks: list[str] = []
    async with open_runtime(limits=Limits(timeout_seconds=0.3)) as rt:
        results = []

        async def run() -> None:
            results.append(
                await rt.run(
                    SpellSource(RESIDENT[ext], f"r.{ext}"), output=chunks.append, resident=True
                )
            )

        async with anyio.create_task_group() as tg:
            ready = rt.system.bus.subscribe("ready", lambda event: None)
            tg.start_soon(run)
            await rt.system.bus.wait_for("ready", timeout=5)
            await anyio.sleep(0.5)  # let the run's own timeout pass: the clock is the subject
            await rt.system.bus.publish("tick", {"n": 1})
            with anyio.fail_after(5):
                while not chunks:
                    await anyio.wait_all_tasks_blocked()
            rt.stop(rt.active_runs[0])
            ready.cancel()
    assert chunks == ["tick 1\n"]


async def test_runs_publish_spell_events() -> None:
    async with open_runtime() as rt:
        seen: list[tuple[str, dict]] = []
        rt.system.bus.subscribe("spell.*", lambda e: seen.append((e.topic, e.payload)))
        ok = await run_source("return 1", "lua", runtime=rt)
        bad = await run_source("throw new Error('nope')", "js", runtime=rt)
        await anyio.wait_all_tasks_blocked()
    topics = [t for t, _ in seen]
    assert topics == ["spell.started", "spell.finished", "spell.started", "spell.failed"]
    assert seen[1][1]["runId"] == ok.result.run_id and seen[1][1]["status"] == "ok"
    assert seen[3][1]["runId"] == bad.result.run_id and "nope" in seen[3][1]["error"]
    assert all(p["spell"] == "spell" for _, p in seen)


LINGERING = {
    "lua": """
        local seen = 0
        events.on("work.*", function(event, topic)
          seen = seen + 1
          print(topic .. " " .. event.n)
          if event.n < 3 then events.emit("work.next", {n = event.n + 1}) end
        end)
        events.emit("work.start", {n = 1})
        return "main done"
    """,
    "js": """
        let seen = 0;
        events.on("work.*", (event, topic) => {
          seen += 1;
          print(topic + " " + event.n);
          if (event.n < 3) events.emit("work.next", {n: event.n + 1});
        });
        events.emit("work.start", {n: 1});
        return "main done";
    """,
    "tengo": """
        seen := 0
        events.on("work.*", func(event, topic) {
          seen += 1
          print(topic + " " + string(event.n))
          if event.n < 3 { events.emit("work.next", {n: event.n + 1}) }
        })
        events.emit("work.start", {n: 1})
        export "main done"
    """,
}


@BOTH
async def test_a_run_ends_once_its_handlers_have_nothing_left_to_do(ext: str) -> None:
    """Under ``run`` a spell that leaves handlers registered is not resident: it ends when idle,
    after its queued events (and those its handlers emit) are handled."""
    with anyio.fail_after(10):
        ran = await run_source(LINGERING[ext], ext)
    assert ran.result.ok, ran.result.error
    assert ran.result.value == "main done"
    assert ran.output == "work.start 1\nwork.next 2\nwork.next 3\n"


NESTED_CALLBACKS = {
    "lua": """
        tools.register{name = "shout", description = "upper case",
          parameters = {text = {type = "string", required = true}},
          handler = function(args) return string.upper(args.text) end}
        hooks.register({beforeToolCall = function(ctx, tool, input) print("hook " .. tool) end})
        events.on("first", function(event)
          events.on("second", function(e) print("second " .. tools.shout({text = e.word})) end)
          events.emit("second", {word = event.word})
        end)
        events.emit("first", {word = "hi"})
        return "main done"
    """,
    "js": """
        tools.register({name: "shout", description: "upper case",
          parameters: {text: {type: "string", required: true}},
          handler: (args) => args.text.toUpperCase()});
        hooks.register({beforeToolCall: (ctx, tool, input) => { print("hook " + tool); }});
        events.on("first", (event) => {
          events.on("second", async (e) => { print("second " + await tools.shout({text: e.word})); });
          events.emit("second", {word: event.word});
        });
        events.emit("first", {word: "hi"});
        return "main done";
    """,
    "tengo": """
        text := import("text")
        tools.register({name: "shout", description: "upper case",
          parameters: {text: {type: "string", required: true}},
          handler: func(args) { return text.to_upper(args.text) }})
        hooks.register({beforeToolCall: func(ctx, tool, input) { print("hook " + tool) }})
        events.on("first", func(event) {
          events.on("second", func(e) { print("second " + tools.shout({text: e.word})) })
          events.emit("second", {word: event.word})
        })
        events.emit("first", {word: "hi"})
        export "main done"
    """,
}


@BOTH
async def test_callbacks_registered_by_callbacks_are_released_when_the_run_is_idle(
    ext: str,
) -> None:
    """A handler that registers a handler, a hook and a script tool called from a handler:
    the run handles everything, then ends (not resident) and releases every registration."""
    async with open_runtime() as rt:
        subscriptions = len(rt.system.bus.statistics().subscriptions)
        hooks = len(rt.system.hooks.statistics().handlers)
        with anyio.fail_after(10):
            ran = await run_source(NESTED_CALLBACKS[ext], ext, runtime=rt)
        assert ran.result.ok, ran.result.error
        assert ran.result.value == "main done"
        assert ran.output == "hook shout\nsecond HI\n"
        assert len(rt.system.bus.statistics().subscriptions) == subscriptions
        assert len(rt.system.hooks.statistics().handlers) == hooks
        again = await run_source(NESTED_CALLBACKS[ext], ext, runtime=rt)  # "shout" is free
        assert again.result.ok and again.output == ran.output, again.result.error


RUNAWAY_HANDLER = {
    "lua": 'events.on("go", function() while true do end end)\nevents.emit("go", {})\nreturn 1',
    "js": 'events.on("go", () => { while (true) {} });\nevents.emit("go", {});\nreturn 1;',
    "tengo": 'events.on("go", func() { for {} })\nevents.emit("go", {})\nexport 1',
}


@BOTH
async def test_a_handler_over_the_cpu_limit_ends_the_run(ext: str) -> None:
    from llmspell.engines import Limits

    with anyio.fail_after(10):
        ran = await run_source(RUNAWAY_HANDLER[ext], ext, limits=Limits(cpu_seconds=0.2))
    assert ran.result.error_type == "LimitExceeded"
    assert ran.result.error == "cpu limit exceeded: the spell used more than 0.2 s of CPU time"


FOREVER = {
    "lua": """
        events.on("loop", function(event) sleep(0.01); events.emit("loop", {}) end)
        events.emit("loop", {})
        return "never idle"
    """,
    "js": """
        events.on("loop", async (event) => { await sleep(0.01); events.emit("loop", {}); });
        events.emit("loop", {});
        return "never idle";
    """,
    "tengo": """
        events.on("loop", func(event) { sleep(0.01); events.emit("loop", {}) })
        events.emit("loop", {})
        export "never idle"
    """,
}


@BOTH
async def test_the_timeout_bounds_the_whole_run_handlers_included(ext: str) -> None:
    from llmspell.engines import Limits

    with anyio.fail_after(10):
        ran = await run_source(FOREVER[ext], ext, limits=Limits(timeout_seconds=0.5))
    assert ran.result.error_type == "LimitExceeded"
    assert "timeout limit exceeded" in (ran.result.error or "")
