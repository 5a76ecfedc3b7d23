"""Ending a run from outside: ``Runtime.interrupt`` (what Ctrl-C calls; safe from any thread,
as a signal handler is) reaches a script that computes, and ``Runtime.stop`` (a daemon dropping
a run) one that waits, so that it ends as stopped."""

from __future__ import annotations

import threading

import anyio
import pytest

from llmspell import Limits, open_runtime
from llmspell._runtime import RunResult, SpellSource

pytestmark = pytest.mark.anyio

LIMITS = Limits(cpu_seconds=60.0, timeout_seconds=120.0)
COMPUTING = {
    "js": 'console.log("ready"); let x = 0; while (true) { x++; }',
    "lua": 'print("ready") local x = 0 while true do x = x + 1 end',
}
WAITING = {"js": 'console.log("ready"); await sleep(60);', "lua": 'print("ready") sleep(60)'}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.mark.parametrize("ext", ["js", "lua"])
async def test_interrupt_from_another_thread_ends_a_computing_script(ext: str) -> None:
    async with open_runtime(state=":memory:", limits=LIMITS) as rt:
        printed = threading.Event()
        # the script holds the event loop while it computes: interrupt it from a thread
        timer = threading.Thread(target=lambda: printed.wait(30) and rt.interrupt("test"))
        timer.start()
        spell = SpellSource(COMPUTING[ext], f"spin.{ext}")
        with anyio.fail_after(60):  # hang detection only: it ends within ~0.1 s
            result = await rt.run(spell, output=lambda _: printed.set())
        timer.join()
        assert (result.status, result.error_type) == ("error", "SpellInterrupted"), result


@pytest.mark.parametrize("ext", ["js", "lua"])
async def test_stop_ends_a_waiting_script_as_stopped(ext: str) -> None:
    async with open_runtime(state=":memory:", limits=LIMITS) as rt:
        ready = anyio.Event()
        results: list[RunResult] = []

        async def run() -> None:
            spell = SpellSource(WAITING[ext], f"wait.{ext}")
            results.append(await rt.run(spell, run_id="r1", output=lambda _: ready.set()))

        with anyio.fail_after(60):
            async with anyio.create_task_group() as tg:
                tg.start_soon(run)
                await ready.wait()
                assert rt.stop("r1")
        assert results[0].status == "stopped", results[0]
        assert rt.active_runs == ()
