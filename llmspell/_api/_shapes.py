"""The types of the script API, declared once, for the editor types (``llmspell types``).

The API functions take script values (``Any``) and check them themselves, so the types a spell
author's editor needs are written here: each namespace's functions, the objects the API hands
out (agent, workflow, state) and the tables it takes and gives back. What is not repeated here
is read off the real API instead, so it cannot drift: whether a call returns its value directly
or a Promise in JS (:func:`~llmspell.engines.sync_api`) for namespace functions, and a test
checks that this table and the real namespaces, functions and objects agree name for name (and
in how many arguments each takes).

Types are small values (:class:`Type`) rendered by ``llmspell._types`` as TypeScript and as
LuaLS annotations; the table itself is ``_shape_table.py``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping


@dataclasses.dataclass(frozen=True)
class Type:
    """A type: ``kind`` is ``prim`` (``name`` is string/number/integer/boolean/any/nil),
    ``ref`` (a :class:`Shape` by ``name``), ``list``/``map`` (of ``args[0]``), ``union``
    (``args``), ``literal`` (the string ``name``) or ``fn`` (``params`` → ``args[0]``)."""

    kind: str
    name: str = ""
    args: tuple[Type, ...] = ()
    params: tuple[Param, ...] = ()


@dataclasses.dataclass(frozen=True)
class Param:
    name: str
    type: Type
    optional: bool = False
    variadic: bool = False


@dataclasses.dataclass(frozen=True)
class Function:
    """A function or method: its parameters, its result and a one-line doc. ``overloads``
    are other parameter lists it accepts. ``direct`` (methods only; namespace functions read
    it off the real function) says a JS call returns the value rather than a Promise."""

    params: tuple[Param, ...]
    returns: Type
    doc: str
    overloads: tuple[tuple[Param, ...], ...] = ()
    direct: bool = False


@dataclasses.dataclass(frozen=True)
class Field:
    name: str
    type: Type
    optional: bool = False
    doc: str = ""


@dataclasses.dataclass(frozen=True)
class Shape:
    """A table/object type: plain fields, methods (for the API's objects: agent, workflow,
    state), and ``base`` (a shape it extends)."""

    name: str
    doc: str
    fields: tuple[Field, ...] = ()
    methods: Mapping[str, Function] = dataclasses.field(default_factory=dict)
    base: str | None = None
    host: str | None = None
    """The ``type_name`` of the API object it describes (``agent``), if any."""


@dataclasses.dataclass(frozen=True)
class NamespaceShape:
    doc: str
    functions: Mapping[str, Function]
    values: Mapping[str, Type] = dataclasses.field(default_factory=dict)
    dynamic: Function | None = None
    """``ns.<name>(...)`` for any other name (``tools.<tool>(...)``)."""


def _prim(name: str) -> Type:
    return Type("prim", name)


STRING, NUMBER, INTEGER, BOOLEAN = (
    _prim("string"),
    _prim("number"),
    _prim("integer"),
    _prim("boolean"),
)
ANY, NIL = _prim("any"), _prim("nil")
TABLE = Type("map", args=(ANY,))


def ref(name: str) -> Type:
    return Type("ref", name)


def list_of(item: Type) -> Type:
    return Type("list", args=(item,))


def map_of(item: Type) -> Type:
    return Type("map", args=(item,))


def union(*types: Type) -> Type:
    return Type("union", args=types)


def literal(value: str) -> Type:
    return Type("literal", value)


def fn(returns: Type, *params: Param) -> Type:
    return Type("fn", args=(returns,), params=params)


def p(name: str, type_: Type, *, optional: bool = False, variadic: bool = False) -> Param:
    return Param(name, type_, optional, variadic)


def f(doc: str, returns: Type, *params: Param, direct: bool = False) -> Function:
    return Function(params, returns, doc, direct=direct)
