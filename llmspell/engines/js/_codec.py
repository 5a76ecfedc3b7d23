"""Values between Python and a QuickJS context, as JSON text plus id tables.

Python → JS: :meth:`Codec.encode` turns a value into ASCII JSON (lone surrogates and NUL
survive as ``\\u`` escapes). Plain data takes the C-speed ``json`` path; anything else (host
objects, script functions, non-finite floats, keys starting with NUL) goes through a walker
that emits one-key marker objects and says so with a flag, so the script side revives only
flagged payloads. JS → Python: :meth:`Codec.decode` undoes the markers of a flagged payload.

Conversions (both directions): dict/Mapping ↔ object, list/tuple → array → list, None ↔
null/undefined, bool, str, int ↔ integral number (exact below 2**53; larger ints round to the
nearest double), float ↔ number (NaN and ±Infinity are preserved), HostObject ↔ the same
frozen script object (identity kept both ways), ScriptFunction ↔ function (a function of the
same instance is the original function; another instance's becomes a stub that calls it).
"""

from __future__ import annotations

import json
import math
import weakref
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

from ..._json import encoder
from .._base import (
    MANY,
    ApiFunction,
    HostObject,
    Limits,
    ScriptFunction,
    ScriptValue,
    arity,
    is_eager_api,
    is_sync_api,
    takes_context,
)
from .._bounds import too_large

FN, HOST, FOREIGN, NUM = "\x00f", "\x00h", "\x00c", "\x00n"
MAX_DEPTH = 200
_NON_FINITE = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


class BridgeError(Exception):
    """The script side sent something the bridge protocol does not allow."""


class Op(NamedTuple):
    """One callable the script can reach: an API function or a host method."""

    fn: ApiFunction
    label: str
    sync: bool
    dynamic: bool = False
    context: bool = False  # called with the Api's context first (see ``with_context``)
    fewest: int = 0  # arguments the script may pass (see ``arity``)
    most: int = MANY
    eager: bool = False  # started from inside the script's code (see ``eager_api``)


def api_op(fn: ApiFunction, label: str, dynamic: bool = False) -> Op:
    """The op of an API function or host method."""
    sync = is_sync_api(fn)
    eager = not sync and is_eager_api(fn)
    return Op(fn, label, sync, dynamic, takes_context(fn), *arity(fn, dynamic), eager)


def no_functions(fid: int) -> ScriptFunction:
    """The ``make_function`` of a codec that must not meet script functions."""
    raise BridgeError("this codec cannot make script functions")


class _Special(Exception):
    pass


def _special(value: object) -> object:
    raise _Special


dumps = encoder(
    json.JSONEncoder().default, ensure_ascii=True, allow_nan=False, separators=(",", ":")
)
_dumps_plain = encoder(_special, ensure_ascii=True, allow_nan=False, separators=(",", ":"))
_scan: Callable[[str, int], tuple[Any, int]]
_scan = json.JSONDecoder().scan_once  # type: ignore[attr-defined]  # (the C scanner)


def loads(text: str) -> Any:
    """``json.loads`` of text the prelude made (no whitespace around it), straight through the
    C scanner: this runs for every API call and every turn."""
    try:
        value, end = _scan(text, 0)
    except StopIteration as exc:
        raise json.JSONDecodeError("Expecting value", text, exc.value) from None
    if end != len(text):
        raise json.JSONDecodeError("Extra data", text, end)
    return value


def _key(key: object) -> str:
    if isinstance(key, str):
        return "\x00" + key if key.startswith("\x00") else str(key)
    if key is None or isinstance(key, bool):
        return json.dumps(key)
    if isinstance(key, int):
        return str(int(key))
    if isinstance(key, float):
        return json.dumps(key)
    raise TypeError(f"cannot use a Python {type(key).__name__} as an object key")


class Codec:
    """Converts values for one instance and owns its op, host-object and function tables.

    Args:
        make_function: builds the Python handle of script function ``fid``.
        limits: the run's limits: a value going to the script may take at most its memory
            limit as JSON text (see :meth:`encode`).
    """

    def __init__(
        self, make_function: Callable[[int], ScriptFunction], limits: Limits | None = None
    ) -> None:
        self._limits = limits or Limits()
        self._budget = self._limits.memory_bytes
        self.ops: list[Op] = []
        self._make_function = make_function
        self._functions: weakref.WeakValueDictionary[int, ScriptFunction] = (
            weakref.WeakValueDictionary()
        )
        self._hosts: list[HostObject] = []
        self._host_ids: dict[HostObject, int] = {}
        self._host_methods: dict[int, list[list[object]]] = {}
        self._hosts_sent: set[int] = set()
        self._foreign: dict[ScriptFunction, int] = {}

    def detach(self) -> None:
        """Drop the instance's ``make_function`` (which refers back to the instance), so that
        no reference cycle outlives a closed instance; decoding a function then fails."""
        self._make_function = no_functions

    def add_op(self, op: Op) -> int:
        """Register a callable; returns its index (what the script sends)."""
        self.ops.append(op)
        return len(self.ops) - 1

    def live_functions(self) -> int:
        """How many script functions Python still holds."""
        return len(self._functions)

    # Python -> JS -------------------------------------------------------------------------

    def encode(self, value: ScriptValue) -> tuple[bool, str]:
        """Return ``(flagged, json_text)``; raises TypeError for values with no JS form, and
        ``LimitExceeded("memory")`` for text longer than the memory limit.

        The text is measured once made, not the value before (a walk in Python costs more than
        the C encoder): a list or dict reachable twice is written twice, but every such value
        comes from a spell, whose conversion to Python charged its expanded size to that
        spell's memory limit, or from the host itself.
        """
        kind = type(value)
        if kind is str or kind is int or kind is bool or value is None:
            text = dumps(value)
            flagged = False
        else:
            try:
                text = _dumps_plain(value)
                flagged = False
            except (_Special, ValueError, TypeError, RecursionError):
                new_hosts: list[int] = []
                text = dumps(self._walk(value, new_hosts, set(), 0))
                self._hosts_sent.update(new_hosts)
                flagged = True
        if len(text) > self._budget:
            raise too_large(self._budget, self._limits)
        return flagged, text

    def _walk(self, v: object, new_hosts: list[int], active: set[int], depth: int) -> object:
        if v is None or v is True or v is False:
            return v
        kind = type(v)
        if kind is str or kind is int:
            return v
        if kind is float:
            assert isinstance(v, float)
            if math.isfinite(v):
                return v
            return {NUM: "NaN" if v != v else "Infinity" if v > 0 else "-Infinity"}
        if isinstance(v, HostObject):
            return {HOST: self._host(v, new_hosts, active, depth)}
        if isinstance(v, ScriptFunction):
            return self._function_marker(v)
        if isinstance(v, str):
            return str(v)
        if isinstance(v, int):
            return int(v)
        if isinstance(v, float):
            return self._walk(float(v), new_hosts, active, depth)
        if depth >= MAX_DEPTH:
            raise TypeError(f"value nested more than {MAX_DEPTH} levels deep")
        if isinstance(v, Mapping | list | tuple):
            if id(v) in active:
                raise TypeError("cannot convert a cyclic structure")
            active.add(id(v))
            try:
                if isinstance(v, Mapping):
                    return {
                        _key(k): self._walk(x, new_hosts, active, depth + 1) for k, x in v.items()
                    }
                return [self._walk(x, new_hosts, active, depth + 1) for x in v]
            finally:
                active.discard(id(v))
        raise TypeError(f"cannot convert a Python {type(v).__name__} to a script value")

    def _host(self, host: HostObject, new_hosts: list[int], active: set[int], depth: int) -> object:
        hid = self._host_ids.get(host)
        if hid is None:
            self._hosts.append(host)
            hid = self._host_ids[host] = len(self._hosts)
            methods = self._host_methods[hid] = []
            for name, fn in host.methods.items():
                op = api_op(fn, f"{host.type_name}.{name}")
                methods.append([name, self.add_op(op), int(op.sync)])
        if hid in self._hosts_sent or hid in new_hosts:
            return [hid]
        new_hosts.append(hid)
        fields = self._walk(dict(host.fields), new_hosts, active, depth + 1)
        return [hid, host.type_name, self._host_methods[hid], fields]

    def _function_marker(self, fn: ScriptFunction) -> object:
        if getattr(fn, "_codec", None) is self:
            return {FN: fn._fid}  # type: ignore[attr-defined]
        op = self._foreign.get(fn)
        if op is None:
            op = self._foreign[fn] = self.add_op(Op(fn, "function", False))
        return {FOREIGN: [op, getattr(fn, "__name__", "function")]}

    # JS -> Python -------------------------------------------------------------------------

    def decode(self, v: object) -> ScriptValue:
        """Undo the markers of a flagged payload (already parsed from JSON)."""
        kind = type(v)
        if kind is dict:
            assert isinstance(v, dict)
            if len(v) == 1:
                ((k, x),) = v.items()
                if k == FN:
                    return self.function(x)
                if k == HOST:
                    if type(x) is not int or not 0 < x <= len(self._hosts):
                        raise BridgeError(f"unknown host object {x!r}")
                    return self._hosts[x - 1]
                if k == NUM:
                    if x not in _NON_FINITE:
                        raise BridgeError(f"bad number marker {x!r}")
                    return _NON_FINITE[x]
            out = {}
            for k, x in v.items():
                if k[:1] == "\x00":
                    if k[:2] != "\x00\x00":
                        raise BridgeError(f"unescaped marker key {k!r}")
                    k = k[1:]
                out[k] = self.decode(x)
            return out
        if kind is list:
            assert isinstance(v, list)
            return [self.decode(x) for x in v]
        return v

    def function(self, fid: object) -> ScriptFunction:
        """The Python handle of script function ``fid`` (one handle per function while held)."""
        if type(fid) is not int:
            raise BridgeError(f"bad function id {fid!r}")
        fn = self._functions.get(fid)
        if fn is None:
            fn = self._functions[fid] = self._make_function(fid)
        else:
            fn._count += 1  # type: ignore[attr-defined]
        return fn
