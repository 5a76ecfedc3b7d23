"""Paths, values and atomic updates, written once over a few row operations.

Every store keeps one JSON text per ``(scope, top-level key)``, a *row*. A store implements
four primitives (:meth:`RowStore._read`, ``_write``, ``_keys``, ``_items``) and this class
builds the whole :class:`StateStore` contract on them:

* a path with one segment reads or writes its row directly;
* a nested path, and every ``update``, is a read-change-conditional-write loop: read the row,
  compute the new row, and write it only if the row is still the one that was read (its
  *token*: a version number, or the text itself). If another writer got there first, read
  again (after a short random backoff from the second conflict on) and try again, up to
  ``update_attempts`` times.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Awaitable, Callable
from typing import Any, Final, NamedTuple

import anyio

from ._abc import JsonValue, StateStore, UpdateFn
from ._codec import decode, encode_value
from ._errors import StateConflictError, StateValueError
from ._paths import StatePath, check_scope, lookup, parse_path, place, remove

DEFAULT_UPDATE_ATTEMPTS = 100
"""How many times ``update`` calls ``fn`` before giving up with StateConflictError."""


class Row(NamedTuple):
    """One stored top-level value: its JSON text and the token a conditional write compares."""

    text: str
    token: object


class _Any:
    def __repr__(self) -> str:
        return "ANY"


ANY: Final = _Any()
"""``expect`` of an unconditional write."""

Expect = Row | None | _Any
"""What a write expects to replace: ANY, None (no row) or the Row that was read."""


def rows_of(texts: dict[str, str], keys: tuple[str, ...]) -> dict[str, Row]:
    """The rows of ``keys`` in a store that keeps texts only: the text is its own token (an
    equal value written meanwhile is no conflict: the change was computed from that value)."""
    return {key: Row(texts[key], texts[key]) for key in keys if key in texts}


def expected(current: str | None, expect: Expect) -> bool:
    """Whether a row whose text is ``current`` (None: no row) is what ``expect`` wants."""
    if isinstance(expect, Row):
        return current == expect.text
    return expect is ANY or current is None


_UNCHANGED: Final = object()
Change = Callable[[bool, JsonValue], Awaitable[Any]]
"""``change(found, current)`` → the new value, None to delete, or _UNCHANGED to write nothing."""


class RowStore(StateStore):
    """A :class:`StateStore` built on row primitives (see the module docs)."""

    def __init__(self, *, update_attempts: int = DEFAULT_UPDATE_ATTEMPTS) -> None:
        if update_attempts < 1:
            raise ValueError("update_attempts must be at least 1")
        self.update_attempts = update_attempts

    # -- primitives ------------------------------------------------------------------------

    @abstractmethod
    async def _read(self, scope: str, keys: tuple[str, ...]) -> dict[str, Row]:
        """The rows of those ``keys`` that exist."""

    @abstractmethod
    async def _write(self, scope: str, key: str, text: str | None, expect: Expect) -> bool:
        """Write ``text`` (None: delete) to the row ``key`` if it still matches ``expect``.

        Returns whether the write happened; for an unconditional delete, whether a row was
        there. Returns only once the write is durable.
        """

    @abstractmethod
    async def _keys(self, scope: str, prefix: str) -> list[str]:
        """The keys of ``scope`` that start with ``prefix``, sorted by code point."""

    @abstractmethod
    async def _items(self, scope: str) -> dict[str, str]:
        """Every row of ``scope``: key → JSON text."""

    # -- the StateStore contract -------------------------------------------------------------

    async def get(self, scope: str, path: str) -> JsonValue:
        check_scope("state.get", scope)
        p = parse_path("state.get", path)
        rows = await self._read(scope, p.candidates)
        row = rows.get(p.text)
        if row is not None:
            return decode(row.text)
        row = rows.get(p.parts[0]) if p.nested else None
        if row is None:
            return None
        return lookup(decode(row.text), p.parts[1:])[1]

    async def set(self, scope: str, path: str, value: JsonValue) -> None:
        if value is None:
            await self._delete("state.set", scope, path)
            return
        check_scope("state.set", scope)
        p = parse_path("state.set", path)
        text = encode_value("state.set", p.text, value)  # refuse bad values before any I/O
        if not p.nested:
            await self._write(scope, p.text, text, ANY)
            return

        async def replace(found: bool, current: JsonValue) -> JsonValue:
            return value

        await self._apply("state.set", scope, p, replace)

    async def delete(self, scope: str, path: str) -> bool:
        return await self._delete("state.delete", scope, path)

    async def _delete(self, function: str, scope: str, path: str) -> bool:
        check_scope(function, scope)
        p = parse_path(function, path)
        if not p.nested:
            return await self._write(scope, p.text, None, ANY)
        existed = False

        async def drop(found: bool, current: JsonValue) -> Any:
            nonlocal existed
            existed = found
            return None if found else _UNCHANGED

        await self._apply(function, scope, p, drop)
        return existed

    async def keys(self, scope: str, prefix: str | None = None) -> list[str]:
        check_scope("state.keys", scope)
        if prefix is not None and not isinstance(prefix, str):
            raise StateValueError("state.keys", "prefix", prefix, "must be a string or nil")
        return await self._keys(scope, prefix or "")

    async def update(self, scope: str, path: str, fn: UpdateFn) -> JsonValue:
        check_scope("state.update", scope)
        p = parse_path("state.update", path)
        if not callable(fn):
            raise StateValueError("state.update", "fn", path, "must be a function(current)")

        async def call(found: bool, current: JsonValue) -> JsonValue:
            return await fn(current)

        return await self._apply("state.update", scope, p, call)

    async def items(self, scope: str) -> dict[str, JsonValue]:
        check_scope("state.items", scope)
        return {key: decode(text) for key, text in (await self._items(scope)).items()}

    # -- the read-change-conditional-write loop ----------------------------------------------

    async def _apply(self, function: str, scope: str, p: StatePath, change: Change) -> JsonValue:
        """Apply ``change`` to the value at ``p`` atomically; return the value written."""
        for attempt in range(1, self.update_attempts + 1):
            rows = await self._read(scope, p.candidates)
            exact = rows.get(p.text)
            if exact is not None or not p.nested:  # the whole path is a top-level key
                key, expect = p.text, exact
                found, current = exact is not None, None if exact is None else decode(exact.text)
                new = await change(found, current)
                if new is _UNCHANGED:
                    return current
                text = value_text = None if new is None else encode_value(function, p.text, new)
            else:  # reach into the row of the first segment
                key, expect = p.parts[0], rows.get(p.parts[0])
                root = None if expect is None else decode(expect.text)
                found, current = lookup(root, p.parts[1:])
                new = await change(found, current)
                if new is _UNCHANGED or (new is None and not found):
                    return None if new is None else current
                if new is None:
                    value_text = None
                    remove(root, p.parts[1:])
                else:
                    value_text = encode_value(function, p.text, new)
                    root = place(function, p, root, new)
                text = encode_value(function, p.text, root)
            if await self._write(scope, key, text, expect):
                return None if value_text is None else decode(value_text)
            if attempt > 1:
                import random  # (only on a conflict: not with every start-up)

                await anyio.sleep(random.uniform(0, min(0.05, 0.0005 * 2 ** min(attempt, 10))))
        raise StateConflictError(scope, p.text, self.update_attempts)
