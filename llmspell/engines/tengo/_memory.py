"""Measuring what a run holds: the values reachable from its globals and live frames.

Sizes are Python's own (``sys.getsizeof``) for strings, bytes and containers, and a fixed
cost for small objects; a value reachable twice counts once. The walk stops as soon as the
total passes ``stop``, so measuring a run over its limit costs no more than the limit.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import Any

from ._values import Cell, Char, Closure, Error, ImmArray, ImmMap

_SMALL = 32


def live_size(roots: Iterable[Any], stop: int) -> int:
    total = 0
    seen: set[int] = set()
    stack = list(roots)
    getsizeof = sys.getsizeof
    while stack:
        v = stack.pop()
        t = type(v)
        if v is None or t is bool:
            continue
        if t is int or t is float:
            total += _SMALL
            continue
        key = id(v)
        if key in seen:
            continue
        seen.add(key)
        if t is str or t is bytes:
            total += getsizeof(v)
        elif t is list:
            total += getsizeof(v)
            stack.extend(v)
        elif t is dict:
            total += getsizeof(v)
            stack.extend(v)
            stack.extend(v.values())
        elif t is ImmArray or t is ImmMap or t is Error or t is Cell:
            total += _SMALL
            stack.append(v.v)
        elif t is Closure:
            total += 64
            stack.extend(v.free)
        elif t is Char:
            total += _SMALL
        else:
            total += _SMALL
            inner = getattr(v, "v", None)
            if isinstance(inner, (list, dict)):
                stack.append(inner)
        if total > stop:
            break
    return total
