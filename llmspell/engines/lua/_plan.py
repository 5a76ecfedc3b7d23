"""How an Api is installed in Lua, derived once per Api and shared by every instance."""

from __future__ import annotations

from typing import Any, NamedTuple

from .._base import (
    Api,
    ApiCache,
    ApiFunction,
    ScriptValue,
    arity,
    is_sync_api,
    takes_context,
)

Entry = tuple[ApiFunction, str, bool, bool, int, int]
"""An API function as Lua calls it (by its 1-based index): function, label, dynamic (the first
argument is the key), takes the context, fewest and most arguments (see :func:`arity`)."""


class _Plan(NamedTuple):
    """How an Api's namespaces and functions are installed, derived once per Api (see
    :class:`ApiCache`): instances copy ``entries`` and replay the ``make_table`` calls.

    Attributes:
        entries: the API functions, in the order of their Lua ids.
        tables: per distinct namespace: its global names (aliases share the table), its values,
            and the ``make_table`` arguments after ``fields``.
        functions: per global function: name, id, sync.
    """

    entries: tuple[Entry, ...]
    tables: tuple[tuple[tuple[bytes, ...], dict[str, ScriptValue] | None, tuple[Any, ...]], ...]
    functions: tuple[tuple[bytes, int, bool], ...]


def entry(fn: ApiFunction, label: str, dynamic: bool = False) -> Entry:
    return (fn, label, dynamic, takes_context(fn), *arity(fn, dynamic))


def _derive_plan(api: Api) -> _Plan:
    entries: list[Entry] = []

    def add(fn: ApiFunction, label: str, dynamic: bool = False) -> int:
        entries.append(entry(fn, label, dynamic))
        return len(entries)  # Lua ids start at 1 (0 and below are status codes)

    tables: dict[int, tuple[list[bytes], dict[str, ScriptValue] | None, tuple[Any, ...]]] = {}
    for name, ns in api.namespaces.items():
        table = tables.get(id(ns))
        if table is None:
            spec: list[Any] = []
            for fname, fn in ns.functions.items():
                spec += (fname.encode(), add(fn, f"{name}.{fname}"), is_sync_api(fn))
            dyn_id = None if ns.dynamic is None else add(ns.dynamic, name, True)
            args = (dyn_id, is_sync_api(ns.dynamic), *spec)
            table = tables[id(ns)] = ([], dict(ns.values) or None, args)
        table[0].append(name.encode())
    functions = tuple(
        (name.encode(), add(fn, name), is_sync_api(fn)) for name, fn in api.functions.items()
    )
    return _Plan(
        tuple(entries),
        tuple((tuple(names), values, args) for names, values, args in tables.values()),
        functions,
    )


plans = ApiCache(_derive_plan)
