"""The Lua chunks of the sandbox (``prelude.lua``, ``guards.lua``, ``fallback.lua``), compiled
once per process, and what ``llmspell check`` asks of Lua: the syntax check and the sandbox's own
globals."""

from __future__ import annotations

import functools
import os
import threading
from typing import Any

from lupa import lua54  # type: ignore[import-untyped]

from ._errors import chunk_name, prepare_source, syntax_error

_chunks: dict[bytes, bytes] = {}
_chunks_lock = threading.Lock()

SPELL_VERSIONS = 64
"""Spell versions (source and chunk name) whose bytecode is kept for their next instances."""

_spells: dict[tuple[str, str], bytes] = {}


def _deny_attribute(obj: object, name: object, is_setting: bool) -> object:
    raise AttributeError("spells cannot access Python attributes")


def new_runtime(max_memory: int | None) -> Any:
    return lua54.LuaRuntime(
        encoding=None,
        register_eval=False,
        register_builtins=False,
        unpack_returned_tuples=True,
        attribute_filter=_deny_attribute,
        max_memory=max_memory,
    )


def lua_source(name: str) -> bytes:
    """The Lua source of one of this package's chunks: ``prelude``, ``guards`` or ``fallback``
    (the files ``<name>.lua`` beside this module)."""
    with open(os.path.join(os.path.dirname(__file__), f"{name}.lua"), "rb") as file:
        return file.read()


def compiled_chunk(name: bytes) -> bytes:
    """A prelude chunk compiled once per process, without debug information (smaller
    instances; loading bytecode also beats parsing): ``prelude``, ``guards`` or ``fallback``."""
    with _chunks_lock:
        code = _chunks.get(name)
        if code is None:
            code = _chunks[name] = dump_chunk(lua_source(name.decode()))
        return code


def dump_chunk(source: bytes) -> bytes:
    """``source`` compiled to Lua bytecode without debug information."""
    rt = new_runtime(None)
    dump = rt.eval(b"function(s) return string.dump(assert(load(s, '=[llmspell]')), true) end")
    code: bytes = dump(source)
    return code


def compile_spell(compile: Any, dump: Any, source: str, chunk: str) -> Any:
    """The spell's main function in a new instance (or ``(nil, message)`` when it does not
    compile), from ``compile`` and ``dump``, the instance's prelude functions.

    A spell is parsed once per version (source and chunk name): its bytecode, dumped with its
    debug information (errors keep naming file and line), is loaded by its next instances, as
    the prelude's chunks are. Only bytecode this function dumped is ever loaded as such; the
    spell's own text is loaded in text mode.
    """
    key = (source, chunk)
    name = b"=" + chunk.encode()
    code = _spells.get(key)
    if code is not None:
        return compile(code, name, True)
    main = compile(prepare_source(source), name)
    if not isinstance(main, tuple):
        try:
            code = dump(main)
        except lua54.LuaMemoryError:  # a spell that barely fits its memory limit: not kept
            return main
        with _chunks_lock:
            if len(_spells) >= SPELL_VERSIONS:
                del _spells[next(iter(_spells))]  # the oldest
            _spells[key] = code
    return main


@functools.cache
def builtin_globals() -> frozenset[str]:
    """The globals of every spell before the API is added: the sandbox's environment (as the
    prelude builds it), ``print`` and ``_ENV``."""
    rt = new_runtime(None)
    chunk = rt.globals()[b"load"](compiled_chunk(b"prelude"), b"=[llmspell]", b"b")
    env = chunk(_unused, _unused, _unused, compiled_chunk, 1, 1.0, 1 << 20)[5]
    names = {key.decode() for key in env.keys() if isinstance(key, bytes)}
    return frozenset(names | {"print", "_ENV"})


def compile_error(rt: Any, source: str, chunk: str) -> str | None:
    """``load``'s error message for ``source`` (None if it compiles)."""
    res = rt.eval(b"load")(prepare_source(source), b"=" + chunk.encode(), b"t")
    if isinstance(res, tuple) and res[0] is None:
        raw = res[1]
        return raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
    return None


def check_syntax(source: str, filename: str) -> None:
    """Compile ``source`` without running it; raise :class:`SpellSyntaxError` if invalid."""
    rt = new_runtime(None)
    chunk = chunk_name(filename)
    error = compile_error(rt, source, chunk)
    if error is not None:
        raise syntax_error(
            filename, chunk, error, source, lambda text: compile_error(rt, text, chunk)
        )


def _unused(*args: Any) -> Any:
    raise RuntimeError("not a running spell")
