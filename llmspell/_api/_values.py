"""Normalising Python values before they cross into a script."""

from __future__ import annotations

import dataclasses
import enum
import math
from collections.abc import Mapping
from typing import Any

from ..engines import HostObject, ScriptFunction, ScriptValue

_MAX_DEPTH = 64
MAX_DEPTH = _MAX_DEPTH
"""How deeply a value may nest to cross into a script (an event payload, a tool result)."""
_NODE_BYTES = 64  # what one value is charged besides a string's characters


class ValueTooBig(ValueError):
    """A value that would not fit the run's memory limit (``size``: its estimate so far)."""

    def __init__(self, size: int, limit: int) -> None:
        super().__init__(f"needs more than {limit} bytes (the run's memory limit)")
        self.size = size
        self.limit = limit


def measure(value: Any, max_bytes: int, max_depth: int = _MAX_DEPTH) -> int:
    """Estimate the memory ``value`` takes once handed to a script, in bytes; a shared
    sub-value is counted each time it appears (a script receives copies).

    Raises:
        ValueError: ``value`` nests deeper than ``max_depth`` (the message says how deep).
        ValueTooBig: the estimate passed ``max_bytes`` (the walk stops there: its cost is
            bounded by ``max_bytes``, however much sharing makes the value expand).
    """
    size = 0
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        size += _NODE_BYTES
        if isinstance(item, str | bytes | bytearray):
            size += len(item)
        elif isinstance(item, Mapping | list | tuple | set | frozenset):
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


def is_number(value: Any) -> bool:
    """Whether ``value`` is a finite int or float (a boolean is not a number)."""
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def to_script(value: Any, _depth: int = 0) -> ScriptValue:
    """Return ``value`` as plain script data: None, bool, int, float, str, list, dict.

    Dataclasses become dicts, tuples and sets lists, enums their value, bytes text (UTF-8,
    replacement characters for bad bytes); anything else its ``str()``. Script functions and
    host objects pass through unchanged.
    """
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if _depth > _MAX_DEPTH:
        raise ValueError("value nested too deeply to pass to a script")
    if isinstance(value, ScriptFunction | HostObject):
        return value
    if isinstance(value, Mapping):
        return {str(k): to_script(v, _depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [to_script(v, _depth + 1) for v in value]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
        return to_script(fields, _depth + 1)
    if isinstance(value, enum.Enum):
        return to_script(value.value, _depth + 1)
    if isinstance(value, bytes | bytearray):
        return bytes(value).decode("utf-8", "replace")
    return str(value)
