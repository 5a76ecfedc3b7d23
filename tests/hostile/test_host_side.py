"""Hostile spells against the host side: allocations charged to the run, CPU-heavy host work,
the bus between runs, tool re-entry, data the host must refuse, output through ``log.*``."""

from __future__ import annotations

import pathlib

import pytest

from .harness import hostile, need_namespace

pytestmark = pytest.mark.slow  # a subprocess each, some run to their limit

# -- host allocations charged to the run's limits ----------------------------------------------


@pytest.mark.parametrize(
    ("ext", "source"),
    [
        ("lua", 'for i = 1, 300000 do events.on("x" .. i, function() end) end'),
        ("lua", 'for i = 1, 300000 do hooks.register("llm.before_call", function() end) end'),
        ("js", 'for (let i = 0; i < 300000; i++) events.on("x" + i, () => {});'),
        ("js", 'for (let i = 0; i < 300000; i++) hooks.register("llm.before_call", () => null);'),
    ],
    ids=["lua-events", "lua-hooks", "js-events", "js-hooks"],
)
def test_handlers_are_charged_to_the_memory_limit(ext: str, source: str) -> None:
    hostile(source, ext, error_type="LimitExceeded", match="registered more than")


def test_handlers_removed_are_no_longer_charged() -> None:
    source = """
for i = 1, 5000 do  -- more than the 2048 a 32 MB run may hold at once
  local id = events.on("x", function() end)
  events.off(id)
end
print("fine")
"""
    hostile(source, error_type=None, match="fine")


@pytest.mark.parametrize(
    "call",
    [
        'tools.call("text_split", {text = string.rep("\\n", 5 * 2^20)})',
        'tools.call("text_split", {text = string.rep("a", 2^20), chunk_size = 1})',
        'tools.call("text_template", {template = string.rep("{{x}}", 400),'
        ' vars = {x = string.rep("y", 2^17)}})',
        'json.decode("[" .. string.rep("[],", 2^21) .. "[]]")',
    ],
    ids=["split-lines", "split-chunks-of-1", "template", "decode"],
)
def test_results_the_run_cannot_hold_are_refused_before_they_are_built(call: str) -> None:
    hostile(call, error_type="LimitExceeded", match="memory")


def test_token_count_of_a_huge_text_is_bounded_and_off_the_loop() -> None:
    source = """
local text = string.rep("hello world, ", 1500000)  -- 19.5 MB
local counted = tools.call("text_count_tokens", {text = text})
print("tokens " .. counted.tokens)
"""
    # (ten seconds: counting takes ~2 s alone, over 4 s on a loaded two-core machine)
    limits = {"memory_bytes": 64 * 2**20, "timeout_seconds": 10.0}
    report = hostile(source, error_type=None, match="tokens", limits=limits)
    assert report["peak_rss_kb"] * 1024 < 400 * 2**20  # was: 1 GB


@pytest.mark.parametrize("keyword", ["minLength = 3e9", "minItems = 2e8"])
def test_offline_schema_asking_for_gigabytes_is_refused(keyword: str) -> None:
    kind = "string" if "Length" in keyword else "array"
    source = (
        f'return llm.complete{{prompt = "hi", schema = {{type = "object", required = {{"s"}},'
        f' properties = {{s = {{type = "{kind}", {keyword}}}}}}}}}'
    )
    hostile(source, error_type="SpellRuntimeError", match="HTTP 400.*cannot answer")


# -- CPU-heavy host work ---------------------------------------------------------------------


def test_catastrophic_schema_pattern_does_not_freeze_the_process() -> None:
    source = """
tools.register{name = "t", description = "d",
  parameters = {{name = "s", type = "string", pattern = "^(a+)+$", required = true}},
  handler = function(args) return "ok" end}
return tools.call("t", {s = string.rep("a", 100000) .. "b"})
"""
    hostile(source, error_type="SpellRuntimeError", match="parameter 's'.*does not match")


def test_file_search_regex_does_not_freeze_the_process(tmp_path: pathlib.Path) -> None:
    (tmp_path / "a.txt").write_text(("a" * 5000 + "b\n") * 200)
    source = """
local found = tools.call("file_search", {pattern = "^(a+)+$", regex = true})
print("matches " .. #found.matches)
"""
    hostile(source, error_type=None, match="matches 0", workspace=tmp_path, allow=("fs.read",))


def test_a_pattern_re2_cannot_compile_is_a_clear_error() -> None:
    source = """
tools.register{name = "t", description = "d",
  parameters = {{name = "s", type = "string", pattern = "(a)\\\\1"}},
  handler = function(args) return "ok" end}
"""
    hostile(source, error_type="SpellRuntimeError", match="pattern.*invalid regular expression")


# -- one run never stalls another --------------------------------------------------------------


@pytest.mark.parametrize(
    ("ext", "source"),
    [
        (
            "lua",
            """
events.on(">", function(e, topic)
  if topic ~= "a.loop" then events.emit("a.loop", 1) end
  sleep(0.5)
end)
for i = 1, 400 do events.emit("a.fill", i) end  -- fills its own queue, then waits for room
""",
        ),
        (
            "js",
            """
events.on(">", async (e, topic) => {
  if (topic !== "a.loop") await events.emit("a.loop", 1);
  await sleep(0.5);
});
for (let i = 0; i < 400; i++) events.emit("a.fill", i);  // not awaited: all at once
""",
        ),
    ],
    ids=["lua", "js"],
)
def test_a_slow_subscriber_on_everything_does_not_stall_another_run(ext: str, source: str) -> None:
    report = hostile(source, ext, error_type="*", limits={"timeout_seconds": 2.0})
    assert any("dropped" in line for line in report["hostile"]["logs"]), report["hostile"]


# -- tool pools and re-entry ---------------------------------------------------------------------

RECURSIVE = """
tools.register{name = "rec", description = "recurse",
  parameters = {{name = "n", type = "integer", required = true}},
  handler = function(args)
    if args.n <= 0 then return 0 end
    return 1 + tools.call("rec", {n = args.n - 1})
  end}
"""


def test_a_script_tool_calling_itself_does_not_deadlock_its_pool() -> None:
    hostile(RECURSIVE + 'print("depth " .. tools.call("rec", {n = 30}))', error_type=None,
            match="depth 30")  # fmt: skip


def test_unbounded_tool_recursion_is_a_clear_error() -> None:
    source = RECURSIVE.replace("if args.n <= 0 then return 0 end", "")
    hostile(source + 'return tools.call("rec", {n = 1})', error_type="SpellRuntimeError",
            match="recursion|depth")  # fmt: skip


# -- data ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("ext", ["lua", "js"])
def test_a_payload_nested_too_deep_is_refused_at_emit(ext: str) -> None:
    if ext == "lua":
        source = 'local t = {} for i = 1, 80 do t = {t} end\nevents.emit("x", t)'
    else:
        source = 'let t = {}; for (let i = 0; i < 80; i++) t = [t];\nawait events.emit("x", t);'
    hostile(source, ext, error_type="SpellRuntimeError", match="payload.*nested deeper than 64")


@pytest.mark.parametrize("ext", ["lua", "js"])
def test_log_output_counts_against_the_output_limit(ext: str) -> None:
    if ext == "lua":
        source = 'local line = string.rep("x", 1000)\nwhile true do log.info(line) end'
    else:
        source = 'const line = "x".repeat(1000);\nwhile (true) log.info(line);'
    hostile(source, ext, error_type="LimitExceeded", match="output")


# -- the network (loopback only, in a namespace) ---------------------------------------------


def test_fetches_from_a_server_that_never_answers_end_with_the_run() -> None:
    need_namespace()
    source = """
for i = 1, 50 do
  parallel({
    function() return tools.call("http_fetch", {url = "http://127.0.0.1:{port}/a"}) end,
    function() return tools.call("http_fetch", {url = "http://127.0.0.1:{port}/b"}) end,
  })
end
"""
    hostile(
        source,
        error_type="LimitExceeded",
        match="timeout",
        limits={"timeout_seconds": 2.0},
        allow=("net.http",),
        silent_server=True,
    )


def test_no_host_outside_the_namespace_is_reachable() -> None:
    need_namespace()  # every host allowed: only the namespace keeps the traffic in
    source = """
local ok, err = pcall(tools.call, "http_fetch", {url = "http://93.184.215.14/"})
print(ok, err)
"""
    report = hostile(
        source, error_type=None, allow=("net.http",), silent_server=True, http_hosts=("*",)
    )
    assert report["hostile"]["output"].startswith("false"), report["hostile"]
