"""Values as the store keeps them: JSON text, checked once on the way in.

A value is JSON: None, booleans, numbers, strings, lists and objects with string keys (number
and boolean keys are written as JSON writes them, ``1`` → ``"1"``). Refused, with an error that
names the path and where inside the value the problem is: functions and other host objects,
NaN and infinities, values that contain themselves, nesting deeper than
:data:`MAX_DEPTH`, and values whose JSON text is over :data:`MAX_VALUE_BYTES`.
"""

from __future__ import annotations

import json
import math
from typing import Any

from .._json import encoder
from ._errors import StateValueError

MAX_VALUE_BYTES = 16 * 1024 * 1024
"""The largest value (its JSON text, UTF-8) one top-level key may hold."""

MAX_DEPTH = 500
"""The deepest nesting of lists and objects accepted."""


def _refuse(value: object) -> object:
    raise TypeError(type(value).__name__)


# (a value that contains itself ends in RecursionError, which encode_value handles alike)
_encode = encoder(_refuse, ensure_ascii=False, allow_nan=False, separators=(",", ":"))

_encode_ascii = json.JSONEncoder(
    ensure_ascii=True, allow_nan=False, separators=(",", ":"), default=_refuse
).encode

decode = json.loads
"""JSON text → value (a fresh copy on every call, so callers may change what they get)."""


def encode_value(function: str, path: str, value: Any) -> str:
    """Return ``value`` as JSON text, or raise :class:`StateValueError` naming ``path``.

    Args:
        function: the operation, for the error (``"state.set"``).
        path: where the value is being stored, for the error.
    """
    try:
        text = _encode(value)
    except (TypeError, ValueError, RecursionError):
        location, problem = _find_problem(value, path)
        subject = "it" if location == path else repr(location)
        raise StateValueError(
            function, "value", path, f"for {path!r} is not JSON: {subject} {problem}"
        ) from None
    if text.isascii():
        size = len(text)
    else:
        try:
            size = len(text.encode("utf-8"))
        except UnicodeEncodeError:  # lone surrogates (from JS strings) travel as \u escapes
            text = _encode_ascii(value)
            size = len(text)
    if size > MAX_VALUE_BYTES:
        raise StateValueError(
            function,
            "value",
            path,
            f"for {path!r} is {size:,} bytes as JSON; the limit is {MAX_VALUE_BYTES:,} (16 MiB)",
        )
    return text


def _find_problem(value: Any, path: str) -> tuple[str, str]:
    """Where inside ``value`` (as a dot path under ``path``) it stops being JSON, and why."""
    stack: list[tuple[Any, str, int]] = [(value, path, 0)]
    active: dict[int, str] = {}
    # Depth-first, with explicit exits so that `active` holds exactly the current ancestors.
    exit_marker = object()
    while stack:
        node, where, depth = stack.pop()
        if node is exit_marker:
            active.pop(depth, None)  # here `depth` carries the id of the finished container
            continue
        if node is None or isinstance(node, bool | int | str):
            continue
        if isinstance(node, float):
            if not math.isfinite(node):
                return where, f"is {node!r} (not a JSON number)"
            continue
        if callable(node):
            return where, "is a function"
        if not isinstance(node, dict | list | tuple):
            name = getattr(node, "type_name", None) or type(node).__name__
            return where, f"is a {name} (only JSON values can be stored)"
        if id(node) in active:
            return where, f"is {active[id(node)]!r} again (a value cannot contain itself)"
        if depth >= MAX_DEPTH:
            return where, f"is nested deeper than {MAX_DEPTH} levels"
        active[id(node)] = where
        stack.append((exit_marker, where, id(node)))
        if isinstance(node, dict):
            for key, child in reversed(list(node.items())):
                if not isinstance(key, str | int | float | bool) and key is not None:
                    return where, f"has a key of type {type(key).__name__} (keys are strings)"
                stack.append((child, f"{where}.{key}", depth + 1))
        else:
            for index, child in reversed(list(enumerate(node, 1))):
                stack.append((child, f"{where}[{index}]", depth + 1))
    return path, "cannot be written as JSON"
