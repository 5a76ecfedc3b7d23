"""Workflows from spells, in every engine: every kind, templates, retries, timeouts, errors,
hooks and events, and durability (recall, resume, changed spells) within a process.

The crash tests (kill -9 of ``llmspell run``) are in ``test_workflows_durable.py``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
import pytest

import actors
from llmspell import open_runtime
from llmspell._runtime import Runtime

from .spellkit import run_source

pytestmark = pytest.mark.anyio
BOTH = pytest.mark.parametrize("ext", ["lua", "js", "tengo"])


@pytest.fixture
async def rt(tmp_path: Path) -> Any:
    async with open_runtime(state=tmp_path / "state.db") as runtime:
        yield runtime


KINDS = {
    "lua": """
        local out = {}
        local seq = workflow.create{name = "seq"}
        seq:addStep{name = "double", fn = function(input, outputs) return input.n * 2 end}
        seq:addStep{name = "sum", tool = "calculator", params = {expression = "{{double.output}} + {{n}}"}}
        seq:addStep{name = "say", fn = function(input, outputs) return "sum=" .. outputs.sum end}
        out.seq = seq:run({n = 21}, {id = "seq-1"})

        local par = workflow.create{name = "par", type = "parallel", max_concurrency = 2}
        for i = 1, 3 do par:addStep{name = "b" .. i, fn = function() sleep(0.01 * (4 - i)); return i * 10 end} end
        out.par = par:run(nil, {id = "par-1"})

        local inner = workflow.create{name = "inner"}
        inner:addStep{name = "shout", fn = function(input) return string.upper(input.word) end}
        local cond = workflow.create{name = "cond", type = "conditional"}
        cond:addStep{name = "pick", condition = function(input) return input.big end,
                     ["then"] = inner, ["else"] = {fn = function() return "small" end}}
        out.cond_then = cond:run({big = true, word = "yes"}, {id = "cond-1"})
        out.cond_else = cond:run({big = false, word = "no"}, {id = "cond-2"})

        local n = 0
        local loop = workflow.create{name = "loop", type = "loop", max_iterations = 10,
                                     ["until"] = function(output, i) return output >= 3 end}
        loop:addStep{name = "inc", fn = function() n = n + 1; return n end}
        loop:addStep{name = "twice", fn = function(input, outputs) return outputs.inc end}
        out.loop = loop:run(nil, {id = "loop-1"})

        local nest = workflow.create{name = "nest"}
        nest:addStep{name = "sub", workflow = seq}
        nest:addStep{name = "after", fn = function(input, outputs) return outputs.sub .. "!" end}
        out.nest = nest:run({n = 1}, {id = "nest-1"})
        return out
    """,
    "js": """
        const out = {};
        const seq = await workflow.create({name: "seq"});
        await seq.addStep({name: "double", fn: (input, outputs) => input.n * 2});
        await seq.addStep({name: "sum", tool: "calculator", params: {expression: "{{double.output}} + {{n}}"}});
        await seq.addStep({name: "say", fn: (input, outputs) => "sum=" + outputs.sum});
        out.seq = await seq.run({n: 21}, {id: "seq-1"});

        const par = await workflow.create({name: "par", type: "parallel", max_concurrency: 2});
        for (let i = 1; i <= 3; i++) {
          await par.addStep({name: "b" + i, fn: async () => { await sleep(0.01 * (4 - i)); return i * 10; }});
        }
        out.par = await par.run(null, {id: "par-1"});

        const inner = await workflow.create({name: "inner"});
        await inner.addStep({name: "shout", fn: (input) => input.word.toUpperCase()});
        const cond = await workflow.create({name: "cond", type: "conditional"});
        await cond.addStep({name: "pick", condition: (input) => input.big,
                            then: inner, else: {fn: () => "small"}});
        out.cond_then = await cond.run({big: true, word: "yes"}, {id: "cond-1"});
        out.cond_else = await cond.run({big: false, word: "no"}, {id: "cond-2"});

        let n = 0;
        const loop = await workflow.create({name: "loop", type: "loop", max_iterations: 10,
                                            until: (output, i) => output >= 3});
        await loop.addStep({name: "inc", fn: () => { n += 1; return n; }});
        await loop.addStep({name: "twice", fn: (input, outputs) => outputs.inc});
        out.loop = await loop.run(null, {id: "loop-1"});

        const nest = await workflow.create({name: "nest"});
        await nest.addStep({name: "sub", workflow: seq});
        await nest.addStep({name: "after", fn: (input, outputs) => outputs.sub + "!"});
        out.nest = await nest.run({n: 1}, {id: "nest-1"});
        return out;
    """,
    "tengo": """
        text := import("text")
        out := {}
        seq := workflow.create({name: "seq"})
        seq.addStep({name: "double", fn: func(input, outputs) { return input.n * 2 }})
        seq.addStep({name: "sum", tool: "calculator", params: {expression: "{{double.output}} + {{n}}"}})
        seq.addStep({name: "say", fn: func(input, outputs) { return "sum=" + string(outputs.sum) }})
        out.seq = seq.run({n: 21}, {id: "seq-1"})

        par := workflow.create({name: "par", type: "parallel", max_concurrency: 2})
        branch := func(i) {  // top-level variables are globals: give each closure its own i
          return func() { sleep(0.01 * (4 - i)); return i * 10 }
        }
        for i := 1; i <= 3; i++ { par.addStep({name: "b" + string(i), fn: branch(i)}) }
        out.par = par.run(undefined, {id: "par-1"})

        inner := workflow.create({name: "inner"})
        inner.addStep({name: "shout", fn: func(input) { return text.to_upper(input.word) }})
        cond := workflow.create({name: "cond", type: "conditional"})
        cond.addStep({name: "pick", condition: func(input) { return input.big },
                      "then": inner, "else": {fn: func() { return "small" }}})
        out.cond_then = cond.run({big: true, word: "yes"}, {id: "cond-1"})
        out.cond_else = cond.run({big: false, word: "no"}, {id: "cond-2"})

        n := 0
        loop := workflow.create({name: "loop", type: "loop", max_iterations: 10,
                                 until: func(output, i) { return output >= 3 }})
        loop.addStep({name: "inc", fn: func() { n += 1; return n }})
        loop.addStep({name: "twice", fn: func(input, outputs) { return outputs.inc }})
        out.loop = loop.run(undefined, {id: "loop-1"})

        nest := workflow.create({name: "nest"})
        nest.addStep({name: "sub", workflow: seq})
        nest.addStep({name: "after", fn: func(input, outputs) { return outputs.sub + "!" }})
        out.nest = nest.run({n: 1}, {id: "nest-1"})
        export out
    """,
}


@BOTH
async def test_every_kind_of_workflow_gives_the_same_result_in_every_engine(
    ext: str, rt: Runtime
) -> None:
    ran = await run_source(KINDS[ext], ext, runtime=rt)
    assert ran.result.ok, ran.result.error
    out = ran.result.value
    assert out["seq"] == {
        "id": "seq-1",
        "status": "completed",
        "output": "sum=63",
        "outputs": {"double": 42, "sum": 63, "say": "sum=63"},
    }
    assert out["par"]["output"] == {"b1": 10, "b2": 20, "b3": 30}
    assert out["par"]["status"] == "completed"
    assert out["cond_then"]["output"] == "YES" and out["cond_else"]["output"] == "small"
    assert out["loop"]["iterations"] == 3 and out["loop"]["output"] == 3
    assert out["loop"]["outputs"] == {"inc": 3, "twice": 3}  # the last iteration's
    assert out["nest"]["output"] == "sum=3!"


ERRORS = {
    "lua": """
        local out = {}
        local attempts = 0
        local flaky = workflow.create{name = "flaky"}
        flaky:addStep{name = "try", retry = {max_attempts = 3, backoff = 0.001},
                      fn = function() attempts = attempts + 1
                        if attempts < 3 then error("not yet") end
                        return attempts end}
        out.retried = flaky:run()

        local slow = workflow.create{name = "slow"}
        slow:addStep{name = "nap", timeout = 0.05, fn = function() sleep(5) end}
        out.timeout = slow:run()

        local soft = workflow.create{name = "soft"}
        soft:addStep{name = "bad", on_error = "continue", fn = function() error("ignored") end}
        soft:addStep{name = "good", fn = function(input, outputs) return outputs.bad == nil end}
        out.continued = soft:run()

        local hard = workflow.create{name = "hard"}
        hard:addStep{name = "first", fn = function() return 1 end}
        hard:addStep{name = "broken", fn = function() error("kaput") end}
        hard:addStep{name = "never", fn = function() error("must not run") end}
        out.failed = hard:run()

        local tmpl = workflow.create{name = "tmpl"}
        tmpl:addStep{name = "calc", tool = "calculator", params = {expression = "{{nope.output}}"}}
        out.template = tmpl:run({a = 1})

        out.bad_def = select(2, pcall(function() workflow.create{name = "x", type = "loop"} end))
        return out
    """,
    "js": """
        const out = {};
        let attempts = 0;
        const flaky = await workflow.create({name: "flaky"});
        await flaky.addStep({name: "try", retry: {max_attempts: 3, backoff: 0.001},
                             fn: () => { attempts += 1; if (attempts < 3) throw new Error("not yet"); return attempts; }});
        out.retried = await flaky.run();

        const slow = await workflow.create({name: "slow"});
        await slow.addStep({name: "nap", timeout: 0.05, fn: async () => { await sleep(5); }});
        out.timeout = await slow.run();

        const soft = await workflow.create({name: "soft"});
        await soft.addStep({name: "bad", on_error: "continue", fn: () => { throw new Error("ignored"); }});
        await soft.addStep({name: "good", fn: (input, outputs) => outputs.bad === undefined || outputs.bad === null});
        out.continued = await soft.run();

        const hard = await workflow.create({name: "hard"});
        await hard.addStep({name: "first", fn: () => 1});
        await hard.addStep({name: "broken", fn: () => { throw new Error("kaput"); }});
        await hard.addStep({name: "never", fn: () => { throw new Error("must not run"); }});
        out.failed = await hard.run();

        const tmpl = await workflow.create({name: "tmpl"});
        await tmpl.addStep({name: "calc", tool: "calculator", params: {expression: "{{nope.output}}"}});
        out.template = await tmpl.run({a: 1});

        try { await workflow.create({name: "x", type: "loop"}); } catch (e) { out.bad_def = e.message; }
        return out;
    """,
    # a Tengo function fails by returning an error value; API errors come back as error values
    "tengo": """
        out := {}
        attempts := 0
        flaky := workflow.create({name: "flaky"})
        flaky.addStep({name: "try", retry: {max_attempts: 3, backoff: 0.001},
                       fn: func() {
                         attempts += 1
                         if attempts < 3 { return error("not yet") }
                         return attempts
                       }})
        out.retried = flaky.run()

        slow := workflow.create({name: "slow"})
        slow.addStep({name: "nap", timeout: 0.05, fn: func() { sleep(5) }})
        out.timeout = slow.run()

        soft := workflow.create({name: "soft"})
        soft.addStep({name: "bad", on_error: "continue", fn: func() { return error("ignored") }})
        soft.addStep({name: "good", fn: func(input, outputs) { return is_undefined(outputs.bad) }})
        out.continued = soft.run()

        hard := workflow.create({name: "hard"})
        hard.addStep({name: "first", fn: func() { return 1 }})
        hard.addStep({name: "broken", fn: func() { return error("kaput") }})
        hard.addStep({name: "never", fn: func() { return error("must not run") }})
        out.failed = hard.run()

        tmpl := workflow.create({name: "tmpl"})
        tmpl.addStep({name: "calc", tool: "calculator", params: {expression: "{{nope.output}}"}})
        out.template = tmpl.run({a: 1})

        out.bad_def = workflow.create({name: "x", type: "loop"}).value
        export out
    """,
}


@BOTH
async def test_retries_timeouts_and_errors_name_the_step(ext: str, rt: Runtime) -> None:
    ran = await run_source(ERRORS[ext], ext, runtime=rt)
    assert ran.result.ok, ran.result.error
    out = ran.result.value
    assert out["retried"]["status"] == "completed" and out["retried"]["output"] == 3
    assert out["timeout"]["status"] == "failed"
    assert out["timeout"]["error"] == "step 'nap': timed out after 0.05 s"
    assert out["continued"]["status"] == "completed" and out["continued"]["output"] is True
    assert "ignored" in out["continued"]["errors"]["bad"]
    assert out["failed"]["status"] == "failed"
    assert (
        out["failed"]["error"].startswith("step 'broken': ") and "kaput" in out["failed"]["error"]
    )
    assert out["failed"]["outputs"] == {"first": 1}
    assert "{{nope.output}}" in out["template"]["error"]
    assert "step 'calc'" in out["template"]["error"]
    assert "max_iterations" in out["bad_def"] and "is required" in out["bad_def"]


HOOKED = {
    "lua": """
        hooks.register({
          beforeStep = function(ctx, wf, step, input)
            if step == "skip" then return hooks.replace("from the hook") end
            if step == "refuse" then error("not this one") end
            if step == "edit" then return {n = 5} end
          end,
          afterStep = function(ctx, wf, step, output)
            if step == "edit" then return output * 100 end
          end,
        })
        local wf = workflow.create{name = "hooked"}
        wf:addStep{name = "edit", fn = function(input) return input.n end}
        wf:addStep{name = "skip", fn = function() error("must not run") end}
        wf:addStep{name = "refuse", on_error = "continue", fn = function() return "ran" end}
        return wf:run({n = 1})
    """,
    "js": """
        hooks.register({
          beforeStep: (ctx, wf, step, input) => {
            if (step === "skip") return hooks.replace("from the hook");
            if (step === "refuse") throw new Error("not this one");
            if (step === "edit") return {n: 5};
          },
          afterStep: (ctx, wf, step, output) => { if (step === "edit") return output * 100; },
        });
        const wf = await workflow.create({name: "hooked"});
        await wf.addStep({name: "edit", fn: (input) => input.n});
        await wf.addStep({name: "skip", fn: () => { throw new Error("must not run"); }});
        await wf.addStep({name: "refuse", on_error: "continue", fn: () => "ran"});
        return await wf.run({n: 1});
    """,
    "tengo": """
        hooks.register({
          beforeStep: func(ctx, wf, step, input) {
            if step == "skip" { return hooks.replace("from the hook") }
            if step == "refuse" { return error("not this one") }
            if step == "edit" { return {n: 5} }
          },
          afterStep: func(ctx, wf, step, output) {
            if step == "edit" { return output * 100 }
          }
        })
        wf := workflow.create({name: "hooked"})
        wf.addStep({name: "edit", fn: func(input) { return input.n }})
        wf.addStep({name: "skip", fn: func() { return error("must not run") }})
        wf.addStep({name: "refuse", on_error: "continue", fn: func() { return "ran" }})
        export wf.run({n: 1})
    """,
}


@BOTH
async def test_step_hooks_modify_replace_or_cancel_and_steps_publish_events(
    ext: str, rt: Runtime
) -> None:
    seen: list[actors.Event] = []
    rt.system.bus.subscribe("workflow.>", seen.append)
    ran = await run_source(HOOKED[ext], ext, runtime=rt)
    await anyio.wait_all_tasks_blocked()
    assert ran.result.ok, ran.result.error
    result = ran.result.value
    assert result["outputs"]["edit"] == 500
    assert result["outputs"]["skip"] == "from the hook"
    assert "not this one" in result["errors"]["refuse"]
    topics = [e.topic for e in seen]
    assert topics[0] == "workflow.started" and topics[-1] == "workflow.finished"
    finished = {e.payload["step"]: e.payload for e in seen if e.topic == "workflow.step.finished"}
    assert finished["edit"]["success"] is True and finished["edit"]["workflow"] == "hooked"
    assert finished["refuse"]["success"] is False
    assert all(p["duration"] >= 0 and p["runId"] == ran.result.run_id for p in finished.values())
    started = [e.payload["step"] for e in seen if e.topic == "workflow.step.started"]
    assert started == ["edit"]  # a replaced or refused step never starts
    assert seen[-1].payload["status"] == "completed"


DURABLE = {
    "lua": """
        local wf = workflow.create{name = "durable"}
        wf:addStep{name = "a", fn = function(input) print("ran a"); return input.x + 1 end}
        wf:addStep{name = params.second or "b", fn = function(input, outputs) print("ran b"); return outputs.a * 2 end}
        local ok, r = pcall(function() return wf:run({x = tonumber(params.x or "1")}, {id = params.id}) end)
        if not ok then return {error = r} end
        return r
    """,
    "js": """
        const wf = await workflow.create({name: "durable"});
        await wf.addStep({name: "a", fn: (input) => { print("ran a"); return input.x + 1; }});
        await wf.addStep({name: params.second || "b", fn: (input, outputs) => { print("ran b"); return outputs.a * 2; }});
        try { return await wf.run({x: Number(params.x || "1")}, {id: params.id}); }
        catch (e) { return {error: e.message}; }
    """,
    "tengo": """
        wf := workflow.create({name: "durable"})
        wf.addStep({name: "a", fn: func(input) { print("ran a"); return input.x + 1 }})
        wf.addStep({name: params.second || "b", fn: func(input, outputs) { print("ran b"); return outputs.a * 2 }})
        r := wf.run({x: int(params.x || "1")}, {id: params.id})
        export is_error(r) ? {"error": r.value} : r
    """,
}


@BOTH
async def test_a_completed_run_id_returns_its_record_and_a_changed_run_is_refused(
    ext: str, rt: Runtime
) -> None:
    async def run(**params: str) -> Any:
        return await run_source(DURABLE[ext], ext, runtime=rt, params={"id": "job", **params})

    first = await run()
    assert first.output == "ran a\nran b\n"
    again = await run()
    assert again.output == ""  # nothing ran: the recorded result
    assert again.result.value == first.result.value
    assert again.result.value["output"] == 4
    other_input = await run(x="2")
    assert "different input" in other_input.result.value["error"]


@BOTH
async def test_a_resumed_run_whose_spell_changed_names_both_steps(
    ext: str, rt: Runtime, tmp_path: Path
) -> None:
    from llmspell.workflows import Checkpoint, SqliteWorkflowStore

    store = SqliteWorkflowStore(tmp_path / "state.db")  # a run that stopped after step "a"
    await store.begin("half", "durable", "spell", "v1", {"x": 1})
    await store.checkpoint("half", Checkpoint("0", "a", 2))
    await store.checkpoint("half", Checkpoint("1", "b", 4))
    await store.finish("half", "interrupted", None, "the run was stopped")
    await store.aclose()
    changed = await run_source(
        DURABLE[ext], ext, runtime=rt, params={"id": "half", "second": "renamed"}
    )
    error = changed.result.value["error"]
    assert "recorded step 'b'" in error and "'renamed'" in error and "position 1" in error
    resumed = await run_source(DURABLE[ext], ext, runtime=rt, params={"id": "half"})
    assert resumed.output == ""  # both steps recorded: nothing runs again
    assert resumed.result.value["output"] == 4


async def test_runs_are_listed_and_finished_ones_pruned(tmp_path: Path) -> None:
    from llmspell.workflows import SqliteWorkflowStore

    async with open_runtime(state=tmp_path / "s.db") as rt:
        for i in range(4):
            ran = await run_source(DURABLE["lua"], "lua", runtime=rt, params={"id": f"r{i}"})
            assert ran.result.value["status"] == "completed"
    store = SqliteWorkflowStore(tmp_path / "s.db")
    runs = await store.list_runs()
    assert [r.id for r in runs] == ["r3", "r2", "r1", "r0"]
    assert {r.steps for r in runs} == {2}
    assert await store.prune(max_age=None, max_runs=2) == 2
    assert [r.id for r in await store.list_runs()] == ["r3", "r2"]
    assert await store.checkpoints("r0") == {}
    await store.aclose()


async def test_the_memory_store_serves_state_memory(tmp_path: Path) -> None:
    async with open_runtime(state=":memory:") as rt:
        first = await run_source(DURABLE["lua"], "lua", runtime=rt, params={"id": "m"})
        again = await run_source(DURABLE["lua"], "lua", runtime=rt, params={"id": "m"})
    assert first.output == "ran a\nran b\n" and again.output == ""
    assert not (tmp_path / ".llmspell").exists()


async def test_parallel_respects_max_concurrency_and_fail_fast(rt: Runtime) -> None:
    source = """
        local running, peak = 0, 0
        local wf = workflow.create{name = "fan", type = "parallel", max_concurrency = 3}
        for i = 1, 9 do
          wf:addStep{name = "s" .. i, fn = function()
            running = running + 1; peak = math.max(peak, running)
            sleep(0.01); running = running - 1; return i end}
        end
        local ok = wf:run()
        local ff = workflow.create{name = "ff", type = "parallel"}
        ff:addStep{name = "boom", fn = function() sleep(0.01); error("first") end}
        ff:addStep{name = "long", fn = function() sleep(10); return "late" end}
        local failed = ff:run()
        return {peak = peak, n = ok.output.s9, failed = failed}
    """
    with anyio.fail_after(5):  # fail_fast cancels "long"
        ran = await run_source(source, "lua", runtime=rt)
    assert ran.result.ok, ran.result.error
    assert ran.result.value["peak"] == 3
    assert ran.result.value["n"] == 9
    failed = ran.result.value["failed"]
    assert failed["status"] == "failed" and failed["error"].startswith("step 'boom'")


async def test_finished_runs_are_pruned_as_runs_finish(tmp_path: Path) -> None:
    from llmspell.workflows import SqliteWorkflowStore

    async with open_runtime(state=tmp_path / "s.db") as rt:
        rt.ops.workflow_retention = (None, 2)
        rt.ops.workflow_prune_every = 1
        for i in range(5):
            await run_source(DURABLE["lua"], "lua", runtime=rt, params={"id": f"r{i}"})
    store = SqliteWorkflowStore(tmp_path / "s.db")
    # pruned before each run: at most 2 finished ones stay, plus the run that just finished
    assert [r.id for r in await store.list_runs()] == ["r4", "r3", "r2"]
    await store.aclose()
