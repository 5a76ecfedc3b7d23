"""Finding the engine for a spell file by its extension."""

from __future__ import annotations

import importlib
import pathlib

from .._exceptions import ConfigError
from ._base import Engine

# extension -> (module, class); imported on first use so `llmspell --help` stays fast
_ENGINES: dict[str, tuple[str, str]] = {
    ".lua": ("llmspell.engines._lua", "LuaEngine"),
    ".js": ("llmspell.engines._js", "JsEngine"),
    ".mjs": ("llmspell.engines._js", "JsEngine"),
    ".tengo": ("llmspell.engines.tengo", "TengoEngine"),
}
_instances: dict[tuple[str, str], Engine] = {}


def engine_for(filename: str | pathlib.Path) -> Engine:
    """Return the engine for ``filename`` (``.lua`` → Lua, ``.js``/``.mjs`` → JavaScript).

    Raises:
        ConfigError: the extension belongs to no engine.
    """
    suffix = pathlib.Path(filename).suffix.lower()
    try:
        key = _ENGINES[suffix]
    except KeyError:
        known = ", ".join(sorted(_ENGINES))
        raise ConfigError(
            f"{filename}: no engine for {suffix or 'files without extension'!r} (known: {known})"
        ) from None
    engine = _instances.get(key)
    if engine is None:
        module = importlib.import_module(key[0])
        engine = _instances[key] = getattr(module, key[1])()
    return engine


def extensions() -> tuple[str, ...]:
    """The file extensions that have an engine."""
    return tuple(_ENGINES)
