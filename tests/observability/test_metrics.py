"""Metrics of operations and the spells' own ``metrics.*``, as Prometheus scrapes them."""

from __future__ import annotations

import pathlib
import threading
from typing import Any

import anyio
import anyio.to_thread
import httpx
import pytest

import actors
import observability
from llmspell import HookPoint, open_runtime
from observability import _catalogue, _series

from ..llmspell.spellkit import run_source
from .conftest import BOTH, InstantModel, observed
from .promtext import names, parse, scrape, value

pytestmark = pytest.mark.anyio

MODEL = "openai/gpt-4o-mini"
EXAMPLES = pathlib.Path(__file__).resolve().parents[2] / "spells"

WORK = """
local helper = llm.agent{name = "helper", tools = {"calculator"}}
helper:run("compute")
llm.complete("hi")
pcall(function() tools.calculator("1/") end)
return 1
"""


async def test_operations_are_counted_by_outcome_with_tokens_cost_and_latency() -> None:
    obs = observability.create_observer(metrics=True)
    model = InstantModel(cost=0.25).then([("calculator", {"expression": "6*7"})], "42")
    async with observed(obs, model) as rt:
        assert (await run_source(WORK, "lua", runtime=rt)).result.ok
        assert (await run_source('error("boom")', "lua", runtime=rt)).result.status == "error"
        reg = rt.system.hooks.register(
            HookPoint.LLM_BEFORE_GENERATE, lambda req: actors.Replace({"content": "cached"})
        )
        assert (await run_source('return llm.complete("x").content', "lua", runtime=rt)).result.ok
        reg.cancel()
        s = scrape(obs)
    assert value(s, "llmspell_runs_total", spell="spell", outcome="ok") == 2
    assert value(s, "llmspell_runs_total", spell="spell", outcome="error") == 1
    assert value(s, "llmspell_run_duration_seconds_count", spell="spell") == 3
    assert value(s, "llmspell_llm_requests_total", model=MODEL, outcome="ok") == 3
    assert value(s, "llmspell_llm_requests_total", model=MODEL, outcome="replaced") == 1
    assert value(s, "llmspell_llm_requests_total", model=MODEL, outcome="error") == 0
    assert value(s, "llmspell_llm_request_duration_seconds_count", model=MODEL) == 3
    assert value(s, "llmspell_llm_request_duration_seconds_bucket", model=MODEL, le="300.0") == 3
    assert value(s, "llmspell_llm_tokens_total", model=MODEL, type="input") == 21
    assert value(s, "llmspell_llm_tokens_total", model=MODEL, type="output") == 9
    assert value(s, "llmspell_llm_cost_usd_total", model=MODEL) == 0.75
    assert value(s, "llmspell_tool_calls_total", tool="calculator", outcome="ok") == 1
    assert value(s, "llmspell_tool_calls_total", tool="calculator", outcome="error") == 1
    assert value(s, "llmspell_agent_runs_total", agent="helper", outcome="ok") == 1


async def test_a_failed_llm_call_counts_as_an_error_of_its_model() -> None:
    class Down(InstantModel):
        async def complete(self, request: Any) -> Any:
            from llmspell import ProviderError

            raise ProviderError(request.model, "connection refused")

    obs = observability.create_observer(metrics=True)
    async with observed(obs, Down()) as rt:
        ran = await run_source('return llm.complete("hi")', "lua", runtime=rt)
        s = scrape(obs)
    assert ran.result.status == "error"
    assert value(s, "llmspell_llm_requests_total", model=MODEL, outcome="error") == 1
    assert value(s, "llmspell_llm_tokens_total", model=MODEL, type="input") == 0


SPELL_METRICS = {
    "lua": """
        metrics.inc("pages", {page = "home"})
        metrics.inc("pages", {page = "home"})
        metrics.inc("pages_total", {page = "about"})
        metrics.observe("latency", 0.3)
        metrics.set("queue", 7, {name = "q"})
        metrics.set("queue", 5, {name = "q"})
        metrics.record("tool_usage", {tool = "calc", duration = 0.2, success = true})
        local errors = {}
        for _, f in ipairs({
          function() metrics.observe("pages", 1) end,
          function() metrics.inc("pages", {other = "x"}) end,
          function() metrics.set("pages_total_x", 1); metrics.inc("pages_total_x") end,
          function() metrics.inc("bad name") end,
          function() metrics.inc("ok", {spell = "mine"}) end,
          function() metrics.observe("ok", 0/0) end,
          function() metrics.inc("ok", {x = {}}) end,
        }) do
          local ok, err = pcall(f)
          errors[#errors + 1] = ok and "no error" or tostring(err)
        end
        return errors
    """,
    "js": """
        metrics.inc("pages", {page: "home"});
        metrics.inc("pages", {page: "home"});
        metrics.inc("pages_total", {page: "about"});
        metrics.observe("latency", 0.3);
        metrics.set("queue", 7, {name: "q"});
        metrics.set("queue", 5, {name: "q"});
        metrics.record("tool_usage", {tool: "calc", duration: 0.2, success: true});
        const errors = [];
        for (const f of [
          () => metrics.observe("pages", 1),
          () => metrics.inc("pages", {other: "x"}),
          () => { metrics.set("pages_total_x", 1); return metrics.inc("pages_total_x"); },
          () => metrics.inc("bad name"),
          () => metrics.inc("ok", {spell: "mine"}),
          () => metrics.observe("ok", NaN),
          () => metrics.inc("ok", {x: {}}),
        ]) {
          try { await f(); errors.push("no error"); } catch (e) { errors.push(String(e)); }
        }
        return errors;
    """,
    "tengo": """
        math := import("math")
        metrics.inc("pages", {page: "home"})
        metrics.inc("pages", {page: "home"})
        metrics.inc("pages_total", {page: "about"})
        metrics.observe("latency", 0.3)
        metrics.set("queue", 7, {name: "q"})
        metrics.set("queue", 5, {name: "q"})
        metrics.record("tool_usage", {tool: "calc", duration: 0.2, success: true})
        errors := []
        for f in [
          func() { return metrics.observe("pages", 1) },
          func() { return metrics.inc("pages", {other: "x"}) },
          func() { metrics.set("pages_total_x", 1); return metrics.inc("pages_total_x") },
          func() { return metrics.inc("bad name") },
          func() { return metrics.inc("ok", {spell: "mine"}) },
          func() { return metrics.observe("ok", math.nan()) },
          func() { return metrics.inc("ok", {x: {}}) }
        ] {
          r := f()
          errors = append(errors, is_error(r) ? r.value : "no error")
        }
        export errors
    """,
}


@pytest.mark.parametrize("ext", ["lua", "js", "tengo"])
async def test_spells_make_their_own_metrics_and_get_clear_errors(ext: str) -> None:
    obs = observability.create_observer(metrics=True)
    async with observed(obs) as rt:
        ran = await run_source(SPELL_METRICS[ext], ext, runtime=rt)
        s = scrape(obs)
    assert ran.result.ok, ran.result.error
    errors = ran.result.value
    assert isinstance(errors, list) and len(errors) == 7
    expected = [
        "metrics.observe: parameter 'name' names metric 'pages', a counter (made by "
        "metrics.inc), not a histogram",
        "metrics.inc: parameter 'labels' must have the label names of metric 'pages': "
        "(page), not (other)",
        "metrics.inc: parameter 'name' names metric 'pages_total_x', a gauge (made by "
        "metrics.set), not a counter",
        "metrics.inc: parameter 'name' must be a metric name",
        "metrics.inc: parameter 'labels' uses the reserved label name 'spell'",
        "metrics.observe: parameter 'value' must be a finite number",
        "metrics.inc: parameter 'labels.x' must be a string, number or boolean",
    ]
    for got, want in zip(errors, expected, strict=True):
        assert want in got, (got, want)
    spell = {"spell": "spell"}
    assert value(s, "llmspell_spell_pages_total", **spell, page="home") == 2
    assert value(s, "llmspell_spell_pages_total", **spell, page="about") == 1
    assert value(s, "llmspell_spell_latency_count", **spell) == 1
    assert value(s, "llmspell_spell_latency_sum", **spell) == 0.3
    assert value(s, "llmspell_spell_queue", **spell, name="q") == 5
    assert value(s, "llmspell_spell_tool_usage_total", **spell, tool="calc", success="true") == 1
    labels = {**spell, "tool": "calc", "success": "true"}
    assert value(s, "llmspell_spell_tool_usage_duration_sum", **labels) == 0.2
    assert value(s, "llmspell_spell_tool_usage_duration_bucket", **labels, le="0.25") == 1
    assert value(s, "llmspell_spell_tool_usage_duration_bucket", **labels, le="0.1") == 0


CAPPED = """
for i = 1, 5 do
  local ok, err = pcall(metrics.inc, "users", {user = "u" .. i})
  if not ok then return {i, tostring(err)} end
end
return "no error"
"""


async def test_label_sets_and_metrics_are_capped_with_an_error_naming_the_metric() -> None:
    obs = observability.Observability(metrics=True, max_label_sets=3, max_spell_metrics=2)
    async with observed(obs) as rt:
        capped = await run_source(CAPPED, "lua", runtime=rt)
        more = await run_source(
            'metrics.set("a", 1); local ok, err = pcall(metrics.set, "b", 1); return err',
            "lua",
            runtime=rt,
        )
        s = scrape(obs)
    index, message = capped.result.value  # type: ignore[misc]
    assert index == 4
    assert (
        "metrics.inc: parameter 'labels' would give metric 'users' a label set beyond " in message
    )
    assert "limit of 3" in message
    assert sum(1 for name, _ in s if name == "llmspell_spell_users_total") == 3
    assert "spells already have 2 metrics (the limit is 2)" in str(more.result.value)
    assert "metric 'b'" in str(more.result.value)


async def test_with_observability_off_metric_calls_validate_and_do_nothing() -> None:
    async with open_runtime(provider=InstantModel()) as rt:
        good = await run_source(
            'metrics.inc("pages", {page = "home"}); return 1', "lua", runtime=rt
        )
        bad = await run_source('metrics.inc("pages", {page = {}})', "lua", runtime=rt)
    assert good.result.ok and good.result.value == 1
    assert bad.result.status == "error"
    assert "metrics.inc: parameter 'labels.page'" in (bad.result.error or "")


async def test_metrics_are_served_over_http_while_the_runtime_runs() -> None:
    obs = observability.create_observer(metrics=True)
    server = observability.serve_metrics(obs, 0)
    try:
        async with observed(obs) as rt:
            await run_source('llm.complete("hi")', "lua", runtime=rt)
            reply = await anyio.to_thread.run_sync(httpx.get, server.url)
    finally:
        await anyio.to_thread.run_sync(server.close)
    assert reply.status_code == 200
    assert reply.headers["content-type"].startswith("text/plain")
    s = parse(reply.text)
    assert value(s, "llmspell_llm_tokens_total", model=MODEL, type="input") == 7
    assert value(s, "llmspell_runs_total", spell="spell", outcome="ok") == 1
    assert "llmspell_actor_messages_total" in names(s)


async def test_a_scrape_from_another_thread_reads_on_the_event_loop(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen: list[int] = []
    original = observability.Observability._families

    def spy(self: observability.Observability) -> Any:
        seen.append(threading.get_ident())
        return original(self)

    def scrape_in_a_thread() -> tuple[bytes, int]:
        return obs.metrics_text(), threading.get_ident()

    monkeypatch.setattr(observability.Observability, "_families", spy)
    obs = observability.create_observer(metrics=True)
    async with observed(obs) as rt:
        await run_source("return 1", "lua", runtime=rt)
        text, worker = await anyio.to_thread.run_sync(scrape_in_a_thread)
    after, worker_after = await anyio.to_thread.run_sync(scrape_in_a_thread)
    loop = threading.get_ident()
    assert worker != loop
    # attached: the worker's scrape ran on the loop; detached: where the scrape runs
    assert seen == [loop, worker_after]
    assert "llmspell_actor_messages_total" in names(parse(text))
    assert "llmspell_actor_messages_total" not in names(parse(after))
    assert value(parse(after), "llmspell_runs_total", spell="spell", outcome="ok") == 1


def test_declared_families_cap_their_label_sets() -> None:
    family = _series.Family(_catalogue.TOOL_CALLS, cap=3)
    for i in range(10):
        family.cell(f"tool{i}", "ok").value += 1
    assert len(family.series) == 4
    assert family.series[("_other", "_other")].value == 7  # type: ignore[union-attr]


def test_every_declared_metric_follows_the_prometheus_conventions() -> None:
    seen = set()
    for spec in observability.METRICS:
        assert spec.name.startswith("llmspell_") and spec.name not in seen
        assert not spec.name.startswith(observability.SPELL_METRIC_PREFIX)
        seen.add(spec.name)
        if spec.kind == "counter":
            assert spec.name.endswith("_total"), spec.name
        else:
            assert not spec.name.endswith("_total"), spec.name
        if "duration" in spec.name:
            assert spec.kind == "histogram" and spec.name.endswith("_seconds")
            assert spec.buckets[-1] >= 300
    assert _catalogue.LLM_DURATION.buckets[-1] == 300.0


@BOTH
async def test_the_example_spell_records_tool_usage_from_events(ext: str) -> None:
    obs = observability.create_observer(metrics=True, keep_spans=True)
    model = InstantModel().then([("calculator", {"expression": "6*7"})], "It is 42.")
    async with observed(obs, model) as rt:
        ran = await rt.run(EXAMPLES / f"observed.{ext}")
        s = scrape(obs)
    assert ran.ok and ran.value == "It is 42.", ran.error
    usage = {"spell": "observed", "tool": "calculator", "success": "true"}
    assert value(s, "llmspell_spell_tool_usage_total", **usage) == 1
    assert value(s, "llmspell_spell_tool_usage_duration_count", **usage) == 1
    assert value(s, "llmspell_spell_answers_total", spell="observed", agent="helper") == 1
    assert value(s, "llmspell_spell_answer_length", spell="observed") == len("It is 42.")
    assert sorted(span.name for span in obs.spans()) == [
        "chat gpt-4o-mini",
        "chat gpt-4o-mini",
        "execute_tool calculator",
        "invoke_agent helper",
        "run_spell observed",
    ]
