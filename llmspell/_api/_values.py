"""Normalising Python values before they cross into a script."""

from __future__ import annotations

import dataclasses
import enum
import math
from collections.abc import Mapping
from typing import Any

from .._ops import ValueTooBig as ValueTooBig
from .._ops import measure as measure
from ..engines import HostObject, ScriptFunction, ScriptValue

_MAX_DEPTH = 64
# (tuples, not ``int | float``: a union in isinstance is built anew at every call, and these
# run per value passed to a script: every event a handler receives)
_NUMBERS = (int, float)
_SCALARS = (bool, int, float, str)
_PASSED = (ScriptFunction, HostObject)
_SEQUENCES = (list, tuple, set, frozenset)


def is_number(value: Any) -> bool:
    """Whether ``value`` is a finite int or float (a boolean is not a number)."""
    return isinstance(value, _NUMBERS) and not isinstance(value, bool) and math.isfinite(value)


def to_script(value: Any, _depth: int = 0) -> ScriptValue:
    """Return ``value`` as plain script data: None, bool, int, float, str, list, dict.

    Dataclasses become dicts, tuples and sets lists, enums their value, bytes text (UTF-8,
    replacement characters for bad bytes); anything else its ``str()``. Script functions and
    host objects pass through unchanged.
    """
    if value is None or isinstance(value, _SCALARS):
        return value
    if _depth > _MAX_DEPTH:
        raise ValueError("value nested too deeply to pass to a script")
    if isinstance(value, _PASSED):
        return value
    if isinstance(value, Mapping):
        return {str(k): to_script(v, _depth + 1) for k, v in value.items()}
    if isinstance(value, _SEQUENCES):
        return [to_script(v, _depth + 1) for v in value]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
        return to_script(fields, _depth + 1)
    if isinstance(value, enum.Enum):
        return to_script(value.value, _depth + 1)
    if isinstance(value, bytes | bytearray):
        return bytes(value).decode("utf-8", "replace")
    return str(value)
