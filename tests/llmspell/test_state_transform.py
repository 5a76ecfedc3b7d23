"""Transforms (filter, flatten, sanitize) and merges: new memory stores, inputs unchanged."""

from __future__ import annotations

from typing import Any

import pytest

from llmspell.state import (
    MemoryStateStore,
    StateValueError,
    flatten_items,
    merge,
    merge_items,
    sanitize_items,
    transform,
)

pytestmark = pytest.mark.anyio

ITEMS: dict[str, Any] = {
    "conversation_id": "abc123",
    "context": {"user": "John", "topic": "qc", "messages": [], "meta": {}},
    "auth": {"Password": "x", "tokens": [{"token": "t1", "kind": "bearer"}]},
}


async def filled() -> MemoryStateStore:
    store = MemoryStateStore()
    for key, value in ITEMS.items():
        await store.set("s", key, value)
    return store


async def test_filter_keeps_keys_and_paths() -> None:
    store = await filled()
    kept = await transform(store, "s", "filter", keys=["conversation_id", "context.topic", "nope"])
    assert await kept.items("s") == {"conversation_id": "abc123", "context": {"topic": "qc"}}
    assert await store.items("s") == ITEMS
    with pytest.raises(StateValueError, match="'keys' is required"):
        await transform(store, "s", "filter")


def test_flatten_keys_each_leaf_by_its_dot_path() -> None:
    assert flatten_items(ITEMS) == {
        "conversation_id": "abc123",
        "context.user": "John",
        "context.topic": "qc",
        "context.messages": [],
        "context.meta": {},
        "auth.Password": "x",
        "auth.tokens": [{"token": "t1", "kind": "bearer"}],
    }


async def test_a_flattened_store_answers_dot_paths_from_its_exact_keys() -> None:
    flat = await transform(await filled(), "s", "flatten")
    assert await flat.get("s", "context.user") == "John"
    assert await flat.keys("s", "context.") == [
        "context.messages",
        "context.meta",
        "context.topic",
        "context.user",
    ]


def test_sanitize_redacts_secret_names_at_any_depth_and_named_paths() -> None:
    assert sanitize_items(ITEMS) == {
        "conversation_id": "abc123",
        "context": ITEMS["context"],
        "auth": {"Password": "[redacted]", "tokens": [{"token": "[redacted]", "kind": "bearer"}]},
    }
    assert sanitize_items(ITEMS, ["user", "auth.tokens"], replacement=None) == {
        "conversation_id": "abc123",
        "context": {"user": None, "topic": "qc", "messages": [], "meta": {}},
        "auth": {"Password": "x", "tokens": None},
    }
    assert sanitize_items(ITEMS, ["conversation_id"])["conversation_id"] == "[redacted]"


OURS = {"a": {"x": 1, "y": {"deep": 1}}, "only_ours": 1, "list": [1]}
THEIRS = {"a": {"x": 2, "y": {"other": 2}}, "only_theirs": 2, "list": [2, 3]}


@pytest.mark.parametrize(
    ("strategy", "conflict", "expected"),
    [
        (
            "deep",
            "theirs",
            {"a": {"x": 2, "y": {"deep": 1, "other": 2}}, "list": [2, 3]},
        ),
        ("deep", "ours", {"a": {"x": 1, "y": {"deep": 1, "other": 2}}, "list": [1]}),
        ("shallow", "theirs", {"a": THEIRS["a"], "list": [2, 3]}),
        ("shallow", "ours", {"a": OURS["a"], "list": [1]}),
    ],
)
def test_merge_strategies(strategy: str, conflict: str, expected: dict[str, Any]) -> None:
    merged = merge_items(OURS, THEIRS, strategy=strategy, conflict=conflict)
    assert merged == {**expected, "only_ours": 1, "only_theirs": 2}
    assert OURS["a"] == {"x": 1, "y": {"deep": 1}}  # inputs unchanged


async def test_merge_of_stores_returns_a_new_memory_store() -> None:
    ours, theirs = MemoryStateStore(), MemoryStateStore()
    await ours.set("s", "a", {"x": 1})
    await theirs.set("t", "a", {"y": 2})
    merged = await merge(ours, theirs, "s", their_scope="t")
    assert await merged.items("s") == {"a": {"x": 1, "y": 2}}
    assert await ours.items("s") == {"a": {"x": 1}}
    with pytest.raises(StateValueError, match="conflictResolution"):
        await merge(ours, theirs, "s", conflict="mine")
    with pytest.raises(StateValueError, match="strategy"):
        await merge(ours, theirs, "s", strategy="wide")


async def test_an_unknown_transform_is_refused() -> None:
    with pytest.raises(StateValueError, match="must be one of"):
        await transform(MemoryStateStore(), "s", "upper")
