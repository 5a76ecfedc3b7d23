"""Binding an :class:`Api` to Tengo: the globals a spell sees, built once per Api.

Namespaces become immutable-map-like objects whose functions are shared native functions; a
call finds the instance it serves through the running greenlet, so opening an instance only
copies a list of prepared globals. Compiled programs are cached by source, file name and the
names of the globals.
"""

from __future__ import annotations

import dataclasses
import threading
from collections import OrderedDict
from typing import Any

from greenlet import getcurrent  # type: ignore[import-untyped]

from ..._exceptions import SpellSyntaxError
from .._base import (
    Api,
    ApiCache,
    ApiFunction,
    HostObject,
    Namespace,
    arity,
    arity_error,
    is_eager_api,
    is_sync_api,
    takes_context,
)
from .._bounds import unbounded
from ._compiler import CompileError, Modules, Program, compile_main
from ._convert import HostMap, to_tengo
from ._ops import to_string_plain
from ._parser import ParseError
from ._runtime import active_context
from ._scope import Lenient
from ._stdlib import NATIVE, SOURCES
from ._values import Builtin, VMError

_MAX_DYNAMIC = 1000


def api_builtin(fn: ApiFunction, label: str, dynamic: str | None = None) -> Builtin:
    """A native Tengo function calling the API function ``fn`` for whichever instance runs.

    A call with an argument count outside the function's (:func:`arity`) does not reach it:
    it is a runtime error, ``llm.complete expects 1 argument (request), got 2``, as a wrong
    argument count is for any Tengo function (an API function that fails returns an error
    value instead; see :mod:`._instance`).
    """
    contextual, sync, eager = takes_context(fn), is_sync_api(fn), is_eager_api(fn)
    fewest, most = arity(fn, dynamic is not None)
    full = label if dynamic is None else f"{label}.{dynamic}"

    def call(args: list[Any]) -> Any:
        count = len(args)
        if count < fewest or count > most:
            raise VMError(str(arity_error(full, fn, dynamic is not None, count)))
        return getcurrent().instance.api_call(fn, full, contextual, sync, eager, dynamic, args)

    return Builtin(dynamic or label.rsplit(".", 1)[-1], call, "user")


class HostNamespace:
    """A namespace global (``llm``, ``tools`` ...): functions, values and, for dynamic
    namespaces, any other name as a function (``tools.weather(...)``)."""

    tengo_type_name = "immutable-map"

    def __init__(self, name: str, ns: Namespace, values: dict[str, Any]) -> None:
        self.name = name
        self.v: dict[str, Any] = {
            fname: api_builtin(fn, f"{name}.{fname}") for fname, fn in ns.functions.items()
        }
        self.v.update(values)
        self._dynamic = ns.dynamic
        self._made: dict[str, Builtin] = {}
        self._lock = threading.Lock()

    def tengo_index(self, key: Any) -> Any:
        if type(key) is not str:
            return None
        found = self.v.get(key)
        if found is not None or self._dynamic is None:
            return found
        made = self._made.get(key)
        if made is None:
            made = api_builtin(self._dynamic, self.name, key)
            with self._lock:
                if len(self._made) < _MAX_DYNAMIC:
                    self._made[key] = made
        return made

    def tengo_iterate(self) -> Any:
        return iter(list(self.v.items()))

    def tengo_string(self) -> str:
        return f"<namespace {self.name}>"


def host_methods(host: HostObject) -> dict[str, Builtin]:
    return {name: api_builtin(fn, f"{host.type_name}.{name}") for name, fn in host.methods.items()}


def _plan_host_map(host: HostObject) -> HostMap:
    attrs = {
        k: to_tengo(v, _plan_host_map, _no_function, unbounded()) for k, v in host.fields.items()
    }
    attrs.update(host_methods(host))
    return HostMap(attrs, host)


def _no_function(fn: Any) -> None:
    return None


def _print(args: list[Any]) -> Any:
    ctx = active_context()
    if ctx is not None:
        ctx.output(" ".join("" if a is None else to_string_plain(a) for a in args) + "\n")
    return None


PRINT = Builtin("print", _print, "user")


@dataclasses.dataclass(frozen=True)
class Plan:
    """``globals``: (name, value) of every namespace and API function; ``print_builtin``:
    the engine's own print when the Api has none."""

    globals: tuple[tuple[str, Any], ...]
    print_builtin: Builtin | None

    @property
    def names(self) -> tuple[str, ...]:
        names = tuple(name for name, _ in self.globals)
        return (*names, "print") if self.print_builtin is not None else names


def _derive(api: Api) -> Plan:
    made: dict[int, HostNamespace] = {}
    out: list[tuple[str, Any]] = []
    for name, ns in api.namespaces.items():
        obj = made.get(id(ns))
        if obj is None:
            values = {
                k: to_tengo(v, _plan_host_map, _no_function, unbounded())
                for k, v in ns.values.items()
            }
            obj = made[id(ns)] = HostNamespace(name, ns, values)
        out.append((name, obj))
    for name, fn in api.functions.items():
        out.append((name, api_builtin(fn, name)))
    return Plan(tuple(out), None if "print" in api.functions else PRINT)


_plans = ApiCache(_derive)


def plan_for(api: Api) -> Plan:
    return _plans(api)


_programs: OrderedDict[tuple[str, str, tuple[str, ...]], Program] = OrderedDict()
_programs_lock = threading.Lock()
MODULES = Modules(SOURCES, NATIVE)


def compile_spell(
    source: str, filename: str, names: tuple[str, ...], lenient: Lenient | None = None
) -> Program:
    """Compile a spell; syntax and compile errors raise :class:`SpellSyntaxError`. With
    ``lenient``, names nothing defines are taken as the host's (see :class:`Lenient`)."""
    if source.startswith("\ufeff"):
        source = source[1:]
    if source.startswith("#!"):
        source = "//" + source
    try:
        return compile_main(source, filename, MODULES, names, main_export=True, lenient=lenient)
    except ParseError as exc:
        raise SpellSyntaxError(filename, exc.line, exc.msg, column=exc.column) from None
    except CompileError as exc:
        raise SpellSyntaxError(filename, exc.line, exc.msg, column=exc.column) from None


def program_for(source: str, filename: str, plan: Plan, values: tuple[str, ...]) -> Program:
    names = tuple(dict.fromkeys((*plan.names, *values)))
    key = (source, filename, names)
    with _programs_lock:
        found = _programs.get(key)
        if found is not None:
            _programs.move_to_end(key)
            return found
    program = compile_spell(source, filename, names)
    with _programs_lock:
        _programs[key] = program
        if len(_programs) > 64:
            _programs.popitem(last=False)
    return program
