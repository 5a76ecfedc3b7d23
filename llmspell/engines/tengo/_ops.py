"""Tengo's value semantics: rendering, truthiness, equality, operators, indexing, iteration.

Each function follows the method of the same role in Tengo's ``objects.go`` (``String``,
``IsFalsy``, ``Equals``, ``BinaryOp``, ``IndexGet``/``IndexSet``, ``Iterate``, ``Copy``).
Errors are raised as :class:`VMError` with Tengo's messages.
"""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Any

from . import _token as T
from ._values import (
    ZERO_TIME_NS,
    Builtin,
    Char,
    Closure,
    Error,
    ImmArray,
    ImmMap,
    Time,
    Value,
    VMError,
    type_name,
    wrap,
)

# rendering -------------------------------------------------------------------------------------


def format_float(f: float) -> str:
    """Go's ``strconv.FormatFloat(f, 'f', -1, 64)``."""
    if f != f:
        return "NaN"
    if f in (math.inf, -math.inf):
        return "+Inf" if f > 0 else "-Inf"
    r = repr(f)
    if "e" in r or "E" in r:
        r = format(Decimal(r), "f")
    if r.endswith(".0"):
        r = r[:-2]
    if r == "-0":
        return "-0"
    return r


def go_quote(s: str) -> str:
    """Go's ``strconv.Quote``."""
    out = ['"']
    for ch in s:
        c = ord(ch)
        if ch == '"' or ch == "\\":
            out.append("\\" + ch)
        elif 0xDC80 <= c <= 0xDCFF:  # a byte that is not UTF-8
            out.append(f"\\x{c - 0xDC00:02x}")
        elif ch.isprintable() or ch == " ":
            out.append(ch)
        elif ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif c < 0x20 or c == 0x7F:
            out.append(f"\\x{c:02x}")
        elif c < 0x10000:
            out.append(f"\\u{c:04x}")
        else:
            out.append(f"\\U{c:08x}")
    out.append('"')
    return "".join(out)


_ESCAPES = {
    "\a": "\\a",
    "\b": "\\b",
    "\f": "\\f",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "\v": "\\v",
}


def char_str(c: int) -> str:
    """Go's ``string(rune)``: invalid runes become U+FFFD."""
    if 0 <= c <= 0x10FFFF and not 0xD800 <= c < 0xE000:
        return chr(c)
    return "\ufffd"


def to_str(v: Value) -> str:
    """Tengo's ``Object.String()``."""
    t = type(v)
    if t is str:
        return go_quote(v)
    if t is int:
        return str(v)
    if t is bool:
        return "true" if v else "false"
    if t is float:
        return format_float(v)
    if v is None:
        return "<undefined>"
    if t is list:
        return "[" + ", ".join(to_str(e) for e in v) + "]"
    if t is ImmArray:
        return "[" + ", ".join(to_str(e) for e in v.v) + "]"
    if t is dict:
        return "{" + ", ".join(f"{k}: {to_str(e)}" for k, e in v.items()) + "}"
    if t is ImmMap:
        return "{" + ", ".join(f"{k}: {to_str(e)}" for k, e in v.v.items()) + "}"
    if t is Char:
        return char_str(v.v)
    if t is bytes:
        return str(v.decode("utf-8", "surrogateescape"))
    if t is Error:
        return "error: " + to_str(v.v) if v.v is not None else "error: <undefined>"
    if t is Closure:
        return "<compiled-function>"
    if t is Builtin:
        return f"<{v.kind}-function>"
    if t is Time:
        from ._times import time_string

        return time_string(v)
    s = getattr(v, "tengo_string", None)
    if s is not None:
        return str(s())
    return repr(v)


def to_string_plain(v: Value) -> str:
    """Tengo's ``ToString``: a string's own text, any other value's ``String()``."""
    return v if type(v) is str else to_str(v)


def byte_len(s: str) -> int:
    if s.isascii():
        return len(s)
    return len(s.encode("utf-8", "surrogateescape"))


# truthiness and equality -------------------------------------------------------------------


def falsy(v: Value) -> bool:
    t = type(v)
    if t is bool:
        return not v
    if t is int:
        return bool(v == 0)
    if v is None:
        return True
    if t is str or t is list or t is dict or t is bytes:
        return len(v) == 0
    if t is float:
        return bool(v != v)
    if t is Char:
        return v.v == 0  # type: ignore[no-any-return]
    if t is Error:
        return True
    if t is ImmArray or t is ImmMap:
        return len(v.v) == 0
    if t is Time:
        return v.ns == ZERO_TIME_NS  # type: ignore[no-any-return]
    return False


def equals(a: Value, b: Value) -> bool:
    ta = type(a)
    if ta is int or ta is float:
        tb = type(b)
        return (tb is int or tb is float) and a == b
    if ta is str:
        return type(b) is str and a == b
    if ta is bool or a is None:
        return a is b
    if ta is Char:
        return type(b) is Char and a.v == b.v
    if ta is bytes:
        return type(b) is bytes and a == b
    if ta is list or ta is ImmArray:
        tb = type(b)
        if tb is not list and tb is not ImmArray:
            return False
        x = a if ta is list else a.v
        y = b if tb is list else b.v
        return len(x) == len(y) and all(equals(p, q) for p, q in zip(x, y, strict=True))
    if ta is dict or ta is ImmMap:
        tb = type(b)
        if tb is not dict and tb is not ImmMap:
            return False
        x = a if ta is dict else a.v
        y = b if tb is dict else b.v
        if len(x) != len(y):
            return False
        for k, v in x.items():
            if k not in y or not equals(v, y[k]):
                return False
        return True
    if ta is Time:
        return type(b) is Time and a.ns == b.ns
    if ta is Closure or ta is Builtin:
        return False
    return a is b


# operators ---------------------------------------------------------------------------------


def _go_div(a: int, b: int) -> int:
    if b == 0:
        raise VMError("runtime error: integer divide by zero")
    q = abs(a) // abs(b)
    return wrap(q if (a < 0) == (b < 0) else -q)


def _go_rem(a: int, b: int) -> int:
    if b == 0:
        raise VMError("runtime error: integer divide by zero")
    r = abs(a) % abs(b)
    return -r if a < 0 else r


def _shl(a: int, b: int) -> int:
    if b < 0 or b >= 64:
        return 0
    return wrap(a << b)


def _shr(a: int, b: int) -> int:
    if b < 0 or b >= 64:
        return -1 if a < 0 else 0
    return a >> b


def _fdiv(a: float, b: float) -> float:
    try:
        return a / b
    except ZeroDivisionError:
        if a != a or a == 0:
            return math.nan
        return math.copysign(math.inf, a) * math.copysign(1.0, b)


INT_OPS: dict[int, Any] = {
    T.ADD: lambda a, b: wrap(a + b),
    T.SUB: lambda a, b: wrap(a - b),
    T.MUL: lambda a, b: wrap(a * b),
    T.QUO: _go_div,
    T.REM: _go_rem,
    T.AND: lambda a, b: a & b,
    T.OR: lambda a, b: a | b,
    T.XOR: lambda a, b: a ^ b,
    T.AND_NOT: lambda a, b: a & ~b,
    T.SHL: _shl,
    T.SHR: _shr,
    T.LESS: lambda a, b: a < b,
    T.GREATER: lambda a, b: a > b,
    T.LESS_EQ: lambda a, b: a <= b,
    T.GREATER_EQ: lambda a, b: a >= b,
}
FLOAT_OPS: dict[int, Any] = {
    T.ADD: lambda a, b: a + b,
    T.SUB: lambda a, b: a - b,
    T.MUL: lambda a, b: a * b,
    T.QUO: _fdiv,
    T.LESS: lambda a, b: a < b,
    T.GREATER: lambda a, b: a > b,
    T.LESS_EQ: lambda a, b: a <= b,
    T.GREATER_EQ: lambda a, b: a >= b,
}
_CMP = (T.LESS, T.GREATER, T.LESS_EQ, T.GREATER_EQ)


def _rune(v: int) -> int:
    """Go's int32 wrap of a rune."""
    return ((v + 2**31) & 0xFFFFFFFF) - 2**31


def binop(op: int, a: Value, b: Value, ctx: Any = None) -> Value:
    """Tengo's ``a.BinaryOp(op, b)``; raises VMError ``invalid operation: ...``."""
    ta, tb = type(a), type(b)
    if ta is int:
        if tb is int:
            return INT_OPS[op](a, b)
        if tb is float:
            fop = FLOAT_OPS.get(op)
            if fop is not None:
                return fop(float(a), b)
        elif tb is Char:
            if op == T.ADD:
                return Char(_rune(a + b.v))
            if op == T.SUB:
                return Char(_rune(a - b.v))
            if op in _CMP:
                return INT_OPS[op](a, b.v)
    elif ta is float:
        if tb is float or tb is int:
            fop = FLOAT_OPS.get(op)
            if fop is not None:
                return fop(a, float(b))
    elif ta is str:
        if op == T.ADD:
            r = a + (b if tb is str else to_str(b))
            if ctx is not None:
                ctx.alloc_str(r)
            return r
        if tb is str and op in _CMP:
            ea, eb = a.encode("utf-8", "surrogateescape"), b.encode("utf-8", "surrogateescape")
            return INT_OPS[op](ea, eb)
    elif ta is Char:
        if tb is Char or tb is int:
            bv = b.v if tb is Char else b
            if op == T.ADD:
                return Char(_rune(a.v + bv))
            if op == T.SUB:
                return Char(_rune(a.v - bv))
            if op in _CMP:
                return INT_OPS[op](a.v, bv)
    elif ta is list:
        if tb is list and op == T.ADD:
            if not b:
                return a
            r = a + b
            if ctx is not None:
                ctx.alloc_items(len(r))
            return r
    elif ta is ImmArray:
        if tb is ImmArray and op == T.ADD:
            return a.v + b.v
    elif ta is bytes:
        if tb is bytes and op == T.ADD:
            r = a + b
            if ctx is not None:
                ctx.alloc_bytes(len(r))
            return r
    elif ta is Time:
        from ._times import time_binop

        r = time_binop(op, a, b)
        if r is not NotImplemented:
            return r
    else:
        custom = getattr(a, "tengo_binop", None)
        if custom is not None:
            r = custom(op, b)
            if r is not NotImplemented:
                return r
    raise VMError(f"invalid operation: {type_name(a)} {T.string(op)} {type_name(b)}")


def unary(op: int, v: Value) -> Value:
    t = type(v)
    if op == T.SUB:
        if t is int:
            return wrap(-v)
        if t is float:
            return -v
        raise VMError(f"invalid operation: -{type_name(v)}")
    if op == T.XOR:
        if t is int:
            return ~v
        raise VMError(f"invalid operation: ^{type_name(v)}")
    if op == T.NOT:
        return falsy(v)
    return v


# iteration and copies ----------------------------------------------------------------------


def iterate(v: Value) -> Any:
    """An iterator of (key, value) pairs, or None when ``v`` is not iterable."""
    t = type(v)
    if t is list or t is ImmArray:
        return enumerate(list(v if t is list else v.v))
    if t is dict or t is ImmMap:
        m = v if t is dict else v.v
        return iter(list(m.items()))
    if t is str:
        from ._index import runes

        return enumerate(Char(c) for c in runes(v))
    if t is bytes:
        return enumerate(v)
    if v is None:
        return iter(())
    custom = getattr(v, "tengo_iterate", None)
    if custom is not None:
        return custom()
    return None


def is_iterable(v: Value) -> bool:
    t = type(v)
    return (
        t in (list, ImmArray, dict, ImmMap, str, bytes) or v is None or hasattr(v, "tengo_iterate")
    )


def copy(v: Value) -> Value:
    """Tengo's ``Copy()``: deep for containers (immutable ones become mutable)."""
    t = type(v)
    if t is list or t is ImmArray:
        return [copy(e) for e in (v if t is list else v.v)]
    if t is dict or t is ImmMap:
        return {k: copy(e) for k, e in (v if t is dict else v.v).items()}
    if t is Char:
        return Char(v.v)
    if t is Error:
        return Error(copy(v.v))
    if t is Time:
        return Time(v.ns, v.offset, v.zone)
    return v


def is_callable(v: Value) -> bool:
    t = type(v)
    return t is Closure or t is Builtin or hasattr(v, "tengo_call")
