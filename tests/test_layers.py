"""The layers stay visible: actors imports nothing of ours; llmspell uses actors' public API."""

from __future__ import annotations

import ast
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent


def _imports(package: str) -> list[tuple[pathlib.Path, str]]:
    found = []
    for path in (ROOT / package).rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                found += [(path, alias.name) for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                found.append((path, node.module))
    return found


def test_actors_depends_on_anyio_and_the_standard_library_only() -> None:
    allowed_third_party = {"anyio", "sniffio", "actors"}
    bad = [
        (p.name, m)
        for p, m in _imports("actors")
        if m.split(".")[0] in {"llmspell", "observability", "asyncio", "trio"}
        or (m.split(".")[0] not in allowed_third_party and not _is_stdlib(m))
    ]
    assert bad == []


def test_llmspell_uses_only_the_public_api_of_actors() -> None:
    bad = [
        (str(p.relative_to(ROOT)), m) for p, m in _imports("llmspell") if m.startswith("actors.")
    ]
    assert bad == []


def test_observability_does_not_import_the_spell_runtime_internals() -> None:
    bad = [
        (p.name, m)
        for p, m in _imports("observability")
        if m.startswith("llmspell.") and m.split(".")[1].startswith("_")
    ]
    assert bad == []


def _is_stdlib(module: str) -> bool:
    import sys

    return module.split(".")[0] in sys.stdlib_module_names


@pytest.mark.parametrize("package", ["actors", "llmspell", "llmspell.engines"])
def test_public_names_are_explicit_reexports(package: str) -> None:
    import importlib

    module = importlib.import_module(package)
    source = pathlib.Path(module.__file__ or "").read_text(encoding="utf-8")
    tree = ast.parse(source)
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            for alias in node.names:
                # `from ._x import Name as Name` is how a name is made public
                assert alias.asname in (alias.name, None) or alias.asname.startswith("_")
