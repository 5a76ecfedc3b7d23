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
# Compiled by re's own cache when an error is first described (not on every run's start-up).
_PRELUDE_WHERE = r"^\?:-?\d+: "  # a position inside the (stripped) prelude
_NEAR = r"near (<eof>|'(.+)')$"


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


def syntax_error(
    filename: str,
    chunk: str,
    raw: object,
    source: str = "",
    compile_error: Callable[[str], str | None] | None = None,
) -> SpellSyntaxError:
    """The exception for ``load``'s error message ``raw`` about ``source``.

    ``compile_error(text)`` (``load``'s message for ``text``, None if it compiles) lets the
    column be found: Lua names the token it stopped at (``near 'then'``), and the first such
    token on the line whose prefix of the source stops Lua with the same message is that token.
    """
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
    m = _location(chunk).match(text)
    if m is None:
        return SpellSyntaxError(filename, None, text)
    line, message = int(m.group(1)), m.group(2)
    column = _column(source, line, message, text, compile_error) if source else None
    return SpellSyntaxError(filename, line, message, column)


def _column(
    source: str,
    line: int,
    message: str,
    full: str,
    compile_error: Callable[[str], str | None] | None,
) -> int | None:
    from ._scope import tokenize  # only a syntax error needs it

    near = re.search(_NEAR, message, re.DOTALL)
    if near is None:
        return None
    if near.group(1) == "<eof>":
        lines = source.split("\n")
        return len(lines[line - 1]) + 1 if line <= len(lines) else None
    offsets = [0]
    for text_line in source.split("\n"):
        offsets.append(offsets[-1] + len(text_line) + 1)
    candidates = [
        t for t in tokenize(source) if t.line == line and t.text.startswith(near.group(2))
    ]
    for tok in candidates:
        if compile_error is None or len(candidates) == 1:
            return tok.column
        end = offsets[line - 1] + tok.column - 1 + len(tok.text)
        if compile_error(source[:end]) == full:
            return tok.column
    return candidates[0].column if candidates else None


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
        return re.sub(_PRELUDE_WHERE, "", err.decode("utf-8", "replace"), count=1)
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
    """Drop the prelude's frames (stripped bytecode shows them as ``?``) and the runner's (its
    ``xpcall``, below which a coroutine serving its second call shows ``(...tail calls...)``)."""
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else ""
    lines = [ln for ln in text.splitlines() if not ln.lstrip().startswith("?")]
    if len(lines) > 1 and lines[-1].strip() == "(...tail calls...)":
        if lines[-2].strip() == "[C]: in function 'xpcall'":
            lines.pop()
    if lines and lines[-1].strip() == "[C]: in function 'xpcall'":
        lines.pop()
    return "\n".join(lines)
