"""Turning Lua errors into the runtime's exceptions, with the spell's file name and line.

Spells are compiled with the chunk name ``"=" + name`` so messages read ``hello.lua:3: ...``.
Lua truncates chunk names in messages, so long file names are shortened to their base name for
Lua (:func:`chunk_name`); the exceptions still carry the full file name.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from lupa import lua54  # type: ignore[import-untyped]

from ..._exceptions import SpellRuntimeError, SpellSyntaxError

_lua_type = lua54.lua_type
_PRELUDE_WHERE = re.compile(r"^\?:-?\d+: ")  # a position inside the (stripped) prelude


def chunk_name(filename: str) -> str:
    """The name Lua knows the spell by (at most 50 bytes, so messages stay parseable)."""
    if len(filename.encode()) <= 50:
        return filename
    base = filename.replace("\\", "/").rsplit("/", 1)[-1]
    return base if len(base.encode()) <= 50 else base[-40:]


def prepare_source(source: str) -> bytes:
    """UTF-8 source without a byte-order mark; a ``#!`` first line becomes a comment."""
    if source.startswith("\ufeff"):
        source = source[1:]
    if source.startswith("#"):
        source = "--" + source
    return source.encode("utf-8", "surrogatepass")


def _location(chunk: str) -> re.Pattern[str]:
    return re.compile(rf"^{re.escape(chunk)}:(\d+): ?(.*)$", re.DOTALL)


def syntax_error(filename: str, chunk: str, raw: object) -> SpellSyntaxError:
    """The exception for ``load``'s error message ``raw``."""
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
    m = _location(chunk).match(text)
    if m:
        return SpellSyntaxError(filename, int(m.group(1)), m.group(2))
    return SpellSyntaxError(filename, None, text)


def runtime_error(
    filename: str, chunk: str, raw: Any, to_py: Callable[[Any], Any]
) -> SpellRuntimeError:
    """The exception for the runner's ``{error, traceback}`` (or a bare error value)."""
    err: Any = raw
    traceback: Any = b""
    if _lua_type(raw) == "table":
        parts = dict(raw.items())
        err, traceback = parts.get(1), parts.get(2, b"")
    message = _render(err, to_py)
    tb = _clean_traceback(traceback)
    line = None
    m = _location(chunk).match(message)
    if m:
        line, message = int(m.group(1)), m.group(2)
    else:
        frame = re.search(rf"^\s*{re.escape(chunk)}:(\d+):", tb, re.MULTILINE)
        if frame:
            line = int(frame.group(1))
    return SpellRuntimeError(filename, line, message, tb)


def _render(err: Any, to_py: Callable[[Any], Any]) -> str:
    """A message for any error value; tables render as JSON (``error({code = 1})``)."""
    if isinstance(err, bytes):
        return _PRELUDE_WHERE.sub("", err.decode("utf-8", "replace"), count=1)
    if err is None:
        return "nil"
    if isinstance(err, bool):
        return "true" if err else "false"
    if isinstance(err, (int, float)):
        return str(err)
    try:
        value = to_py(err)
        if isinstance(value, (dict, list)):
            return json.dumps(value, ensure_ascii=False, default=repr)
    except (TypeError, ValueError):
        pass
    return f"(error object is a {_lua_type(err) or type(err).__name__} value)"


def _clean_traceback(raw: Any) -> str:
    """Drop the prelude's frames (stripped bytecode shows them as ``?``) and the runner's."""
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else ""
    lines = [ln for ln in text.splitlines() if not ln.lstrip().startswith("?")]
    if lines and lines[-1].strip() == "[C]: in function 'xpcall'":
        lines.pop()
    return "\n".join(lines)
