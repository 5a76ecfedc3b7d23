"""The engine registry is built from the engines' own declarations: adding an engine is adding a
subpackage of ``llmspell.engines``, and finding one imports no interpreter."""

from __future__ import annotations

import pathlib
import subprocess
import sys
import textwrap

import pytest

import llmspell.engines
from llmspell._exceptions import ConfigError
from llmspell.engines import _registry, engine_for, engines, extensions
from llmspell.engines.js import JsEngine
from llmspell.engines.lua import LuaEngine

ECHO_ENGINE = '''
"""A third engine, declared the way every engine is."""

from llmspell.engines import Engine


class EchoEngine(Engine):
    name = "echo"
    extensions = (".echo", ".ech")

    def check(self, source, filename):
        return None

    def open(self, source, filename, api, limits):
        raise NotImplementedError


ENGINE = EchoEngine
'''


@pytest.fixture
def fresh_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_registry, "_table", None)


def test_extensions_come_from_each_engines_declaration() -> None:
    from llmspell.engines.tengo import TengoEngine

    assert set(extensions()) == {
        *LuaEngine.extensions,
        *JsEngine.extensions,
        *TengoEngine.extensions,
    }
    assert isinstance(engine_for("a.lua"), LuaEngine)
    assert isinstance(engine_for("b.MJS"), JsEngine)  # declared by JsEngine, not by the registry
    assert engine_for("c.js") is engine_for("d.mjs")  # one instance per engine
    assert sorted(e.name for e in engines()) == ["javascript", "lua", "tengo"]


def test_an_unknown_extension_names_the_known_ones() -> None:
    with pytest.raises(ConfigError, match=r"x\.py: no engine for '\.py' \(known: .*\.js.*\.lua"):
        engine_for("x.py")


def test_a_new_engine_is_one_new_subpackage(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch, fresh_registry: None
) -> None:
    package = tmp_path / "echo"
    package.mkdir()
    (package / "__init__.py").write_text(ECHO_ENGINE)
    monkeypatch.setattr(llmspell.engines, "__path__", [*llmspell.engines.__path__, str(tmp_path)])
    monkeypatch.delitem(sys.modules, "llmspell.engines.echo", raising=False)

    engine = engine_for("spell.echo")
    assert engine.name == "echo"
    assert engine_for("spell.ech") is engine
    assert {".echo", ".ech", ".lua", ".js"} <= set(extensions())
    sys.modules.pop("llmspell.engines.echo", None)


def test_two_engines_claiming_one_extension_is_an_error(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch, fresh_registry: None
) -> None:
    package = tmp_path / "luaclone"
    package.mkdir()
    (package / "__init__.py").write_text(ECHO_ENGINE.replace('(".echo", ".ech")', '(".lua",)'))
    monkeypatch.setattr(llmspell.engines, "__path__", [*llmspell.engines.__path__, str(tmp_path)])
    monkeypatch.delitem(sys.modules, "llmspell.engines.luaclone", raising=False)
    with pytest.raises(TypeError, match=r"\.lua is declared by two engines: lua, echo"):
        engine_for("x.lua")
    sys.modules.pop("llmspell.engines.luaclone", None)


def test_finding_an_engine_imports_no_interpreter() -> None:
    code = textwrap.dedent(
        """
        import sys
        from llmspell.engines import engine_for, extensions
        extensions()
        engine_for("a.lua"), engine_for("b.js")
        print(sorted(m for m in sys.modules if m.split(".")[0] in ("lupa", "quickjs", "_quickjs")))
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    assert out.strip() == "[]"
