"""``events.on(pattern, fn, {queue = "name"})`` in Lua, JavaScript and Tengo: each event goes to one
handler of the queue group, on the local bus and on the NATS bus (a real nats-server)."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

import actors
from llmspell import open_runtime
from tests.natsserver import NatsServer

from .spellkit import run_source

pytestmark = pytest.mark.anyio

ENGINES = pytest.mark.parametrize("ext", ["lua", "js", "tengo"])

# Two handlers in the queue group "w" and one outside it; twelve jobs. Each handler prints
# which one it is ("a", "b": the group; "o": the outsider) and the job.
SHARED = {
    "lua": """
        events.on("job.*", function(e) print("a " .. e.n) end, {queue = "w"})
        events.on("job.*", function(e) print("b " .. e.n) end, {queue = "w"})
        events.on("job.*", function(e) print("o " .. e.n) end)
        for i = 1, 12 do events.emit("job.new", {n = i}) end
        return "ok"
    """,
    "js": """
        events.on("job.*", (e) => print("a " + e.n), {queue: "w"});
        events.on("job.*", (e) => print("b " + e.n), {queue: "w"});
        events.on("job.*", (e) => print("o " + e.n));
        for (let i = 1; i <= 12; i++) await events.emit("job.new", {n: i});
        return "ok";
    """,
    "tengo": """
        events.on("job.*", func(e) { print("a " + string(e.n)) }, {queue: "w"})
        events.on("job.*", func(e) { print("b " + string(e.n)) }, {queue: "w"})
        events.on("job.*", func(e) { print("o " + string(e.n)) })
        for i := 1; i <= 12; i++ { events.emit("job.new", {n: i}) }
        export "ok"
    """,
}


def check_shared(output: str) -> None:
    lines = output.splitlines()
    taken = [line.split() for line in lines if line[:2] in ("a ", "b ")]
    jobs = Counter(int(n) for _, n in taken)
    assert sorted(jobs) == list(range(1, 13)), output
    assert set(jobs.values()) == {1}, output  # each job to one member of the group
    outsider = sorted(int(line[2:]) for line in lines if line.startswith("o "))
    assert outsider == list(range(1, 13)), output  # the handler outside the group saw all


@ENGINES
async def test_a_queue_group_shares_events_on_the_local_bus(ext: str) -> None:
    ran = await run_source(SHARED[ext], ext)
    assert ran.result.ok, ran.result.error
    assert ran.result.value == "ok"
    check_shared(ran.output)
    taken = {line[0] for line in ran.output.splitlines() if line[:2] in ("a ", "b ")}
    assert taken == {"a", "b"}  # idle members take turns on the local bus


@ENGINES
async def test_a_queue_group_shares_events_on_nats(ext: str, nats_server: NatsServer) -> None:
    from actors.nats import NatsBackend

    backend = NatsBackend(nats_server.url, ack_wait=5, storage="memory")
    async with (
        actors.open_system(bus_backend=backend) as system,
        open_runtime(system=system, state=":memory:") as rt,
    ):
        ran = await run_source(SHARED[ext], ext, runtime=rt, resident=False)
        await system.bus.flush()
    assert ran.result.ok, ran.result.error
    check_shared(ran.output)


BAD: dict[str, dict[str, Any]] = {
    "lua": {
        "options": 'local ok, err = pcall(events.on, "a", function() end, 5)\nreturn err',
        "unknown": 'local ok, err = pcall(events.on, "a", function() end, {qeue = "w"})\n'
        "return err",
        "queue": 'local ok, err = pcall(events.on, "a", function() end, {queue = "a.b"})\n'
        "return err",
    },
    "js": {
        "options": 'try { events.on("a", () => {}, 5); } catch (e) { return e.message; }',
        "unknown": 'try { events.on("a", () => {}, {qeue: "w"}); } catch (e) { return e.message; }',
        "queue": 'try { events.on("a", () => {}, {queue: "a.b"}); } catch (e) { return e.message; }',
    },
    "tengo": {
        "options": 'r := events.on("a", func() {}, 5)\nexport r.value',
        "unknown": 'r := events.on("a", func() {}, {qeue: "w"})\nexport r.value',
        "queue": 'r := events.on("a", func() {}, {queue: "a.b"})\nexport r.value',
    },
}


@ENGINES
@pytest.mark.parametrize("case", ["options", "unknown", "queue"])
async def test_bad_options_name_the_parameter(ext: str, case: str) -> None:
    ran = await run_source(BAD[ext][case], ext)
    message = str(ran.result.value)
    param = {"options": "options", "unknown": "options", "queue": "queue"}[case]
    assert f"events.on: parameter '{param}'" in message, message
    if case == "unknown":
        assert "qeue" in message
