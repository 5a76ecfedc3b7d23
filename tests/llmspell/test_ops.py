"""The operations layer: call ids, one key style, trace headers, spell hooks, hook order.

Every operation (spell run, LLM call, tool call, agent run) passes the one instrumented path;
these tests pin what that path promises, through real spells in every engine.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import anyio
import pytest

import actors
from llmspell import open_runtime
from llmspell._ops import KINDS, Call, HookPoint, Topic
from llmspell.testing import OfflineScript
from llmspell.tools import ToolContext, ToolRegistry, builtin_tools, tool

from .spellkit import run_source

pytestmark = pytest.mark.anyio
BOTH = pytest.mark.parametrize("ext", ["lua", "js", "tengo"])


def test_the_catalogue_names_every_design_point_and_topic() -> None:
    points = {v for k, v in vars(HookPoint).items() if k.isupper()}
    assert points >= {
        "llm.before_generate",
        "llm.after_generate",
        "tool.before_call",
        "tool.after_call",
        "agent.before_run",
        "agent.after_run",
        "workflow.before_step",
        "workflow.after_step",
        "spell.before_run",
        "spell.after_run",
        "state.before_write",
        "state.after_write",
    }
    topics = {v for k, v in vars(Topic).items() if k.isupper()}
    assert topics >= {
        "spell.started",
        "spell.finished",
        "spell.failed",
        "agent.started",
        "agent.finished",
        "llm.request",
        "llm.response",
        "tool.executed",
        "workflow.step.started",
        "workflow.step.finished",
        "state.changed",
    }
    # every kind's points and topics are in the catalogue, so nothing spells them elsewhere
    for kind in KINDS:
        assert {kind.before, kind.after} <= points
        assert set(kind.topics) <= topics


PARALLEL_CALLS = {
    "lua": """
        local a, b = table.unpack(parallel(
          function() return llm.complete("first") end,
          function() return tools.calculator("6*7") end))
        return a.content ~= nil and b
    """,
    "js": """
        const [a, b] = await Promise.all([llm.complete("first"), tools.calculator("6*7")]);
        return a.content !== undefined && b;
    """,
    "tengo": """
        r := parallel(func() { return llm.complete("first") },
                      func() { return tools.calculator("6*7") })
        export !is_undefined(r[0].content) && r[1]
    """,
}


AGAIN = {
    "lua": 'return llm.complete("again").content',
    "js": 'return (await llm.complete("again")).content',
    "tengo": 'export llm.complete("again").content',
}


def test_payloads_are_frozen_records_with_script_style_keys() -> None:
    from llmspell._ops._catalogue import LlmError, ToolExecuted

    event = ToolExecuted("r1", "s", "c1", "calc", None, 0.5, success=True, error=None)
    assert event.as_dict() == {
        "runId": "r1",
        "spell": "s",
        "callId": "c1",
        "toolName": "calc",
        "caller": None,
        "duration": 0.5,
        "success": True,
        "error": None,
    }
    same = ToolExecuted("r1", "s", "c1", "calc", None, 0.5, True, None)
    assert event == same and hash(event) == hash(same) and event != same.as_dict()
    assert "toolName" not in repr(event) and "tool_name='calc'" in repr(event)
    with pytest.raises(AttributeError, match="frozen"):
        event.success = False  # type: ignore[misc]
    with pytest.raises(TypeError, match="missing error"):
        LlmError("r1", "s", "c1", model="m", agent=None, duration=1.0)  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="unexpected or repeated field 'modle'"):
        LlmError("r1", "s", "c1", "m", None, "e", 1.0, modle="x")  # type: ignore[call-arg]


@BOTH
async def test_every_operation_event_carries_the_run_and_a_call_id(ext: str) -> None:
    async with open_runtime() as rt:
        seen: list[actors.Event] = []
        rt.system.bus.subscribe(">", seen.append)
        with OfflineScript().reply("one", delay=0.05).reply("two"):
            ran = await run_source(PARALLEL_CALLS[ext], ext, runtime=rt)
            ran2 = await run_source(AGAIN[ext], ext, runtime=rt)
        await anyio.wait_all_tasks_blocked()
    assert ran.result.ok and ran2.result.ok, (ran.result.error, ran2.result.error)
    ops = [e for e in seen if e.topic.split(".")[0] in ("spell", "llm", "tool")]
    assert {e.topic for e in ops} >= {
        "spell.started",
        "spell.finished",
        "llm.request",
        "llm.response",
        "tool.executed",
    }
    for event in ops:
        assert event.payload["runId"] in (ran.result.run_id, ran2.result.run_id), event
        assert event.payload["callId"].startswith(event.payload["runId"] + "."), event
    # request and response pair by call id; different calls never share one
    requests = {e.payload["callId"]: e for e in ops if e.topic == "llm.request"}
    responses = {e.payload["callId"]: e for e in ops if e.topic == "llm.response"}
    assert requests.keys() == responses.keys() and len(requests) == 2
    ids = [e.payload["callId"] for e in ops if e.topic in ("spell.started", "tool.executed")]
    assert len(set(ids)) == len(ids)


async def test_hook_data_uses_the_script_key_style() -> None:
    data: dict[str, dict[str, Any]] = {}

    def keep(value: Any, ctx: actors.HookContext) -> None:
        data[ctx.point] = dict(ctx.data)

    async with open_runtime() as rt:
        for point in (HookPoint.LLM_BEFORE_GENERATE, HookPoint.TOOL_AFTER_CALL):
            rt.system.hooks.register(point, keep)
        ran = await run_source(
            'llm.complete("hi"); return tools.calculator("1+1")', "lua", runtime=rt
        )
    assert ran.result.ok, ran.result.error
    llm = data["llm.before_generate"]
    assert llm["runId"] == ran.result.run_id and llm["spell"] == "spell"
    assert llm["callId"].startswith(ran.result.run_id) and llm["model"]
    tool_data = data["tool.after_call"]
    assert tool_data["tool"] == "calculator" and tool_data["input"] == {"expression": "1+1"}
    assert not any("_" in key for d in data.values() for key in d)


class _Tracer:
    """A stand-in observer: each call's headers name the call (as a span context would)."""

    def __init__(self) -> None:
        self.started: dict[str, Call] = {}
        self.ended: list[tuple[str, BaseException | None]] = []

    def start(self, call: Call) -> None:
        call.headers = {"parent": call.headers.get("span", ""), "span": call.call_id}
        self.started[call.call_id] = call

    def end(self, call: Call, error: BaseException | None) -> None:
        self.ended.append((call.call_id, error))


AGENT_WITH_TOOL = {
    "lua": """
        events.on("probe.*", function(event, topic) tools.probe({}) end)
        local helper = llm.agent{name = "helper", tools = {"probe"}}
        local answer = helper:run("use the probe")
        events.emit("probe.after", {})
        return answer
    """,
    "js": """
        events.on("probe.*", async (event, topic) => { await tools.probe({}); });
        const helper = await llm.agent({name: "helper", tools: ["probe"]});
        const answer = await helper.run("use the probe");
        events.emit("probe.after", {});
        return answer;
    """,
    "tengo": """
        events.on("probe.*", func(event, topic) { tools.probe({}) })
        helper := llm.agent({name: "helper", tools: ["probe"]})
        answer := helper.run("use the probe")
        events.emit("probe.after", {})
        export answer
    """,
}


@BOTH
async def test_trace_headers_flow_into_actors_events_and_handlers(ext: str) -> None:
    """A tool called by an agent (two actors away from the spell) runs under the agent's call;
    an event's handler runs under the call that emitted it."""
    seen: list[tuple[Mapping[str, str], Mapping[str, str]]] = []

    @tool(description="Report the trace context the call arrived with")
    async def probe(ctx: ToolContext) -> str:
        envelope = actors.current_envelope()
        assert envelope is not None  # the call crossed into the tool's actor
        seen.append((ctx.headers, envelope.headers))
        return "probed"

    tracer = _Tracer()
    registry = ToolRegistry([*builtin_tools(), probe])
    events: list[actors.Event] = []
    async with open_runtime(tools=registry, observability=tracer) as rt:
        rt.system.bus.subscribe("tool.executed", events.append)
        with OfflineScript().tool_call("probe", {}).reply("done"):
            ran = await run_source(AGENT_WITH_TOOL[ext], ext, runtime=rt)
        await anyio.wait_all_tasks_blocked()
    assert ran.result.ok, ran.result.error
    assert ran.result.value == "done"
    calls = tracer.started
    kinds = {cid: c.kind.name for cid, c in calls.items()}
    (spell_id,) = [cid for cid, k in kinds.items() if k == "spell"]
    (agent_id,) = [cid for cid, k in kinds.items() if k == "agent"]
    tool_ids = [cid for cid, k in kinds.items() if k == "tool"]
    assert calls[agent_id].headers["parent"] == spell_id
    # first tool call: made by the agent's actor, under the agent run
    first = calls[tool_ids[0]]
    assert first.headers["parent"] == agent_id
    assert seen[0][0] == first.headers == seen[0][1]  # ToolContext and the actor's envelope
    # second: made by the event handler, under the spell (the emitter of probe.after)
    second = calls[tool_ids[1]]
    assert second.headers["parent"] == spell_id
    assert dict(seen[1][0]) == dict(second.headers)
    # events carry their call's headers
    assert [dict(e.headers) for e in events] == [dict(calls[t].headers) for t in tool_ids]
    assert {cid for cid, _ in tracer.ended} == set(calls)


BEFORE_RUN = {"lua": "return params.who", "js": "return params.who;", "tengo": "export params.who"}


@BOTH
async def test_spell_before_run_modifies_cancels_or_replaces_the_run(ext: str) -> None:
    async with open_runtime() as rt:
        reg = rt.system.hooks.register(
            HookPoint.SPELL_BEFORE_RUN, lambda params: {**params, "who": "hooked"}
        )
        modified = await run_source(BEFORE_RUN[ext], ext, runtime=rt, params={"who": "Ada"})
        reg.cancel()
        reg = rt.system.hooks.register(
            HookPoint.SPELL_BEFORE_RUN, lambda params: actors.Cancel("maintenance")
        )
        refused = await run_source(BEFORE_RUN[ext], ext, runtime=rt)
        reg.cancel()
        reg = rt.system.hooks.register(
            HookPoint.SPELL_BEFORE_RUN, lambda params: actors.Replace("cached")
        )
        failed: list[Any] = []
        rt.system.bus.subscribe("spell.failed", failed.append)
        replaced = await run_source("error('must not run')", "lua", runtime=rt)
        reg.cancel()
        await anyio.wait_all_tasks_blocked()
    assert modified.result.value == "hooked"
    assert refused.result.status == "error" and "maintenance" in (refused.result.error or "")
    assert replaced.result.ok and replaced.result.value == "cached"
    assert failed == []


HOOK_ORDER = {
    "lua": """
        hooks.register({beforeGenerate = function(ctx, req)
          req.messages[#req.messages].content = req.messages[#req.messages].content .. " script10"
          return req end}, {priority = 10})
        hooks.register({beforeGenerate = function(ctx, req)
          req.messages[#req.messages].content = req.messages[#req.messages].content .. " script0"
          return req end})
        return llm.complete("start").content
    """,
    "js": """
        hooks.register({beforeGenerate: (ctx, req) => {
          req.messages[req.messages.length - 1].content += " script10"; return req; }}, {priority: 10});
        hooks.register({beforeGenerate: (ctx, req) => {
          req.messages[req.messages.length - 1].content += " script0"; return req; }});
        return (await llm.complete("start")).content;
    """,
    "tengo": """
        hooks.register({beforeGenerate: func(ctx, req) {
          req.messages[len(req.messages) - 1].content += " script10"
          return req }}, {priority: 10})
        hooks.register({beforeGenerate: func(ctx, req) {
          req.messages[len(req.messages) - 1].content += " script0"
          return req }})
        export llm.complete("start").content
    """,
}


@BOTH
async def test_script_and_python_hooks_run_in_one_priority_order(ext: str) -> None:
    def tag(name: str) -> Any:
        def handler(req: dict[str, Any]) -> dict[str, Any]:
            req["messages"][-1]["content"] += f" {name}"
            return req

        return handler

    async with open_runtime() as rt:
        rt.system.hooks.register(HookPoint.LLM_BEFORE_GENERATE, tag("python20"), priority=20)
        rt.system.hooks.register(HookPoint.LLM_BEFORE_GENERATE, tag("python5"), priority=5)
        with OfflineScript() as script:
            ran = await run_source(HOOK_ORDER[ext], ext, runtime=rt)
    assert ran.result.ok, ran.result.error
    prompt = script.requests[0]["messages"][-1]["content"]
    assert prompt == "start python20 script10 python5 script0"


@BOTH
async def test_a_spells_hooks_never_see_another_runs_operations(ext: str) -> None:
    watcher = {
        "lua": """
            local n = 0
            hooks.register({beforeToolCall = function(ctx, tool, input) n = n + 1 end})
            events.wait("other.done", 5)
            return n
        """,
        "js": """
            let n = 0;
            hooks.register({beforeToolCall: (ctx, tool, input) => { n += 1; }});
            await events.wait("other.done", 5);
            return n;
        """,
        "tengo": """
            n := 0
            hooks.register({beforeToolCall: func(ctx, tool, input) { n += 1 }})
            events.wait("other.done", 5)
            export n
        """,
    }[ext]
    async with open_runtime() as rt, anyio.create_task_group() as tg:
        results: list[Any] = []

        async def watch() -> None:
            results.append(await run_source(watcher, ext, runtime=rt))

        tg.start_soon(watch)
        await anyio.wait_all_tasks_blocked()
        other = await run_source(
            'tools.calculator("1+1"); events.emit("other.done", {}); return 1', "lua", runtime=rt
        )
    assert other.result.ok
    assert results[0].result.value == 0
