"""Tengo's builtin functions (``builtins.go``), in Tengo's order (their symbol indexes)."""

from __future__ import annotations

from collections.abc import Callable

from . import _index, _ops
from ._gofmt import go_format
from ._runtime import charge
from ._values import (
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
)

WRONG_ARGS = "wrong number of arguments"


def arg_error(name: str, expected: str, found: Value) -> VMError:
    """Tengo's ``ErrInvalidArgumentType`` (the call site adds the function's name)."""
    return VMError(
        f"invalid type for argument '{name}': expected {expected}, found {type_name(found)}"
    )


def _nargs(args: list[Value], n: int) -> None:
    if len(args) != n:
        raise VMError(WRONG_ARGS)


def _is(pred: Callable[[Value], Value]) -> Callable[[list[Value]], Value]:
    def fn(args: list[Value]) -> Value:
        _nargs(args, 1)
        return pred(args[0])

    return fn


def _len(args: list[Value]) -> Value:
    _nargs(args, 1)
    v = args[0]
    t = type(v)
    if t is str:
        return _ops.byte_len(v)
    if t is list or t is dict or t is bytes:
        return len(v)
    if t is ImmArray or t is ImmMap:
        return len(v.v)
    raise arg_error("first", "array/string/bytes/map", v)


def _copy(args: list[Value]) -> Value:
    _nargs(args, 1)
    v = args[0]
    if type(v) in (list, dict, ImmArray, ImmMap):
        charge(16 * len(v if type(v) in (list, dict) else v.v))
    return _ops.copy(v)


def _append(args: list[Value]) -> Value:
    if len(args) < 2:
        raise VMError(WRONG_ARGS)
    a = args[0]
    t = type(a)
    if t is list:
        charge(8 * (len(a) + len(args)) + 56)
        return a + args[1:]
    if t is ImmArray:
        charge(8 * (len(a.v) + len(args)))
        return a.v + args[1:]
    raise arg_error("first", "array", a)


def _delete(args: list[Value]) -> Value:
    _nargs(args, 2)
    m, k = args
    if type(m) is not dict:
        raise arg_error("first", "map", m)
    if type(k) is not str:
        raise arg_error("second", "string", k)
    m.pop(k, None)
    return None


def _splice(args: list[Value]) -> Value:
    n = len(args)
    if n == 0:
        raise VMError(WRONG_ARGS)
    arr = args[0]
    if type(arr) is not list:
        raise arg_error("first", "array", arr)
    size = len(arr)
    start = 0
    if n > 1:
        if type(args[1]) is not int:
            raise arg_error("second", "int", args[1])
        start = args[1]
        if start < 0 or start > size:
            raise VMError("index out of bounds")
    count = size
    if n > 2:
        if type(args[2]) is not int:
            raise arg_error("third", "int", args[2])
        count = args[2]
        if count < 0:
            raise VMError("index out of bounds")
    if start + count > size:
        count = size - start
    end = start + count
    deleted = arr[start:end]
    arr[start:end] = args[3:]
    return deleted


def _convert(
    same: Callable[[Value], bool], conv: Callable[[Value], Value]
) -> Callable[[list[Value]], Value]:
    def fn(args: list[Value]) -> Value:
        if len(args) not in (1, 2):
            raise VMError(WRONG_ARGS)
        v = args[0]
        if same(v):
            return v
        r = conv(v)
        if r is not None:
            return r
        return args[1] if len(args) == 2 else None

    return fn


def _to_string(v: Value) -> Value:
    return None if v is None else _ops.to_string_plain(v)


def _to_float(v: Value) -> Value:
    t = type(v)
    if t is int:
        return float(v)
    if t is str:
        return parse_go_float(v)
    return None


def parse_go_float(s: str) -> float | None:
    """Go's ``strconv.ParseFloat(s, 64)``."""
    text = s.strip()
    if text != s or not text:
        return None
    low = text.lower().lstrip("+-")
    if low in ("inf", "infinity", "nan"):
        return float(text)
    if "_" in text or not all(c in "0123456789.eE+-xXpPabcdefABCDEF" for c in text):
        return None
    try:
        if "0x" in low[:2]:
            return float.fromhex(text)
        return float(text)
    except ValueError:
        return None


def _to_char(v: Value) -> Value:
    t = type(v)
    if t is int:
        return Char(((v + 2**31) & 0xFFFFFFFF) - 2**31)
    return None


def _to_bytes(v: Value) -> Value:
    t = type(v)
    if t is str:
        return v.encode("utf-8", "surrogateescape")
    return None


def _bytes(args: list[Value]) -> Value:
    if len(args) not in (1, 2):
        raise VMError(WRONG_ARGS)
    if type(args[0]) is int:
        charge(args[0])
        return bytes(max(args[0], 0))
    return _convert(lambda v: type(v) is bytes, _to_bytes)(args)


def _to_time(v: Value) -> Value:
    if type(v) is int:
        from ._times import from_unix

        return from_unix(v, 0)
    return None


def _bool(args: list[Value]) -> Value:
    _nargs(args, 1)
    v = args[0]
    return v if type(v) is bool else not _ops.falsy(v)


def _format(args: list[Value]) -> Value:
    if not args:
        raise VMError(WRONG_ARGS)
    if type(args[0]) is not str:
        raise arg_error("format", "string", args[0])
    if len(args) == 1:
        return args[0]
    return go_format(args[0], args[1:])


def _range(args: list[Value]) -> Value:
    if len(args) not in (2, 3):
        raise VMError(WRONG_ARGS)
    for i, (name, v) in enumerate(zip(("start", "stop", "step"), args, strict=False)):
        if type(v) is not int:
            raise arg_error(name, "int", v)
        if i == 2 and v <= 0:
            raise VMError("range step must be greater than 0")
    start, stop = args[0], args[1]
    step = args[2] if len(args) == 3 else 1
    charge(8 * (abs(stop - start) // step + 1))
    if start <= stop:
        return list(range(start, stop, step))
    return list(range(start, stop, -step))


def _freeze(args: list[Value]) -> Value:
    _nargs(args, 1)
    return freeze(args[0], {})


def freeze(v: Value, memo: dict[int, Value]) -> Value:
    t = type(v)
    if t is list:
        if id(v) in memo:
            return memo[id(v)]
        items: list[Value] = []
        out = memo[id(v)] = ImmArray(items)
        items.extend(freeze(e, memo) for e in v)
        return out
    if t is dict:
        if id(v) in memo:
            return memo[id(v)]
        entries: dict[str, Value] = {}
        frozen = memo[id(v)] = ImmMap(entries)
        entries.update((k, freeze(e, memo)) for k, e in v.items())
        return frozen
    if t is ImmArray:
        new = [freeze(e, memo) for e in v.v]
        return v if all(a is b for a, b in zip(new, v.v, strict=True)) else ImmArray(new)
    if t is ImmMap:
        newm = {k: freeze(e, memo) for k, e in v.v.items()}
        return v if all(newm[k] is e for k, e in v.v.items()) else ImmMap(newm)
    return v


_SPECS: list[tuple[str, Callable[[list[Value]], Value]]] = [
    ("len", _len),
    ("copy", _copy),
    ("append", _append),
    ("delete", _delete),
    ("splice", _splice),
    ("string", _convert(lambda v: type(v) is str, _to_string)),
    ("int", _convert(lambda v: type(v) is int, _index.to_int)),
    ("bool", _bool),
    ("float", _convert(lambda v: type(v) is float, _to_float)),
    ("char", _convert(lambda v: type(v) is Char, _to_char)),
    ("bytes", _bytes),
    ("time", _convert(lambda v: type(v) is Time, _to_time)),
    ("is_int", _is(lambda v: type(v) is int)),
    ("is_float", _is(lambda v: type(v) is float)),
    ("is_string", _is(lambda v: type(v) is str)),
    ("is_bool", _is(lambda v: type(v) is bool)),
    ("is_char", _is(lambda v: type(v) is Char)),
    ("is_bytes", _is(lambda v: type(v) is bytes)),
    ("is_array", _is(lambda v: type(v) is list)),
    ("is_immutable_array", _is(lambda v: type(v) is ImmArray)),
    ("is_map", _is(lambda v: type(v) is dict)),
    ("is_immutable_map", _is(lambda v: type(v) is ImmMap)),
    ("is_iterable", _is(_ops.is_iterable)),
    ("is_time", _is(lambda v: type(v) is Time)),
    ("is_error", _is(lambda v: type(v) is Error)),
    ("is_undefined", _is(lambda v: v is None)),
    ("is_function", _is(lambda v: type(v) is Closure)),
    ("is_callable", _is(_ops.is_callable)),
    ("type_name", _is(type_name)),
    ("format", _format),
    ("range", _range),
    ("freeze", _freeze),
]

BUILTINS: tuple[Builtin, ...] = tuple(Builtin(name, fn) for name, fn in _SPECS)
"""The builtins by index (the order of Tengo's ``builtinFuncs``)."""
