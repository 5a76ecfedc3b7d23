"""State that survives: JSON values by scope and dot path, behind the :class:`StateStore` seam.

Spells reach it as the ``state`` global; Python code directly::

    from llmspell.state import open_state_store

    async with open_state_store(".llmspell/state.db") as store:
        await store.set("global", "context.topic", "quantum")
        await store.update("global", "runs", lambda n: _plus_one(n))   # atomic
        assert await store.get("global", "context") == {"topic": "quantum"}

Stores: :class:`SqliteStateStore` (the runtime's; aiosqlite, WAL, durable on return),
:class:`FileStateStore` (one JSON file, replaced atomically), :class:`MemoryStateStore`
(this process only; also the fake for tests). ``update`` is atomic across processes sharing a
database or file; its function may run more than once (see :class:`StateStore`).
"""

from __future__ import annotations

from ._abc import JsonValue as JsonValue
from ._abc import StateStore as StateStore
from ._abc import UpdateFn as UpdateFn
from ._codec import MAX_VALUE_BYTES as MAX_VALUE_BYTES
from ._errors import StateConflictError as StateConflictError
from ._errors import StateError as StateError
from ._errors import StateFileError as StateFileError
from ._errors import StateValueError as StateValueError
from ._file import FileStateStore as FileStateStore
from ._memory import MemoryStateStore as MemoryStateStore
from ._open import DEFAULT_STATE_PATH as DEFAULT_STATE_PATH
from ._open import PERSISTENCE as PERSISTENCE
from ._open import create_state_store as create_state_store
from ._open import open_state_store as open_state_store
from ._open import persistence_for as persistence_for
from ._paths import check_scope as check_scope
from ._rows import RowStore as RowStore
from ._sqlite import SqliteStateStore as SqliteStateStore
from ._transform import CONFLICTS as CONFLICTS
from ._transform import STRATEGIES as STRATEGIES
from ._transform import TRANSFORMS as TRANSFORMS
from ._transform import flatten_items as flatten_items
from ._transform import merge as merge
from ._transform import merge_items as merge_items
from ._transform import sanitize_items as sanitize_items
from ._transform import transform as transform

__all__ = [
    "CONFLICTS",
    "DEFAULT_STATE_PATH",
    "MAX_VALUE_BYTES",
    "PERSISTENCE",
    "STRATEGIES",
    "TRANSFORMS",
    "FileStateStore",
    "JsonValue",
    "MemoryStateStore",
    "RowStore",
    "SqliteStateStore",
    "StateConflictError",
    "StateError",
    "StateFileError",
    "StateStore",
    "StateValueError",
    "UpdateFn",
    "check_scope",
    "create_state_store",
    "flatten_items",
    "merge",
    "merge_items",
    "open_state_store",
    "persistence_for",
    "sanitize_items",
    "transform",
]
