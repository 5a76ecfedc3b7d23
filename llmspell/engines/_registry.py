"""Finding the engine for a spell file, from the engines' own declarations.

Every engine is a subpackage of :mod:`llmspell.engines` whose ``__init__`` defines an
:class:`Engine` subclass (its ``name`` and ``extensions``) and the module attribute
``ENGINE = ThatEngine``. The registry imports each subpackage (a folder with an ``__init__.py``
beside this module) once (cheap by contract: the
interpreter itself is imported on the engine's first ``open``/``check``) and maps every declared
extension to one shared instance of its engine. Adding an engine is adding a subpackage.
"""

from __future__ import annotations

import functools
import importlib
import os
import pathlib
import threading

from .._exceptions import ConfigError
from ._base import Engine

_table: dict[str, Engine] | None = None
_lock = threading.Lock()


def _declared(module_name: str) -> type[Engine] | None:
    module = importlib.import_module(module_name)
    engine = getattr(module, "ENGINE", None)
    if engine is None:
        return None
    if not (isinstance(engine, type) and issubclass(engine, Engine)):
        raise TypeError(f"{module_name}.ENGINE must be an Engine subclass, not {engine!r}")
    name = getattr(engine, "name", None)
    extensions = getattr(engine, "extensions", None)
    if not isinstance(name, str) or not name:
        raise TypeError(f"{module_name}.ENGINE declares no name")
    if not isinstance(extensions, tuple) or not extensions:
        raise TypeError(f"{module_name}.ENGINE declares no extensions")
    for ext in extensions:
        if not (isinstance(ext, str) and ext.startswith(".") and ext == ext.lower()):
            raise TypeError(f"{module_name}.ENGINE: extension {ext!r} must look like '.lua'")
    return engine


def _discover() -> dict[str, Engine]:
    """Extension → engine instance, for every engine subpackage (in name order)."""
    package = __name__.rpartition(".")[0]
    names: set[str] = set()
    for folder in importlib.import_module(package).__path__:
        with os.scandir(folder) as entries:
            names.update(
                entry.name
                for entry in entries
                if entry.is_dir()
                and entry.name.isidentifier()
                and not entry.name.startswith("_")
                and os.path.exists(os.path.join(entry.path, "__init__.py"))
            )
    table: dict[str, Engine] = {}
    for name in sorted(names):
        engine_class = _declared(f"{package}.{name}")
        if engine_class is None:
            continue
        engine = engine_class()
        for ext in engine_class.extensions:
            other = table.get(ext)
            if other is not None:
                raise TypeError(f"{ext} is declared by two engines: {other.name}, {engine.name}")
            table[ext] = engine
    return table


def _engines() -> dict[str, Engine]:
    global _table
    table = _table
    if table is None:
        with _lock:
            if _table is None:
                _table = _discover()
            table = _table
    return table


def engine_for(filename: str | pathlib.Path) -> Engine:
    """Return the engine declaring ``filename``'s extension (``.lua`` → Lua, ``.js`` → JS ...).

    Raises:
        ConfigError: the extension belongs to no engine.
    """
    suffix = _suffix(os.fspath(filename))
    table = _engines()
    engine = table.get(suffix)
    if engine is None:
        known = ", ".join(sorted(table))
        raise ConfigError(
            f"{filename}: no engine for {suffix or 'files without extension'!r} (known: {known})"
        )
    return engine


@functools.lru_cache(maxsize=256)
def _suffix(filename: str) -> str:
    """``filename``'s extension, lower-cased, as ``pathlib.PurePath.suffix`` reads it (cached:
    every run asks, usually for the same few files)."""
    return pathlib.PurePath(filename).suffix.lower()


def engines() -> tuple[Engine, ...]:
    """Every engine, once each, in the order they were found."""
    return tuple(dict.fromkeys(_engines().values()))


def extensions() -> tuple[str, ...]:
    """The file extensions that have an engine."""
    return tuple(_engines())
