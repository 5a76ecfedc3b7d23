"""Specialised closures for binary operators on hot operand shapes.

``a + b``, ``n < 2``, ``i - 1`` ... are compiled from a small source template with each
operand read inlined (a local slot ``f[5]``, a global ``f[1][3]``, an integer constant) and an
integer fast path; other types fall back to :func:`._ops.binop`. Templates are compiled once
per distinct shape and cached.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from . import _ast as A
from . import _ops
from . import _token as T
from ._scope import GLOBAL, LOCAL
from ._values import VMError, wrap

_ARITH = {T.ADD: "+", T.SUB: "-", T.MUL: "*"}
_CMP = {
    T.LESS: "<",
    T.GREATER: ">",
    T.LESS_EQ: "<=",
    T.GREATER_EQ: ">=",
    T.EQUAL: "==",
    T.NOT_EQUAL: "!=",
}
_BITS = {T.AND: "&", T.OR: "|", T.XOR: "^"}
_factories: dict[str, Callable[..., Any]] = {}


def _operand(comp: Any, node: A.Node | None) -> tuple[str, Any]:
    """(inline source, constant int or None) for an operand node."""
    if isinstance(node, A.ParenExpr):
        return _operand(comp, node.expr)
    if isinstance(node, A.IntLit):
        return repr(node.value), node.value
    if isinstance(node, A.Ident):
        found = comp.table.resolve(node.name)
        if found is not None:
            sym = found[0]
            if sym.scope == LOCAL and not sym.cell:
                return f"f[{sym.index + 3}]", None
            if sym.scope == GLOBAL:
                return f"f[1][{sym.index}]", None
    return "", None


def fast_binary(
    comp: Any,
    op: int,
    left: Callable[[list[Any]], Any],
    right: Callable[[list[Any]], Any],
    lnode: A.Node | None,
    rnode: A.Node | None,
    pos: int,
) -> Callable[[list[Any]], Any] | None:
    if op not in _ARITH and op not in _CMP and op not in _BITS:
        return None
    a_src, _ = _operand(comp, lnode)
    b_src, b_const = _operand(comp, rnode)
    a_src = a_src or "left(f)"
    b_src = b_src or "right(f)"
    if b_const is not None:
        check = "type(a) is int"
    else:
        check = "type(a) is int and type(b) is int"
    if op in _ARITH:
        body = f"""
        if {check}:
            r = a {_ARITH[op]} b
            if -{2**63} <= r <= {2**63 - 1}:
                return r
            return wrap(r)"""
    elif op in _BITS:
        body = f"""
        if {check}:
            return a {_BITS[op]} b"""
    else:
        body = f"""
        if {check}:
            return a {_CMP[op]} b"""
    if op == T.EQUAL:
        tail = "return eq(a, b)"
    elif op == T.NOT_EQUAL:
        tail = "return not eq(a, b)"
    else:
        tail = f"""try:
            return binop({op}, a, b, f[1][0])
        except VMError as exc:
            raise exc.at(file, pos) from None"""
    src = f"""
def make(left, right, binop, eq, wrap, VMError, file, pos):
    def ev(f):
        a = {a_src}
        b = {b_src}{body}
        {tail}
    return ev
"""
    factory = _factories.get(src)
    if factory is None:
        ns: dict[str, Any] = {}
        exec(compile(src, "<tengo-fastops>", "exec"), ns)
        factory = _factories[src] = ns["make"]
    ev: Callable[[list[Any]], Any] = factory(
        left, right, _ops.binop, _ops.equals, wrap, VMError, comp.file, pos
    )
    return ev
