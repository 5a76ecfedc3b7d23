"""Indexing, slicing and the conversions they use, as Tengo's ``IndexGet``/``IndexSet``, the
VM's ``indexAssign`` and ``OpSliceIndex`` (errors with Tengo's messages)."""

from __future__ import annotations

import math
from typing import Any

from ._ops import to_str, to_string_plain
from ._values import INT_MAX, INT_MIN, Char, Error, ImmArray, ImmMap, Value, VMError, type_name

# indexing --------------------------------------------------------------------------------------


def index_get(x: Value, i: Value) -> Value:
    """``x[i]`` as OpIndex does it (errors name the index's type, as Tengo's do)."""
    t = type(x)
    if t is dict or t is ImmMap:
        if i is None:
            raise VMError("invalid index type: undefined")
        m = x if t is dict else x.v
        return m.get(i if type(i) is str else to_str(i))
    if t is list or t is ImmArray:
        if type(i) is not int:
            raise VMError(f"invalid index type: {type_name(i)}")
        arr = x if t is list else x.v
        if 0 <= i < len(arr):
            return arr[i]
        return None
    if t is str:
        if type(i) is not int:
            raise VMError(f"invalid index type: {type_name(i)}")
        if x.isascii():
            return Char(ord(x[i])) if 0 <= i < len(x) else None
        runes = _runes(x)
        return Char(runes[i]) if 0 <= i < len(runes) else None
    if t is bytes:
        if type(i) is not int:
            raise VMError(f"invalid index type: {type_name(i)}")
        return x[i] if 0 <= i < len(x) else None
    if x is None:
        return None
    if t is Error:
        if (i if type(i) is str else to_string_plain(i) if i is not None else None) != "value":
            raise VMError(f"invalid index on error ({_shown(to_str(x))})")
        return x.v
    custom = getattr(x, "tengo_index", None)
    if custom is not None:
        return custom(i)
    raise VMError(f"not indexable: {type_name(i)}")


def _shown(text: str, most: int = 300) -> str:
    """``text`` for an error message, shortened past ``most`` characters."""
    return text if len(text) <= most else text[: most - 3] + "..."


def _runes(s: str) -> list[int]:
    """The runes of a Tengo string: surrogate escapes (bytes that are not UTF-8) are U+FFFD."""
    return [0xFFFD if 0xDC80 <= ord(c) <= 0xDCFF else ord(c) for c in s]


def runes(s: str) -> list[int]:
    return _runes(s)


def to_int(v: Value) -> int | None:
    """Tengo's ``ToInt64``."""
    t = type(v)
    if t is int:
        return v  # type: ignore[no-any-return]
    if t is float:
        if v != v or v in (math.inf, -math.inf):
            return INT_MIN
        return max(INT_MIN, min(INT_MAX, int(v))) if abs(v) < 2**63 else INT_MIN
    if t is Char:
        return v.v  # type: ignore[no-any-return]
    if t is bool:
        return 1 if v else 0
    if t is str:
        return parse_go_int(v)
    return None


def parse_go_int(s: str) -> int | None:
    """Go's ``strconv.ParseInt(s, 10, 64)``."""
    body = s[1:] if s[:1] in "+-" else s
    if not body or not body.isascii() or not body.isdigit():
        return None
    v = int(s)
    return v if INT_MIN <= v <= INT_MAX else None


def index_set(x: Value, i: Value, v: Value, ctx: Any = None) -> None:
    t = type(x)
    if t is dict:
        if i is None:
            raise VMError("invalid index type: undefined")
        key = i if type(i) is str else to_str(i)
        if ctx is not None and key not in x:
            ctx.charge(100)
        x[key] = v
        return
    if t is list:
        n = to_int(i)
        if n is None:
            raise VMError(f"invalid index type: {type_name(i)}")
        if not 0 <= n < len(x):
            raise VMError("index out of bounds")
        x[n] = v
        return
    custom = getattr(x, "tengo_index_set", None)
    if custom is not None:
        custom(i, v)
        return
    raise VMError(f"not index-assignable: {type_name(x)}")


def index_assign(dst: Value, value: Value, selectors: list[Value], ctx: Any = None) -> None:
    """Tengo's ``indexAssign``: ``selectors`` innermost first (as the VM pops them)."""
    for sel in reversed(selectors[1:]):
        try:
            dst = index_get_for_assign(dst, sel)
        except VMError:
            raise
    index_set(dst, selectors[0], value, ctx)


def index_get_for_assign(dst: Value, sel: Value) -> Value:
    t = type(dst)
    if t in (dict, ImmMap, list, ImmArray, str, bytes) or dst is None or t is Error:
        try:
            return index_get(dst, sel)
        except VMError as exc:
            if exc.message.startswith("not indexable"):
                raise VMError(f"not indexable: {type_name(dst)}") from None
            raise
    custom = getattr(dst, "tengo_index", None)
    if custom is not None:
        return custom(sel)
    raise VMError(f"not indexable: {type_name(dst)}")


def slice_value(x: Value, low: Value, high: Value, ctx: Any = None) -> Value:
    lo = 0
    if low is not None:
        if type(low) is not int:
            raise VMError(f"invalid slice index type: {type_name(low)}")
        lo = low
    t = type(x)
    if t is list or t is ImmArray:
        seq: Any = x if t is list else x.v
    elif t is str:
        seq = x if x.isascii() else x.encode("utf-8", "surrogateescape")
    elif t is bytes:
        seq = x
    else:
        raise VMError(f"not indexable: {type_name(x)}")
    n = len(seq)
    if high is None:
        hi = n
    elif type(high) is int:
        hi = high
    else:
        raise VMError(f"invalid slice index type: {type_name(high)}")
    if lo > hi:
        raise VMError(f"invalid slice index: {lo} > {hi}")
    lo = 0 if lo < 0 else min(lo, n)
    hi = 0 if hi < 0 else min(hi, n)
    r = seq[lo:hi]
    if t is str and type(r) is bytes:
        return r.decode("utf-8", "surrogateescape")
    if t is ImmArray:
        return list(r)
    if ctx is not None and t is list:
        ctx.alloc_items(len(r))
    return r
