"""Pins on the script API contract that a refactor of the operation path could silently break.

Each test here was checked against a one-line mutation of the code it pins (issue 8): the run-id
filter of spell hooks, ``afterToolCall``, hook priority, concurrent agent tool calls, the
schema repair limit, cost accounting, ``tool.executed`` on errors, ``spell.before_run``,
agent event fields. They go through real spells in Lua, JavaScript and Tengo, or through
``open_runtime`` / ``Runtime.run`` and the bus, never through private modules.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import anyio
import pytest

import actors
from llmspell import Runtime, SpellSource, open_runtime
from llmspell.providers import Provider, RetryPolicy
from llmspell.testing import OfflineScript, OpenAIServer
from llmspell.tools import ToolRegistry, builtin_tools, tool

from .spellkit import run_source

pytestmark = pytest.mark.anyio
BOTH = pytest.mark.parametrize("ext", ["lua", "js", "tengo"])
OFFLINE = "offline/llmspell"


def offline_runtime(**kw: Any) -> Any:
    return open_runtime(provider=Provider(default_model=OFFLINE), **kw)


def record(rt: Runtime, pattern: str) -> list[tuple[str, Any]]:
    got: list[tuple[str, Any]] = []
    rt.system.bus.subscribe(pattern, lambda event: got.append((event.topic, event.payload)))
    return got


# -- a spell's hooks see only its own operations ---------------------------------------------

WATCHER = {
    "lua": """
        hooks.register({
          beforeToolCall = function(ctx, tool, input)
            print("saw tool " .. ctx.runId)
            input.expression = "(" .. input.expression .. ")*100"
            return input
          end,
          beforeGenerate = function(ctx, req) print("saw llm " .. ctx.runId) end})
        local mine = tools.call("calculator", {expression = "1+1"})
        llm.complete("mine")
        local id
        id = events.on("other.done", function() events.off(id) end)
        events.emit("watcher.ready", {mine = mine})
    """,
    "js": """
        await hooks.register({
          beforeToolCall: (ctx, tool, input) => {
            print("saw tool " + ctx.runId);
            input.expression = "(" + input.expression + ")*100";
            return input;
          },
          beforeGenerate: (ctx, req) => { print("saw llm " + ctx.runId); }});
        const mine = await tools.call("calculator", {expression: "1+1"});
        await llm.complete("mine");
        const id = await events.on("other.done", () => { events.off(id); });
        await events.emit("watcher.ready", {mine});
    """,
    "tengo": """
        hooks.register({
          beforeToolCall: func(ctx, tool, input) {
            print("saw tool " + ctx.runId)
            input.expression = "(" + input.expression + ")*100"
            return input
          },
          beforeGenerate: func(ctx, req) { print("saw llm " + ctx.runId) }})
        mine := tools.call("calculator", {expression: "1+1"})
        llm.complete("mine")
        id := undefined
        id = events.on("other.done", func() { events.off(id) })
        events.emit("watcher.ready", {mine: mine})
    """,
}
OTHER = {
    "lua": """
        local r = llm.complete("other")
        return {sum = tools.call("calculator", {expression = "2+3"}), content = r.content}
    """,
    "js": """
        const r = await llm.complete("other");
        return {sum: await tools.call("calculator", {expression: "2+3"}), content: r.content};
    """,
    "tengo": """
        r := llm.complete("other")
        export {sum: tools.call("calculator", {expression: "2+3"}), content: r.content}
    """,
}


@BOTH
async def test_a_spells_hooks_never_see_another_runs_operations(ext: str) -> None:
    async with offline_runtime() as rt:
        ready = anyio.Event()
        mine: list[Any] = []

        def watcher_ready(event: actors.Event) -> None:
            mine.append(event.payload["mine"])
            ready.set()

        rt.system.bus.subscribe("watcher.ready", watcher_ready)
        chunks: list[str] = []
        results: list[Any] = []

        async def watch() -> None:
            spell = SpellSource(WATCHER[ext], f"watcher.{ext}")
            results.append(await rt.run(spell, output=chunks.append))

        with anyio.fail_after(30):
            async with anyio.create_task_group() as tg:
                tg.start_soon(watch)
                await ready.wait()  # the watcher's hooks are registered and it is resident
                other = await run_source(OTHER[ext], ext, runtime=rt)
                await rt.system.bus.publish("other.done", {})
    watcher = results[0]
    assert watcher.ok, watcher.error
    assert mine == [200]  # its own tool call did pass its hook
    assert other.result.ok, other.result.error
    assert other.result.value == {
        "sum": 5,
        "content": "[offline model] You said: other",
    }, "the watcher's hook changed another run's tool call"
    assert "".join(chunks) == f"saw tool {watcher.run_id}\nsaw llm {watcher.run_id}\n"


# -- afterToolCall / tool.after_call ---------------------------------------------------------

AFTER_TOOL = {
    "lua": """
        local seen = {}
        hooks.register({afterToolCall = function(ctx, tool, input, output)
          seen[#seen + 1] = {tool = tool, expression = input.expression, output = output}
          return output * 10
        end})
        local direct = tools.call("calculator", {expression = "6*7"})
        local a = llm.agent{name = "adder", tools = {"calculator"}}
        local answer = a:run("add")
        return {direct = direct, answer = answer, seen = seen}
    """,
    "js": """
        const seen = [];
        await hooks.register({afterToolCall: (ctx, tool, input, output) => {
          seen.push({tool, expression: input.expression, output});
          return output * 10;
        }});
        const direct = await tools.call("calculator", {expression: "6*7"});
        const a = await llm.agent({name: "adder", tools: ["calculator"]});
        const answer = await a.run("add");
        return {direct, answer, seen};
    """,
    "tengo": """
        seen := []
        hooks.register({afterToolCall: func(ctx, tool, input, output) {
          seen = append(seen, {tool: tool, expression: input.expression, output: output})
          return output * 10
        }})
        direct := tools.call("calculator", {expression: "6*7"})
        a := llm.agent({name: "adder", tools: ["calculator"]})
        answer := a.run("add")
        export {direct: direct, answer: answer, seen: seen}
    """,
}


@BOTH
async def test_after_tool_call_sees_tool_input_output_and_replaces_the_result(ext: str) -> None:
    script = OfflineScript().tool_call("calculator", {"expression": "1+2"}).reply("done")
    async with offline_runtime() as rt:
        python_seen: list[Any] = []
        rt.system.hooks.register("tool.after_call", python_seen.append)
        with script:
            ran = await run_source(AFTER_TOOL[ext], ext, runtime=rt)
    assert ran.result.ok, ran.result.error
    value = ran.result.value
    assert value["direct"] == 420, "afterToolCall's returned value did not replace the result"
    assert value["answer"] == "done"
    assert value["seen"] == [
        {"tool": "calculator", "expression": "6*7", "output": 42},
        {"tool": "calculator", "expression": "1+2", "output": 3},  # an agent's call too
    ]
    # the agent's model got the replaced tool result
    tool_messages = [m for m in script.requests[1]["messages"] if m["role"] == "tool"]
    assert [m["content"] for m in tool_messages] == ["30"]
    # a Python handler on tool.after_call sees every call; registered first at the same
    # priority, it runs before the spell's handler and so sees the tool's own outputs
    assert python_seen == [42, 3]


# -- hook priority ---------------------------------------------------------------------------

PRIORITY = {
    "lua": """
        local order = {}
        local function mark(name)
          return {beforeToolCall = function() order[#order + 1] = name end}
        end
        hooks.register(mark("low"), {priority = 1})
        hooks.register(mark("high"), {priority = 10})
        hooks.register(mark("default"))
        hooks.register(mark("last"), {priority = -5})
        hooks.register(mark("high too"), {priority = 10})
        tools.call("calculator", {expression = "1"})
        return order
    """,
    "js": """
        const order = [];
        const mark = (name) => ({beforeToolCall: () => { order.push(name); }});
        await hooks.register(mark("low"), {priority: 1});
        await hooks.register(mark("high"), {priority: 10});
        await hooks.register(mark("default"));
        await hooks.register(mark("last"), {priority: -5});
        await hooks.register(mark("high too"), {priority: 10});
        await tools.call("calculator", {expression: "1"});
        return order;
    """,
    "tengo": """
        order := []
        mark := func(name) { return {beforeToolCall: func() { order = append(order, name) }} }
        hooks.register(mark("low"), {priority: 1})
        hooks.register(mark("high"), {priority: 10})
        hooks.register(mark("default"))
        hooks.register(mark("last"), {priority: -5})
        hooks.register(mark("high too"), {priority: 10})
        tools.call("calculator", {expression: "1"})
        export order
    """,
}


@BOTH
async def test_spell_hooks_run_by_priority_then_registration_order(ext: str) -> None:
    ran = await run_source(PRIORITY[ext], ext)
    assert ran.result.ok, ran.result.error
    assert ran.result.value == ["high", "high too", "low", "default", "last"]


# -- an agent's tool calls of one turn run concurrently --------------------------------------


def rendezvous_tools() -> ToolRegistry:
    """Two tools that each wait for the other to have started: they finish only together."""
    left_in, right_in = anyio.Event(), anyio.Event()

    async def meet(mine: anyio.Event, other: anyio.Event, name: str) -> str:
        mine.set()
        with anyio.fail_after(5):  # run one after the other, they would wait forever
            await other.wait()
        return f"{name} met the other"

    @tool(description="Wait for right")
    async def left() -> str:
        return await meet(left_in, right_in, "left")

    @tool(description="Wait for left")
    async def right() -> str:
        return await meet(right_in, left_in, "right")

    return ToolRegistry([*builtin_tools(), left, right])


CONCURRENT = {
    "lua": 'return llm.agent{name = "pair", tools = {"left", "right"}}:run("meet")',
    "js": 'return await (await llm.agent({name: "pair", tools: ["left", "right"]})).run("meet");',
    "tengo": 'export llm.agent({name: "pair", tools: ["left", "right"]}).run("meet")',
}


@BOTH
async def test_an_agents_tool_calls_of_one_turn_run_concurrently(ext: str) -> None:
    script = OfflineScript().tool_calls(("left", {}), ("right", {})).reply("both met")
    async with offline_runtime(tools=rendezvous_tools()) as rt:
        with script:
            ran = await run_source(CONCURRENT[ext], ext, runtime=rt)
    assert ran.result.ok, ran.result.error
    assert ran.result.value == "both met"
    tool_messages = [m["content"] for m in script.requests[1]["messages"] if m["role"] == "tool"]
    assert tool_messages == ["left met the other", "right met the other"]


# -- schema repairs: at most two -------------------------------------------------------------

NEVER_VALID = {
    "lua": """
        local a = llm.agent{name = "stubborn", schema = {type = "object", required = {"n"}}}
        local ok, err = pcall(a.run, a, "count")
        return err
    """,
    "js": """
        const a = await llm.agent({name: "stubborn", schema: {type: "object", required: ["n"]}});
        try { await a.run("count"); } catch (e) { return e.message; }
    """,
    "tengo": """
        a := llm.agent({name: "stubborn", schema: {type: "object", required: ["n"]}})
        export a.run("count").value
    """,
}


@BOTH
async def test_an_answer_that_never_validates_fails_after_two_repairs(ext: str) -> None:
    script = OfflineScript()
    for _ in range(12):  # more than the agent's max_steps: "forever" as far as it can tell
        script.reply("still not json")
    async with offline_runtime() as rt:
        responses = record(rt, "llm.response")
        with script:
            ran = await run_source(NEVER_VALID[ext], ext, runtime=rt)
        await anyio.wait_all_tasks_blocked()
    assert ran.result.ok, ran.result.error
    assert ran.result.value is not None, "the agent accepted an answer that never validated"
    assert "did not match the schema after 2 repairs" in ran.result.value
    assert len(script.requests) == 3  # the first answer and two repairs
    assert len(responses) == 3 and ran.result.usage["calls"] == 3


# -- cost: per call, on llm.response, summed in the run summary ------------------------------

PRICED = "openai/gpt-4o-mini"
COST = {
    "lua": """
        local a = llm.complete("one")
        local b = llm.complete("two")
        return {a.cost, b.cost}
    """,
    "js": """
        const a = await llm.complete("one");
        const b = await llm.complete("two");
        return [a.cost, b.cost];
    """,
    "tengo": """
        a := llm.complete("one")
        b := llm.complete("two")
        export [a.cost, b.cost]
    """,
}


@pytest.fixture
async def server() -> AsyncIterator[OpenAIServer]:
    async with OpenAIServer() as srv:
        yield srv


@BOTH
async def test_cost_is_reported_per_call_on_llm_response_and_summed_per_run(
    ext: str, server: OpenAIServer
) -> None:
    import litellm

    prices = litellm.model_cost["gpt-4o-mini"]

    def price(prompt: int, completion: int) -> float:
        return float(
            prompt * prices["input_cost_per_token"] + completion * prices["output_cost_per_token"]
        )

    server.reply("a", usage={"prompt_tokens": 1000, "completion_tokens": 100, "total_tokens": 1100})
    server.reply("b", usage={"prompt_tokens": 3000, "completion_tokens": 500, "total_tokens": 3500})
    provider = Provider(
        default_model=PRICED,
        api_base=server.base_url,
        retry=RetryPolicy(attempts=1),
        timeout=10.0,
    )
    expected = [price(1000, 100), price(3000, 500)]
    async with open_runtime(provider=provider) as rt:
        events = record(rt, "llm.*")
        finished = record(rt, "spell.finished")
        ran = await run_source(COST[ext], ext, runtime=rt)
        await anyio.wait_all_tasks_blocked()
    assert ran.result.ok, ran.result.error
    assert ran.result.value == pytest.approx(expected) and expected[0] > 0
    assert [t for t, _ in events] == ["llm.request", "llm.response"] * 2
    assert [p.get("model") for _, p in events] == [PRICED] * 4
    responses = [p for t, p in events if t == "llm.response"]
    assert [p.get("cost") for p in responses] == pytest.approx(expected)
    summary = ran.result.to_json()["usage"]
    assert summary["cost"] == pytest.approx(sum(expected)), "cost not summed in the run summary"
    assert summary["total_tokens"] == 1100 + 3500 and summary["calls"] == 2
    assert finished[0][1].get("usage", {}).get("cost") == pytest.approx(sum(expected)), (
        "spell.finished lost the run's usage"
    )


# -- tool.executed on success and on failure -------------------------------------------------

FAILING_TOOL = {
    "lua": """
        tools.register{name = "flaky", description = "fails", parameters = {},
          handler = function() error("flaky broke") end}
        local ok, err = pcall(tools.call, "flaky", {})
        return {err = err, sum = tools.call("calculator", {expression = "2+2"})}
    """,
    "js": """
        await tools.register({name: "flaky", description: "fails", parameters: {},
          handler: () => { throw new Error("flaky broke"); }});
        let err = null;
        try { await tools.call("flaky", {}); } catch (e) { err = e.message; }
        return {err, sum: await tools.call("calculator", {expression: "2+2"})};
    """,
    "tengo": """
        tools.register({name: "flaky", description: "fails", parameters: {},
          handler: func() { return error("flaky broke") }})
        r := tools.call("flaky", {})
        export {err: r.value, sum: tools.call("calculator", {expression: "2+2"})}
    """,
}


@BOTH
async def test_tool_executed_is_published_for_failed_calls_with_the_error(ext: str) -> None:
    async with offline_runtime() as rt:
        executed = record(rt, "tool.executed")
        ran = await run_source(FAILING_TOOL[ext], ext, runtime=rt)
        await anyio.wait_all_tasks_blocked()
    assert ran.result.ok, ran.result.error
    assert "flaky broke" in ran.result.value["err"] and ran.result.value["sum"] == 4
    got = [(p.get("toolName"), p.get("success"), p.get("error")) for _, p in executed]
    assert len(got) == 2, f"tool.executed events: {got}"
    (name, success, error), second = got
    assert (name, success) == ("flaky", False)
    assert "flaky broke" in str(error), f"tool.executed error field: {error!r}"
    assert second == ("calculator", True, None)
    assert all(p["duration"] >= 0 and p["runId"] == ran.result.run_id for _, p in executed)


# -- agent.started / agent.finished fields ---------------------------------------------------

AGENT_EVENTS = {
    "lua": 'return llm.agent{name = "scout"}:run("look")',
    "js": 'return await (await llm.agent({name: "scout"})).run("look");',
    "tengo": 'export llm.agent({name: "scout"}).run("look")',
}


@BOTH
async def test_agent_events_carry_agent_id_and_name(ext: str) -> None:
    async with offline_runtime() as rt:
        events = record(rt, "agent.*")
        ran = await run_source(AGENT_EVENTS[ext], ext, runtime=rt)
        await anyio.wait_all_tasks_blocked()
    assert ran.result.ok, ran.result.error
    assert [t for t, _ in events] == ["agent.started", "agent.finished"]
    started, finished = (p for _, p in events)
    for payload in (started, finished):
        assert payload.get("name") == "scout", payload
        assert payload.get("runId") == ran.result.run_id, payload
        assert isinstance(payload.get("agentId"), str) and payload["agentId"], payload
    assert started["agentId"] == finished["agentId"]


# -- spell.before_run / spell.after_run ------------------------------------------------------

STARTS = {
    "lua": 'print("started")\nreturn 1',
    "js": 'print("started");\nreturn 1;',
    "tengo": 'print("started")\nexport 1',
}


@BOTH
async def test_a_spell_before_run_hook_can_refuse_a_run_and_after_run_sees_it(ext: str) -> None:
    async with offline_runtime() as rt:
        after: list[Any] = []
        rt.system.hooks.register("spell.after_run", after.append)
        allowed = await run_source(STARTS[ext], ext, runtime=rt)
        rt.system.hooks.register(
            "spell.before_run", lambda value: actors.Cancel("maintenance window")
        )
        refused = await run_source(STARTS[ext], ext, runtime=rt)
    assert allowed.result.ok and allowed.output == "started\n"
    assert refused.result.status == "error" and "maintenance window" in str(refused.result.error)
    assert refused.output == "", "a refused spell ran anyway"
    assert [(r.run_id, r.status) for r in after] == [
        (allowed.result.run_id, "ok"),
        (refused.result.run_id, "error"),
    ]
