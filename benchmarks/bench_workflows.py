"""Workflow benchmarks: durable checkpoints vs raw commits, in-memory steps, parallel fan-out.

* **durable sequential**: a Lua spell running a 100-step sequential workflow of trivial
  function steps (each step passes the hooks and events, and is checkpointed in the state
  database before the next starts), against 100 one-row ``BEGIN IMMEDIATE`` commits made by
  hand through aiosqlite on a database with the same pragmas (WAL, ``synchronous=NORMAL``) —
  the cost of the checkpoints alone. Target: at most 1.5x. The spell's start-up is included.
* **in-memory sequential**: the same workflow with ``state=":memory:"`` (checkpoints in the
  process), against a budget of 0.2 ms a step (20 ms for 100): a fixed budget, said plainly.
* **parallel fan-out**: 50 branches, each a function step calling ``llm.complete`` on a fake
  model that answers after 100 ms, ``max_concurrency = 10``, against the ideal
  ``ceil(50 / 10) x 100 ms``. Target: at most 1.3x.

Best of :data:`ROUNDS` for each, interleaved. Run: ``python -m benchmarks workflows``.
"""

from __future__ import annotations

import gc
import math
import pathlib
import tempfile
import time
import uuid
from typing import Any

import anyio

from ._harness import Record, compare

STEPS = 100
ROUNDS = 7
BRANCHES = 50
CONCURRENCY = 10
LATENCY = 0.1
STEP_BUDGET_MS = 0.2

SEQUENTIAL = f"""
local wf = workflow.create{{name = "bench"}}
for i = 1, {STEPS} do
  wf:addStep{{name = "s" .. i, fn = function(input, outputs) return i end}}
end
local r = wf:run({{}}, {{id = params.id}})
assert(r.status == "completed", r.error)
return r.output
"""

PARALLEL = f"""
local wf = workflow.create{{name = "fan", type = "parallel", max_concurrency = {CONCURRENCY}}}
for i = 1, {BRANCHES} do
  wf:addStep{{name = "b" .. i, fn = function() return llm.complete("hi").content end}}
end
local r = wf:run({{}}, {{id = params.id}})
assert(r.status == "completed", r.error)
return #r.output
"""


def _quiet(level: str, message: str, fields: dict[str, Any]) -> None:
    pass


async def _raw_commits(path: pathlib.Path) -> float:
    """100 one-row BEGIN IMMEDIATE commits through aiosqlite, same pragmas: seconds."""
    import aiosqlite

    async with aiosqlite.connect(path, isolation_level=None) as db:
        await db.execute("PRAGMA journal_mode = WAL")
        await db.execute("PRAGMA synchronous = NORMAL")
        await db.execute(
            "CREATE TABLE IF NOT EXISTS steps (run_id TEXT, position TEXT, name TEXT, "
            "output TEXT, PRIMARY KEY (run_id, position)) WITHOUT ROWID"
        )
        run_id = uuid.uuid4().hex
        gc.collect()
        start = time.perf_counter()
        for i in range(STEPS):
            await db.execute("BEGIN IMMEDIATE")
            await db.execute(
                "INSERT INTO steps VALUES (?, ?, ?, ?)", (run_id, str(i), f"s{i}", str(i))
            )
            await db.execute("COMMIT")
        return time.perf_counter() - start


class _SlowModel:
    """A provider answering every call after LATENCY seconds (the fake LLM)."""

    def __new__(cls) -> Any:
        from llmspell.providers import LLMResponse, Provider, Usage

        class Slow(Provider):
            async def complete(self, request: Any) -> Any:
                await anyio.sleep(LATENCY)
                return LLMResponse(
                    content="ok",
                    role="assistant",
                    model=request.model,
                    tool_calls=[],
                    usage=Usage(1, 1, 2),
                    finish_reason="stop",
                )

        return Slow(default_model="fake/slow")


async def _spell(rt: Any, source: str) -> float:
    from llmspell._runtime import SpellSource

    spell = SpellSource(source, "bench.lua")
    gc.collect()
    start = time.perf_counter()
    result = await rt.run(spell, params={"id": uuid.uuid4().hex}, log=_quiet)
    elapsed = time.perf_counter() - start
    assert result.ok, result.error
    return elapsed


async def _measure(directory: pathlib.Path) -> dict[str, float]:
    from llmspell import open_runtime

    times: dict[str, list[float]] = {}
    async with (
        open_runtime(state=directory / "durable.db") as durable,
        open_runtime(state=":memory:") as memory,
        open_runtime(state=":memory:", provider=_SlowModel()) as parallel,
    ):
        for rt in (durable, memory):  # warm-up: the engine, the store's connection
            await _spell(rt, SEQUENTIAL)
        await _raw_commits(directory / "raw.db")
        for _ in range(ROUNDS):
            times.setdefault("raw", []).append(await _raw_commits(directory / "raw.db"))
            times.setdefault("durable", []).append(await _spell(durable, SEQUENTIAL))
            times.setdefault("memory", []).append(await _spell(memory, SEQUENTIAL))
        for _ in range(3):
            times.setdefault("parallel", []).append(await _spell(parallel, PARALLEL))
    return {name: min(values) for name, values in times.items()}


def run() -> list[Record]:
    with tempfile.TemporaryDirectory(prefix="llmspell-bench-workflows-") as directory:
        best = anyio.run(_measure, pathlib.Path(directory))
    ms = {name: seconds * 1000 for name, seconds in best.items()}
    ideal = math.ceil(BRANCHES / CONCURRENCY) * LATENCY * 1000
    return [
        compare(
            f"{STEPS}-step durable workflow (Lua spell)",
            ms["durable"],
            "ms",
            baseline=f"{STEPS} raw aiosqlite commits",
            baseline_value=ms["raw"],
            target=1 / 1.5,
            lower_is_better=True,
        ),
        compare(
            f"{STEPS}-step workflow, state :memory:",
            ms["memory"],
            "ms",
            baseline=f"budget {STEP_BUDGET_MS} ms/step",
            baseline_value=STEPS * STEP_BUDGET_MS,
            target=1.0,
            lower_is_better=True,
        ),
        compare(
            f"parallel workflow, {BRANCHES} x {LATENCY * 1000:.0f} ms LLM, max {CONCURRENCY}",
            ms["parallel"],
            "ms",
            baseline="ms ideal ceil(n/max) x latency",
            baseline_value=ideal,
            target=1 / 1.3,
            lower_is_better=True,
        ),
    ]
