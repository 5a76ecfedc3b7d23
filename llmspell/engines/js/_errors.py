"""Mapping QuickJS and bridge errors to the spell runtime's exceptions.

The spell is compiled after ``LINE_PAD`` blank lines plus the two lines of the async function
header, so a frame at line ``n`` belongs to the spell's line ``n - SKIP``; frames at or below
``SKIP`` are the prelude's (and ``eval``/``Function`` code's) and are hidden.
"""

from __future__ import annotations

import functools
import json
import re
from typing import Any

import quickjs  # type: ignore[import-untyped]

from ..._exceptions import LimitExceeded, SpellError, SpellRuntimeError, SpellSyntaxError
from .._base import Limits, api_error_text, limit_exceeded
from ._codec import dumps
from ._prelude import CHECK, LINE_PAD
from ._scope import error_line

SKIP = LINE_PAD + 2
_FRAME_LINE = re.compile(r":(\d+):\d+\)$")
_RAW_FRAME = re.compile(r"\(<input>:(\d+):(\d+)\)$")


def compile_check(source: str) -> str:
    """'' if ``source`` compiles as a spell, else QuickJS's message and stack."""
    ctx = quickjs.Context()
    ctx.set_memory_limit(256 * 1024 * 1024)
    ctx.set_time_limit(10.0)
    try:
        result = ctx.eval(CHECK)(dumps("\n" * LINE_PAD + source))
    except quickjs.JSException as exc:
        return f"SyntaxError: the spell could not be compiled ({str(exc).partition(chr(10))[0]})"
    return result if isinstance(result, str) else ""


@functools.cache
def builtin_globals() -> frozenset[str]:
    """The globals of every spell before the API is added: QuickJS's own (read off a fresh
    Context), the ``print`` and ``console`` the prelude adds, and ``arguments``."""
    ctx = quickjs.Context()
    names = json.loads(ctx.eval("JSON.stringify(Object.getOwnPropertyNames(globalThis))"))
    return frozenset(names) | {"print", "console", "arguments"}


def syntax_error(filename: str, problem: str) -> SpellSyntaxError:
    """The SpellSyntaxError for a :func:`compile_check` result."""
    head, _, rest = problem.partition("\n")
    message = head.removeprefix("SyntaxError: ")
    found = re.search(r"<input>:(\d+)(?::(\d+))?", rest)
    line = int(found.group(1)) - SKIP if found else None
    if found is None or line is None or line <= 0:
        return SpellSyntaxError(filename, None, message)
    column = int(found.group(2)) if found.group(2) else None
    return SpellSyntaxError(filename, line, message, column)


def clean_stack(stack: str, filename: str) -> str:
    """The spell's frames only, with its file name and its own line numbers."""
    frames = []
    for frame in stack.splitlines():
        raw = _RAW_FRAME.search(frame)
        if raw is not None:
            line = int(raw.group(1)) - SKIP
            if line <= 0:
                continue
            frame = f"{frame[: raw.start()]}({filename}:{line}:{raw.group(2)})"
        elif not frame.strip() or frame.endswith("(native)"):
            continue
        frames.append(frame)
    return "\n".join(frames)


def script_error(
    info: dict[str, Any], filename: str, limits: Limits, prefix: str = "", source: str = ""
) -> SpellError:
    """Map an error the script raised (``{name, message, stack, plain}``).

    A plain ``Error`` and the API's own errors (``plain``) read as their message alone, as in
    Lua; other errors keep their name (``TypeError: ...``). QuickJS running out of memory
    becomes LimitExceeded("memory") (when it cannot even allocate the error it throws null).
    Where QuickJS placed the error badly, ``source`` gives its line (see
    :func:`._scope.error_line`).
    """
    name, message = info["name"], info["message"]
    if name == "null" or (name == "InternalError" and message == "out of memory"):
        return limit_exceeded("memory", limits)
    stack = clean_stack(info["stack"], filename)
    found = next(filter(None, map(_FRAME_LINE.search, stack.splitlines())), None)
    if info.get("plain") or name in ("", "Error"):
        text = message or name
    else:
        text = f"{name}: {message}" if message else name
    line = int(found.group(1)) if found else None
    if source:
        line = error_line(source, name, message, line) or line
    return SpellRuntimeError(filename, line, prefix + text, stack)


def engine_error(exc: Exception, tripped: str | None, filename: str, limits: Limits) -> SpellError:
    """Map an exception out of QuickJS itself: its interrupt (``tripped`` says why the
    interrupt handler stopped the script: ``"cpu"`` or ``"timeout"``), memory, or a bridge
    failure."""
    head, _, stack = str(exc).partition("\n")
    if head.startswith("InternalError: interrupted") and tripped in ("cpu", "timeout", "interrupt"):
        return limit_exceeded(tripped, limits)
    if head in ("null", "InternalError: out of memory", "out of memory"):
        return limit_exceeded("memory", limits)
    name, _, message = head.partition(": ")
    return script_error({"name": name, "message": message, "stack": stack}, filename, limits)


def failure_text(exc: BaseException, label: str) -> str:
    """``[1, name, message, plain]``: how the host answers a call that failed at once."""
    plain = isinstance(exc, SpellError)
    return dumps([1, type(exc).__name__, api_error_text(exc, label), plain])


def failed_message(call_id: int, exc: BaseException, label: str) -> str:
    """The bridge message rejecting API call ``call_id`` with ``exc``."""
    plain = isinstance(exc, SpellError)
    return f"[0,{call_id},0,0,{dumps([type(exc).__name__, api_error_text(exc, label), plain])}]"


def clone(error: SpellError) -> SpellError:
    """A fresh copy of ``error``, to raise in another waiting task."""
    if isinstance(error, LimitExceeded):
        return LimitExceeded(error.limit, error.detail)
    if isinstance(error, SpellRuntimeError):
        return SpellRuntimeError(error.filename, error.line, error.message, error.traceback)
    return error
