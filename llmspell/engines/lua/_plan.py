"""How an Api is installed in Lua, derived once per Api and shared by every instance.

The plan's *chunk* is the prelude followed by an installer generated from the Api, compiled once
per process: run in a fresh interpreter it builds the sandbox, then every namespace table, global
function and static host object with the names and ids as constants. One call into Lua instead
of one per table and per assignment, each converting its arguments, which was most of what
opening an instance cost.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

from .._base import (
    Api,
    ApiCache,
    ApiFunction,
    HostObject,
    ScriptValue,
    arity,
    eager_nowait,
    is_eager_api,
    is_sync_api,
    takes_context,
)
from ._chunks import dump_chunk, lua_source

Entry = tuple[ApiFunction, str, bool, bool, int, int, Callable[..., ScriptValue] | None]
"""An API function as Lua calls it (by its 1-based index): function, label, dynamic (the first
argument is the key), takes the context, fewest and most arguments (see :func:`arity`), and
the ``nowait`` form of an :func:`eager_api` function (see :func:`eager_nowait`) or None."""


class _Plan(NamedTuple):
    """How an Api's namespaces and functions are installed, derived once per Api (see
    :class:`ApiCache`): instances copy ``entries`` and run ``chunk``.

    Attributes:
        entries: the API functions, in the order of their Lua ids (the methods of the static
            host objects included).
        chunk: Lua bytecode; called with the prelude's arguments (``check, call_sync,
            call_eager, load_chunk, COUNT, BUDGET, MAX_STRING``, see ``prelude.lua``) it builds
            the sandbox and the API in it, and returns ``runner, compile, make_table, env,
            untrip``, a table of the static host objects' tables (in the order of ``hosts``),
            one of the namespace tables that ``extra`` fills, and ``dump``.
        hosts: the host objects among the namespaces' values whose table the chunk builds
            (their fields are constants); each instance registers them.
        extra: per namespace with other values (by its position in the chunk's last result):
            those values, converted and set by each instance.
        print_id: the id the instance's own ``print`` gets (``len(entries) + 1``), or None when
            the Api has a ``print``.
    """

    entries: tuple[Entry, ...]
    chunk: bytes
    hosts: tuple[HostObject, ...]
    extra: tuple[dict[str, ScriptValue], ...]
    print_id: int | None


def entry(fn: ApiFunction, label: str, dynamic: bool = False) -> Entry:
    return (fn, label, dynamic, takes_context(fn), *arity(fn, dynamic), eager_nowait(fn))


def call_kind(fn: ApiFunction) -> str:
    """How the prelude's stub calls ``fn`` (its ``sync`` argument, as Lua): ``true`` for a
    :func:`sync_api` function, ``"eager"`` for an :func:`eager_api` one, else ``false``."""
    if is_sync_api(fn):
        return "true"
    return '"eager"' if is_eager_api(fn) else "false"


def lua_literal(value: object) -> str | None:
    """``value`` as a Lua constant expression, or None when it is not a plain scalar."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int) and -(2**63) <= value < 2**63:
        return repr(int(value))
    if isinstance(value, float) and math.isfinite(value):
        return float(value).hex()
    if isinstance(value, str):
        return lua_string(value.encode("utf-8", "surrogatepass"))
    return None


def lua_string(data: bytes) -> str:
    """A Lua string literal for ``data`` (anything but letters, digits and ``_`` escaped)."""
    return '"' + "".join(_LUA_CHARS[c] for c in data) + '"'


_LUA_CHARS = tuple(
    chr(c) if chr(c).isascii() and (chr(c).isalnum() or c == 95) else f"\\{c:03d}"
    for c in range(256)
)


def _static_host(value: object) -> bool:
    return isinstance(value, HostObject) and all(
        lua_literal(v) is not None for v in value.fields.values()
    )


def _derive_plan(api: Api) -> _Plan:
    entries: list[Entry] = []

    def add(fn: ApiFunction, label: str, dynamic: bool = False) -> int:
        entries.append(entry(fn, label, dynamic))
        return len(entries)  # Lua ids start at 1 (0 and below are status codes)

    def spec(functions: list[tuple[str, ApiFunction]], label: str) -> str:
        items = []
        for fname, fn in functions:
            items.append(
                f"{lua_string(fname.encode())}, {add(fn, f'{label}{fname}')}, {call_kind(fn)}"
            )
        return "{" + ", ".join(items) + "}"

    lines = [
        "local check, call_sync, call_eager, load_chunk, COUNT, BUDGET, MAX_STRING = ...",
        "local runner, compile, make_table, make_function, print_via, env, untrip, "
        "make_table_from, dump = (function(...)",
        lua_source("prelude").decode(),
        "end)(check, call_sync, call_eager, load_chunk, COUNT, BUDGET, MAX_STRING)",
        "local H, X, t, f = {}, {}, nil, nil",
    ]
    hosts: dict[int, tuple[int, HostObject]] = {}
    extra: list[dict[str, ScriptValue]] = []
    for ns in api.namespaces.values():
        for value in ns.values.values():
            if _static_host(value) and id(value) not in hosts:
                assert isinstance(value, HostObject)
                index = len(hosts) + 1
                hosts[id(value)] = (index, value)
                fields = (
                    "{"
                    + ", ".join(
                        f"[{lua_string(k.encode())}] = {lua_literal(v)}"
                        for k, v in value.fields.items()
                    )
                    + "}"
                )
                methods = spec(list(value.methods.items()), f"{value.type_name}:")
                lines.append(
                    f"H[{index}] = make_table_from({lua_string(value.type_name.encode())}, "
                    f"{fields}, nil, false, {methods})"
                )
    done: dict[int, str] = {}  # namespace id → its first name, for aliases
    for name, ns in api.namespaces.items():
        aliases = done.get(id(ns))
        if aliases is not None:
            lines.append(f"env[{lua_string(name.encode())}] = env[{aliases}]")
            continue
        done[id(ns)] = lua_string(name.encode())
        functions = spec(list(ns.functions.items()), f"{name}.")
        if ns.dynamic is None:
            dyn_id, dyn_sync = "nil", "false"
        else:
            dyn_id = str(add(ns.dynamic, name, True))
            dyn_sync = call_kind(ns.dynamic)
        static, other = [], {}
        for key, value in ns.values.items():
            k = lua_string(key.encode())
            if id(value) in hosts:
                static.append(f"f[{k}] = H[{hosts[id(value)][0]}]")
            elif (literal := lua_literal(value)) is not None:
                static.append(f"f[{k}] = {literal}")
            elif key not in ns.functions:
                other[key] = value
        lines.append("f = {}" if static else "f = nil")
        lines.extend(static)
        lines.append(
            f"t = make_table_from({lua_string(name.encode())}, f, {dyn_id}, {dyn_sync}, "
            f"{functions})"
        )
        lines.append(f"env[{lua_string(name.encode())}] = t")
        if other:  # set by the instance (a value named like a function loses, as in Lua)
            extra.append(other)
            lines.append(f"X[{len(extra)}] = t")
    for fname, fn in api.functions.items():
        lines.append(
            f"env[{lua_string(fname.encode())}] = make_function({add(fn, fname)}, {call_kind(fn)})"
        )
    print_id = None
    if "print" not in api.functions:
        print_id = len(entries) + 1
        lines.append(f'env["print"] = print_via({print_id})')
    lines.append("return runner, compile, make_table, env, untrip, H, X, dump")
    return _Plan(
        tuple(entries),
        dump_chunk("\n".join(lines).encode()),
        tuple(host for _, host in hosts.values()),
        tuple(extra),
        print_id,
    )


plans = ApiCache(_derive_plan)
