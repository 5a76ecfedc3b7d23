"""What each engine reports to ``llmspell check`` about a spell's names, without running it:
globals read but never defined, members of those globals, and (JS) results used before they
were awaited. Engines report less rather than flag a correct spell."""

from __future__ import annotations

import pytest

from llmspell._exceptions import SpellSyntaxError
from llmspell.engines import SourceFacts, engine_for


def facts(source: str, ext: str) -> SourceFacts:
    return engine_for(f"spell.{ext}").facts(source, f"spell.{ext}")


def reads(source: str, ext: str) -> list[tuple[str, int, int]]:
    return [(r.name, r.line, r.column) for r in facts(source, ext).globals_read]


def members(source: str, ext: str) -> list[tuple[str, str, int]]:
    return [(m.namespace, m.member, m.line) for m in facts(source, ext).members]


LUA_DEFINED = """
local a, b <const> = 1, 2
local function f(p, q, ...) return p + q + a + b end
function g(x) return x end
function M.h(self2) return self2 end
function M:m() return self end
for i = 1, 3 do print(i) end
for k, v in pairs({}) do print(k, v) end
x, y.z = 1, 2
w = 3
local t = {key = 1, other = w, ["s"] = 2}
print(t.key, t.missing, string.format("%d", 1), math.huge, _G, _ENV, _VERSION)
repeat local r = 1 until r
goto done
::done::
"""


def test_lua_reads_of_defined_or_builtin_names_are_not_reported() -> None:
    # M and y are read but never defined: the only reports.
    assert [name for name, _, _ in reads(LUA_DEFINED, "lua")] == ["M", "M", "y"]


def test_lua_undefined_globals_are_reported_where_read() -> None:
    source = 'local r = agent:run("x")\nprint(promise)\nlocal p = Provider.new()\n'
    assert reads(source, "lua") == [("agent", 1, 11), ("promise", 2, 7), ("Provider", 3, 11)]


def test_lua_member_uses_of_globals() -> None:
    source = (
        "state.foo('x')\n"
        "local r = llm:chat()\n"
        "llm.mine = function() end\n"
        "llm.mine()\n"
        "function llm.other() end\n"
        "llm.other()\n"
        "local tools = {}\n"
        "tools.nope()\n"
    )
    assert members(source, "lua") == [("state", "foo", 1), ("llm", "chat", 2)]


def test_lua_strings_and_comments_are_not_code() -> None:
    source = (
        '-- llm.nope\n--[[ llm.gone\n]] local s = "llm.none" .. [[\nllm.nothing]] .. [==[ x ]==]\n'
        "local c = 'it''s'\n"
    )
    assert facts(source, "lua").globals_read == ()


JS_DEFINED = """
const a = 1, b = a + 2;
let [c, {d, e: f}] = [1, {d: 2, e: 3}];
var g;
function h(p, q = 1, {r}, ...rest) { return p + q + r + rest.length; }
const arrow = (s, t) => s + t, single = u => u;
class K extends Object { field = 1; static n = 2; m(v) { return this.field + v; } get z() { return 1; } }
const o = {key: 1, meth(w) { return w; }, get gg() { return 2; }, async am() {}, [a]: 2, 'q': 3};
outer: for (const x of [1]) { for (let y in o) { if (y) continue outer; } }
try { JSON.parse("") } catch (err) { console.log(err.message, Math.max(1), globalThis, print); }
assigned = 5;
console.log(assigned, typeof nowhere === "undefined", `${a} and ${`${b}`}`, /re//1);
const cond = a ? b : c;
switch (a) { case b: break; default: break; }
"""


def test_js_reads_of_defined_or_builtin_names_are_not_reported() -> None:
    assert reads(JS_DEFINED, "js") == []


def test_js_undefined_globals_are_reported_where_read() -> None:
    source = (
        "const p = new promise(() => {});\n"
        "const a = agent.run('x');\n"
        "const o = {short, key: Provider};\n"
        "console.log(`${missing}`);\n"
    )
    assert reads(source, "js") == [
        ("promise", 1, 15),
        ("agent", 2, 11),
        ("short", 3, 12),
        ("Provider", 3, 24),
        ("missing", 4, 16),
    ]


def test_js_member_uses_of_globals() -> None:
    source = (
        "await state.foo('x');\n"
        "const r = await llm?.chat();\n"
        "llm.mine = () => 1;\n"
        "llm.mine();\n"
        "const x = {llm: 1}; x.llm.nope;\n"
        "const obj = {a: llm.complete};\n"
    )
    assert members(source, "js") == [
        ("state", "foo", 1),
        ("llm", "chat", 2),
        ("llm", "complete", 6),
    ]


def test_js_strings_comments_templates_and_regexes_are_not_code() -> None:
    source = (
        "// llm.nope\n/* llm.gone\n*/ const s = 'llm.none' + \"llm.x\" + `llm.y ${1}`;\n"
        "const re = /llm.z\\/[/]/g; const half = 4 / 2 / 1;\n"
    )
    assert facts(source, "js").globals_read == ()


def test_js_results_used_before_they_are_awaited() -> None:
    source = (
        "const r = llm.complete('hi');\n"  # 1
        "console.log(r.content);\n"  # 2: r is a Promise here
        "const ok = await llm.complete('hi');\n"
        "console.log(ok.content);\n"
        "const n = llm.complete('x').content;\n"  # 5: in place
        "const m = (await llm.complete('x')).content;\n"
        "const w = await llm.complete('x').content;\n"  # 7: await binds after .content
        "const { content } = llm.complete('x');\n"  # 8: destructured
        "const p = llm.complete('x'); p.then(console.log);\n"
        "let q = tools.call('x'); q = await q; q.value;\n"
        "const a = llm.agent({}); await a.run('x');\n"  # 11: reported; check decides
    )
    found = [(p.call, p.line, p.call_line, p.variable) for p in facts(source, "js").pending]
    assert found == [
        ("llm.complete", 2, 1, "r"),
        ("llm.complete", 5, 5, None),
        ("llm.complete", 7, 7, None),
        ("llm.complete", 8, 8, None),
        ("llm.agent", 11, 11, "a"),
    ]


def test_lua_reports_no_pending_results() -> None:
    assert facts("local r = llm.complete('hi')\nprint(r.content)\n", "lua").pending == ()


TENGO_DEFINED = """
fmt := import("fmt")
a := 1
f := func(p, q, ...rest) { return p + q + a + len(rest) }
m := {key: 1, other: a}
for k, v in m { print(k, v, m.key, m.missing) }
for i := 0; i < 3; i++ { if j := i; j > 1 { a += j } }
g := func(x) { return func() { return x + a } }
fmt.println(f(1, 2), string(a), is_error(error("e")), format("%d", 1), g(1)())
export m
"""


def test_tengo_reads_of_defined_or_builtin_names_are_not_reported() -> None:
    found = facts(TENGO_DEFINED, "tengo")
    assert found.globals_read == () and found.members == ()
    assert {"f", "m", "rest", "len", "print"} <= found.known


def test_tengo_undefined_globals_are_reported_where_read() -> None:
    source = (
        'r := agent.run("x")\n'
        "print(promise)\n"
        "f := func() { return Provider.new() }\n"
        "if true { local := 1 }\n"
        "x := local\n"  # out of its block: Tengo scopes are blocks
        "params.topic = 1\n"
    )
    assert reads(source, "tengo") == [
        ("agent", 1, 6),
        ("promise", 2, 7),
        ("Provider", 3, 22),
        ("local", 5, 6),
        ("params", 6, 1),
    ]


def test_tengo_a_name_used_before_its_definition_fails_the_check() -> None:
    # Tengo resolves names in order: the run would fail with this compile error
    source = "f := func() { return later() }\nlater := func() { return 1 }\n"
    with pytest.raises(SpellSyntaxError) as caught:
        engine_for("a.tengo").check(source, "a.tengo")
    assert caught.value.message == "unresolved reference 'later'"
    assert (caught.value.line, caught.value.column) == (1, 22)


def test_tengo_member_uses_of_globals() -> None:
    source = (
        'state.foo("x")\n'
        "r := llm.chat()\n"
        "c := (llm).complete\n"  # not a plain name: left out
        "tools := {nope: 1}\n"
        "x := tools.nope\n"
        "f := func() { return state.get(llm.complete) }\n"
        "return_value := r.content\n"
    )
    assert members(source, "tengo") == [
        ("state", "foo", 1),
        ("llm", "chat", 2),
        ("state", "get", 6),
        ("llm", "complete", 6),
    ]


def test_tengo_strings_and_comments_are_not_code() -> None:
    source = "// llm.nope\n/* llm.gone\n*/ s := \"llm.none\" + `llm.raw\nllm.x` + string('c')\n"
    found = facts(source, "tengo")
    assert (found.globals_read, found.members, found.pending) == ((), (), ())


@pytest.mark.parametrize(
    ("ext", "source", "line", "column"),
    [
        ("lua", "print(1)\nif then\n", 2, 4),
        ("lua", "local x = = 1", 1, 11),
        ("lua", "x = 1\nprint(x\n", 3, 1),
        ("lua", 'print("then")  x = if then', 1, 20),
        ("js", "const x = ;", 1, 11),
        ("js", "let a = 1;\n  foo(1 2);", 2, 9),
        ("tengo", "x := 1\nif x {\n  y := [1, 2,]\n}\n", 3, 14),
        ("tengo", "a := 1\nb := (2 + \n", 2, 12),
        ("tengo", "x := 1\n  break\n", 2, 3),
    ],
)
def test_syntax_errors_carry_line_and_column(ext: str, source: str, line: int, column: int) -> None:
    with pytest.raises(SpellSyntaxError) as caught:
        engine_for(f"bad.{ext}").check(source, f"bad.{ext}")
    assert (caught.value.line, caught.value.column) == (line, column)
