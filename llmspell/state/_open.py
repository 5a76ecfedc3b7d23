"""Choosing and opening a store by name or by path."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from ._abc import StateStore
from ._file import FileStateStore
from ._memory import MemoryStateStore
from ._sqlite import SqliteStateStore

DEFAULT_STATE_PATH = os.path.join(".llmspell", "state.db")
"""Where the runtime keeps state unless told otherwise (relative to the current directory)."""

MEMORY = ":memory:"
"""The path that means "keep nothing": a :class:`MemoryStateStore`."""

PERSISTENCE: dict[str, Callable[[str], StateStore]] = {
    "memory": lambda path: MemoryStateStore(),
    "sqlite": SqliteStateStore,
    "file": FileStateStore,
}
"""The stores by the names ``state.create{persistence=...}`` uses."""


def persistence_for(path: str | os.PathLike[str]) -> str:
    """The kind of store a path names: ``:memory:`` → memory, ``*.json`` → file, else sqlite."""
    text = os.fspath(path)
    if text == MEMORY:
        return "memory"
    return "file" if text.lower().endswith(".json") else "sqlite"


def create_state_store(
    path: str | os.PathLike[str] = DEFAULT_STATE_PATH, *, persistence: str | None = None
) -> StateStore:
    """A store for ``path``, not yet opened (it opens on first use, or with ``open()``).

    Args:
        path: a database file, a ``.json`` file, or ``":memory:"``.
        persistence: ``"sqlite"``, ``"file"`` or ``"memory"``; default: from the path (see
            :func:`persistence_for`).

    Raises:
        ValueError: an unknown ``persistence``.
    """
    kind = persistence or persistence_for(path)
    factory = PERSISTENCE.get(kind)
    if factory is None:
        raise ValueError(f"persistence must be one of {', '.join(PERSISTENCE)}, not {kind!r}")
    return factory(os.fspath(path))


@asynccontextmanager
async def open_state_store(
    path: str | os.PathLike[str] = DEFAULT_STATE_PATH, *, persistence: str | None = None
) -> AsyncIterator[StateStore]:
    """Open the store for ``path`` now (a bad file raises StateFileError here) and close it
    on exit::

        async with open_state_store(".llmspell/state.db") as store:
            await store.set("global", "greeting", "hello")
    """
    store = create_state_store(path, persistence=persistence)
    try:
        await store.open()
        yield store
    finally:
        await store.aclose()
