"""Bounded conversion: what a value crossing the script boundary costs, charged to the run.

Every engine converts values both ways (script → Python for API arguments, results, errors and
events; Python → script for API results and callback arguments). Two things make a conversion
dangerous when the value comes from a hostile or buggy spell:

* **Shared structure expands.** ``t = {t, t}`` forty times is 40 tables in Lua, but 2**40 nodes
  for anything that walks it as a tree (``json.encode``, a log line, a Python → JS copy). A
  value is therefore charged at its *expanded* size: a table or list reachable twice counts
  twice. Measuring stays cheap (each distinct container is walked once; its size is remembered
  and added again for every further reference) and stops as soon as the budget is passed.
* **Size.** A result too big for the interpreter's heap (five million strings from
  ``text_split``) must be refused *before* the interpreter is asked to allocate it: an
  allocation failure outside the interpreter's protected calls aborts the whole process (Lua's
  ``PANIC``).

The budget is the run's memory limit: a value going to Python may take at most
``Limits.memory_bytes``; a value going into the interpreter at most what is left of the heap.
Over it, the run ends with ``LimitExceeded("memory")`` (not catchable by the script), quickly.

:func:`measure` walks a Python value; :class:`Tally` counts as an engine walks its own values
(Lua tables arrive in Python one element at a time, so the count must run during the walk).
Sizes are estimates in bytes, upper bounds for the target (:data:`HOST` for Python objects,
:data:`LUA` for the Lua heap, :data:`JSON` for JSON text).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from .._exceptions import LimitExceeded
from ._base import Limits

MAX_DEPTH = 256
"""Deepest nesting :func:`measure` walks (the converters refuse less: 100 or 200 levels)."""


@dataclasses.dataclass(frozen=True, slots=True)
class Costs:
    """Estimated bytes of one value in some representation.

    Attributes:
        scalar: a number, boolean or null (on its own or as an element).
        string: a string's overhead; its text adds its UTF-8 length (4 bytes per character
            when not ASCII, an upper bound).
        container: a list or mapping's own overhead.
        item: each element of a list.
        entry: each key/value pair of a mapping (the key's text is added as a string).
    """

    scalar: int
    string: int
    container: int
    item: int
    entry: int


HOST = Costs(scalar=16, string=48, container=64, item=8, entry=48)
"""Python objects (``sys.getsizeof`` of the small ones, dict entries with their hash slot)."""

LUA = Costs(scalar=0, string=40, container=64, item=16, entry=64)
"""PUC Lua 5.4: a TValue per array slot, a Node (twice, for the power-of-two hash part) per
entry; a string is a TString header plus its bytes."""

JSON = Costs(scalar=8, string=8, container=2, item=1, entry=3)
"""JSON text (what QuickJS parses): quotes, brackets, commas and colons."""


def text_size(text: str) -> int:
    """Upper bound of the UTF-8 length of ``text`` (exact for ASCII)."""
    n = len(text)
    return n if n < 64 or text.isascii() else 4 * n


def too_large(budget: int, limits: Limits) -> LimitExceeded:
    """The error for a value over its budget (worded as the memory limit, which it is)."""
    return LimitExceeded(
        "memory",
        f"the spell needed more than {limits.memory_bytes} bytes of memory: a value passed "
        f"between the spell and the host takes more than {max(budget, 0)} bytes (a table or "
        "object reachable twice counts twice)",
    )


class Tally:
    """A running count against a budget, for an engine walking its own values.

    Call :meth:`add` with each value's cost; it raises ``LimitExceeded("memory")`` as soon as
    the total passes the budget.
    """

    __slots__ = ("_budget", "_limits", "left")

    def __init__(self, budget: int, limits: Limits) -> None:
        self._budget = budget
        self._limits = limits
        self.left = budget

    def add(self, cost: int) -> None:
        self.left -= cost
        if self.left < 0:
            raise too_large(self._budget, self._limits)

    @property
    def used(self) -> int:
        return self._budget - self.left


class _Over(Exception):
    pass


def measure(value: Any, budget: int, limits: Limits, costs: Costs = HOST) -> int:
    """The expanded size of Python ``value`` under ``costs`` (shared containers counted once
    per reference).

    Raises:
        LimitExceeded: ``"memory"``, when the size passes ``budget`` (the walk stops there).
        ValueError: the value contains itself, or is nested deeper than :data:`MAX_DEPTH`.
    """
    cls = value.__class__
    if cls is str:
        size = costs.string + text_size(value)
    elif cls is int or cls is float or cls is bool or value is None:
        size = costs.scalar
    else:
        walk = _Walk(budget, costs)
        try:
            size = walk.size(value, 0)
        except _Over:
            raise too_large(budget, limits) from None
    if size > budget:
        raise too_large(budget, limits)
    return size


class _Walk:
    __slots__ = ("active", "costs", "left", "memo")

    def __init__(self, budget: int, costs: Costs) -> None:
        self.left = budget
        self.costs = costs
        self.memo: dict[int, int] = {}
        self.active: set[int] = set()

    def size(self, value: Any, depth: int) -> int:
        cls = value.__class__
        costs = self.costs
        if cls is str:
            size = costs.string + text_size(value)
        elif cls is int or cls is float or cls is bool or value is None:
            size = costs.scalar
        elif cls is list or cls is tuple or cls is dict or isinstance(value, (list, tuple, dict)):
            key = id(value)
            known = self.memo.get(key)
            if known is not None:
                size = known
            else:
                if key in self.active:
                    raise ValueError("cannot pass a value that contains itself")
                if depth >= MAX_DEPTH:
                    raise ValueError(f"cannot pass values nested deeper than {MAX_DEPTH} levels")
                self.active.add(key)
                size = costs.container
                self.left -= size
                if isinstance(value, dict):
                    step = costs.entry
                    for k, v in value.items():
                        self.left -= step
                        size += step + self.size(k, depth + 1) + self.size(v, depth + 1)
                        if self.left < 0:
                            raise _Over
                else:
                    step = costs.item
                    for v in value:
                        self.left -= step
                        size += step + self.size(v, depth + 1)
                        if self.left < 0:
                            raise _Over
                self.active.discard(key)
                self.memo[key] = size
                if self.left < 0:
                    raise _Over
                return size  # charged as it was walked
        elif cls is bytes or cls is bytearray:
            size = costs.string + len(value)
        else:  # a host object, a script function, an engine's own value: a handle
            size = costs.container
        self.left -= size
        if self.left < 0:
            raise _Over
        return size
