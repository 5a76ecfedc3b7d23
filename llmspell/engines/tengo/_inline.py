"""Hot statement and call shapes compiled from source templates (see :mod:`._fastops`).

* calls with 0-3 arguments inline the callee's frame set-up when it is a compiled function
  of matching arity without variadic or captured parameters (most calls);
* ``if`` with a comparison of simple operands tests them inline;
* ``return`` of a simple operand stores it inline.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from . import _ast as A
from . import _ops
from . import _token as T
from ._calls import RETURN, TAIL
from ._fastops import _operand
from ._values import MAX_FRAMES, Closure, VMError

_factories: dict[str, Callable[..., Any]] = {}
_CMP = {
    T.LESS: "<",
    T.GREATER: ">",
    T.LESS_EQ: "<=",
    T.GREATER_EQ: ">=",
    T.EQUAL: "==",
    T.NOT_EQUAL: "!=",
}


def _factory(src: str) -> Callable[..., Any]:
    found = _factories.get(src)
    if found is None:
        ns: dict[str, Any] = {}
        exec(compile(src, "<tengo-inline>", "exec"), ns)
        found = _factories[src] = ns["make"]
    return found


def inline_call(
    comp: Any, node: A.CallExpr, fn_ev: Any, arg_evs: list[Any], invoke: Any
) -> Callable[[list[Any]], Any] | None:
    n = len(arg_evs)
    if node.ellipsis or n > 3:
        return None
    fn_src = _operand(comp, node.func)[0] or "fn_ev(f)"
    arg_srcs = [_operand(comp, a)[0] or f"a{i}(f)" for i, a in enumerate(node.args)]
    assigns = "".join(f"\n        x{i} = {s}" for i, s in enumerate(arg_srcs))
    xs = "".join(f", x{i}" for i in range(n))
    src = f"""
def make(fn_ev, a0, a1, a2, invoke, Closure, VMError, file, pos, MAX, TAIL):
    def call(f):
        fn = {fn_src}{assigns}
        if type(fn) is Closure:
            info = fn.info
            if info.arity == {n}:
                g = f[1]
                nf = [fn, g, None{xs}]
                extra = info.nlocals - {n}
                if extra:
                    nf.extend([None] * extra)
                ctx = g[0]
                ctx.steps -= 1
                if ctx.steps <= 0:
                    ctx.tick()
                depth = ctx.depth = ctx.depth + 1
                if depth >= MAX:
                    ctx.depth -= 1
                    raise VMError("stack overflow").at(file, pos)
                body = info.body
                try:
                    while body(nf) == TAIL:
                        pass
                except VMError as exc:
                    raise exc.frame(file, pos) from None
                finally:
                    ctx.depth -= 1
                return nf[2]
        return invoke(f, fn, [{", ".join(f"x{i}" for i in range(n))}])
    return call
"""
    padded = [*arg_evs, None, None, None][:3]
    ev: Callable[[list[Any]], Any] = _factory(src)(
        fn_ev, *padded, invoke, Closure, VMError, comp.file, node.pos(), MAX_FRAMES, TAIL
    )
    return ev


def inline_if(
    comp: Any, cond_node: A.Node, cond: Any, body: Any, els: Any
) -> Callable[[list[Any]], Any] | None:
    while isinstance(cond_node, A.ParenExpr):
        cond_node = cond_node.expr
    if not isinstance(cond_node, A.BinaryExpr) or cond_node.token not in _CMP:
        return None
    a_src, _ = _operand(comp, cond_node.lhs)
    b_src, b_const = _operand(comp, cond_node.rhs)
    if not a_src or not b_src:
        return None
    check = "type(a) is int" if b_const is not None else "type(a) is int and type(b) is int"
    src = f"""
def make(cond, body, els, falsy):
    def ex(f):
        a = {a_src}
        b = {b_src}
        if {check}:
            if a {_CMP[cond_node.token]} b:
                return body(f)
            return els(f)
        c = cond(f)
        if c is True or (c is not False and not falsy(c)):
            return body(f)
        return els(f)
    return ex
"""
    ex: Callable[[list[Any]], Any] = _factory(src)(cond, body, els, _ops.falsy)
    return ex


def inline_return(comp: Any, result: A.Node) -> Callable[[list[Any]], Any] | None:
    src_expr, _ = _operand(comp, result)
    if not src_expr:
        return None
    src = f"""
def make(RETURN):
    def ret(f):
        f[2] = {src_expr}
        return RETURN
    return ret
"""
    ex: Callable[[list[Any]], Any] = _factory(src)(RETURN)
    return ex
