"""Isolation, engine side: bounded conversions, limits that end a script for good, interrupts.

Every engine runs the same hostile spells (one source per language) against the same small API.
A case whose failure used to abort the whole process (Lua's ``PANIC``) or hang it (a lock held
after a failed allocation) runs in a subprocess, beside a second spell that must finish
normally; the subprocess has a deadline, so a hang fails the test instead of stalling the suite.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import threading
import time
from typing import Any

import anyio
import anyio.lowlevel
import pytest

from llmspell._exceptions import LimitExceeded, SpellInterrupted
from llmspell.engines import Api, Limits, Namespace, ScriptFunction, engine_for, sync_api
from llmspell.engines._bounds import Tally, text_size

pytestmark = pytest.mark.anyio

LIMITS = Limits(memory_bytes=8 << 20, cpu_seconds=5.0, timeout_seconds=10.0, output_bytes=1 << 16)
HANG = 20.0  # seconds after which a case counts as hung (far above any limit here)


class Host:
    """The API the spells see: ``t.take(x)`` (async) and ``t.keep(x)`` (sync) record what they
    get; ``t.nap(s)`` blocks the thread (sync); ``t.wait(s)`` sleeps (async); ``t.write(x)``
    records a write; ``t.emit(x)`` is an async call that finishes later."""

    def __init__(self) -> None:
        self.taken: list[Any] = []
        self.writes: list[Any] = []
        self.output: list[str] = []
        self.functions: list[ScriptFunction] = []

    def api(self) -> Api:
        async def take(x: Any = None) -> Any:
            self.taken.append(x)
            return True

        @sync_api
        async def keep(x: Any = None) -> Any:
            self.taken.append(x)
            return True

        @sync_api
        async def nap(seconds: float) -> None:
            threading.Event().wait(seconds)  # blocks the thread on purpose: not CPU time

        async def wait(seconds: float) -> None:
            await anyio.sleep(seconds)

        async def write(x: Any = None) -> None:
            self.writes.append(x)

        @sync_api
        async def write_now(x: Any = None) -> None:
            self.writes.append(x)

        async def emit(x: Any = None) -> None:
            await anyio.lowlevel.checkpoint()

        async def register(fn: ScriptFunction) -> None:
            self.functions.append(fn)

        functions = {
            "take": take,
            "keep": keep,
            "nap": nap,
            "wait": wait,
            "write": write,
            "write_now": write_now,
            "emit": emit,
            "register": register,
        }
        return Api({"t": Namespace(functions)}, {}, {}, self.output.append)


async def run(ext: str, source: str, host: Host | None = None, limits: Limits = LIMITS) -> Any:
    host = host or Host()
    engine = engine_for(f"x.{ext}")
    async with engine.open(textwrap.dedent(source), f"evil.{ext}", host.api(), limits) as inst:
        return await inst.run_main()


async def expect_memory_limit(ext: str, source: str, host: Host | None = None) -> None:
    start = time.monotonic()
    with pytest.raises(LimitExceeded) as info:
        await run(ext, source, host)
    assert info.value.limit == "memory", info.value
    assert time.monotonic() - start < HANG
    assert await run(ext, FINE[ext]) == 3  # the process goes on serving spells


FINE = {"lua": "return 1 + 2", "js": "return 1 + 2", "tengo": "export 1 + 2"}

# -- the counting core ----------------------------------------------------------------------


def test_tally_stops_at_its_budget_with_the_memory_limit() -> None:
    tally = Tally(100, LIMITS)
    tally.add(60)
    assert tally.used == 60
    with pytest.raises(LimitExceeded) as info:
        tally.add(41)
    assert info.value.limit == "memory"
    assert "reachable twice counts twice" in str(info.value)
    assert str(LIMITS.memory_bytes) in str(info.value)
    assert text_size("abc") == 3 and text_size("é" * 100) == 400


# -- shared structure going to the host ---------------------------------------------------

SHARED = {
    "lua": "local v = {} for i = 1, 40 do v = {v, v} end\n",
    "js": "let v = []; for (let i = 0; i < 40; i++) v = [v, v];\n",
    "tengo": "v := []\nfor i := 0; i < 40; i++ { v = [v, v] }\n",
}
USES = {
    "lua": {
        "async argument": "t.take(v)",
        "sync argument": "t.keep({a = {v}})",
        "result": "return v",
        "error value": "error(v)",
        "callback result": "t.register(function() return v end)",
    },
    "js": {
        "async argument": "await t.take(v)",
        "sync argument": "t.keep({a: [v]})",
        "result": "return v",
        "un-awaited argument": "t.take(v)",
        "callback result": "t.register(() => v)",
    },
    "tengo": {
        "async argument": "t.take(v)",
        "sync argument": "t.keep({a: [v]})",
        "result": "export v",
        "callback result": "t.register(func() { return v })",
    },
}
CASES = [(ext, use) for ext, uses in USES.items() for use in uses]


@pytest.mark.parametrize(("ext", "use"), CASES, ids=[f"{e}-{u}" for e, u in CASES])
async def test_shared_structure_ends_with_the_memory_limit(ext: str, use: str) -> None:
    host = Host()
    source = SHARED[ext] + USES[ext][use] + "\n"
    if use == "callback result":
        engine = engine_for(f"x.{ext}")
        async with engine.open(source, f"evil.{ext}", host.api(), LIMITS) as inst:
            assert await inst.run_main() is None
            (fn,) = host.functions
            start = time.monotonic()
            with pytest.raises(LimitExceeded) as info:
                await fn()
            assert info.value.limit == "memory"
            assert time.monotonic() - start < HANG
        return
    await expect_memory_limit(ext, source, host)
    assert host.taken == []


async def test_lua_copies_of_one_big_string_are_weighed() -> None:
    # lupa copies every string it hands to Python: ten thousand references to one string
    # must not become ten thousand copies
    source = """
        local s = string.rep("x", 1000000)
        local many = {}
        for i = 1, 5000 do many[i] = s end
        t.take(table.unpack(many))
    """
    await expect_memory_limit("lua", source)
    await expect_memory_limit("lua", source.replace("t.take(table.unpack(many))", "t.take(many)"))
    # of many results, the first is the value (the second may be a failure's message)
    returned = source.replace("t.take(table.unpack(many))", "return table.unpack(many)")
    assert await run("lua", returned) == "x" * 1000000


async def test_shared_structure_within_budget_converts() -> None:
    source = {
        "lua": "local v = {1} for i = 1, 6 do v = {v, v} end\nreturn v",
        "js": "let v = [1]; for (let i = 0; i < 6; i++) v = [v, v];\nreturn v",
        "tengo": "v := [1]\nfor i := 0; i < 6; i++ { v = [v, v] }\nexport v",
    }
    expected: Any = [1]
    for _ in range(6):
        expected = [expected, expected]
    for ext, text in source.items():
        assert await run(ext, text) == expected, ext


# -- values too big for the interpreter's heap (used to abort or hang the process) ---------------

_CHILD = r"""
import json, sys, time, anyio
from llmspell.engines import Api, Limits, Namespace, engine_for, sync_api

ext, case = sys.argv[1], sys.argv[2]
BIG = ["x" * 8] * 3_000_000 if case != "string" else "y" * 30_000_000

async def big():
    return BIG

@sync_api
async def big_now():
    return BIG

@sync_api
async def decode(text):
    return json.loads(text)

async def register(fn):
    FNS.append(fn)

FNS = []
api = Api({"t": Namespace({"big": big, "big_now": big_now, "decode": decode,
                           "register": register})}, {}, {}, print)
limits = Limits(memory_bytes=16 << 20, cpu_seconds=10, timeout_seconds=15)
SOURCES = {
    "lua": {
        "async": "local r = t.big() return #r",
        "sync": "local r = t.big_now() return #r",
        "string": "local r = t.big() return #r",
        "decode": 'local r = t.decode("[" .. string.rep("1,", 3000000) .. "1]") return #r',
        "callback": "t.register(function(x) return #x end)",
    },
    "js": {
        "async": "const r = await t.big(); return r.length",
        "sync": "return t.big_now().length",
        "string": "const r = await t.big(); return r.length",
        "decode": 'return t.decode("[" + "1,".repeat(3000000) + "1]").length',
        "callback": "t.register(x => x.length)",
    },
    "tengo": {
        "async": "export len(t.big())",
        "sync": "export len(t.big_now())",
        "string": "export len(t.big())",
        "callback": "t.register(func(x) { return len(x) })",
    },
}
FINE = {"lua": "return 1 + 2", "js": "return 1 + 2", "tengo": "export 1 + 2"}

async def hostile(out):
    engine = engine_for("x." + ext)
    try:
        async with engine.open(SOURCES[ext][case], "evil." + ext, api, limits) as inst:
            result = await inst.run_main()
            if case == "callback":
                result = await FNS[0](BIG)
        out["hostile"] = ["ok", result]
    except Exception as exc:
        out["hostile"] = [type(exc).__name__, getattr(exc, "limit", None), str(exc)]

async def beside(out):
    engine = engine_for("x." + ext)
    async with engine.open(FINE[ext], "fine." + ext,
                           Api({}, {}, {}, print), limits) as inst:
        await anyio.sleep(0.05)
        out["beside"] = await inst.run_main()

async def main():
    out = {}
    async with anyio.create_task_group() as tg:
        tg.start_soon(hostile, out)
        tg.start_soon(beside, out)
    engine = engine_for("x." + ext)
    async with engine.open(FINE[ext], "after." + ext,
                           Api({}, {}, {}, print), limits) as inst:
        out["after"] = await inst.run_main()
    print(json.dumps(out))

anyio.run(main)
"""

HEAP_CASES = [
    (ext, case)
    for ext in ("lua", "js", "tengo")
    for case in ("async", "sync", "string", "decode", "callback")
    if not (ext == "tengo" and case == "decode")  # Tengo values are Python's: no separate heap
]


@pytest.mark.parametrize(("ext", "case"), HEAP_CASES, ids=[f"{e}-{c}" for e, c in HEAP_CASES])
def test_result_too_big_for_the_heap_is_a_memory_limit(ext: str, case: str) -> None:
    proc = subprocess.run(
        [sys.executable, "-c", _CHILD, ext, case],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["beside"] == 3 and out["after"] == 3, out
    assert out["hostile"][:2] == ["LimitExceeded", "memory"], out


# -- limits end the script for good -------------------------------------------------------------


async def test_lua_close_handler_cannot_reach_the_host_after_a_limit() -> None:
    host = Host()
    source = """
        local guard <close> = setmetatable({}, {__close = function()
          t.write_now("sync after limit")
          t.write("async after limit")
        end})
        while true do end
    """
    limits = Limits(memory_bytes=8 << 20, cpu_seconds=0.2, timeout_seconds=10.0)
    with pytest.raises(LimitExceeded) as info:
        await run("lua", source, host, limits)
    assert info.value.limit == "cpu"
    assert host.writes == []


async def test_js_finally_cannot_reach_the_host_after_a_limit() -> None:
    host = Host()
    source = """
        try { while (true) {} } finally { t.write_now("sync"); await t.write("async"); }
    """
    limits = Limits(memory_bytes=8 << 20, cpu_seconds=0.2, timeout_seconds=10.0)
    with pytest.raises(LimitExceeded):
        await run("js", source, host, limits)
    assert host.writes == []


async def test_lua_cpu_limit_counts_the_threads_cpu_time() -> None:
    # a computation long enough for the engine to read the thread's CPU clock, then a
    # synchronous call that blocks the thread: the wall time is over the CPU limit, the CPU
    # time is not
    limits = Limits(memory_bytes=8 << 20, cpu_seconds=1.0, timeout_seconds=10.0)
    source = """
        local n = 0
        for i = 1, 200000 do n = n + i % 7 end
        for i = 1, 6 do t.nap(0.25) end
        return 3
    """
    assert await run("lua", source, Host(), limits) == 3


# -- interrupts ---------------------------------------------------------------------------------

LOOPS = {
    "lua": "local n = 0 while true do n = n + 1 end",
    "js": "let n = 0; while (true) { n++; }",
    "tengo": "n := 0\nfor { n++ }",
}
COSTLY_LOOPS = {  # each iteration a costly built-in: few polls of the engine's limit checks
    "lua": "local s = string.rep('x', 1000000) while true do local u = s:upper() end",
    "js": "const s = 'x'.repeat(1000000); while (true) { s.toUpperCase(); }",
    "tengo": 's := ""\nfor i := 0; i < 20000; i++ { s += "xx" }\nfor { t := s + "y" }',
}
LOOP_CASES = [(e, k) for e in ("lua", "js", "tengo") for k in ("plain", "costly")]
WAITS = {
    "lua": "t.wait(30)",
    "js": "await t.wait(30)",
    "tengo": "t.wait(30)",
}
LONG = Limits(memory_bytes=8 << 20, cpu_seconds=60.0, timeout_seconds=60.0)


@pytest.mark.parametrize(("ext", "kind"), LOOP_CASES, ids=[f"{e}-{k}" for e, k in LOOP_CASES])
async def test_interrupt_stops_a_computing_script(ext: str, kind: str) -> None:
    engine = engine_for(f"x.{ext}")
    source = (LOOPS if kind == "plain" else COSTLY_LOOPS)[ext]
    async with engine.open(source, f"loop.{ext}", Host().api(), LONG) as inst:
        fired: list[float] = []

        def interrupt() -> None:
            fired.append(time.monotonic())
            inst.interrupt("stop requested")

        timer = threading.Timer(0.3, interrupt)
        timer.start()
        try:
            with pytest.raises(SpellInterrupted) as info:
                await inst.run_main()
        finally:
            timer.cancel()
        # (stopped within ~100 ms; the bound here only detects a hang on a loaded machine)
        assert time.monotonic() - fired[0] < 5.0
        assert info.value.limit == "interrupt"
        assert str(info.value) == "interrupted: stop requested"


@pytest.mark.parametrize("ext", ["lua", "js", "tengo"])
async def test_interrupt_wakes_a_script_waiting_for_the_host(ext: str) -> None:
    engine = engine_for(f"x.{ext}")
    async with engine.open(WAITS[ext], f"wait.{ext}", Host().api(), LONG) as inst:
        start = time.monotonic()
        async with anyio.create_task_group() as tg:

            async def later() -> None:
                await anyio.sleep(0.2)
                inst.interrupt("daemon stopping")

            tg.start_soon(later)
            with pytest.raises(SpellInterrupted):
                await inst.run_main()
        assert time.monotonic() - start < HANG


async def test_an_interrupted_run_stays_interrupted() -> None:
    host = Host()
    engine = engine_for("x.lua")
    source = "t.register(function() return 1 end) while true do end"
    async with engine.open(source, "loop.lua", host.api(), LONG) as inst:
        timer = threading.Timer(0.2, inst.interrupt)
        timer.start()
        with pytest.raises(SpellInterrupted):
            await inst.run_main()
        (fn,) = host.functions
        with pytest.raises(SpellInterrupted):
            await fn()


# -- JavaScript data that used to break the bridge ---------------------------------------------


async def test_js_big_bigint_is_a_catchable_type_error() -> None:
    host = Host()
    source = """
        console.log("before");
        let caught = "";
        try { t.keep(10n ** 5000n); } catch (e) { caught = e.name + ": " + e.message; }
        console.log("after");
        t.keep(2n ** 80n);
        return caught;
    """
    caught = await run("js", source, host)
    assert caught == "TypeError: t.keep: cannot pass a BigInt of more than 4000 digits"
    assert host.output == ["before\n", "after\n"]
    assert host.taken == [2**80]


async def test_js_lone_surrogate_prints_as_replacement_character() -> None:
    host = Host()
    assert await run("js", 'console.log("a\\uD800b"); console.log("next"); return 3', host) == 3
    assert host.output == ["a\ufffdb\n", "next\n"]


async def test_js_unawaited_calls_are_charged_to_the_memory_limit() -> None:
    host = Host()
    source = "for (let i = 0; i < 200000; i++) t.emit({i, pad: 'x'.repeat(40)});"
    await expect_memory_limit("js", source, host)
