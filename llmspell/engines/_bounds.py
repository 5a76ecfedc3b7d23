"""Bounded conversion: what a value crossing the script boundary costs, charged to the run.

Every engine converts values both ways (script → Python for API arguments, results, errors and
events; Python → script for API results and callback arguments). Two things make a conversion
dangerous when the value comes from a hostile or buggy spell:

* **Shared structure expands.** ``t = {t, t}`` forty times is 40 tables in Lua, but 2**40 nodes
  for anything that walks it as a tree (``json.encode``, a log line, a Python → JS copy). A
  value is therefore charged at its *expanded* size: a table or list reachable twice counts
  twice. Counting stays cheap where the conversion shares (Lua and Tengo → Python convert a
  table once and charge its remembered size again for every further reference) and bounds the
  work where it copies (a copy per reference, each charged), and it stops at the budget.
* **Size.** A result too big for the interpreter's heap (five million strings from
  ``text_split``) must be refused *before* the interpreter is asked to allocate it: an
  allocation failure outside the interpreter's protected calls aborts the whole process (Lua's
  ``PANIC``).

The budget is the run's memory limit: a value going to Python may take at most
``Limits.memory_bytes``; a value going into the interpreter at most what is left of the heap.
Over it, the run ends with ``LimitExceeded("memory")`` (not catchable by the script), quickly.

:class:`Tally` is the running count an engine's converter keeps as it walks a value (every
converter walks its values anyway; counting in the same walk costs a subtraction per value, where
a second walk would cost as much as the conversion): Lua's both ways, Tengo's both ways. JSON
text is its own measure: the JavaScript engine compares the text's length with the budget, and
the script side (``prelude.js``) counts what sharing adds while it serialises. Sizes are
estimates in bytes, upper bounds for the target (:data:`HOST` for Python objects, :data:`LUA`
for the Lua heap).
"""

from __future__ import annotations

from typing import NamedTuple

from .._exceptions import LimitExceeded
from ._base import Limits


class Costs(NamedTuple):
    """Estimated bytes of one value in some representation (a named tuple: a frozen dataclass
    costs every start-up ~3M instructions to create).

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

    def exceeded(self) -> LimitExceeded:
        """The error to raise once :attr:`left` went below zero (hot loops subtract from
        :attr:`left` themselves, which is cheaper than calling :meth:`add`)."""
        return too_large(self._budget, self._limits)

    @property
    def used(self) -> int:
        return self._budget - self.left


def unbounded() -> Tally:
    """A tally that never runs out: for values the host itself builds (namespace constants)."""
    return Tally(1 << 62, Limits())
