"""A store in this process's memory: for tests, scratch state and ``persistence="memory"``."""

from __future__ import annotations

from ._errors import StateError
from ._rows import DEFAULT_UPDATE_ATTEMPTS, Expect, Row, RowStore, expected, rows_of


class MemoryStateStore(RowStore):
    """Keeps every row as JSON text in a dict; gone when the process ends.

    Values are copied in and out (as JSON), so changing a value you got or gave never changes
    the store. Writes complete without yielding, so each is atomic within the event loop.
    """

    def __init__(self, *, update_attempts: int = DEFAULT_UPDATE_ATTEMPTS) -> None:
        super().__init__(update_attempts=update_attempts)
        self._scopes: dict[str, dict[str, str]] = {}
        self._closed = False

    def __repr__(self) -> str:
        return f"MemoryStateStore(scopes={len(self._scopes)})"

    def _rows(self, scope: str) -> dict[str, str]:
        if self._closed:
            raise StateError("the state store is closed")
        return self._scopes.get(scope) or {}

    async def _read(self, scope: str, keys: tuple[str, ...]) -> dict[str, Row]:
        return rows_of(self._rows(scope), keys)

    async def _write(self, scope: str, key: str, text: str | None, expect: Expect) -> bool:
        rows = self._rows(scope)
        current = rows.get(key)
        if not expected(current, expect):
            return False
        if text is None:
            if current is None:
                return False
            del rows[key]
        else:
            self._scopes.setdefault(scope, rows)[key] = text
        return True

    async def _keys(self, scope: str, prefix: str) -> list[str]:
        return sorted(key for key in self._rows(scope) if key.startswith(prefix))

    async def _items(self, scope: str) -> dict[str, str]:
        return dict(self._rows(scope))

    def _load(self, scopes: dict[str, dict[str, str]]) -> None:
        """Replace the whole content (rows as JSON text); used by transforms and merges."""
        self._scopes = {scope: dict(rows) for scope, rows in scopes.items() if rows}

    async def aclose(self) -> None:
        self._closed = True
        self._scopes = {}
