"""Sizing values a spell makes the host hold, against the run's memory limit.

The engines count a script's own heap; what a script hands to the host (an event payload, tool
arguments, a decoded document, a tool's result on its way back) is measured here, so that a
value the run could not hold is refused before the host builds or copies it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .._exceptions import LimitExceeded

MAX_DEPTH = 64
"""How deeply a value may nest to cross between a script and the host."""

_NODE_BYTES = 64  # what one value is charged besides a string's characters
# (tuples, not ``str | bytes``: a union in isinstance is built anew at every call)
_TEXTS = (str, bytes, bytearray)
_CONTAINERS = (Mapping, list, tuple, set, frozenset)


class ValueTooBig(ValueError):
    """A value that would not fit the run's memory limit (``size``: its estimate so far)."""

    def __init__(self, size: int, limit: int) -> None:
        super().__init__(f"needs more than {limit} bytes (the run's memory limit)")
        self.size = size
        self.limit = limit


def measure(value: Any, max_bytes: int, max_depth: int = MAX_DEPTH) -> int:
    """Estimate the memory ``value`` takes once handed to a script, in bytes; a shared
    sub-value is counted each time it appears (a script receives copies).

    Raises:
        ValueError: ``value`` nests deeper than ``max_depth`` (the message says how deep).
        ValueTooBig: the estimate passed ``max_bytes`` (the walk stops there: its cost is
            bounded by ``max_bytes``, however much sharing makes the value expand).
    """
    cls = type(value)
    if cls is str:  # the common payloads first, without the walk
        size = _NODE_BYTES + len(value)
        if size > max_bytes:
            raise ValueTooBig(size, max_bytes)
        return size
    if value is None or cls is int or cls is float or cls is bool:
        return _NODE_BYTES
    size = 0
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        size += _NODE_BYTES
        if isinstance(item, _TEXTS):
            size += len(item)
        elif isinstance(item, _CONTAINERS):
            if depth >= max_depth:
                raise ValueError(f"nested deeper than {max_depth} levels")
            if isinstance(item, Mapping):
                for key, sub in item.items():
                    stack.append((key, depth + 1))
                    stack.append((sub, depth + 1))
            else:
                stack.extend((sub, depth + 1) for sub in item)
        if size > max_bytes:
            raise ValueTooBig(size, max_bytes)
    return size


def charge(what: str, value: Any, max_bytes: int) -> None:
    """Measure ``value`` (``what``: who made it, for the message) against ``max_bytes``.

    Raises:
        LimitExceeded: ("memory") it would take more than ``max_bytes``.
        ValueError: it nests deeper than :data:`MAX_DEPTH`.
    """
    try:
        measure(value, max_bytes)
    except ValueTooBig:
        raise LimitExceeded(
            "memory", f"{what} needs more than the run's memory limit of {max_bytes} bytes"
        ) from None
