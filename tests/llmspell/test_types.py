"""Editor types: generated from the API, shipped as generated, in step with the real API, and
good enough that the real TypeScript compiler accepts every shipped JS spell and refuses a
misspelt call or a wrong argument."""

from __future__ import annotations

import json
import os
import pathlib
import re
import subprocess

import pytest
from lupa import lua54  # type: ignore[import-untyped]

from llmspell import open_runtime
from llmspell._api import build_surface, shapes
from llmspell._cli import main
from llmspell._ops import SCRIPT_HOOKS
from llmspell._runtime import SpellSource
from llmspell._types import FILES, SHIPPED, luals, typescript
from llmspell.engines import HostObject, is_sync_api
from llmspell.engines._base import MANY, arity

from . import _typescript

ROOT = pathlib.Path(__file__).resolve().parents[2]


def _most(function: shapes.Function) -> int:
    """The most arguments the table lets a call pass (MANY for variadic ones)."""
    counts = []
    for params in (function.params, *function.overloads):
        counts.append(MANY if any(p.variadic for p in params) else len(params))
    return max(counts)


def test_the_shipped_files_are_a_fresh_generation() -> None:
    for name, generate in FILES.items():
        assert (SHIPPED / name).read_text(encoding="utf-8") == generate(), (
            f"llmspell/types/{name} differs from the generated one: "
            "run `llmspell types --out llmspell/types`"
        )


def test_llmspell_types_writes_them(tmp_path: pathlib.Path, capsys) -> None:  # type: ignore[no-untyped-def]
    assert main(["types", "--out", str(tmp_path / "t")]) == 0
    for name in FILES:
        assert (tmp_path / "t" / name).read_text() == (SHIPPED / name).read_text()
    assert "llmspell.d.ts" in capsys.readouterr().out
    (tmp_path / "file").write_text("")
    assert main(["types", "--out", str(tmp_path / "file")]) == 2


def test_the_table_and_the_real_namespaces_agree_name_for_name() -> None:
    surface = build_surface()
    assert set(surface.namespaces) == set(shapes.NAMESPACES) | set(shapes.ALIASES)
    for alias, target in shapes.ALIASES.items():
        assert surface.namespaces[alias] is surface.namespaces[target]
    for name, shape in shapes.NAMESPACES.items():
        real = surface.namespaces[name]
        assert set(real.functions) == set(shape.functions), name
        assert set(real.values) == set(shape.values), name
        assert (real.dynamic is None) == (shape.dynamic is None), name
        for fname, fn in shape.functions.items():
            assert arity(real.functions[fname])[1] == _most(fn), f"{name}.{fname}"
    assert set(surface.functions) == set(shapes.FUNCTIONS)
    for fname, fn in shapes.FUNCTIONS.items():
        assert arity(surface.functions[fname])[1] == _most(fn), fname


def test_hook_handler_types_follow_the_hook_catalogue() -> None:
    handlers = next(s for s in shapes.SHAPES if s.name == "HookHandlers")
    assert [f.name for f in handlers.fields] == list(SCRIPT_HOOKS)
    for field in handlers.fields:
        _, extra = SCRIPT_HOOKS[field.name]
        assert len(field.type.params) == 2 + len(extra), field.name  # ctx, extra..., value


_OBJECTS = """
return {agent = llm.agent{name = "t"}, workflow = workflow.create{name = "w"},
        store = state.create{persistence = "memory"}, state = state.global,
        replacement = hooks.replace(1)}
"""


@pytest.mark.anyio
async def test_the_table_and_the_real_api_objects_agree() -> None:
    async with open_runtime(state=":memory:") as runtime:
        result = await runtime.run(SpellSource(_OBJECTS, "objects.lua"))
    assert result.ok, result.error
    objects: dict[str, HostObject] = {o.type_name: o for o in result.value.values()}
    described = {s.host: s for s in shapes.SHAPES if s.host is not None}
    assert set(objects) == set(described)
    by_name = {s.name: s for s in shapes.SHAPES}
    for type_name, obj in objects.items():
        shape = described[type_name]
        methods = dict(shape.methods)
        fields = list(shape.fields)
        if shape.base is not None:
            methods = {**by_name[shape.base].methods, **methods}
            fields += by_name[shape.base].fields
        assert set(obj.methods) == set(methods), type_name
        assert set(obj.fields) == {f.name for f in fields}, type_name
        for name, fn in methods.items():
            real = obj.methods[name]
            assert is_sync_api(real) == fn.direct, f"{type_name}.{name}"
            assert arity(real)[1] == _most(fn), f"{type_name}.{name}"


# DESIGN, "Engines": calls that wait return Promises; calls that only build or register return
# their value directly.
_DIRECT = {
    "LlmNamespace": ["agent"],
    "ToolsNamespace": ["register"],
    "EventsNamespace": ["on", "once", "off"],
    "HooksNamespace": ["register", "unregister"],
    "StateNamespace": ["scope", "create"],
    "WorkflowNamespace": ["create"],
    "Workflow": ["addStep"],
    "JsonNamespace": ["encode", "decode"],
    "LogNamespace": ["debug", "info", "warn", "error"],
    "MetricsNamespace": ["inc", "observe", "set", "record"],
}
_WAITING = {
    "LlmNamespace": ["complete", "stream"],
    "Agent": ["run"],
    "ToolsNamespace": ["call"],
    "StateNamespace": ["get", "set", "delete", "keys", "update"],
    "State": ["get", "set", "delete", "keys", "update"],
    "Workflow": ["run"],
    "EventsNamespace": ["wait"],
}


def _methods(text: str) -> dict[str, dict[str, str]]:
    """interface → method → its result type, read off the generated d.ts."""
    found: dict[str, dict[str, str]] = {}
    for block in re.finditer(r"interface (\w+)[^{]*\{(.*?)\n  \}", text, re.DOTALL):
        methods = found.setdefault(block.group(1), {})
        for m in re.finditer(r"^    (\w+)\(.*\): (.+);$", block.group(2), re.MULTILINE):
            methods[m.group(1)] = m.group(2)
    return found


def test_js_calls_that_build_or_register_return_values_not_promises() -> None:
    methods = _methods(typescript())
    for interface, names in _DIRECT.items():
        for name in names:
            assert not methods[interface][name].startswith("Promise<"), f"{interface}.{name}"
    for interface, names in _WAITING.items():
        for name in names:
            assert methods[interface][name].startswith("Promise<"), f"{interface}.{name}"
    assert "readonly global: llmspell.State;" in typescript()  # state.global: a value
    assert "declare function sleep(seconds: number): Promise<void>;" in typescript()


def test_the_lua_annotations_are_lua() -> None:
    text = luals()
    assert text.startswith("---@meta")
    runtime = lua54.LuaRuntime()
    compiled = runtime.eval(
        "function(s) local f, err = load(s, '=llmspell.lua', 't') return err end"
    )
    assert compiled(text) is None
    assert "---@param request string|llmspell.LlmRequest" in text
    assert "function llmspell_Agent:run(input) end" in text
    assert "---@class llmspell.Store: llmspell.State" in text


# -- the real TypeScript compiler ---------------------------------------------------------------


@pytest.fixture(scope="module")
def tsc() -> pathlib.Path:
    found = _typescript.ensure()
    if isinstance(found, str):
        if os.environ.get("CI"):
            pytest.fail(found)
        pytest.skip(found)
    return found


def _check(tsc: pathlib.Path, tmp: pathlib.Path, spells: dict[str, str]) -> str:
    """tsc's diagnostics for ``spells`` (name → JS source), each checked as the engine runs
    it: the body of an async function (top-level ``await`` and ``return`` work). The wrapper
    opens on the spell's first line, so line numbers are the spell's."""
    files = []
    for name, source in spells.items():
        path = tmp / name
        path.write_text("(async function () {" + source + "\n})();\n", encoding="utf-8")
        files.append(path.name)
    (tmp / "llmspell.d.ts").write_text((SHIPPED / "llmspell.d.ts").read_text())
    config = {
        "compilerOptions": {
            "noEmit": True,
            "allowJs": True,
            "checkJs": True,
            "target": "es2022",
            "lib": ["es2022"],
            "types": [],
        },
        "files": ["llmspell.d.ts", *files],
    }
    (tmp / "tsconfig.json").write_text(json.dumps(config))
    done = subprocess.run(
        ["node", str(tsc), "-p", str(tmp / "tsconfig.json"), "--pretty", "false"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    return done.stdout + done.stderr


@pytest.mark.slow
def test_every_shipped_js_spell_type_checks(tsc: pathlib.Path, tmp_path: pathlib.Path) -> None:
    spells = {
        str(p.relative_to(ROOT / "spells")).replace("/", "_"): p.read_text()
        for p in sorted((ROOT / "spells").rglob("*.js"))
    }
    assert len(spells) >= 10
    assert _check(tsc, tmp_path, spells) == ""


@pytest.mark.slow
def test_misspelt_calls_and_wrong_arguments_fail(tsc: pathlib.Path, tmp_path: pathlib.Path) -> None:
    bad = {
        "misspelt.js": 'const r = await llm.compelte("hi");\n',
        "shape.js": "await llm.complete({ prompt: 42 });\n",
        "promise.js": 'const r = llm.complete("hi");\nprint(r.content);\n',
        "count.js": 'await state.get("a", "b");\n',
        "hook.js": "hooks.register({ beforeGenrate: (ctx, req) => req });\n",
    }
    out = _check(tsc, tmp_path, bad)
    # (columns on line 1 count the wrapper's 20 characters too; lines are the spell's)
    assert "misspelt.js(1,41): error TS2551: Property 'compelte' does not exist" in out, out
    assert "shape.js(1," in out and "Type 'number' is not assignable to type 'string'" in out, out
    assert (
        "promise.js(2,9): error TS2339: Property 'content' does not exist on type 'Promise<" in out
    ), out
    assert "count.js(1," in out and "Expected 1 arguments, but got 2" in out, out
    assert "hook.js(1," in out and "beforeGenrate" in out, out
    good = {
        "good.js": 'const a = llm.agent({ name: "x" });\nconst t = await a.run("hi");\n'
        'const wf = workflow.create({ name: "w" }).addStep({ name: "s", fn: (i) => i });\n'
        "events.on('a.*', (e, topic) => print(topic));\nawait tools.calculator('1 + 1');\n"
        "return (await wf.run({})).status + t;\n"
    }
    assert _check(tsc, tmp_path, good) == ""


def test_without_npm_the_check_says_how_to_get_it(monkeypatch, tmp_path) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(_typescript, "PREFIX", tmp_path / "typescript")
    monkeypatch.setattr(_typescript.shutil, "which", lambda name: None)
    found = _typescript.ensure()
    assert isinstance(found, str)
    assert "apt-get install nodejs npm" in found and _typescript.TYPESCRIPT_VERSION in found
