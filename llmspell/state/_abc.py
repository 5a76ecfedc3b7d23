"""The state store seam: what every store (SQLite, memory, JSON file) provides.

Values live in *scopes* (strings) under *paths* (``"context.topic"``, see
:mod:`llmspell.state._paths`); they are JSON values (see :mod:`llmspell.state._codec`). A call
that changes state returns only once the change is durable for that store: committed to the
database for :class:`SqliteStateStore`, renamed into place for :class:`FileStateStore`.

``update(scope, path, fn)`` is atomic, also between processes sharing a database or file: it
reads the current value, awaits ``fn(current)`` *without holding any lock* (``fn`` may be slow,
or use the store itself), then writes the result only if nobody changed the value meanwhile;
otherwise it reads again and calls ``fn`` again (optimistic concurrency, like Redis ``WATCH``
or etcd transactions). So ``fn`` may run more than once: keep it free of side effects. If
``fn`` raises, nothing is written and the error propagates.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Any, Self

JsonValue = Any
"""A JSON value: None, bool, int, float, str, list or dict with string keys."""

UpdateFn = Callable[[JsonValue], Awaitable[JsonValue]]
"""``async fn(current) -> new``: the function :meth:`StateStore.update` applies."""


class StateStore(ABC):
    """Where spells keep state: JSON values by scope and dot path.

    Use as an async context manager (or call :meth:`aclose`). Stores open lazily on their first
    call; :meth:`open` opens one now, so that a bad file is reported at start.
    """

    async def open(self) -> None:
        """Open the store now (its first call would otherwise do it).

        Raises:
            StateFileError: the file cannot be opened, is not a store, or cannot be written.
        """

    @abstractmethod
    async def get(self, scope: str, path: str) -> JsonValue:
        """The value at ``path`` in ``scope``, or None."""

    @abstractmethod
    async def set(self, scope: str, path: str, value: JsonValue) -> None:
        """Store ``value`` at ``path`` (None deletes it); objects on the way are created.

        Raises:
            StateValueError: a bad path or scope, a value that is not JSON or is over 16 MiB,
                or a path that reaches into something that is not an object.
        """

    @abstractmethod
    async def delete(self, scope: str, path: str) -> bool:
        """Delete the value at ``path``; False if there was none."""

    @abstractmethod
    async def keys(self, scope: str, prefix: str | None = None) -> list[str]:
        """The top-level keys of ``scope`` (those starting with ``prefix``), sorted."""

    @abstractmethod
    async def update(self, scope: str, path: str, fn: UpdateFn) -> JsonValue:
        """Atomically replace the value at ``path`` with ``await fn(current)``; return it.

        ``fn`` may run more than once (see the module docs); if it returns None the value is
        deleted.

        Raises:
            StateConflictError: other writers changed the value on every attempt.
            StateValueError: as :meth:`set`, for the value ``fn`` returned.
        """

    async def items(self, scope: str) -> dict[str, JsonValue]:
        """Every top-level key of ``scope`` with its value (stores may do it in one read)."""
        return {key: await self.get(scope, key) for key in await self.keys(scope)}

    @abstractmethod
    async def aclose(self) -> None:
        """Release the store (its connection, its thread). Further calls raise StateError."""

    async def __aenter__(self) -> Self:
        await self.open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()
