"""The prelude as QuickJS bytecode: compiled once per process, loaded into every new context.

Compiling ``prelude.js`` took about half of a trivial spell's open+run+close (~6.4M of ~13.3M
instructions under callgrind); reading its bytecode takes a seventh of that. The binding has no
bytecode API, so this uses QuickJS's C API (``JS_Eval`` with ``JS_EVAL_FLAG_COMPILE_ONLY``,
``JS_WriteObject``, ``JS_ReadObject``, ``JS_EvalFunction``) through ctypes, as
:mod:`._interrupt` does for the interrupt handler, on the context pointer that follows the runtime
pointer in the binding's Context object (checked with ``JS_GetRuntime``). The prelude's value,
``init``, reaches Python as the global ``__llmspellInit``, which ``init`` deletes first thing.
Anything unexpected (an exception, the memory limit) returns None: the caller then evaluates
the source as before, which reports the error its usual way.
"""

from __future__ import annotations

import ctypes
import threading
from typing import Any

import _quickjs  # type: ignore[import-not-found]
import quickjs  # type: ignore[import-untyped]

from ._prelude import PRELUDE

INIT_NAME = "__llmspellInit"

_EVAL_FLAG_COMPILE_ONLY = 1 << 5  # with JS_EVAL_TYPE_GLOBAL (0)
_OBJ_BYTECODE = 1  # JS_WRITE_OBJ_BYTECODE, JS_READ_OBJ_BYTECODE
_TAG_EXCEPTION = 6
_TAG_FUNCTION_BYTECODE = -2


class _Value(ctypes.Structure):
    """A JSValue (not NaN-boxed on 64-bit platforms): a union and a tag."""

    _fields_ = (("u", ctypes.c_int64), ("tag", ctypes.c_int64))


_lock = threading.Lock()
_lib: Any = None
_code: bytes | None = None
_failed = False


def _library() -> Any:
    global _lib
    if _lib is None:
        # PyDLL: the calls keep the GIL, as the binding's own do
        lib = ctypes.PyDLL(_quickjs.__file__)
        ptr, size, value = ctypes.c_void_p, ctypes.c_size_t, _Value
        signatures: dict[str, tuple[list[Any], Any]] = {
            "JS_GetRuntime": ([ptr], ptr),
            "JS_Eval": ([ptr, ctypes.c_char_p, size, ctypes.c_char_p, ctypes.c_int], value),
            "JS_WriteObject": ([ptr, ctypes.POINTER(size), value, ctypes.c_int], ptr),
            "JS_ReadObject": ([ptr, ctypes.c_char_p, size, ctypes.c_int], value),
            "JS_EvalFunction": ([ptr, value], value),
            "JS_GetException": ([ptr], value),
            "JS_FreeValue": ([ptr, value], None),
            "JS_GetGlobalObject": ([ptr], value),
            "JS_SetPropertyStr": ([ptr, value, ctypes.c_char_p, value], ctypes.c_int),
            "js_free": ([ptr, ptr], None),
        }
        for name, (args, result) in signatures.items():
            fn = getattr(lib, name)
            fn.argtypes = args
            fn.restype = result
        _lib = lib
    return _lib


def _context_of(ctx: Any, runtime: int) -> int | None:
    """The JSContext of the binding's Context ``ctx`` whose runtime is ``runtime`` (found by
    :mod:`._interrupt`), or None if it is not where expected."""
    pointer = ctypes.c_void_p.from_address(id(ctx) + object.__basicsize__ + 8).value
    if not pointer or _library().JS_GetRuntime(pointer) != runtime:
        return None
    return int(pointer)


def _compile() -> bytes | None:
    """The prelude's bytecode, made in a scratch context (None if that failed)."""
    scratch = quickjs.Context()
    runtime = ctypes.c_void_p.from_address(id(scratch) + object.__basicsize__).value
    context = _context_of(scratch, runtime or 0)
    if context is None:
        return None
    lib = _library()
    source = PRELUDE.encode()
    fn = lib.JS_Eval(context, source, len(source), b"<input>", _EVAL_FLAG_COMPILE_ONLY)
    if fn.tag != _TAG_FUNCTION_BYTECODE:
        if fn.tag == _TAG_EXCEPTION:
            lib.JS_FreeValue(context, lib.JS_GetException(context))
        else:
            lib.JS_FreeValue(context, fn)
        return None
    size = ctypes.c_size_t()
    buffer = lib.JS_WriteObject(context, ctypes.byref(size), fn, _OBJ_BYTECODE)
    lib.JS_FreeValue(context, fn)
    if not buffer:
        lib.JS_FreeValue(context, lib.JS_GetException(context))
        return None
    code = ctypes.string_at(buffer, size.value)
    lib.js_free(context, buffer)
    del scratch
    return code


def load_prelude(ctx: Any, runtime: int) -> Any:
    """Run the prelude's bytecode in ``ctx`` (its runtime at ``runtime``); returns ``init`` (a
    ``quickjs.Object``) or None when the caller must evaluate :data:`PRELUDE` itself."""
    global _code, _failed
    if _code is None:
        with _lock:
            if _code is None and not _failed:
                _code = _compile()
                _failed = _code is None
        if _code is None:
            return None
    context = _context_of(ctx, runtime)
    if context is None:
        return None
    lib = _library()
    fn = lib.JS_ReadObject(context, _code, len(_code), _OBJ_BYTECODE)
    if fn.tag == _TAG_EXCEPTION:
        lib.JS_FreeValue(context, lib.JS_GetException(context))
        return None
    init = lib.JS_EvalFunction(context, fn)  # (frees fn)
    if init.tag == _TAG_EXCEPTION:
        lib.JS_FreeValue(context, lib.JS_GetException(context))
        return None
    glob = lib.JS_GetGlobalObject(context)
    stored = lib.JS_SetPropertyStr(context, glob, INIT_NAME.encode(), init)  # (takes init)
    lib.JS_FreeValue(context, glob)
    if stored < 0:
        lib.JS_FreeValue(context, lib.JS_GetException(context))
        return None
    return ctx.get(INIT_NAME)
