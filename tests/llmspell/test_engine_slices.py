"""A script that computes for long shares the event loop (see ``llmspell/engines/_slices.py``).

Every engine runs on the event loop's thread; before slices, a loop in a spell held the loop —
every other task of the process, the other spells, the daemon — until the spell's CPU limit.
These tests check what a neighbour sees (it keeps running), what the spell is charged (its own
CPU time only), and that a spell's other code and a cancelled caller behave.
"""

from __future__ import annotations

import contextvars
import textwrap
import time
from typing import Any

import anyio
import pytest

from llmspell._exceptions import LimitExceeded, SpellInterrupted
from llmspell.engines import Api, Limits, Namespace, ScriptFunction, engine_for

pytestmark = pytest.mark.anyio

ENGINES = pytest.mark.parametrize("ext", ["lua", "js", "tengo"])
BACKENDS = pytest.mark.parametrize("anyio_backend", ["asyncio", "trio"])
HANG = 20.0  # seconds after which a case counts as hung (hang detection only)

SPIN = {"lua": "while true do end", "js": "for (;;) {}", "tengo": "for {}"}
"""Computes until the CPU limit ends it."""

CALLS = {
    "lua": "for i = 1, 10 do t.wait(0.001) end return 'done'",
    "js": "for (let i = 0; i < 10; i++) await t.wait(0.001); return 'done';",
    "tengo": 'for i := 0; i < 10; i++ { t.wait(0.001) }\nexport "done"',
}
"""A neighbour: ten short async API calls."""

REGISTER_THEN_COMPUTE = {
    "lua": """
        local n = 0
        t.register(function(x) n = n + 1 return x * 2 end)
        local s = 0
        for i = 1, 3e7 do s = s + i end
        t.wait(0.05)
        return n
    """,
    "js": """
        let n = 0;
        await t.register((x) => { n += 1; return x * 2; });
        let s = 0;
        for (let i = 0; i < 2e7; i++) s += i;
        await t.wait(0.05);
        return n;
    """,
}


class Host:
    """``t.wait(s)`` sleeps (async); ``t.register(fn)`` keeps a script function."""

    def __init__(self) -> None:
        self.functions: list[ScriptFunction] = []
        self.registered = anyio.Event()

    def api(self) -> Api:
        async def wait(seconds: float) -> None:
            await anyio.sleep(seconds)

        async def register(fn: ScriptFunction) -> None:
            self.functions.append(fn)
            self.registered.set()

        functions = {"wait": wait, "register": register}
        return Api({"t": Namespace(functions)}, {}, {}, lambda text: None)


async def run(
    ext: str, source: str, limits: Limits, host: Host | None = None, stats: list[Any] | None = None
) -> Any:
    engine = engine_for(f"x.{ext}")
    host = host or Host()
    async with engine.open(textwrap.dedent(source), f"s.{ext}", host.api(), limits) as inst:
        try:
            return await inst.run_main()
        finally:
            if stats is not None:
                stats.append(inst.statistics())


SPINNING = Limits(memory_bytes=16 << 20, cpu_seconds=1.0, timeout_seconds=HANG)


@BACKENDS
@ENGINES
async def test_a_computing_spell_lets_other_tasks_run(ext: str) -> None:
    ticks = 0
    spinning = True

    async def ticker() -> None:
        nonlocal ticks
        while spinning:
            await anyio.sleep(0.001)
            ticks += 1

    async with anyio.create_task_group() as tg:
        tg.start_soon(ticker)
        with pytest.raises(LimitExceeded) as info:
            await run(ext, SPIN[ext], SPINNING)
        spinning = False
    assert info.value.limit == "cpu"
    # a second of computing in 10 ms slices lets the ticker run ~50-100 times; holding the loop
    # to the end let it run once or twice
    assert ticks >= 10


@BACKENDS
@ENGINES
async def test_a_neighbour_finishes_while_a_spell_computes(ext: str) -> None:
    finished: list[str] = []

    async def spinner() -> None:
        with pytest.raises(LimitExceeded):
            await run(ext, SPIN[ext], SPINNING)
        finished.append("spinner")

    async def neighbour() -> None:
        await anyio.sleep(0.05)  # the spinner is computing by now
        roomy = Limits(cpu_seconds=10.0, timeout_seconds=HANG)
        assert await run(ext, CALLS[ext], roomy) == "done"
        finished.append("neighbour")

    async with anyio.create_task_group() as tg:
        tg.start_soon(spinner)
        tg.start_soon(neighbour)
    assert finished == ["neighbour", "spinner"]


@ENGINES
async def test_spells_computing_side_by_side_are_charged_their_own_cpu_time(ext: str) -> None:
    """Two spinners share the thread: each must reach its CPU limit on its own time, so the
    CPU they are charged together never exceeds what the thread used."""
    limits = Limits(memory_bytes=16 << 20, cpu_seconds=0.5, timeout_seconds=HANG)
    stats: list[Any] = []
    errors: list[LimitExceeded] = []

    async def spinner() -> None:
        try:
            await run(ext, SPIN[ext], limits, stats=stats)
        except LimitExceeded as exc:
            errors.append(exc)

    cpu0 = time.thread_time()
    async with anyio.create_task_group() as tg:
        tg.start_soon(spinner)
        tg.start_soon(spinner)
    used = time.thread_time() - cpu0
    assert [e.limit for e in errors] == ["cpu", "cpu"]
    charged = [s.cpu_seconds for s in stats]
    assert all(c >= 0.5 for c in charged), charged
    assert sum(charged) <= used + 0.05, (charged, used)


@BACKENDS
@ENGINES
async def test_cancelling_the_caller_of_a_computing_spell_ends_it(ext: str) -> None:
    long = Limits(memory_bytes=16 << 20, cpu_seconds=60.0, timeout_seconds=120.0)
    start = time.monotonic()
    with anyio.move_on_after(0.3) as scope:
        await run(ext, SPIN[ext], long)
    assert scope.cancelled_caught
    assert time.monotonic() - start < HANG
    roomy = Limits(cpu_seconds=10.0, timeout_seconds=HANG)
    assert await run(ext, CALLS[ext], roomy) == "done"  # the process goes on serving spells


@pytest.mark.parametrize("ext", ["lua", "js"])
async def test_a_callback_waits_for_the_spells_computing_code(ext: str) -> None:
    """A stretch that hands the loop back is still the only code running in its interpreter:
    a call into the same spell waits for it instead of failing or interleaving."""
    host = Host()
    roomy = Limits(memory_bytes=16 << 20, cpu_seconds=30.0, timeout_seconds=HANG)
    results: dict[str, Any] = {}

    async def main() -> None:
        results["main"] = await run(ext, REGISTER_THEN_COMPUTE[ext], roomy, host)

    async def caller() -> None:
        await host.registered.wait()
        await anyio.sleep(0.02)  # main is computing now, in slices
        results["callback"] = await host.functions[0](21)

    async with anyio.create_task_group() as tg:
        tg.start_soon(main)
        tg.start_soon(caller)
    assert results["callback"] == 42
    assert results["main"] == 1  # the callback ran between main's loop and its return


@ENGINES
async def test_an_interrupt_reaches_a_spell_between_slices(ext: str) -> None:
    engine = engine_for(f"x.{ext}")
    long = Limits(memory_bytes=16 << 20, cpu_seconds=60.0, timeout_seconds=120.0)
    async with engine.open(SPIN[ext], f"s.{ext}", Host().api(), long) as inst:

        async def interrupt_soon() -> None:
            await anyio.sleep(0.2)  # runs only because the spell hands the loop back
            inst.interrupt("stop")

        start = time.monotonic()
        async with anyio.create_task_group() as tg:
            tg.start_soon(interrupt_soon)
            with pytest.raises(SpellInterrupted):
                await inst.run_main()
        assert time.monotonic() - start < HANG


class _Marker:
    """A value whose life a weak reference tells."""


_VAR: contextvars.ContextVar[_Marker] = contextvars.ContextVar("_VAR")


async def test_a_closed_instances_kept_worker_holds_nothing_of_its_last_stretch() -> None:
    """A closed instance's idle worker serves the next instance of the thread: it must not keep
    what the last stretch returned or raised (an error's traceback holds the interpreter), nor
    the context vars of the run that drove it."""
    import gc
    import weakref

    from llmspell.engines import _slices
    from llmspell.engines._slices import PAUSED, Slicer

    _slices._spare.workers = []  # so that the first instance makes its worker

    class Stretch:
        def __init__(self, box: list[_Marker]) -> None:
            self.box = box

        def __call__(self) -> _Marker:
            return self.box.pop()

    box = [_Marker()]
    seen = weakref.ref(box[0])
    stretch = Stretch(box)
    ran = weakref.ref(stretch)  # a new greenlet's first arguments live as long as it does
    first = Slicer(lambda: None)
    context = contextvars.copy_context()  # the driver's context vars: a run's, say
    context.run(_VAR.set, _Marker())
    held = weakref.ref(context[_VAR])
    outcome = context.run(first.start, stretch)
    assert outcome[0] and outcome[1] is seen()
    del outcome, context, stretch, box
    first.close()
    gc.collect()
    assert seen() is None and held() is None and ran() is None
    assert len(_slices._spare.workers) == 1  # kept for the next instance

    def fail() -> None:
        raise ValueError(_Marker())

    second = Slicer(lambda: None)
    ok, error = second.start(fail)
    assert not ok and isinstance(error, ValueError)
    raised = weakref.ref(error.args[0])
    del error
    second.close()
    gc.collect()
    assert raised() is None

    # the kept worker runs the next instance's stretches, a paused one included
    third = Slicer(lambda: None)

    def pausing() -> str:
        third.pause()
        return "after a pause"

    assert third.start(pausing) is PAUSED
    assert await third.finish() == "after a pause"
    third.close()


def test_each_stretch_sees_the_context_vars_of_the_driver_that_starts_it() -> None:
    """One worker serves stretches driven from different contexts (event handlers run in the
    delivery task's, the main chunk in the run's), and a context's vars may change between
    two stretches it drives: each stretch reads its own driver's vars as they are then."""
    from llmspell.engines._slices import Slicer

    slicer = Slicer(lambda: None)
    var: contextvars.ContextVar[str] = contextvars.ContextVar("driver", default="none")
    first, second = contextvars.copy_context(), contextvars.copy_context()
    first.run(var.set, "first")
    second.run(var.set, "second")
    seen = [
        first.run(slicer.start, var.get),
        first.run(slicer.start, var.get),
        second.run(slicer.start, var.get),
        first.run(slicer.start, var.get),
    ]
    first.run(var.set, "first again")
    seen.append(first.run(slicer.start, var.get))
    seen.append(slicer.start(var.get))  # (this test's own context)
    slicer.close()
    assert seen == [
        (True, "first"),
        (True, "first"),
        (True, "second"),
        (True, "first"),
        (True, "first again"),
        (True, "none"),
    ]
