"""Values crossing between Lua and Python.

Lua → Python:

* ``nil`` → ``None``; booleans, integers and floats keep their type.
* strings → ``str``, decoded as UTF-8; bytes that are not valid UTF-8 become U+FFFD (Lua strings
  are byte strings, Python ``str`` is text).
* a table whose keys are exactly ``1..n`` → ``list``; any other non-empty table → ``dict``
  (string keys; integer and float keys kept as numbers; boolean keys become ``"true"`` /
  ``"false"``). **An empty table becomes an empty dict ``{}``**: Lua cannot tell ``{}`` from
  ``[]``, so a Python empty list round-trips as ``{}``. A table with holes (``{1, nil, 3}``)
  becomes a dict ``{1: 1, 3: 3}``.
* a table that stands for a :class:`HostObject` → that same ``HostObject``.
* a function → a :class:`ScriptFunction` (passed back into Lua, it is the original function).
* tables nested deeper than :data:`MAX_DEPTH` or containing themselves are refused; a table
  reachable twice (not a cycle) converts once and is shared.
* the whole value is charged to the run's memory limit as it is converted, at its expanded size
  (a shared table counts once per reference; see :mod:`llmspell.engines._bounds`): past
  ``Limits.memory_bytes`` the conversion stops with ``LimitExceeded("memory")``.

Python → Lua: ``None``, ``bool``, ``int`` (beyond 64 bits: float), ``float``, ``str`` (UTF-8),
``bytes`` (as is), ``list``/``tuple`` → sequence table, ``dict`` → table, :class:`HostObject`,
this instance's :class:`ScriptFunction`. Anything else raises ``TypeError``. Before a table or
a long string is built in the interpreter, its size is counted against what is left of the heap
while the value is prepared (``LimitExceeded("memory")`` when it does not fit; a list or dict
reachable twice becomes two tables and counts twice), and a big table is then built with the
heap's limit lifted: an allocation failure there, outside Lua's protected calls, would abort the
process (``PANIC: unprotected error in call to Lua API``) or, inside a synchronous API function,
leave the GIL held by a thread that then waits for it (see :mod:`._instance`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from lupa import lua54  # type: ignore[import-untyped]

from ..._exceptions import LimitExceeded
from .._base import HostObject, Limits, ScriptFunction, ScriptValue
from .._bounds import HOST, LUA, Tally, text_size, too_large, unbounded

MAX_DEPTH = 100
"""Deepest table nesting converted in either direction."""

_lua_type = lua54.lua_type
_INT_MIN = lua54.LUA_MININTEGER
_INT_MAX = lua54.LUA_MAXINTEGER
_ACTIVE = object()

ROOM = 16 * 1024
"""Heap kept free beyond a value's estimated size when it goes into the interpreter (the
coroutine's stack, the call's own allocations)."""

SMALL = 256
"""Strings shorter than this skip the heap check (:data:`ROOM` covers them)."""

CHUNK = 1 << 16
"""Bytes a table's strings may add up to before they are added to the tally (counting in a
local is cheaper; nested tables add theirs first)."""

LIFT = 4096
"""Tables estimated at this size or more are built with the heap's limit lifted (see the
module's docstring); smaller ones fit in :data:`ROOM` even if the estimate is off."""

LUA_STRING, LUA_CONTAINER, LUA_ITEM, LUA_ENTRY = LUA.string, LUA.container, LUA.item, LUA.entry
HOST_STRING, HOST_SCALAR, HOST_CONTAINER, HOST_ENTRY = (
    HOST.string,
    HOST.scalar,
    HOST.container,
    HOST.entry,
)

LuaObject = Any
"""A lupa proxy (table or function) or a plain Lua value."""


class LuaConverter:
    """Converts values for one interpreter.

    Args:
        table_from: the runtime's ``table_from``.
        make_function: wraps a Lua function proxy as a :class:`ScriptFunction`.
        unwrap_function: returns the Lua function behind one of this instance's
            ScriptFunctions, or None for a foreign one.
        host_table: returns (creating once) the Lua table standing for a HostObject.
        runtime: the interpreter (its heap is checked before values go in), or None.
        limits: the run's limits (the memory limit is the conversions' budget).
    """

    __slots__ = (
        "_host_table",
        "_hosts",
        "_limits",
        "_make_function",
        "_max",
        "_nested",
        "_rt",
        "_table_from",
        "_unwrap",
    )

    def __init__(
        self,
        table_from: Callable[..., LuaObject],
        make_function: Callable[[LuaObject], ScriptFunction],
        unwrap_function: Callable[[ScriptFunction], LuaObject | None],
        host_table: Callable[[HostObject], LuaObject],
        runtime: Any = None,
        limits: Limits | None = None,
    ) -> None:
        self._table_from = table_from
        self._make_function = make_function
        self._unwrap = unwrap_function
        self._host_table = host_table
        self._hosts: dict[str, HostObject] = {}
        self._rt = runtime
        self._limits = limits or Limits()
        self._max = self._limits.memory_bytes  # the runtime's max_memory
        self._nested = False  # whether the last prepared value held containers in it

    def register_host(self, table: LuaObject, host: HostObject) -> None:
        """Remember that ``table`` (kept alive by the caller) stands for ``host``."""
        self._hosts[repr(table)] = host

    # Lua → Python ------------------------------------------------------------------------------

    def to_py(self, value: LuaObject, tally: Tally | None = None) -> Any:
        """Convert one Lua value to Python, charging it to ``tally`` (a new one, whose budget is
        the memory limit, when a table is met without one)."""
        cls = value.__class__
        if cls is bytes:
            if tally is not None:
                tally.add(HOST_STRING + len(value))
            return value.decode("utf-8", "replace")
        if cls is int or cls is float or cls is bool or value is None:
            return value
        kind = _lua_type(value)
        if kind == "table":
            if tally is None:
                tally = Tally(self._limits.memory_bytes, self._limits)
            return self._table_to_py(value, 0, None, tally)
        if kind == "function":
            return self._make_function(value)
        raise TypeError(f"cannot pass a Lua {kind or cls.__name__} to the host")

    def args_to_py(self, values: tuple[Any, ...], start: int) -> list[Any]:
        """Convert ``values[start:]`` (arguments yielded by a stub), all charged to one tally."""
        out = []
        tally: Tally | None = None
        for v in values[start:] if start else values:
            cls = v.__class__
            if cls is bytes:
                if len(v) > SMALL:
                    if tally is None:
                        tally = Tally(self._limits.memory_bytes, self._limits)
                    tally.add(HOST_STRING + len(v))
                out.append(v.decode("utf-8", "replace"))
            elif cls is int or cls is float or cls is bool or v is None:
                out.append(v)
            else:
                if tally is None:
                    tally = Tally(self._limits.memory_bytes, self._limits)
                out.append(self._value_to_py(v, 0, None, tally))
        return out

    def _value_to_py(
        self, value: LuaObject, depth: int, seen: dict[str, Any] | None, tally: Tally
    ) -> Any:
        cls = value.__class__
        if cls is bytes:
            tally.add(HOST_STRING + len(value))
            return value.decode("utf-8", "replace")
        if cls is int or cls is float or cls is bool or value is None:
            tally.add(HOST_SCALAR)
            return value
        kind = _lua_type(value)
        if kind == "table":
            return self._table_to_py(value, depth, seen, tally)
        if kind == "function":
            tally.add(HOST_CONTAINER)
            return self._make_function(value)
        raise TypeError(f"cannot pass a Lua {kind or cls.__name__} to the host")

    def _table_to_py(
        self, table: LuaObject, depth: int, seen: dict[str, Any] | None, tally: Tally
    ) -> Any:
        key = repr(table)  # "<Lua table at 0x...>": identity while the table is alive
        host = self._hosts.get(key)
        if host is not None:
            tally.add(HOST_CONTAINER)
            return host
        if seen is None:
            seen = {}
        else:
            known = seen.get(key)
            if known is _ACTIVE:
                raise ValueError("cannot pass a table that contains itself")
            if known is not None:
                # shared: converted once, but whatever walks it as a tree (json.encode, a
                # copy into another engine) sees it again; charge its size again
                tally.add(known[1])
                return known[0]
        if depth >= MAX_DEPTH:
            raise ValueError(f"cannot pass tables nested deeper than {MAX_DEPTH} levels")
        seen[key] = _ACTIVE
        before = tally.left
        size = HOST_CONTAINER  # counted here, added to the tally before nested tables and
        items: list[Any] = []  # every CHUNK bytes (a local is cheaper than the tally)
        mapping: dict[Any, Any] | None = None
        for k, v in table.items():
            cls = v.__class__
            if cls is bytes:
                size += HOST_ENTRY + HOST_STRING + len(v)
                pv = v.decode("utf-8", "replace")
                if size > CHUNK:
                    tally.add(size)
                    size = 0
            elif cls is int or cls is float or cls is bool:
                size += HOST_ENTRY + HOST_SCALAR
                pv = v
            else:
                tally.add(size + HOST_ENTRY)
                size = 0
                pv = self._value_to_py(v, depth + 1, seen, tally)
            if mapping is None:
                if k.__class__ is int and k == len(items) + 1:
                    items.append(pv)
                    continue
                mapping = {i: x for i, x in enumerate(items, 1)}
            mapping[_key_to_py(k)] = pv
        tally.add(size)
        result: Any
        if mapping is None:
            result = items if items else {}
        elif _is_sequence(mapping):
            result = [mapping[i] for i in range(1, len(mapping) + 1)]
        else:
            result = mapping
        seen[key] = (result, before - tally.left)
        return result

    # Python → Lua ------------------------------------------------------------------------------

    def to_lua(self, value: ScriptValue) -> LuaObject:
        """Convert one Python value to Lua (tables are built in the interpreter).

        Raises ``LimitExceeded("memory")`` when the value does not fit in what is left of the
        heap (counted while it is prepared, at its expanded size); the interpreter is then
        untouched.
        """
        cls = value.__class__
        if cls is str:
            if len(value) >= SMALL:
                self.make_room(LUA_STRING + text_size(value))
            return value.encode("utf-8", "surrogatepass")
        if value is None or cls is bool or cls is float:
            return value
        if cls is int:
            return value if _INT_MIN <= value <= _INT_MAX else float(value)
        if cls is list or cls is dict or cls is tuple:
            rt = self._rt
            if rt is None:
                return self._table_from(self._prepare(value, 0, set(), unbounded()), True)
            tally = Tally(self._max - rt.get_memory_used() - ROOM, self._limits)
            outer, self._nested = self._nested, False  # (a host table may convert its fields)
            try:
                try:
                    prepared = self._prepare(value, 0, set(), tally)
                except LimitExceeded:
                    rt.gccollect()  # garbage may be what fills the heap
                    tally = Tally(self.room(), self._limits)
                    prepared = self._prepare(value, 0, set(), tally)
                nested = self._nested  # (a flat table is built faster without the recursion)
            finally:
                self._nested = outer
            if tally.used < LIFT:
                return self._table_from(prepared, recursive=nested)
            # the size is known to fit; lift the limit anyway while lupa builds the table
            # outside any protected call, where a failed allocation would abort the process
            rt.set_max_memory(0)
            try:
                return self._table_from(prepared, recursive=nested)
            finally:
                rt.set_max_memory(self._limits.memory_bytes)
        return self._leaf(value, 0, set(), unbounded())

    def args_to_lua(self, args: tuple[ScriptValue, ...]) -> list[LuaObject]:
        """Convert the arguments of a call into Lua, checked together against the heap.

        (Each table is built in the heap as it is converted, so the next one's check sees it;
        strings are pushed later, with the call, so their sizes are checked together.)
        """
        out = []
        pending = 0
        for a in args:
            # (to_lua's common cases first, inlined: an event handler's payload and topic)
            cls = a.__class__
            if cls is str:
                if len(a) < SMALL:
                    out.append(a.encode("utf-8", "surrogatepass"))
                    continue
            elif cls is int:
                if _INT_MIN <= a <= _INT_MAX:
                    out.append(a)
                    continue
            elif a is None or cls is bool or cls is float:
                out.append(a)
                continue
            v = self.to_lua(a)
            if v.__class__ is bytes and len(v) >= SMALL:
                pending += len(v)
            out.append(v)
        if pending and len(out) > 1:
            self.make_room(pending + LUA_STRING * len(out))
        return out

    def room(self) -> int:
        """Bytes the heap can still take (after :data:`ROOM`)."""
        rt = self._rt
        if rt is None:
            return self._limits.memory_bytes
        return int(self._max - rt.get_memory_used() - ROOM)

    def make_room(self, size: int) -> None:
        """Raise ``LimitExceeded("memory")`` unless ``size`` bytes fit in the heap, collecting
        garbage once before giving up."""
        rt = self._rt
        if rt is None:
            return
        if size <= self.room():
            return
        rt.gccollect()
        left = self.room()
        if size > left:
            raise too_large(left, self._limits)

    def _prepare(self, value: Any, depth: int, active: set[int], tally: Tally) -> Any:
        """``value`` with its strings encoded and its containers as plain dicts and lists,
        for ``table_from``; charged to ``tally`` as it goes (a list or dict reachable twice is
        prepared, and charged, twice: it becomes two tables)."""
        if depth >= MAX_DEPTH:
            raise ValueError(f"cannot pass values nested deeper than {MAX_DEPTH} levels")
        if depth:
            self._nested = True
        marker = id(value)
        if marker in active:
            raise ValueError("cannot pass a value that contains itself")
        active.add(marker)
        depth += 1
        try:
            if isinstance(value, dict):
                size = LUA_CONTAINER + (LUA_ENTRY + LUA_STRING) * len(value)
                out: dict[Any, Any] = {}
                for k, v in value.items():
                    if k.__class__ is str:  # (the common key, inline)
                        key = k.encode("utf-8", "surrogatepass")
                        size += len(key)
                    else:
                        key = _key_to_lua(k)
                        if key.__class__ is bytes:
                            size += len(key)
                    cls = v.__class__
                    if cls is str:  # (strings and numbers inline: the common leaves)
                        v = v.encode("utf-8", "surrogatepass")
                        size += LUA_STRING + len(v)
                    elif cls is int:
                        if not _INT_MIN <= v <= _INT_MAX:
                            v = float(v)
                    elif not (v is None or cls is bool or cls is float):
                        tally.left -= size
                        size = 0
                        v = self._leaf(v, depth, active, tally)
                    if size > CHUNK:
                        tally.left -= size
                        size = 0
                        if tally.left < 0:
                            raise tally.exceeded()
                    out[key] = v
                tally.left -= size
                if tally.left < 0:
                    raise tally.exceeded()
                return out
            tally.left -= LUA_CONTAINER + LUA_ITEM * len(value)
            if tally.left < 0:
                raise tally.exceeded()
            return [self._leaf(v, depth, active, tally) for v in value]
        finally:
            active.discard(marker)

    def _leaf(self, value: Any, depth: int, active: set[int], tally: Tally) -> Any:
        cls = value.__class__
        if cls is str:
            encoded = value.encode("utf-8", "surrogatepass")
            tally.left -= LUA_STRING + len(encoded)
            if tally.left < 0:
                raise tally.exceeded()
            return encoded
        if value is None or cls is bool or cls is float:
            return value
        if cls is int:
            return value if _INT_MIN <= value <= _INT_MAX else float(value)
        if isinstance(value, (list, tuple, dict)):
            return self._prepare(value, depth, active, tally)
        if isinstance(value, HostObject):
            return self._host_table(value)
        if isinstance(value, ScriptFunction):
            fn = self._unwrap(value)
            if fn is None:
                raise TypeError("cannot pass a function of another spell")
            return fn
        if isinstance(value, bool):
            return bool(value)
        if isinstance(value, int):
            return self._leaf(int(value), depth, active, tally)
        if isinstance(value, float):
            return float(value)
        if isinstance(value, str):
            return self._leaf(str(value), depth, active, tally)
        if isinstance(value, (bytes, bytearray)):
            tally.left -= LUA_STRING + len(value)
            if tally.left < 0:
                raise tally.exceeded()
            return bytes(value)
        raise TypeError(f"cannot pass a Python {cls.__name__} to a spell")


def _key_to_py(key: Any) -> Any:
    cls = key.__class__
    if cls is bytes:
        return key.decode("utf-8", "replace")
    if cls is int or cls is float:
        return key
    if cls is bool:
        return "true" if key else "false"
    raise TypeError(f"cannot pass a table with a {_lua_type(key) or cls.__name__} key")


def _key_to_lua(key: Any) -> Any:
    cls = key.__class__
    if cls is str:
        return key.encode("utf-8", "surrogatepass")
    if cls is bool or cls is bytes or (cls is int and _INT_MIN <= key <= _INT_MAX):
        return key
    if cls is float and key == key:  # NaN cannot be a Lua table key
        return key
    return str(key).encode("utf-8", "surrogatepass")


def _is_sequence(mapping: dict[Any, Any]) -> bool:
    n = len(mapping)
    for k in mapping:
        if k.__class__ is not int or not 1 <= k <= n:
            return False
    return True
