"""Scopes and dot paths.

A *scope* is any non-empty string (``"global"``, ``"spell:report"``, ``"user:42"``). A *path*
names a value inside a scope: its first segment is a top-level key, the following segments
reach into nested objects (``"context.topic"`` is ``topic`` inside the object stored under
``context``). Segments are separated by single dots and cannot be empty: ``""``, ``".a"``,
``"a."`` and ``"a..b"`` are refused.

A top-level key may itself contain dots (``transform{type="flatten"}`` stores every leaf under
its dot path). So every operation looks for the whole path as an exact top-level key first and
only then reaches into nested values; :meth:`StatePath.candidates` lists both keys.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from ._errors import StateValueError

MAX_KEY_CHARS = 1024
"""The longest path or scope accepted."""


class StatePath(NamedTuple):
    """A parsed path: the text as given and its segments (a named tuple: a dataclass costs
    each start-up some 3M instructions to create)."""

    text: str
    parts: tuple[str, ...]

    @property
    def nested(self) -> bool:
        """Whether the path reaches into a value (more than one segment)."""
        return len(self.parts) > 1

    @property
    def candidates(self) -> tuple[str, ...]:
        """The top-level keys that may hold the value: the exact key, then the first segment."""
        return (self.text, self.parts[0]) if len(self.parts) > 1 else (self.text,)


_PARSED: dict[str, StatePath] = {}
"""Paths parsed before (a spell tends to use the same few): valid ones only, bounded."""

_PARSED_MAX = 4096


def parse_path(function: str, path: object) -> StatePath:
    """Parse ``path`` or raise :class:`StateValueError` naming it."""
    if path.__class__ is str:
        parsed = _PARSED.get(path)
        if parsed is not None:
            return parsed
    if not isinstance(path, str):
        raise StateValueError(
            function, "path", path, f"must be a string like 'context.topic', not {_kind(path)}"
        )
    parts = tuple(path.split("."))
    if not path or "" in parts:
        raise StateValueError(
            function,
            "path",
            path,
            f"{path!r} is not a valid path: use keys separated by single dots, like "
            "'context.topic'",
        )
    if len(path) > MAX_KEY_CHARS:
        raise StateValueError(function, "path", path, f"is longer than {MAX_KEY_CHARS} characters")
    parsed = StatePath(path, parts)
    if path.__class__ is str:
        if len(_PARSED) >= _PARSED_MAX:
            _PARSED.clear()
        _PARSED[path] = parsed
    return parsed


def check_scope(function: str, scope: object) -> str:
    """Return ``scope`` if it is a valid scope name, else raise :class:`StateValueError`."""
    if not isinstance(scope, str) or not scope or len(scope) > MAX_KEY_CHARS:
        raise StateValueError(
            function, "scope", scope, f"must be a non-empty string like 'global', not {scope!r}"
        )
    return scope


def lookup(root: Any, parts: tuple[str, ...]) -> tuple[bool, Any]:
    """Follow ``parts`` into ``root``; ``(False, None)`` where an object or key is missing."""
    value = root
    for part in parts:
        if not isinstance(value, dict) or part not in value:
            return False, None
        value = value[part]
    return True, value


def place(function: str, path: StatePath, root: Any, value: Any) -> dict[str, Any]:
    """Store ``value`` at ``path.parts[1:]`` inside ``root`` (a decoded top-level value, or
    None when the key is missing), creating objects on the way; return the new root.

    Raises:
        StateValueError: a value on the way exists and is not an object.
    """
    if root is None:
        root = {}
    if not isinstance(root, dict):
        raise _not_object(function, path, 1, root)
    node = root
    for depth, part in enumerate(path.parts[1:-1], 2):
        child = node.get(part)
        if child is None:
            child = node[part] = {}
        elif not isinstance(child, dict):
            raise _not_object(function, path, depth, child)
        node = child
    node[path.parts[-1]] = value
    return root


def remove(root: Any, parts: tuple[str, ...]) -> bool:
    """Remove the value at ``parts`` inside ``root``; False if there was none."""
    found, parent = lookup(root, parts[:-1])
    if not found or not isinstance(parent, dict) or parts[-1] not in parent:
        return False
    del parent[parts[-1]]
    return True


def _not_object(function: str, path: StatePath, depth: int, value: Any) -> StateValueError:
    where = ".".join(path.parts[:depth])
    return StateValueError(
        function,
        "path",
        path.text,
        f"{path.text!r} reaches into {where!r}, which holds {_kind(value)}, not an object",
    )


def _kind(value: object) -> str:
    if value is None:
        return "nothing"
    names = {bool: "a boolean", int: "a number", float: "a number", str: "a string"}
    names.update({list: "a list", dict: "an object"})
    return names.get(type(value), f"a {type(value).__name__}")
