"""Transforms and merges: new memory stores computed from existing ones.

Each works on the top-level keys of one scope and returns a new :class:`MemoryStateStore`
holding the result in that same scope; the inputs are left unchanged.

* ``filter`` keeps the listed paths (``"context.topic"`` keeps only ``topic`` inside
  ``context``).
* ``flatten`` keys every leaf by its dot path: ``{"context": {"user": "x"}}`` becomes
  ``{"context.user": "x"}``. Lists and empty objects are leaves.
* ``sanitize`` replaces the values of sensitive keys with ``"[redacted]"``, at any depth: a
  name matches keys case-insensitively, a dot path matches that path from the top. Without
  ``keys`` it redacts :data:`SECRET_KEYS`.
* ``merge`` combines two stores: ``shallow`` decides per top-level key, ``deep`` merges nested
  objects key by key; where both hold a value that is not an object on both sides,
  ``conflict="theirs"`` (default: the other store wins) or ``"ours"`` decides.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ._abc import JsonValue, StateStore
from ._codec import encode_value
from ._errors import StateValueError
from ._memory import MemoryStateStore
from ._paths import lookup, parse_path

TRANSFORMS = ("filter", "flatten", "sanitize")
STRATEGIES = ("deep", "shallow")
CONFLICTS = ("ours", "theirs")

REDACTED = "[redacted]"
SECRET_KEYS = (
    "password",
    "passwd",
    "secret",
    "token",
    "api_key",
    "apikey",
    "access_token",
    "refresh_token",
    "authorization",
    "private_key",
)
"""What ``sanitize`` redacts when no keys are given."""


def filter_items(items: dict[str, JsonValue], paths: Iterable[str]) -> dict[str, JsonValue]:
    """Only the values at ``paths`` (exact top-level keys first, then nested paths)."""
    out: dict[str, JsonValue] = {}
    for path in paths:
        p = parse_path("transform", path)
        if p.text in items:
            out[p.text] = items[p.text]
            continue
        found, value = lookup(items, p.parts)
        if found:
            node = out
            for part in p.parts[:-1]:
                child = node.get(part)
                if not isinstance(child, dict):
                    child = node[part] = {}
                node = child
            node[p.parts[-1]] = value
    return out


def flatten_items(items: dict[str, JsonValue]) -> dict[str, JsonValue]:
    """Every leaf keyed by its dot path."""
    out: dict[str, JsonValue] = {}

    def walk(prefix: str, value: JsonValue) -> None:
        if isinstance(value, dict) and value:
            for key, child in value.items():
                walk(f"{prefix}.{key}", child)
        else:
            out[prefix] = value

    for key, value in items.items():
        walk(key, value)
    return out


def sanitize_items(
    items: dict[str, JsonValue],
    keys: Iterable[str] | None = None,
    replacement: JsonValue = REDACTED,
) -> dict[str, JsonValue]:
    """``items`` with the values of sensitive keys replaced (see the module docs)."""
    wanted = list(SECRET_KEYS if keys is None else keys)
    names = {k.lower() for k in wanted if "." not in k}
    paths = {k for k in wanted if "." in k}

    def clean(where: str, value: JsonValue) -> JsonValue:
        if isinstance(value, dict):
            return {
                key: replacement
                if key.lower() in names or f"{where}.{key}" in paths
                else clean(f"{where}.{key}", child)
                for key, child in value.items()
            }
        if isinstance(value, list):
            return [clean(where, item) for item in value]
        return value

    return {
        key: replacement if key.lower() in names or key in paths else clean(key, value)
        for key, value in items.items()
    }


def merge_items(
    ours: dict[str, JsonValue],
    theirs: dict[str, JsonValue],
    *,
    strategy: str = "deep",
    conflict: str = "theirs",
) -> dict[str, JsonValue]:
    """Merge two scopes' items (see the module docs)."""
    if strategy not in STRATEGIES:
        raise StateValueError("merge", "strategy", strategy, f"must be one of {STRATEGIES}")
    if conflict not in CONFLICTS:
        raise StateValueError(
            "merge", "conflictResolution", conflict, f"must be one of {CONFLICTS}"
        )

    def combine(a: Any, b: Any) -> Any:
        if strategy == "deep" and isinstance(a, dict) and isinstance(b, dict):
            out = dict(a)
            for key, value in b.items():
                out[key] = combine(a[key], value) if key in a else value
            return out
        return b if conflict == "theirs" else a

    merged = dict(ours)
    for key, value in theirs.items():
        merged[key] = combine(ours[key], value) if key in ours else value
    return merged


def memory_store(scope: str, items: dict[str, JsonValue], function: str) -> MemoryStateStore:
    """A new memory store holding ``items`` in ``scope`` (each value checked as by set)."""
    store = MemoryStateStore()
    store._load({scope: {key: encode_value(function, key, value) for key, value in items.items()}})
    return store


async def transform(
    store: StateStore,
    scope: str,
    kind: str,
    *,
    keys: Iterable[str] | None = None,
    replacement: JsonValue = REDACTED,
) -> MemoryStateStore:
    """A new memory store with ``scope`` of ``store`` transformed by ``kind``.

    Args:
        kind: ``"filter"`` (``keys`` required), ``"flatten"`` or ``"sanitize"``.
        keys: the paths to keep (filter) or the keys to redact (sanitize).
        replacement: what sanitize puts in place of a redacted value.
    """
    items = await store.items(scope)
    if kind == "filter":
        if keys is None:
            raise StateValueError("transform", "keys", None, "is required by type 'filter'")
        result = filter_items(items, keys)
    elif kind == "flatten":
        result = flatten_items(items)
    elif kind == "sanitize":
        result = sanitize_items(items, keys, replacement)
    else:
        raise StateValueError("transform", "type", kind, f"must be one of {TRANSFORMS}")
    return memory_store(scope, result, "transform")


async def merge(
    ours: StateStore,
    theirs: StateStore,
    scope: str,
    *,
    strategy: str = "deep",
    conflict: str = "theirs",
    their_scope: str | None = None,
) -> MemoryStateStore:
    """A new memory store: ``scope`` of ``ours`` merged with ``their_scope`` of ``theirs``."""
    merged = merge_items(
        await ours.items(scope),
        await theirs.items(their_scope or scope),
        strategy=strategy,
        conflict=conflict,
    )
    return memory_store(scope, merged, "merge")
