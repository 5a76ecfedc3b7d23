"""How spells call the API, end to end through the runtime: calls made without ``await``,
argument counts, errors with lines, and Lua's ``nil, message`` convention."""

from __future__ import annotations

import pytest

from .spellkit import run_source

pytestmark = pytest.mark.anyio


async def test_unawaited_emits_all_reach_the_spells_own_handler_in_order() -> None:
    # Over twice the subscriber's queue: most of these publishes wait for room, all at once.
    # (Each blocked publish used to wake every other: 4,000 took 27 s; see test_bus_backpressure.)
    source = """
        const seen = [];
        const id = await events.on("bench.x", (event) => {
          seen.push(event.i);
          if (seen.length === 2500) events.off(id);
        });
        for (let i = 0; i < 2500; i++) events.emit("bench.x", {i});
        while (seen.length < 2500) await sleep(0.001);
        return seen.every((v, i) => v === i) ? seen.length : seen.slice(0, 20);
    """
    ran = await run_source(source, "js")
    assert ran.result.ok, ran.result.error
    assert ran.result.value == 2500
