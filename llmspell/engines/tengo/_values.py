"""Tengo's runtime values as Python objects.

=================  ==========================================================================
Tengo              Python
=================  ==========================================================================
undefined          ``None``
bool, int, float   ``bool``, ``int`` (kept in int64 range: arithmetic wraps as in Go), ``float``
string             ``str`` (Tengo strings are bytes: ``len`` counts UTF-8 bytes; bytes that are
                   not UTF-8 are kept as surrogate escapes)
char               :class:`Char`
bytes              ``bytes``
array / map        ``list`` / ``dict`` (string keys)
immutable-array    :class:`ImmArray` (shares the list it was made from, as in Tengo)
immutable-map      :class:`ImmMap`
error              :class:`Error`
time               :class:`Time`
functions          :class:`Closure` (compiled), :class:`Builtin` (native)
=================  ==========================================================================
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

INT_MIN = -(2**63)
INT_MAX = 2**63 - 1
MAX_FRAMES = 1024

Value = Any


def wrap(v: int) -> int:
    """Go's int64 overflow: wrap ``v`` into range."""
    return ((v + 2**63) & 0xFFFFFFFFFFFFFFFF) - 2**63


class VMError(Exception):
    """A Tengo runtime error; ``where`` is the innermost (file, pos), ``trace`` the callers."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message
        self.where: tuple[Any, int] | None = None
        self.trace: list[tuple[Any, int]] = []

    def at(self, file: Any, pos: int) -> VMError:
        if self.where is None:
            self.where = (file, pos)
        return self

    def frame(self, file: Any, pos: int) -> VMError:
        if self.where is None:
            self.where = (file, pos)
        else:
            self.trace.append((file, pos))
        return self

    def positions(self) -> list[tuple[str, int, int]]:
        out = []
        for file, pos in ([self.where] if self.where else []) + self.trace:
            line, col = file.position(pos)
            out.append((file.name, line, col))
        return out

    def render(self) -> str:
        text = f"Runtime Error: {self.message}"
        for name, line, col in self.positions():
            text += f"\n\tat {name}:{line}:{col}"
        return text


class Char:
    __slots__ = ("v",)

    def __init__(self, v: int) -> None:
        self.v = v

    def __eq__(self, other: object) -> bool:
        return type(other) is Char and other.v == self.v

    def __hash__(self) -> int:
        return hash(("char", self.v))

    def __repr__(self) -> str:
        return f"Char({self.v})"


class ImmArray:
    __slots__ = ("v",)

    def __init__(self, v: list[Value]) -> None:
        self.v = v

    def __repr__(self) -> str:
        return f"ImmArray({self.v!r})"


class ImmMap:
    __slots__ = ("v",)

    def __init__(self, v: dict[str, Value]) -> None:
        self.v = v

    def __repr__(self) -> str:
        return f"ImmMap({self.v!r})"


class Error:
    """An error value; ``where`` is the (file, pos) of the ``error(...)`` that made it."""

    __slots__ = ("v", "where")

    def __init__(self, v: Value, where: tuple[Any, int] | None = None) -> None:
        self.v = v
        self.where = where

    def __repr__(self) -> str:
        return f"Error({self.v!r})"


class Cell:
    """A variable captured by a closure (Tengo's ``ObjectPtr``)."""

    __slots__ = ("v",)

    def __init__(self, v: Value = None) -> None:
        self.v = v


class Builtin:
    """A native function: ``fn(args: list) -> value``; raises VMError for runtime errors."""

    __slots__ = ("fn", "kind", "name")

    def __init__(
        self, name: str, fn: Callable[[list[Value]], Value], kind: str = "builtin"
    ) -> None:
        self.name = name
        self.fn = fn
        self.kind = kind

    def type_name(self) -> str:
        return f"{self.kind}-function:{self.name}"

    def __repr__(self) -> str:
        return f"<{self.type_name()}>"


class FuncInfo:
    """What the compiler knows of one function literal."""

    __slots__ = ("arity", "body", "cells", "file", "nlocals", "nparams", "pos", "var_args")

    def __init__(
        self,
        nparams: int,
        var_args: bool,
        nlocals: int,
        cells: tuple[int, ...],
        body: Callable[[list[Any]], Any],
        file: Any,
        pos: int,
    ) -> None:
        self.nparams = nparams
        self.var_args = var_args
        self.nlocals = nlocals
        self.cells = cells
        self.body = body
        self.file = file
        self.pos = pos
        self.arity = -1 if var_args or cells else nparams
        """The argument count a call can bind directly (-1: go through ``bind``)."""


class Closure:
    """A compiled function with its captured variables."""

    __slots__ = ("free", "info")

    def __init__(self, info: FuncInfo, free: tuple[Cell, ...]) -> None:
        self.info = info
        self.free = free

    def __repr__(self) -> str:
        return "<compiled-function>"


class Time:
    """A point in time: nanoseconds since the Unix epoch and a UTC offset in seconds (and the
    zone's name), as Go's ``time.Time`` keeps them. ``ns is None`` is Go's zero time."""

    __slots__ = ("ns", "offset", "zone")

    def __init__(self, ns: int, offset: int = 0, zone: str = "UTC") -> None:
        self.ns = ns
        self.offset = offset
        self.zone = zone

    def __repr__(self) -> str:
        return f"Time({self.ns}, {self.offset}, {self.zone!r})"


ZERO_TIME_NS = -62135596800 * 10**9
"""Go's zero time (January 1, year 1, 00:00:00 UTC) in Unix nanoseconds."""


def type_name(v: Value) -> str:
    t = type(v)
    name = _TYPE_NAMES.get(t)
    if name is not None:
        return name
    if t is Builtin:
        return v.type_name()  # type: ignore[no-any-return]
    tn = getattr(v, "tengo_type_name", None)
    if tn is not None:
        return str(tn)
    return t.__name__


_TYPE_NAMES: dict[type, str] = {
    type(None): "undefined",
    bool: "bool",
    int: "int",
    float: "float",
    str: "string",
    Char: "char",
    bytes: "bytes",
    list: "array",
    ImmArray: "immutable-array",
    dict: "map",
    ImmMap: "immutable-map",
    Error: "error",
    Time: "time",
    Closure: "compiled-function",
}
