"""llm, agents and tools from spells, end to end: script → hooks → litellm → local server.

Every spell here runs in Lua, JavaScript and Tengo; the provider is litellm's real HTTP client
talking to the local OpenAI-compatible test server.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import anyio
import pytest

from llmspell import open_runtime
from llmspell._runtime import Runtime, SpellSource
from llmspell.providers import Provider, RetryPolicy
from llmspell.testing import OpenAIServer

from .spellkit import run_source

pytestmark = pytest.mark.anyio
BOTH = pytest.mark.parametrize("ext", ["lua", "js", "tengo"])
MODEL = "openai/test-model"


@pytest.fixture
async def server() -> AsyncIterator[OpenAIServer]:
    async with OpenAIServer() as srv:
        yield srv


@pytest.fixture
async def runtime(server: OpenAIServer) -> AsyncIterator[Runtime]:
    provider = Provider(
        default_model=MODEL,
        api_base=server.base_url,
        retry=RetryPolicy(attempts=3, backoff=0.001, max_backoff=0.01),
        timeout=5.0,
    )
    async with open_runtime(provider=provider) as rt:
        yield rt


def _events(rt: Runtime, pattern: str) -> list[Any]:
    got: list[Any] = []
    rt.system.bus.subscribe(pattern, lambda event: got.append((event.topic, event.payload)))
    return got


COMPLETE = {
    "lua": """
        hooks.register({beforeGenerate = function(ctx, req) req.temperature = 0.25; return req end,
                        afterGenerate = function(ctx, req, resp) resp.content = resp.content .. "!"; return resp end})
        local r = llm.complete{system = "be brief", prompt = "hi", max_tokens = 20}
        return {content = r.content, model = r.model, total = r.usage.total_tokens, finish = r.finish_reason}
    """,
    "js": """
        await hooks.register({beforeGenerate: (ctx, req) => { req.temperature = 0.25; return req; },
                              afterGenerate: (ctx, req, resp) => { resp.content += "!"; return resp; }});
        const r = await llm.complete({system: "be brief", prompt: "hi", max_tokens: 20});
        return {content: r.content, model: r.model, total: r.usage.total_tokens, finish: r.finish_reason};
    """,
    "tengo": """
        hooks.register({beforeGenerate: func(ctx, req) { req.temperature = 0.25; return req },
                        afterGenerate: func(ctx, req, resp) { resp.content += "!"; return resp }})
        r := llm.complete({system: "be brief", prompt: "hi", max_tokens: 20})
        export {content: r.content, model: r.model, total: r.usage.total_tokens, finish: r.finish_reason}
    """,
}


@BOTH
async def test_complete_through_hooks_events_and_litellm(
    ext: str, server: OpenAIServer, runtime: Runtime
) -> None:
    server.reply(
        "hello there", usage={"prompt_tokens": 7, "completion_tokens": 3, "total_tokens": 10}
    )
    events = _events(runtime, "llm.>")
    ran = await run_source(COMPLETE[ext], ext, runtime=runtime)
    assert ran.result.ok, ran.result.error
    assert ran.result.value == {
        "content": "hello there!",
        "model": MODEL,
        "total": 10,
        "finish": "stop",
    }
    sent = server.requests[-1]
    assert sent["temperature"] == 0.25 and sent["max_tokens"] == 20
    assert sent["messages"] == [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "hi"},
    ]
    await anyio.wait_all_tasks_blocked()
    topics = [t for t, _ in events]
    assert topics == ["llm.request", "llm.response"]
    response = events[1][1]
    assert response["usage"]["total_tokens"] == 10 and response["duration"] > 0
    assert ran.result.usage["total_tokens"] == 10 and ran.result.usage["calls"] == 1


CANCEL = {
    "lua": """
        hooks.register({beforeGenerate = function(ctx, req) error("no calls today") end})
        local ok, err = pcall(llm.complete, "hi")
        return err
    """,
    "js": """
        await hooks.register({beforeGenerate: () => { throw new Error("no calls today"); }});
        try { await llm.complete("hi"); } catch (e) { return e.message; }
    """,
    "tengo": """
        hooks.register({beforeGenerate: func(ctx, req) { return error("no calls today") }})
        export llm.complete("hi").value
    """,
}


@BOTH
async def test_a_hook_cancels_the_call_with_its_own_error(
    ext: str, server: OpenAIServer, runtime: Runtime
) -> None:
    ran = await run_source(CANCEL[ext], ext, runtime=runtime)
    assert ran.result.ok, ran.result.error
    assert "no calls today" in ran.result.value
    assert server.requests == []


STREAM = {
    "lua": """
        local chunks = {}
        local r = llm.stream("tell me", function(text) chunks[#chunks + 1] = text end)
        return {chunks = chunks, content = r.content, total = r.usage.total_tokens}
    """,
    "js": """
        const chunks = [];
        const r = await llm.stream("tell me", (text) => { chunks.push(text); });
        return {chunks, content: r.content, total: r.usage.total_tokens};
    """,
    "tengo": """
        chunks := []
        r := llm.stream("tell me", func(text) { chunks = append(chunks, text) })
        export {chunks: chunks, content: r.content, total: r.usage.total_tokens}
    """,
}


@BOTH
async def test_stream_calls_back_per_chunk(
    ext: str, server: OpenAIServer, runtime: Runtime
) -> None:
    server.reply("one two three four five")
    ran = await run_source(STREAM[ext], ext, runtime=runtime)
    assert ran.result.ok, ran.result.error
    value = ran.result.value
    assert len(value["chunks"]) >= 3
    assert "".join(value["chunks"]) == value["content"] == "one two three four five"
    assert value["total"] > 0


AGENT = {
    "lua": """
        tools.register{name = "lookup", description = "facts",
          parameters = {key = {type = "string", required = true}},
          handler = function(args) return "fact about " .. args.key end}
        local a = llm.agent{name = "r", system = "sys", tools = {"calculator", "lookup"}}
        local first = a:run("question one")
        local second = a:run("question two")
        return {first = first, second = second, history = #a:history()}
    """,
    "js": """
        await tools.register({name: "lookup", description: "facts",
          parameters: {key: {type: "string", required: true}},
          handler: (args) => "fact about " + args.key});
        const a = await llm.agent({name: "r", system: "sys", tools: ["calculator", "lookup"]});
        const first = await a.run("question one");
        const second = await a.run("question two");
        return {first, second, history: (await a.history()).length};
    """,
    "tengo": """
        tools.register({name: "lookup", description: "facts",
          parameters: {key: {type: "string", required: true}},
          handler: func(args) { return "fact about " + args.key }})
        a := llm.agent({name: "r", system: "sys", tools: ["calculator", "lookup"]})
        first := a.run("question one")
        second := a.run("question two")
        export {first: first, second: second, history: len(a.history())}
    """,
}


@BOTH
async def test_agent_loops_through_concurrent_tool_calls(
    ext: str, server: OpenAIServer, runtime: Runtime
) -> None:
    server.tool_calls(
        {"name": "calculator", "arguments": {"expression": "6*7"}},
        {"name": "lookup", "arguments": {"key": "lua"}},
        {"name": "calculator", "arguments": "{not json"},
        {"name": "lookup", "arguments": {"key": 7}},
    )
    server.reply("the answer is 42")
    server.reply("second answer")
    executed = _events(runtime, "tool.executed")
    agent_events = _events(runtime, "agent.*")
    ran = await run_source(AGENT[ext], ext, runtime=runtime)
    assert ran.result.ok, ran.result.error
    assert ran.result.value == {
        "first": "the answer is 42",
        "second": "second answer",
        "history": 9,
    }
    # the tool results went back to the model, malformed arguments as an error it can fix
    tool_messages = [m for m in server.requests[1]["messages"] if m["role"] == "tool"]
    assert [m["content"] for m in tool_messages[:2]] == ["42", "fact about lua"]
    assert tool_messages[2]["content"].startswith("error: the arguments are not valid JSON")
    assert "parameter 'key'" in tool_messages[3]["content"]  # schema-invalid: back to the model
    assert server.requests[1]["tools"][0]["function"]["name"] == "calculator"
    # history persists across runs: the second request carries the first conversation
    assert len(server.requests[2]["messages"]) == 1 + 7 + 1
    await anyio.wait_all_tasks_blocked()
    assert sorted(p["toolName"] for _, p in executed) == ["calculator", "lookup", "lookup"]
    assert all(p["duration"] >= 0 for _, p in executed)
    assert [p["success"] for _, p in executed].count(False) == 1
    assert [t for t, _ in agent_events] == ["agent.started", "agent.finished"] * 2


MAX_STEPS = {
    "lua": """
        local a = llm.agent{name = "loopy", tools = {"calculator"}, max_steps = 2}
        local ok, err = pcall(a.run, a, "go")
        return err
    """,
    "js": """
        const a = await llm.agent({name: "loopy", tools: ["calculator"], max_steps: 2});
        try { await a.run("go"); } catch (e) { return e.message; }
    """,
    "tengo": """
        a := llm.agent({name: "loopy", tools: ["calculator"], max_steps: 2})
        export a.run("go").value
    """,
}


@BOTH
async def test_agent_stops_at_max_steps_with_a_clear_error(
    ext: str, server: OpenAIServer, runtime: Runtime
) -> None:
    for _ in range(3):
        server.tool_calls({"name": "calculator", "arguments": {"expression": "1+1"}})
    ran = await run_source(MAX_STEPS[ext], ext, runtime=runtime)
    assert ran.result.ok, ran.result.error
    assert "did not finish within max_steps=2" in ran.result.value
    assert len(server.requests) == 2


SCHEMA = {
    "lua": """
        local a = llm.agent{schema = {type = "object", properties = {n = {type = "integer"}}, required = {"n"}}}
        local v = a:run("count")
        return v.n
    """,
    "js": """
        const a = await llm.agent({schema: {type: "object", properties: {n: {type: "integer"}}, required: ["n"]}});
        return (await a.run("count")).n;
    """,
    "tengo": """
        a := llm.agent({schema: {type: "object", properties: {n: {type: "integer"}}, required: ["n"]}})
        export a.run("count").n
    """,
}


@BOTH
async def test_schema_answers_are_validated_and_repaired(
    ext: str, server: OpenAIServer, runtime: Runtime
) -> None:
    server.reply("not json at all")
    server.reply('{"n": "three"}')
    server.reply('{"n": 3}')
    ran = await run_source(SCHEMA[ext], ext, runtime=runtime)
    assert ran.result.ok, ran.result.error
    assert ran.result.value == 3
    repair = server.requests[1]["messages"][-1]["content"]
    assert "did not match the JSON schema" in repair and "not valid JSON" in repair
    assert "'three' is not of type 'integer'" in server.requests[2]["messages"][-1]["content"]


NESTED = {
    "lua": """
        local helper = llm.agent{name = "helper"}
        local boss = llm.agent{name = "boss", tools = {helper}}
        return boss:run("delegate")
    """,
    "js": """
        const helper = await llm.agent({name: "helper"});
        const boss = await llm.agent({name: "boss", tools: [helper]});
        return await boss.run("delegate");
    """,
    "tengo": """
        helper := llm.agent({name: "helper"})
        boss := llm.agent({name: "boss", tools: [helper]})
        export boss.run("delegate")
    """,
}


@BOTH
async def test_an_agent_is_a_tool_of_another(
    ext: str, server: OpenAIServer, runtime: Runtime
) -> None:
    server.tool_calls({"name": "helper", "arguments": {"input": "sub-question"}})
    server.reply("helper says hi")
    server.reply("boss done")
    ran = await run_source(NESTED[ext], ext, runtime=runtime)
    assert ran.result.ok, ran.result.error
    assert ran.result.value == "boss done"
    assert server.requests[1]["messages"][-1] == {"role": "user", "content": "sub-question"}
    last = server.requests[2]["messages"][-1]
    assert last["role"] == "tool" and last["content"] == "helper says hi"


ERRORS = {
    "lua": 'local ok, err = pcall(llm.complete, "hi")\nreturn err',
    "js": 'try { await llm.complete("hi"); } catch (e) { return e.message; }',
    "tengo": 'export llm.complete("hi").value',
}
CONTENT = {
    "lua": 'return llm.complete("hi").content',
    "js": 'return (await llm.complete("hi")).content',
    "tengo": 'export llm.complete("hi").content',
}


@BOTH
async def test_retries_then_a_clear_error_naming_the_model(
    ext: str, server: OpenAIServer, runtime: Runtime
) -> None:
    server.error(429, times=1, retry_after=0)
    server.reply("after a retry")
    ok = await run_source(CONTENT[ext], ext, runtime=runtime)
    assert ok.result.value == "after a retry"
    server.error(500, "boom", times=3)
    ran = await run_source(ERRORS[ext], ext, runtime=runtime)
    assert MODEL in ran.result.value and "HTTP 500" in ran.result.value


@BOTH
async def test_stopping_a_spell_cancels_its_llm_call(
    ext: str, server: OpenAIServer, runtime: Runtime
) -> None:
    server.reply("too late", delay=30)
    source = CONTENT[ext]
    results = []

    async def go() -> None:
        results.append(await runtime.run(SpellSource(source, f"slow.{ext}")))

    with anyio.fail_after(10):
        async with anyio.create_task_group() as tg:
            tg.start_soon(go)
            await server.wait_requests(1)
            runtime.stop(runtime.active_runs[0])
        await server.wait_disconnect()
    assert results[0].status == "stopped" and "stopped" in (results[0].error or "")


TOOLS = {
    "lua": """
        hooks.register({beforeToolCall = function(ctx, tool, input)
          if tool ~= "calculator" then return end
          if input.expression == "1/0" then error("not that one") end
          input.expression = input.expression .. "+1"; return input end})
        local listed = {}
        for _, t in ipairs(tools.list()) do listed[#listed + 1] = t.name end
        local ok, err = pcall(tools.call, "calculator", {expression = "1/0"})
        local ok2, err2 = pcall(tools.file_read, "README.md")
        local ok3, err3 = pcall(tools.text_split, {separator = 5})
        return {sum = tools.call("calculator", {expression = "1+1"}), refused = err,
                denied = err2, invalid = err3, listed = #listed > 5}
    """,
    "js": """
        await hooks.register({beforeToolCall: (ctx, tool, input) => {
          if (tool !== "calculator") return;
          if (input.expression === "1/0") throw new Error("not that one");
          input.expression += "+1"; return input; }});
        const listed = (await tools.list()).map((t) => t.name);
        const err = async (p) => { try { await p; } catch (e) { return e.message; } };
        return {sum: await tools.call("calculator", {expression: "1+1"}),
                refused: await err(tools.call("calculator", {expression: "1/0"})),
                denied: await err(tools.file_read("README.md")),
                invalid: await err(tools.text_split({separator: 5})),
                listed: listed.length > 5};
    """,
    "tengo": """
        hooks.register({beforeToolCall: func(ctx, tool, input) {
          if tool != "calculator" { return }
          if input.expression == "1/0" { return error("not that one") }
          input.expression += "+1"; return input }})
        listed := []
        for t in tools.list() { listed = append(listed, t.name) }
        err := func(r) { return is_error(r) ? r.value : "no error" }
        export {sum: tools.call("calculator", {expression: "1+1"}),
                refused: err(tools.call("calculator", {expression: "1/0"})),
                denied: err(tools.file_read("README.md")),
                invalid: err(tools.text_split({separator: 5})),
                listed: len(listed) > 5}
    """,
}


@BOTH
async def test_tools_from_spells_hooks_permissions_validation(ext: str, runtime: Runtime) -> None:
    executed = _events(runtime, "tool.executed")
    ran = await run_source(TOOLS[ext], ext, runtime=runtime)
    assert ran.result.ok, ran.result.error
    value = ran.result.value
    assert value["sum"] == 3 and value["listed"] is True
    assert "refused by a hook: not that one" in value["refused"]
    assert "permission 'fs.read' not granted; run with --allow fs.read" in value["denied"]
    assert "parameter 'text'" in value["invalid"]
    await anyio.wait_all_tasks_blocked()
    outcomes = [(p["toolName"], p["success"]) for _, p in executed]
    assert ("calculator", True) in outcomes and ("calculator", False) in outcomes


@BOTH
async def test_a_python_tool_is_callable_from_spells(ext: str) -> None:
    from llmspell.tools import ToolRegistry, builtin_tools, tool

    @tool(description="Add two numbers")
    async def add(a: float, b: float) -> float:
        return a + b

    source = {
        "lua": "return tools.add(1, 2)",
        "js": "return await tools.add(1, 2)",
        "tengo": "export tools.add(1, 2)",
    }[ext]
    async with open_runtime(tools=ToolRegistry([*builtin_tools(), add])) as rt:
        ran = await run_source(source, ext, runtime=rt)
    assert ran.result.ok, ran.result.error
    assert ran.result.value == 3


RESET = {
    "lua": """
        local a = llm.agent{name = "forgetful"}
        a:run("one")
        local before = #a:history()
        a:reset()
        a:run("two")
        local models = llm.models("openai")
        return {before = before, after = #a:history(), models = #models > 10, first = models[1].name}
    """,
    "js": """
        const a = await llm.agent({name: "forgetful"});
        await a.run("one");
        const before = (await a.history()).length;
        await a.reset();
        await a.run("two");
        const models = await llm.models("openai");
        return {before, after: (await a.history()).length, models: models.length > 10, first: models[0].name};
    """,
    "tengo": """
        a := llm.agent({name: "forgetful"})
        a.run("one")
        before := len(a.history())
        a.reset()
        a.run("two")
        models := llm.models("openai")
        export {before: before, after: len(a.history()), models: len(models) > 10, first: models[0].name}
    """,
}


@BOTH
async def test_agent_reset_clears_history_and_models_are_listed(
    ext: str, server: OpenAIServer, runtime: Runtime
) -> None:
    ran = await run_source(RESET[ext], ext, runtime=runtime)
    assert ran.result.ok, ran.result.error
    value = ran.result.value
    assert value["before"] == 2 and value["after"] == 2 and value["models"] is True
    assert value["first"].startswith("openai/") or "/" not in value["first"]
    assert server.requests[1]["messages"] == [{"role": "user", "content": "two"}]


async def test_permissions_are_per_run_and_agent_hooks_apply(tmp_path: Any) -> None:
    import actors
    from llmspell.tools import Permissions

    (tmp_path / "note.txt").write_text("secret plans")
    source = SpellSource(
        'local ok, r = pcall(tools.file_read, "note.txt")\n'
        'local a = llm.agent{name = "echo"}\n'
        'return {file = r, answer = a:run("hi")}',
        "perm.lua",
    )
    async with open_runtime(provider=Provider(default_model="offline/llmspell")) as rt:
        rt.system.hooks.register("agent.before_run", lambda value: value + " (edited)")
        rt.system.hooks.register("agent.after_run", lambda value: actors.Replace(value.upper()))
        denied = await rt.run(source)
        granted = await rt.run(
            source,
            permissions=Permissions.from_flags(allow=["fs.read"], workspace=tmp_path),
        )
    assert "permission 'fs.read' not granted" in denied.value["file"]
    assert granted.value["file"] == "secret plans"
    assert "HI (EDITED)" in granted.value["answer"]


MEMORY = {
    "lua": """
        local a = llm.agent{name = "scribe", memory = true}
        if params.reset == "1" then a:reset() return #a:history() end
        a:run("note " .. params.n)
        return #a:history()
    """,
    "js": """
        const a = await llm.agent({name: "scribe", memory: true});
        if (params.reset === "1") { await a.reset(); return (await a.history()).length; }
        await a.run("note " + params.n);
        return (await a.history()).length;
    """,
    "tengo": """
        a := llm.agent({name: "scribe", memory: true})
        if params.reset == "1" { a.reset(); export len(a.history()) }
        a.run("note " + params.n)
        export len(a.history())
    """,
}


@BOTH
async def test_an_agent_with_memory_keeps_its_history_across_runs(ext: str, tmp_path: Any) -> None:
    async with open_runtime(
        provider=Provider(default_model="offline/llmspell"), state=tmp_path / "s.db"
    ) as rt:
        changes: list[Any] = []
        rt.system.bus.subscribe("state.changed", lambda e: changes.append(e.payload))
        first = await run_source(MEMORY[ext], ext, runtime=rt, params={"n": "1"})
        second = await run_source(MEMORY[ext], ext, runtime=rt, params={"n": "2"})
        await anyio.wait_all_tasks_blocked()
    assert first.result.value == 2 and second.result.value == 4  # user + assistant per run
    assert {(c["scope"], c["path"]) for c in changes} == {("agent:scribe", "history")}
    async with open_runtime(
        provider=Provider(default_model="offline/llmspell"), state=tmp_path / "s.db"
    ) as rt:  # a new runtime (a restart): the history is still there, until reset
        third = await run_source(MEMORY[ext], ext, runtime=rt, params={"n": "3"})
        reset = await run_source(MEMORY[ext], ext, runtime=rt, params={"reset": "1"})
        after = await run_source(MEMORY[ext], ext, runtime=rt, params={"n": "4"})
    assert third.result.value == 6 and reset.result.value == 0 and after.result.value == 2


@BOTH
async def test_agent_memory_needs_a_name(ext: str) -> None:
    source = {
        "lua": "local ok, e = pcall(llm.agent, {memory = true}) return e",
        "js": "try { await llm.agent({memory: true}); } catch (e) { return e.message; }",
        "tengo": "export llm.agent({memory: true}).value",
    }[ext]
    ran = await run_source(source, ext)
    assert (
        "llm.agent: parameter 'memory'" in ran.result.value and "needs a name" in ran.result.value
    )
