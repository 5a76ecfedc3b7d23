"""Values crossing between Tengo and Python (the script API's boundary).

Tengo → Python:

* undefined → ``None``; bool, int, float, string keep their type.
* array and immutable-array → ``list``; map and immutable-map → ``dict``.
* char → a one-character ``str``; bytes → ``str`` decoded as UTF-8 (invalid bytes become
  U+FFFD); time → an RFC 3339 ``str`` with nanoseconds (``"2024-01-02T03:04:05.5Z"``).
* error → the ``str`` of its value (``error("boom")`` → ``"boom"``); as the *return value of
  a callback* an error fails the callback instead (see :mod:`._instance`).
* a compiled function → a :class:`ScriptFunction`; the object standing for a
  :class:`HostObject` → that HostObject; other native functions are refused.
* nesting deeper than :data:`MAX_DEPTH` or a container that holds itself is refused.

Both directions charge what they convert to a :class:`~llmspell.engines._bounds.Tally` (the
run's memory limit) at the value's expanded size: a list or map reachable twice counts twice
(see :mod:`llmspell.engines._bounds`). Going out it is converted once and shared; coming in it is
copied per reference, so the count also bounds the copying.

Python → Tengo: ``None`` → undefined, ``bool``/``int`` (beyond 64 bits: float)/``float``/
``str``, ``bytes`` → bytes, ``list``/``tuple`` → array, ``dict`` → map (keys as strings),
:class:`HostObject` → an immutable map of its fields and methods (``agent.run(x)``), this
instance's :class:`ScriptFunction` → the function itself. Anything else raises ``TypeError``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .._base import HostObject, ScriptFunction
from .._bounds import HOST, Tally
from ._values import INT_MAX, INT_MIN, Builtin, Char, Closure, Error, ImmArray, ImmMap, Time

MAX_DEPTH = 100
_ACTIVE = object()
_STRING, _SCALAR, _CONTAINER, _ITEM, _ENTRY = (
    HOST.string,
    HOST.scalar,
    HOST.container,
    HOST.item,
    HOST.entry,
)


class HostMap:
    """The immutable map standing for a HostObject: its fields and methods by name (and the
    HostObject itself, for the way back)."""

    __slots__ = ("host", "v")
    tengo_type_name = "immutable-map"

    def __init__(self, v: dict[str, Any], host: HostObject) -> None:
        self.v = v
        self.host = host

    def tengo_index(self, key: Any) -> Any:
        return self.v.get(key) if type(key) is str else None

    def tengo_iterate(self) -> Any:
        return iter(list(self.v.items()))

    def tengo_string(self) -> str:
        return f"<{self.host.type_name}>"


def to_py(
    value: Any,
    wrap: Callable[[Closure], ScriptFunction],
    tally: Tally,
    depth: int = 0,
    seen: dict[int, Any] | None = None,
) -> Any:
    t = type(value)
    if t is str:
        tally.left -= _STRING + len(value)
        if tally.left < 0:
            raise tally.exceeded()
        return value
    if t is int or t is float or t is bool or value is None:
        return value
    if depth >= MAX_DEPTH:
        raise ValueError(f"cannot pass values nested deeper than {MAX_DEPTH} levels")
    if t is HostMap:
        return value.host
    if t in (list, ImmArray, dict, ImmMap):
        if seen is None:
            seen = {}
        key = id(value)
        known = seen.get(key)
        if known is _ACTIVE:
            raise ValueError("cannot pass a value that contains itself")
        if known is not None:
            tally.left -= known[1]  # shared: whatever walks it as a tree sees it again
            if tally.left < 0:
                raise tally.exceeded()
            return known[0]
        seen[key] = _ACTIVE
        before = tally.left
        if t is list or t is ImmArray:
            elements = value if t is list else value.v
            tally.left -= _CONTAINER + (_ITEM + _SCALAR) * len(elements)
            if tally.left < 0:
                raise tally.exceeded()
            out: Any = [to_py(e, wrap, tally, depth + 1, seen) for e in elements]
        else:
            items = value if t is dict else value.v
            tally.left -= _CONTAINER + (_ENTRY + _STRING + _SCALAR) * len(items)
            if tally.left < 0:
                raise tally.exceeded()
            out = {k: to_py(e, wrap, tally, depth + 1, seen) for k, e in items.items()}
        seen[key] = (out, before - tally.left)
        return out
    if t is Char:
        from ._ops import char_str

        return char_str(value.v)
    if t is bytes:
        return value.decode("utf-8", "replace")
    if t is Time:
        from ._times import time_format_rfc3339

        return time_format_rfc3339(value, nano=True)
    if t is Error:
        from ._ops import to_string_plain

        return "" if value.v is None else to_string_plain(value.v)
    if t is Closure:
        return wrap(value)
    if t is Builtin:
        raise TypeError(f"cannot pass a {value.type_name()} to the host")
    raise TypeError(f"cannot pass a Tengo {t.__name__} to the host")


def to_tengo(
    value: Any,
    host_map: Callable[[HostObject], HostMap],
    unwrap: Callable[[ScriptFunction], Closure | None],
    tally: Tally,
    depth: int = 0,
    active: set[int] | None = None,
) -> Any:
    t = type(value)
    if t is str:
        tally.left -= _STRING + len(value)
        if tally.left < 0:
            raise tally.exceeded()
        return value
    if t is float or t is bool or value is None:
        return value
    if t is int:
        return value if INT_MIN <= value <= INT_MAX else float(value)
    if t is list or t is tuple or t is dict:
        if depth >= MAX_DEPTH:
            raise ValueError(f"cannot pass values nested deeper than {MAX_DEPTH} levels")
        if active is None:
            active = set()
        if id(value) in active:
            raise ValueError("cannot pass a value that contains itself")
        active.add(id(value))
        # a list or dict reachable twice is copied twice: charged twice
        per = (_ENTRY + _STRING + _SCALAR) if t is dict else (_ITEM + _SCALAR)
        tally.left -= _CONTAINER + per * len(value)
        if tally.left < 0:
            raise tally.exceeded()
        try:
            if t is dict:
                return {
                    k if type(k) is str else str(k): to_tengo(
                        v, host_map, unwrap, tally, depth + 1, active
                    )
                    for k, v in value.items()
                }
            return [to_tengo(v, host_map, unwrap, tally, depth + 1, active) for v in value]
        finally:
            active.discard(id(value))
    if isinstance(value, HostObject):
        return host_map(value)
    if isinstance(value, ScriptFunction):
        fn = unwrap(value)
        if fn is None:
            raise TypeError("cannot pass a function of another spell")
        return fn
    if isinstance(value, bool):
        return bool(value)
    if isinstance(value, int):
        return to_tengo(int(value), host_map, unwrap, tally, depth, active)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, str):
        return to_tengo(str(value), host_map, unwrap, tally, depth, active)
    if isinstance(value, (bytes, bytearray)):
        tally.left -= _STRING + len(value)
        if tally.left < 0:
            raise tally.exceeded()
        return bytes(value)
    if isinstance(value, dict):
        return to_tengo(dict(value), host_map, unwrap, tally, depth, active)
    if isinstance(value, (list, tuple)):
        return to_tengo(list(value), host_map, unwrap, tally, depth, active)
    raise TypeError(f"cannot pass a Python {t.__name__} to a spell")
