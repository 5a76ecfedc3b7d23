"""The layers stay visible: rules checked on the import graph of every module.

The house reads top-down with no loop: CLI → runtime → ``_api`` → ``_ops`` → engines /
providers / tools → ``actors``. Each rule is a function of an import graph; the tests run it on
the real tree and on a small fixture tree that breaks it, so a rule that cannot fail is caught too.
Imports under ``if TYPE_CHECKING:`` are left out: they are for the type checker, not at run time.
"""

from __future__ import annotations

import ast
import pathlib
import sys
from collections.abc import Iterator

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
PACKAGES = ("actors", "llmspell", "observability")

Graph = dict[str, set[str]]  # module -> modules (or packages) it imports


def _module_name(root: pathlib.Path, path: pathlib.Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _runtime_nodes(tree: ast.Module) -> Iterator[ast.AST]:
    """Every node, except what sits under ``if TYPE_CHECKING:``."""
    stack: list[ast.AST] = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            stack.extend(node.orelse)
            continue
        yield node
        stack.extend(ast.iter_child_nodes(node))


def import_graph(root: pathlib.Path, packages: tuple[str, ...] = PACKAGES) -> Graph:
    """The import graph of ``packages`` under ``root``; relative imports resolved."""
    modules = {
        _module_name(root, path): path
        for package in packages
        for path in (root / package).rglob("*.py")
    }
    graph: Graph = {}
    for name, path in modules.items():
        is_package = path.name == "__init__.py"
        here = name if is_package else name.rpartition(".")[0]
        targets: set[str] = set()
        for node in _runtime_nodes(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = here.split(".")
                    base = base[: len(base) - (node.level - 1)]
                    module = ".".join([*base, *([node.module] if node.module else [])])
                else:
                    module = node.module or ""
                for alias in node.names:  # `from pkg import submodule` imports the submodule
                    full = f"{module}.{alias.name}"
                    targets.add(full if full in modules else module)
        graph[name] = {t for t in targets if t and t != name}
    return graph


def _ours(module: str) -> bool:
    return module.split(".")[0] in PACKAGES


# -- the rules ---------------------------------------------------------------------------------


def private_reach(graph: Graph) -> list[tuple[str, str]]:
    """No module imports another package's private module: to import ``a._b._c`` you must be
    inside ``a`` (for ``_b``) and inside ``a._b`` (for ``_c``)."""
    bad = []
    for module, targets in graph.items():
        for target in filter(_ours, targets):
            parts = target.split(".")
            for i, part in enumerate(parts):
                if part.startswith("_") and not part.startswith("__"):
                    owner = ".".join(parts[:i])
                    if not (module == owner or module.startswith(owner + ".")):
                        bad.append((module, target))
                        break
    return sorted(bad)


#: Optional modules of ``actors`` with their own extra, and what they may import besides.
ACTORS_OPTIONAL = {"actors.nats": {"nats", "asyncio"}}


def actors_imports_nothing_of_ours(graph: Graph) -> list[tuple[str, str]]:
    """``actors`` depends on anyio and the standard library only (its optional modules, such as
    ``actors.nats`` with the ``nats`` extra, also on their one library)."""
    allowed = {"anyio", "sniffio", "actors"}
    return sorted(
        (module, target)
        for module, targets in graph.items()
        if module.split(".")[0] == "actors"
        for target in targets
        if target.split(".")[0] not in ACTORS_OPTIONAL.get(module, set())
        if target.split(".")[0] in {"llmspell", "observability", "asyncio", "trio"}
        or (target.split(".")[0] not in allowed and target.split(".")[0] not in _STDLIB)
    )


def ops_never_imports_api(graph: Graph) -> list[tuple[str, str]]:
    """``_ops`` sits below the script API: it never imports it."""
    return sorted(
        (module, target)
        for module, targets in graph.items()
        if module.startswith("llmspell._ops")
        for target in targets
        if target == "llmspell._api" or target.startswith("llmspell._api.")
    )


def observability_uses_public_names(graph: Graph) -> list[tuple[str, str]]:
    """``observability`` reaches llmspell and actors only through their public names."""
    return sorted(
        (module, target)
        for module, targets in graph.items()
        if module.split(".")[0] == "observability"
        for target in targets
        if target.split(".")[0] in ("llmspell", "actors")
        and any(p.startswith("_") and not p.startswith("__") for p in target.split(".")[1:])
    )


TELEMETRY = ("opentelemetry", "prometheus_client", "grpc")


def only_observability_imports_telemetry(graph: Graph) -> list[tuple[str, str]]:
    """The OpenTelemetry SDK and prometheus-client are imported by ``observability`` only."""
    return sorted(
        (module, target)
        for module, targets in graph.items()
        if module.split(".")[0] != "observability"
        for target in targets
        if target.split(".")[0] in TELEMETRY
    )


def _unit(module: str) -> str:
    """The part of llmspell a module belongs to: ``llmspell._ops``, ``llmspell.engines`` ..."""
    return ".".join(module.split(".")[:2])


def subpackage_cycles(graph: Graph) -> list[list[str]]:
    """Import cycles between llmspell's parts (subpackages and top-level modules)."""
    edges: dict[str, set[str]] = {}
    for module, targets in graph.items():
        if module.split(".")[0] != "llmspell" or module == "llmspell":
            continue
        for target in targets:
            if target.split(".")[0] == "llmspell" and target != "llmspell":
                if _unit(target) != _unit(module):
                    edges.setdefault(_unit(module), set()).add(_unit(target))
    return [sorted(c) for c in _strongly_connected(edges) if len(c) > 1]


def _strongly_connected(edges: dict[str, set[str]]) -> list[set[str]]:
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[set[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in edges.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = set()
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.add(top)
                if top == node:
                    break
            found.append(component)

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


# Higher imports lower, never the other way. Parts on one level do not import each other.
LAYERS: dict[str, int] = {
    "llmspell.__main__": 9,
    "llmspell._cli": 8,
    "llmspell._cli_serve": 7,
    "llmspell._cli_repl": 7,
    "llmspell._cli_types": 7,
    "llmspell._cli_common": 6,
    "llmspell._repl": 6,
    "llmspell.serve": 6,
    "llmspell._cli_state": 5,
    "llmspell._cli_events": 5,
    "llmspell._cli_observe": 5,
    "llmspell._cli_workflows": 5,
    "llmspell._check": 5,
    "llmspell._types": 5,
    "llmspell._runtime": 5,
    "llmspell._api": 4,
    "llmspell._ops": 3,
    "llmspell._config": 3,
    "llmspell.testing": 3,
    "llmspell.engines": 2,
    "llmspell.providers": 2,
    "llmspell.tools": 2,
    "llmspell.state": 2,
    "llmspell.workflows": 2,
    "llmspell._exceptions": 0,
    "llmspell._json": 0,
    "llmspell._lazy": 0,
    "llmspell._aiosqlite": 0,
}


def layer_order(graph: Graph) -> list[tuple[str, str]]:
    """Every import between llmspell's parts goes down the layers (and every part has a layer)."""
    bad = []
    for module, targets in graph.items():
        if module.split(".")[0] != "llmspell" or module == "llmspell":
            continue
        unit = _unit(module)
        if unit not in LAYERS:
            bad.append((module, "<no layer>"))
            continue
        for target in targets:
            if target.split(".")[0] != "llmspell" or target == "llmspell":
                continue
            other = _unit(target)
            if other != unit and LAYERS.get(other, 99) >= LAYERS[unit]:
                bad.append((module, target))
    return sorted(bad)


_STDLIB = set(sys.stdlib_module_names)

RULES = [
    private_reach,
    actors_imports_nothing_of_ours,
    ops_never_imports_api,
    observability_uses_public_names,
    only_observability_imports_telemetry,
    subpackage_cycles,
    layer_order,
]


@pytest.fixture(scope="module")
def graph() -> Graph:
    return import_graph(ROOT)


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.__name__)
def test_the_tree_keeps_the_rule(rule: object, graph: Graph) -> None:
    assert callable(rule)
    assert rule(graph) == []


# -- each rule can fail: a small tree that breaks every one ------------------------------------

BROKEN = {
    "actors/__init__.py": "from ._cell import Cell\n",
    "actors/_cell.py": "import llmspell\nimport requests\nclass Cell: ...\n",
    "llmspell/__init__.py": "",
    "llmspell/_runtime.py": "from actors import _cell\nfrom ._api import x\nfrom . import engines\n",
    "llmspell/_api/__init__.py": "from .._ops._context import RunContext\nx = 1\n",
    "llmspell/_ops/__init__.py": "from .._api import x\n",
    "llmspell/_ops/_context.py": "class RunContext: ...\n",
    "llmspell/engines/__init__.py": "from llmspell import _runtime\nfrom ._lua import Lua\n",
    "llmspell/engines/_lua.py": "import opentelemetry.trace\nclass Lua: ...\n",
    "llmspell/_mystery.py": "",
    "observability/__init__.py": "from actors._bus import EventBus\nfrom llmspell.engines import _lua\n",
}


@pytest.fixture
def broken(tmp_path: pathlib.Path) -> Graph:
    for name, text in BROKEN.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("from typing import TYPE_CHECKING\n" + text)
    # a TYPE_CHECKING import is not a run-time import: it must not count
    (tmp_path / "llmspell/_ops/_context.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .._api import x\n"
    )
    return import_graph(tmp_path)


def test_every_rule_catches_its_violation(broken: Graph) -> None:
    assert private_reach(broken) == [
        ("llmspell._api", "llmspell._ops._context"),
        ("llmspell._runtime", "actors._cell"),
        ("observability", "actors._bus"),
        ("observability", "llmspell.engines._lua"),
    ]
    assert actors_imports_nothing_of_ours(broken) == [
        ("actors._cell", "llmspell"),
        ("actors._cell", "requests"),
    ]
    assert ops_never_imports_api(broken) == [("llmspell._ops", "llmspell._api")]
    assert observability_uses_public_names(broken) == [
        ("observability", "actors._bus"),
        ("observability", "llmspell.engines._lua"),
    ]
    assert only_observability_imports_telemetry(broken) == [
        ("llmspell.engines._lua", "opentelemetry.trace")
    ]
    assert sorted(subpackage_cycles(broken)) == [
        ["llmspell._api", "llmspell._ops"],
        ["llmspell._runtime", "llmspell.engines"],
    ]
    assert ("llmspell.engines", "llmspell._runtime") in layer_order(broken)
    assert ("llmspell._ops", "llmspell._api") in layer_order(broken)
    assert ("llmspell._mystery", "<no layer>") in layer_order(broken)


def test_type_checking_imports_do_not_count(broken: Graph) -> None:
    assert broken["llmspell._ops._context"] == {"typing"}


@pytest.mark.parametrize("package", ["actors", "llmspell", "llmspell.engines", "observability"])
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
