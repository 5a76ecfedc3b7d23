"""Observability overhead: a Lua spell making 1,000 calls to an instant model, on and off.

The model is a :class:`~llmspell.providers.Provider` answering at once (no litellm, no HTTP),
so every microsecond measured is llmspell's own: an LLM call through the runtime costs a few
tens of µs here, and the observer's share of that is what the targets bound.

* metrics on (``create_observer(metrics=True)``) vs off: target ≤ 1.05x;
* tracing and metrics on vs off: target ≤ 1.25x. Spans are kept in memory for the tree, as
  ``llmspell run --trace`` does; turning them into SDK spans and exporting them happens after
  the run or in the export thread, and is measured on its own (below);
* off vs a build where ``observability`` was never imported, each in a fresh subprocess:
  target ≤ 1.02x;
* span creation per LLM call (the tracer's ``start`` + ``end`` on real calls: ids, context,
  timestamps, µs) and span export per span (naming it and deriving its attributes, records →
  SDK spans → OTLP protobuf → HTTP POST to a loopback sink, µs), reported;
* tracing + metrics + OTLP export running in its thread during the runs, reported.

Each variant has its own runtime, warmed up; the timed runs of all variants are interleaved,
round after round, and each variant's best run counts. On a loaded machine the best runs of
two variants may come from different moments; the "round median" rows compare each run
with the ``off`` run of its own round and take the median of those ratios, which holds still
under load where the best runs do not. Runs are timed in process CPU time: the
machine is shared, and time spent preempted by other processes is not a cost of observability
(on an idle machine CPU and wall time agree; the export thread's CPU counts too). Run:
``python -m benchmarks observability``.
"""

from __future__ import annotations

import gc
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from ._harness import Record, compare

CALLS = 1_000
ROUNDS = 40
CHILD_ROUNDS = 40
CHILD_PAIRS = 3
MODEL = "openai/gpt-4o-mini"
CLOCK = time.process_time
SPELL = f"""
for i = 1, {CALLS} do
  local r = llm.complete("Say hello.")
end
return {CALLS}
"""


def _instant_provider() -> Any:
    from llmspell.providers import LLMResponse, Provider, Usage

    class Instant(Provider):
        """Stands in for the LLM server: answers at once."""

        async def complete(self, request: Any) -> Any:
            usage = Usage(5, 2, 7)
            return LLMResponse("hello", "assistant", request.model, [], usage, "stop", 1e-5)

    return Instant(default_model=MODEL)


async def _best_runs(observers: dict[str, Callable[[], Any]], rounds: int) -> dict[str, float]:
    """Best time of one spell run per variant, runs interleaved round by round."""
    return {name: min(times) for name, times in (await _runs(observers, rounds)).items()}


async def _runs(observers: dict[str, Callable[[], Any]], rounds: int) -> dict[str, list[float]]:
    """Time of each spell run per variant (round by round), runs interleaved."""
    from contextlib import AsyncExitStack

    from llmspell import SpellSource, open_runtime

    spell = SpellSource(SPELL, "bench.lua")
    times: dict[str, list[float]] = {name: [] for name in observers}
    async with AsyncExitStack() as stack:
        runtimes = {}
        for name, make in observers.items():
            obs = make()
            rt = await stack.enter_async_context(
                open_runtime(provider=_instant_provider(), observability=obs)
            )
            runtimes[name] = (rt, obs)
            assert (await rt.run(spell)).ok  # warm up: pools, caches, first allocations
        for i in range(rounds):
            order = list(runtimes.items())
            order = order[i % len(order) :] + order[: i % len(order)]
            for name, (rt, obs) in order:
                gc.collect()
                start = CLOCK()
                result = await rt.run(spell)
                elapsed = CLOCK() - start
                assert result.ok, result.error
                times[name].append(elapsed)
                if obs is not None:
                    obs.take_spans()  # one run's spans at a time, as under `llmspell run`
    return times


def _median_ratio(times: dict[str, list[float]], name: str) -> float:
    """The median over rounds of ``name``'s run time over the ``off`` run of the same round."""
    return statistics.median(on / off for on, off in zip(times[name], times["off"], strict=True))


class _Sink(BaseHTTPRequestHandler):
    """An OTLP/HTTP endpoint that reads the request and answers 200 (decodes nothing)."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


def _otlp_sink() -> tuple[str, Callable[[], None]]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Sink)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()

    def stop() -> None:
        server.shutdown()
        server.server_close()

    return f"http://127.0.0.1:{server.server_address[1]}/v1/traces", stop


async def _span_costs() -> tuple[float, float, int]:
    """(µs to create one LLM call's span, µs to export one span, spans exported)."""
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    import observability
    from llmspell import SpellSource, open_runtime
    from observability._export import BatchExport
    from observability._spans import Tracer

    calls: list[Any] = []

    class Capture:
        def start(self, call: Any) -> None:
            pass

        def end(self, call: Any, error: Any) -> None:
            calls.append(call)

    async with open_runtime(provider=_instant_provider(), observability=Capture()) as rt:
        assert (await rt.run(SpellSource(SPELL, "bench.lua"))).ok
    llm_calls = [c for c in calls if c.kind.name == "llm"]
    kept: list[Any] = []
    tracer = Tracer(kept.append, capture_content=False)
    create = float("inf")
    for _ in range(7):
        kept.clear()
        start = time.process_time()
        for call in llm_calls:
            headers = call.headers
            tracer.start(call)
            tracer.end(call, None)
            call.headers = headers
        create = min(create, (time.process_time() - start) / len(llm_calls))

    traced = observability.create_observer(keep_spans=True)
    async with open_runtime(provider=_instant_provider(), observability=traced) as rt:
        assert (await rt.run(SpellSource(SPELL, "bench.lua"))).ok
    records = traced.take_spans()
    url, stop = _otlp_sink()
    export = float("inf")
    try:
        exporter = OTLPSpanExporter(endpoint=url)
        for _ in range(5):
            batch = BatchExport([exporter], background=False)
            for record in records:
                batch.add(record)
            start = time.perf_counter()
            batch.flush()
            export = min(export, (time.perf_counter() - start) / len(records))
        exporter.shutdown()
    finally:
        stop()
    return create * 1e6, export * 1e6, len(records)


async def _export_in_background() -> dict[str, float]:
    """Tracing with OTLP export in its thread while the runs go on, vs off."""
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    import observability

    url, stop = _otlp_sink()
    exporters: list[Any] = []

    def exporting() -> Any:
        obs = observability.Observability(metrics=True, exporters=[OTLPSpanExporter(endpoint=url)])
        exporters.append(obs)
        return obs

    try:
        return await _best_runs({"off": lambda: None, "exporting": exporting}, ROUNDS // 2)
    finally:
        for obs in exporters:
            obs.close()
        stop()


# -- off vs never imported: fresh subprocesses -------------------------------------------------

CHILD = "benchmarks.bench_observability"


def _child(import_observability: bool) -> None:
    """In a fresh process: the best of CHILD_ROUNDS runs with no observer, as JSON."""
    import anyio

    if import_observability:
        import observability  # noqa: F401 - imported, and off

    async def main() -> float:
        best = await _best_runs({"off": lambda: None}, CHILD_ROUNDS)
        return best["off"]

    best = anyio.run(main)
    loaded = "observability" in sys.modules
    print(json.dumps({"best": best, "observability_loaded": loaded}))


def _subprocess_best(import_observability: bool) -> float:
    flag = "--import" if import_observability else "--no-import"
    done = subprocess.run(
        [sys.executable, "-m", CHILD, flag],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True"},
    )
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["observability_loaded"] is import_observability, report
    return float(report["best"])


def _off_vs_never_imported() -> tuple[float, float]:
    never, off = float("inf"), float("inf")
    for _ in range(CHILD_PAIRS):
        never = min(never, _subprocess_best(False))
        off = min(off, _subprocess_best(True))
    return off, never


# -- the suite -------------------------------------------------------------------------------


def run() -> list[Record]:
    import anyio

    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

    def metrics() -> Any:
        import observability

        return observability.create_observer(metrics=True)

    def traced() -> Any:
        import observability

        return observability.create_observer(metrics=True, keep_spans=True)

    off_imported, never_imported = _off_vs_never_imported()
    times = anyio.run(_runs, {"off": lambda: None, "metrics": metrics, "both": traced}, ROUNDS)
    best = {name: min(runs) for name, runs in times.items()}
    create, export, spans = anyio.run(_span_costs)
    background = anyio.run(_export_in_background)
    per_call = best["off"] / CALLS * 1e6
    ms = 1e3
    return [
        compare(
            f"{CALLS:,} LLM calls: metrics on",
            best["metrics"] * ms,
            "ms",
            baseline="ms off",
            baseline_value=best["off"] * ms,
            target=1 / 1.05,
            lower_is_better=True,
        ),
        compare(
            f"{CALLS:,} LLM calls: tracing + metrics on",
            best["both"] * ms,
            "ms",
            baseline="ms off",
            baseline_value=best["off"] * ms,
            target=1 / 1.25,
            lower_is_better=True,
        ),
        compare(
            f"{CALLS:,} LLM calls: metrics, round median",
            _median_ratio(times, "metrics"),
            "x off",
            baseline="x (same round)",
            baseline_value=1.0,
            target=1 / 1.05,
            lower_is_better=True,
        ),
        compare(
            f"{CALLS:,} LLM calls: tracing+metrics, round median",
            _median_ratio(times, "both"),
            "x off",
            baseline="x (same round)",
            baseline_value=1.0,
            target=1 / 1.25,
            lower_is_better=True,
        ),
        compare(
            f"{CALLS:,} LLM calls: off (subprocess)",
            off_imported * ms,
            "ms",
            baseline="ms never imported",
            baseline_value=never_imported * ms,
            target=1 / 1.02,
            lower_is_better=True,
        ),
        compare(
            "span creation per LLM call (on the call's path)",
            create,
            "µs",
            baseline="µs per call, off",
            baseline_value=per_call,
            target=None,
            lower_is_better=True,
        ),
        compare(
            f"span export per span (attrs+SDK+OTLP/HTTP, {spans:,})",
            export,
            "µs",
            baseline="µs per call, off",
            baseline_value=per_call,
            target=None,
            lower_is_better=True,
        ),
        compare(
            f"{CALLS:,} LLM calls: + OTLP export in background",
            background["exporting"] * ms,
            "ms",
            baseline="ms off",
            baseline_value=background["off"] * ms,
            target=None,
            lower_is_better=True,
        ),
    ]


if __name__ == "__main__":
    _child(sys.argv[1:] == ["--import"])
