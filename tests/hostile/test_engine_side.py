"""Hostile spells against the engines' side of isolation: values crossing between the script
and the host, results too big for the heap, code after a limit, the JS bridge's edge values.

(The engine side is wip/isob's, merged here; the host side is in ``test_host_side.py``.)
"""

from __future__ import annotations

import pathlib

import pytest

from .harness import hostile

pytestmark = pytest.mark.slow  # a subprocess each, some run to their limit

SHARED_LUA = "local t = {} for i = 1, 40 do t = {t, t} end\n"
SHARED_JS = "let t = {}; for (let i = 0; i < 40; i++) t = {a: t, b: t};\n"


@pytest.mark.parametrize(
    "use",
    [
        "json.encode(t)",
        "events.emit('x', t)",
        "log.info(t)",
        "tools.call('text_template', {template = 'x', vars = {a = t}})",
        "llm.complete({prompt = t})",
        "error(t)",
        "return t",
    ],
)
def test_shared_subtables_are_bounded_in_lua(use: str) -> None:
    hostile(SHARED_LUA + use, error_type="LimitExceeded", match="memory")


@pytest.mark.parametrize("use", ["json.encode(t)", "await events.emit('x', t)", "log.info(t)"])
def test_shared_subtables_are_bounded_in_js(use: str) -> None:
    hostile(SHARED_JS + use, "js", error_type="LimitExceeded", match="memory")


@pytest.mark.parametrize(
    "source",
    [
        # the result of an API call bigger than the Lua heap (was: PANIC, SIGABRT)
        'local big = string.rep("x", 20 * 2^20)\n'
        'events.on("big", function(e) local copy = e .. "y" end)\n'
        'events.emit("big", big)\n',
        # json.decode of a document the heap cannot hold (was: deadlock)
        'local s = "[" .. string.rep(\'"\' .. string.rep("x", 1000) .. \'",\', 24000)'
        " .. '\"x\"]'\nlocal t = json.decode(s)\n",
    ],
    ids=["event-payload", "json-decode"],
)
def test_results_too_big_for_the_heap_end_the_run_not_the_process(source: str) -> None:
    hostile(source, error_type="LimitExceeded", match="memory")


def test_lua_close_handler_cannot_reach_the_host_after_a_limit(tmp_path: pathlib.Path) -> None:
    source = """
do
  local guard <close> = setmetatable({}, {__close = function()
    tools.call("file_write", {path = "after.txt", content = "ran after the limit"})
  end})
  while true do end
end
"""
    limits = {"cpu_seconds": 0.5}
    hostile(
        source,
        error_type="LimitExceeded",
        match="cpu",
        limits=limits,
        workspace=tmp_path,
        allow=("fs",),
    )
    assert not (tmp_path / "after.txt").exists()


def test_js_big_bigint_and_lone_surrogate_do_not_break_the_bridge() -> None:
    source = """
try { log.info(10n ** 5000n); } catch (e) { console.log("caught " + e.name); }
console.log("a\\uD800b");
console.log("still here");
"""
    report = hostile(source, "js", error_type=None, match="still here")
    output = report["hostile"]["output"]
    assert "caught TypeError" in output
    assert "a\ufffdb" in output


def test_js_unawaited_emits_are_charged_to_the_memory_limit() -> None:
    source = """
events.on("x", async (e) => { await sleep(10); });
for (let i = 0; i < 200000; i++) events.emit("x", "y".repeat(2000));
"""
    hostile(source, "js", error_type="LimitExceeded", match="memory")
