"""``llmspell check`` reports what would fail at once: undefined globals, members the API lacks,
and (JS) a Promise used without ``await`` — each with file:line — and passes correct spells."""

from __future__ import annotations

import pathlib
from typing import Any

import pytest

from llmspell._check import check_source
from llmspell._cli import main
from llmspell.engines import Api, Namespace, sync_api


async def _waits(*args: Any) -> None:
    return None


@sync_api
async def _builds(*args: Any) -> None:
    return None


API = Api(
    namespaces={
        "llm": Namespace({"complete": _waits, "agent": _builds}),
        "state": Namespace({"get": _waits, "set": _waits}),
        "tools": Namespace({"call": _waits}, dynamic=_waits),
        "log": Namespace({"info": _builds}),
    },
    functions={"sleep": _waits},
    values={"params": {}},
    output=lambda text: None,
)


def found(source: str, ext: str) -> list[str]:
    return [str(p) for p in check_source(source, f"spell.{ext}", API)]


def test_lua_spell_that_fails_at_once_is_reported_line_by_line() -> None:
    source = (
        "local agent = llm.agent({name = 'x'})\n"
        "local r = agnet:run('hi')\n"
        "print(promise)\n"
        "local p = Provider.new()\n"
        "state.foo('k')\n"
        "local c = llm.chat('hi')\n"
        "print(agnet)\n"
    )
    assert found(source, "lua") == [
        "spell.lua:2:11: agnet is not defined: the spell never sets it and the API has no such "
        "global; did you mean agent?",
        "spell.lua:3:7: promise is not defined: the spell never sets it and the API has no such "
        "global",
        "spell.lua:4:11: Provider is not defined: the spell never sets it and the API has no such "
        "global",
        "spell.lua:5:7: state.foo is not part of the API (known: get, set)",
        "spell.lua:6:15: llm.chat is not part of the API (known: agent, complete)",
    ]


def test_js_spell_that_fails_at_once_is_reported_line_by_line() -> None:
    source = (
        "const p = new promise(res => res(1));\n"
        "const r = llm.complete('hi');\n"
        "console.log(r.content);\n"
        "await state.foo('k');\n"
        "const c = llm.complete('hi').content;\n"
    )
    assert found(source, "js") == [
        "spell.js:1:15: promise is not defined: the spell never sets it and the API has no such "
        "global; did you mean Promise?",
        "spell.js:3:15: r is a Promise: llm.complete(...) on line 2 is not awaited "
        "(const r = await llm.complete(...))",
        "spell.js:4:13: state.foo is not part of the API (known: get, set)",
        "spell.js:5:30: llm.complete(...) returns a Promise: await it before using its result, "
        "(await llm.complete(...))",
    ]


def test_tengo_spell_that_fails_at_once_is_reported_line_by_line() -> None:
    source = (
        'agent := llm.agent({name: "x"})\n'
        'r := agnet.run("hi")\n'
        "print(promise)\n"
        'state.foo("k")\n'
        'c := llm.chat("hi")\n'
    )
    assert found(source, "tengo") == [
        "spell.tengo:2:6: agnet is not defined: the spell never sets it and the API has no "
        "such global; did you mean agent?",
        "spell.tengo:3:7: promise is not defined: the spell never sets it and the API has no "
        "such global",
        "spell.tengo:4:7: state.foo is not part of the API (known: get, set)",
        "spell.tengo:5:10: llm.chat is not part of the API (known: agent, complete)",
    ]


def test_calls_that_return_directly_need_no_await() -> None:
    # llm.agent is marked sync_api in this API: its result is the agent itself.
    source = "const a = llm.agent({});\nconst t = a.name;\nlog.info('x').y;\n"
    assert found(source, "js") == []


CORRECT = {
    "lua": (
        "local r = llm.complete(params.topic or 'x')\n"
        "local agent = llm.agent({name = 'a'})\n"
        "function helper(x) return tools.weather(x), state.get('k') end\n"
        "for i, v in ipairs({1, 2}) do sleep(0) end\n"
        "return {r.content, helper(1), string.rep('x', 2)}\n"
    ),
    "js": (
        "const r = await llm.complete(params.topic ?? 'x');\n"
        "const agent = llm.agent({name: 'a'});\n"
        "async function helper(x) { return [await tools.weather(x), await state.get('k')]; }\n"
        "for (const [i, v] of [1, 2].entries()) await sleep(0);\n"
        "const results = await Promise.all([helper(1), llm.complete('y')]);\n"
        "return [r.content, results.length, JSON.stringify({a: 1}), Math.max(1, 2)];\n"
    ),
    "tengo": (
        'text := import("text")\n'
        'r := llm.complete(params.topic || "x")\n'
        'agent := llm.agent({name: "a"})\n'
        'helper := func(x) { return [tools.weather(x), state.get("k")] }\n'
        "for i, v in [1, 2] { sleep(0) }\n"
        'export [r.content, helper(1), text.repeat("x", 2), len(params)]\n'
    ),
}


@pytest.mark.parametrize("ext", ["lua", "js", "tengo"])
def test_correct_spells_pass(ext: str) -> None:
    assert found(CORRECT[ext], ext) == []


def test_the_command_reports_with_the_real_api(
    tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spell = tmp_path / "bad.js"
    spell.write_text("const r = llm.complete('hi');\nconsole.log(r.content, nope);\n")
    assert main(["check", str(spell)]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out == [
        f"{spell}:2:15: r is a Promise: llm.complete(...) on line 1 is not awaited "
        "(const r = await llm.complete(...))",
        f"{spell}:2:24: nope is not defined: the spell never sets it and the API has no such global",
    ]


def test_a_syntax_error_is_reported_with_its_column(
    tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spell = tmp_path / "broken.lua"
    spell.write_text("print(1)\nif then\n")
    assert main(["check", str(spell)]) == 1
    out = capsys.readouterr().out
    assert out == f"{spell}:2:4: syntax error: unexpected symbol near 'then'\n"
