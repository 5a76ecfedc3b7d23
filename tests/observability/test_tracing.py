"""Spans: one trace per run, the GenAI conventions, parents across actors, events and agents."""

from __future__ import annotations

import json
from typing import Any

import anyio
import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

import actors
import observability
from observability import _genai, _opmetrics, _spans

from ..llmspell.spellkit import run_source
from .conftest import BOTH, InstantModel, by_name, observed, one
from .promtext import scrape, value

MODEL = "openai/gpt-4o-mini"

pytestmark = pytest.mark.anyio

AGENT_AND_EVENTS = {
    "lua": """
        tools.register{name = "announce", description = "emits probe.x",
          handler = function(args) events.emit("probe.x", {}) return "announced" end}
        events.on("probe.*", function(event, topic) tools.calculator("1+1") end)
        local helper = llm.agent{name = "helper", tools = {"calculator"}}
        local answer = helper:run("compute")
        llm.complete{prompt = "hi", temperature = 0.5, max_tokens = 20}
        tools.announce({})
        return answer
    """,
    "js": """
        tools.register({name: "announce", description: "emits probe.x",
          handler: async (args) => { await events.emit("probe.x", {}); return "announced"; }});
        events.on("probe.*", async (event, topic) => { await tools.calculator("1+1"); });
        const helper = await llm.agent({name: "helper", tools: ["calculator"]});
        const answer = await helper.run("compute");
        await llm.complete({prompt: "hi", temperature: 0.5, max_tokens: 20});
        await tools.announce({});
        return answer;
    """,
    "tengo": """
        tools.register({name: "announce", description: "emits probe.x",
          handler: func(args) { events.emit("probe.x", {}); return "announced" }})
        events.on("probe.*", func(event, topic) { tools.calculator("1+1") })
        helper := llm.agent({name: "helper", tools: ["calculator"]})
        answer := helper.run("compute")
        llm.complete({prompt: "hi", temperature: 0.5, max_tokens: 20})
        tools.announce({})
        export answer
    """,
}


async def _traced_run(ext: str) -> tuple[list[observability.SpanRecord], list[actors.Event]]:
    obs = observability.create_observer(keep_spans=True)
    model = InstantModel().then([("calculator", {"expression": "6*7"})], "42")
    events: list[actors.Event] = []
    async with observed(obs, model) as rt:
        rt.system.bus.subscribe("llm.response", events.append)
        ran = await run_source(AGENT_AND_EVENTS[ext], ext, runtime=rt)
        await anyio.wait_all_tasks_blocked()
    assert ran.result.ok, ran.result.error
    return obs.spans(), events


@BOTH
async def test_one_trace_per_run_with_each_call_under_the_call_that_made_it(ext: str) -> None:
    spans, events = await _traced_run(ext)
    assert len({s.trace_id for s in spans}) == 1
    root = one(spans, "run_spell spell")
    assert root.parent_id is None
    agent = one(spans, "invoke_agent helper")
    assert agent.parent_id == root.span_id
    chats = by_name(spans, "chat gpt-4o-mini")
    assert sorted(c.parent_id == agent.span_id for c in chats) == [False, True, True]
    assert one(spans, "execute_tool announce").parent_id == root.span_id
    # the agent's tool call runs in a tool actor: the context crossed in the envelope
    assert agent.span_id in {s.parent_id for s in by_name(spans, "execute_tool calculator")}
    # an operation's events carry its span's context (each one a chat's; a span's recorded end
    # need not follow the order of the events: compare as sets)
    assert sorted(
        observability.parse_traceparent(e.headers["traceparent"]) for e in events
    ) == sorted((c.trace_id, c.span_id, True) for c in chats)


@BOTH
async def test_an_event_handler_runs_under_the_call_that_emitted_the_event(ext: str) -> None:
    spans, _ = await _traced_run(ext)
    announce = one(spans, "execute_tool announce")
    agent = one(spans, "invoke_agent helper")
    parents = sorted(s.parent_id or "" for s in by_name(spans, "execute_tool calculator"))
    assert parents == sorted([agent.span_id, announce.span_id])


JS_CALLBACKS = """
    tools.register({name: "research", description: "asks, computes, delegates, announces",
      handler: async (args) => {
        const later = async () => { await tools.calculator("2+2"); return llm.complete("b"); };
        const pending = later();  // an async function the handler started: still the handler's
        await llm.complete("a");
        await pending;
        const inner = await llm.agent({name: "inner"});
        await inner.run("q");  // a nested agent
        await events.emit("probe.x", {});
        return "researched";
      }});
    events.on("probe.*", async (event) => {
      await tools.calculator("1+1");
      await tools.calculator("3+3");  // resumed after an await: still the handler's
    });
    const boss = await llm.agent({name: "boss", tools: ["research"]});
    const answer = await boss.run("go");
    await Promise.all([tools.research({}), tools.calculator("5+5")]);
    await tools.calculator("6+6");
    return answer;
"""


async def test_js_callbacks_make_their_calls_under_the_call_that_invoked_them() -> None:
    obs = observability.create_observer(keep_spans=True)
    async with observed(obs, InstantModel().then([("research", {})])) as rt:
        ran = await run_source(JS_CALLBACKS, "js", runtime=rt)
        await anyio.wait_all_tasks_blocked()
    assert ran.result.ok, ran.result.error
    spans = obs.spans()
    assert len({s.trace_id for s in spans}) == 1

    def children(parent: observability.SpanRecord) -> list[str]:
        return sorted(s.name for s in spans if s.parent_id == parent.span_id)

    root, boss = one(spans, "run_spell spell"), one(spans, "invoke_agent boss")
    assert children(root) == [
        "execute_tool calculator",
        "execute_tool calculator",
        "execute_tool research",
        "invoke_agent boss",
    ]
    assert children(boss) == ["chat gpt-4o-mini", "chat gpt-4o-mini", "execute_tool research"]
    # the agent's call (in a tool actor) and the spell's own, running beside its other calls
    researches = by_name(spans, "execute_tool research")
    assert sorted(r.parent_id for r in researches) == sorted([boss.span_id, root.span_id])
    for research in researches:
        assert children(research) == [
            "chat gpt-4o-mini",
            "chat gpt-4o-mini",
            "execute_tool calculator",
            "execute_tool calculator",  # the event handler's two, under the emitting call
            "execute_tool calculator",
            "invoke_agent inner",
        ]
    for inner in by_name(spans, "invoke_agent inner"):
        assert children(inner) == ["chat gpt-4o-mini"]


@BOTH
async def test_llm_spans_follow_the_genai_conventions(ext: str) -> None:
    obs = observability.create_observer(keep_spans=True)
    spell = {
        "lua": 'return llm.complete{prompt = "hi", temperature = 0.5, max_tokens = 20}.content',
        "js": 'return (await llm.complete({prompt: "hi", temperature: 0.5, max_tokens: 20})).content;',
        "tengo": 'export llm.complete({prompt: "hi", temperature: 0.5, max_tokens: 20}).content',
    }
    async with observed(obs, InstantModel(cost=0.25).then("hello")) as rt:
        ran = await run_source(spell[ext], ext, runtime=rt)
    assert ran.result.value == "hello"
    chat = one(obs.spans(), "chat gpt-4o-mini")
    assert chat.kind == "client" and chat.error is None
    assert chat.attributes == {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "gpt-4o-mini",
        "gen_ai.response.model": "gpt-4o-mini",
        "gen_ai.request.temperature": 0.5,
        "gen_ai.request.max_tokens": 20,
        "gen_ai.usage.input_tokens": 7,
        "gen_ai.usage.output_tokens": 3,
        "gen_ai.response.finish_reasons": ("stop",),
        "llmspell.cost_usd": 0.25,
        "llmspell.call.id": chat.attributes["llmspell.call.id"],
    }
    assert chat.attributes["llmspell.call.id"].startswith(ran.result.run_id + ".")
    root = one(obs.spans(), "run_spell spell")
    assert root.attributes["llmspell.run.id"] == ran.result.run_id
    assert root.attributes["llmspell.usage.llm_calls"] == 1
    assert root.start <= chat.start <= chat.end <= root.end


async def test_parallel_tool_calls_and_nested_agents_nest_correctly() -> None:
    spell = """
        local inner = llm.agent{name = "inner"}
        local outer = llm.agent{name = "outer", tools = {inner, "calculator"}}
        parallel(function() return tools.calculator("1+1") end,
                 function() return tools.calculator("2+2") end)
        return outer:run("go")
    """
    model = InstantModel().then(
        [("inner", {"input": "q"}), ("calculator", {"expression": "3*3"})],
        "inner answer",
        "final",
    )
    obs = observability.create_observer(keep_spans=True)
    async with observed(obs, model) as rt:
        ran = await run_source(spell, "lua", runtime=rt)
    assert ran.result.value == "final", ran.result.error
    spans = obs.spans()
    root = one(spans, "run_spell spell")
    outer, inner = one(spans, "invoke_agent outer"), one(spans, "invoke_agent inner")
    assert outer.parent_id == root.span_id
    assert inner.parent_id == outer.span_id  # an agent used as a tool runs under its caller
    calcs = by_name(spans, "execute_tool calculator")
    assert sorted(c.parent_id == root.span_id for c in calcs) == [False, True, True]
    assert [c.parent_id for c in calcs if c.parent_id != root.span_id] == [outer.span_id]
    assert [c.parent_id for c in by_name(spans, "chat gpt-4o-mini")].count(outer.span_id) == 2
    assert inner.attributes["llmspell.agent.steps"] == 1
    assert [c.parent_id for c in by_name(spans, "chat gpt-4o-mini")].count(inner.span_id) == 1


async def test_errors_are_recorded_with_their_type() -> None:
    spell = 'pcall(function() tools.calculator("1/") end); error("boom")'
    obs = observability.create_observer(keep_spans=True)
    async with observed(obs) as rt:
        ran = await run_source(spell, "lua", runtime=rt)
    assert ran.result.status == "error"
    tool = one(obs.spans(), "execute_tool calculator")
    assert tool.error is not None and "invalid expression" in tool.error
    assert tool.error_type == "ToolError" and tool.attributes["error.type"] == "ToolError"
    root = one(obs.spans(), "run_spell spell")
    assert root.error is not None and "boom" in root.error
    assert root.attributes["llmspell.outcome"] == "error"


async def test_a_run_nests_under_the_trace_context_it_is_given() -> None:
    trace_id, parent = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
    obs = observability.create_observer(keep_spans=True)
    async with observed(obs) as rt:
        await run_source(
            'return llm.complete("hi").content',
            "lua",
            runtime=rt,
            headers={"traceparent": f"00-{trace_id}-{parent}-01", "tracestate": "vendor=1"},
        )
        sampled_out = await run_source(
            'return llm.complete("hi").content',
            "lua",
            runtime=rt,
            headers={"traceparent": f"00-{trace_id}-{parent}-00"},
        )
    spans = obs.spans()
    assert {s.trace_id for s in spans} == {trace_id}
    root = one(spans, "run_spell spell")
    assert root.parent_id == parent and root.tracestate == "vendor=1"
    assert one(spans, "chat gpt-4o-mini").tracestate == "vendor=1"
    assert sampled_out.result.ok and len(spans) == 2  # a parent not sampled: nothing recorded


@pytest.mark.parametrize("how", ["argument", "environment"])
async def test_content_is_captured_only_when_asked(
    how: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    spell = """
        local helper = llm.agent{name = "helper", tools = {"calculator"}}
        return helper:run("what is 6*7?")
    """
    model = lambda: InstantModel().then([("calculator", {"expression": "6*7"})], "42")  # noqa: E731
    plain = observability.create_observer(keep_spans=True)
    async with observed(plain, model()) as rt:
        await run_source(spell, "lua", runtime=rt)
    assert not any(
        key.startswith(("gen_ai.input", "gen_ai.output", "gen_ai.tool.call"))
        for span in plain.spans()
        for key in span.attributes
    )
    if how == "environment":
        monkeypatch.setenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "true")
        obs = observability.create_observer(keep_spans=True)
    else:
        obs = observability.create_observer(keep_spans=True, capture_content=True)
    async with observed(obs, model()) as rt:
        await run_source(spell, "lua", runtime=rt)
    chats = sorted(by_name(obs.spans(), "chat gpt-4o-mini"), key=lambda s: s.start)
    first_in = json.loads(chats[0].attributes["gen_ai.input.messages"])
    assert first_in == [{"role": "user", "parts": [{"type": "text", "content": "what is 6*7?"}]}]
    first_out = json.loads(chats[0].attributes["gen_ai.output.messages"])
    assert first_out[0]["parts"][0]["type"] == "tool_call"
    assert first_out[0]["parts"][0]["name"] == "calculator"
    second_in = json.loads(chats[1].attributes["gen_ai.input.messages"])
    assert second_in[-1]["parts"][0]["type"] == "tool_call_response"
    tool = one(obs.spans(), "execute_tool calculator")
    assert json.loads(tool.attributes["gen_ai.tool.call.arguments"]) == {"expression": "6*7"}
    assert json.loads(tool.attributes["gen_ai.tool.call.result"]) == 42


async def test_a_failing_observer_never_changes_the_operation(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def broken(*args: Any) -> None:
        raise RuntimeError("observer bug")

    spell = 'return llm.complete("hi").content'
    monkeypatch.setattr(_spans, "MappingProxyType", broken)  # every span start fails
    untraced = observability.create_observer(keep_spans=True)
    async with observed(untraced, InstantModel().then("fine")) as rt:
        first = await run_source(spell, "lua", runtime=rt)
    monkeypatch.undo()
    monkeypatch.setattr(_opmetrics.OperationMetrics, "_model", broken)  # counting LLM calls fails
    monkeypatch.setitem(_genai._DESCRIBE, "llm", broken)  # and so does naming their spans
    obs = observability.create_observer(keep_spans=True, metrics=True)
    async with observed(obs, InstantModel().then("fine")) as rt:
        second = await run_source(spell, "lua", runtime=rt)
        samples = scrape(obs)
    assert first.result.value == second.result.value == "fine"
    assert untraced.spans() == []
    assert sorted(s.name for s in obs.spans()) == ["llm", "run_spell spell"]
    assert value(samples, "llmspell_runs_total", spell="spell", outcome="ok") == 1
    assert value(samples, "llmspell_llm_requests_total", model=MODEL, outcome="ok") is None


async def test_exporters_get_sdk_spans_with_parents_kinds_status_and_resource(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OTEL_SERVICE_NAME", "spells-prod")
    monkeypatch.setenv("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment=test")
    exporter = InMemorySpanExporter()
    obs = observability.Observability(exporters=[exporter], background_export=False)
    spell = 'llm.complete("hi"); pcall(function() tools.calculator("1/") end); return 1'
    async with observed(obs) as rt:
        ran = await run_source(spell, "lua", runtime=rt)
    assert ran.result.ok
    assert exporter.get_finished_spans() == ()  # nothing leaves before a flush here
    obs.flush()
    spans = {s.name: s for s in exporter.get_finished_spans()}
    assert set(spans) == {"run_spell spell", "chat gpt-4o-mini", "execute_tool calculator"}
    root, chat, tool = (
        spans["run_spell spell"],
        spans["chat gpt-4o-mini"],
        spans["execute_tool calculator"],
    )
    assert root.parent is None
    assert chat.parent is not None and chat.parent.span_id == root.context.span_id
    assert chat.context.trace_id == root.context.trace_id
    assert chat.kind is SpanKind.CLIENT and tool.kind is SpanKind.INTERNAL
    assert chat.attributes is not None and chat.attributes["gen_ai.usage.input_tokens"] == 7
    assert tool.status.status_code is StatusCode.ERROR
    assert tool.events[0].name == "exception"
    assert chat.status.status_code is StatusCode.UNSET
    assert root.resource.attributes["service.name"] == "spells-prod"
    assert root.resource.attributes["deployment.environment"] == "test"
    assert root.instrumentation_scope is not None
    assert root.instrumentation_scope.name == "llmspell"
    obs.close()


def test_traceparent_parsing_refuses_what_w3c_refuses() -> None:
    good = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    assert observability.parse_traceparent(good) == (
        "4bf92f3577b34da6a3ce929d0e0e4736",
        "00f067aa0ba902b7",
        True,
    )
    for bad in (
        "",
        good.upper(),
        "ff" + good[2:],
        good.replace("4bf92f3577b34da6a3ce929d0e0e4736", "0" * 32),
        good.replace("00f067aa0ba902b7", "0" * 16),
        good + "-extra",
        good[:-1],
    ):
        assert observability.parse_traceparent(bad) is None, bad
