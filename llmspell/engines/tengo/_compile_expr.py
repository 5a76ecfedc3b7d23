"""Expressions → Python closures ``ev(f) -> value`` (see :mod:`._compiler`).

A frame ``f`` is a list: ``[closure, globals, return value, *locals]``; ``globals[0]`` is the
run's context (budget, memory accounting, modules). Hot shapes get their own closures: local
and global reads, integer arithmetic and comparisons with a constant or a variable operand, and
calls with up to three arguments; everything else goes through :mod:`._ops`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from . import _ast as A
from . import _index, _ops
from . import _token as T
from ._scope import FREE, GLOBAL, LOCAL, Lenient, Symbol
from ._values import Char, Error, ImmArray, ImmMap, VMError

Ev = Callable[[list[Any]], Any]
_M = 2**63


class ExprCompiler:
    """Expression half of the compiler; :class:`._compiler.Compiler` adds statements."""

    file: Any
    table: Any
    lenient: Lenient | None = None

    def error(self, node: A.Node, msg: str) -> Exception:
        raise NotImplementedError

    def compile_func(self, node: A.FuncLit) -> Ev:
        raise NotImplementedError

    def compile_import(self, node: A.ImportExpr) -> Ev:
        raise NotImplementedError

    # dispatch -------------------------------------------------------------------------------

    def expr(self, node: A.Node) -> Ev:
        method = getattr(self, "x_" + type(node).__name__, None)
        if method is None:
            raise self.error(node, f"unsupported expression {type(node).__name__}")
        ev: Ev = method(node)
        return ev

    def x_ParenExpr(self, node: A.ParenExpr) -> Ev:
        return self.expr(node.expr)

    def x_BadExpr(self, node: A.BadExpr) -> Ev:
        raise self.error(node, "bad expression")

    # literals -------------------------------------------------------------------------------

    def const(self, value: Any) -> Ev:
        return lambda f: value

    def x_IntLit(self, node: A.IntLit) -> Ev:
        return self.const(node.value)

    def x_FloatLit(self, node: A.FloatLit) -> Ev:
        return self.const(node.value)

    def x_BoolLit(self, node: A.BoolLit) -> Ev:
        return self.const(node.value)

    def x_StringLit(self, node: A.StringLit) -> Ev:
        return self.const(node.value)

    def x_CharLit(self, node: A.CharLit) -> Ev:
        v = node.value
        return lambda f: Char(v)

    def x_UndefinedLit(self, node: A.UndefinedLit) -> Ev:
        return self.const(None)

    def x_ArrayLit(self, node: A.ArrayLit) -> Ev:
        items = [self.expr(e) for e in node.elements]
        n = len(items)

        def ev(f: list[Any]) -> Any:
            f[1][0].charge(56 + 8 * n)
            return [e(f) for e in items]

        return ev

    def x_MapLit(self, node: A.MapLit) -> Ev:
        pairs = [(e.key, self.expr(e.value)) for e in node.elements]
        n = len(pairs)

        def ev(f: list[Any]) -> Any:
            f[1][0].charge(64 + 100 * n)
            return {k: v(f) for k, v in pairs}

        return ev

    def x_FuncLit(self, node: A.FuncLit) -> Ev:
        return self.compile_func(node)

    def x_ImportExpr(self, node: A.ImportExpr) -> Ev:
        return self.compile_import(node)

    def x_ErrorExpr(self, node: A.ErrorExpr) -> Ev:
        inner = self.expr(node.expr)
        where = (self.file, node.pos())
        return lambda f: Error(inner(f), where)

    def x_ImmutableExpr(self, node: A.ImmutableExpr) -> Ev:
        inner = self.expr(node.expr)
        return lambda f: immutable(inner(f))

    # names ----------------------------------------------------------------------------------

    def x_Ident(self, node: A.Ident) -> Ev:
        found = self.table.resolve(node.name)
        lenient = self.lenient
        if lenient is not None:
            if found is None:
                found = lenient.define(self.table, node)
            lenient.read(found[0], self.file.position(node.pos()))
        if found is None:
            raise self.error(node, f"unresolved reference '{node.name}'")
        return self.read(found[0])

    def read(self, sym: Symbol) -> Ev:
        i = sym.index
        if sym.scope == GLOBAL:
            return lambda f: f[1][i]
        if sym.scope == LOCAL:
            slot = i + 3
            if sym.cell:
                return lambda f: f[slot].v
            return lambda f: f[slot]
        if sym.scope == FREE:
            return lambda f: f[0].free[i].v
        from ._builtins import BUILTINS

        fn = BUILTINS[i]
        return lambda f: fn

    # operators ------------------------------------------------------------------------------

    def x_UnaryExpr(self, node: A.UnaryExpr) -> Ev:
        inner = self.expr(node.expr)
        op, file, pos = node.token, self.file, node.pos()
        if op == T.ADD:
            return inner
        if op == T.NOT:
            falsy = _ops.falsy
            return lambda f: falsy(inner(f))
        if op == T.SUB:

            def neg(f: list[Any]) -> Any:
                v = inner(f)
                if type(v) is int and v != -_M:
                    return -v
                try:
                    return _ops.unary(op, v)
                except VMError as exc:
                    raise exc.at(file, pos) from None

            return neg

        def ev(f: list[Any]) -> Any:
            try:
                return _ops.unary(op, inner(f))
            except VMError as exc:
                raise exc.at(file, pos) from None

        return ev

    def x_BinaryExpr(self, node: A.BinaryExpr) -> Ev:
        op = node.token
        if op == T.LAND or op == T.LOR:
            return self.logical(node)
        left = self.expr(node.lhs)
        right = self.expr(node.rhs)
        return self.binary(op, left, right, node.lhs, node.rhs, node.pos())

    def logical(self, node: A.BinaryExpr) -> Ev:
        left, right = self.expr(node.lhs), self.expr(node.rhs)
        falsy = _ops.falsy
        if node.token == T.LAND:

            def land(f: list[Any]) -> Any:
                v = left(f)
                if v is False or falsy(v):
                    return v
                return right(f)

            return land

        def lor(f: list[Any]) -> Any:
            v = left(f)
            if v is True or not falsy(v):
                return v
            return right(f)

        return lor

    def binary(
        self, op: int, left: Ev, right: Ev, lnode: A.Node | None, rnode: A.Node | None, pos: int
    ) -> Ev:
        from ._fastops import fast_binary

        ev = fast_binary(self, op, left, right, lnode, rnode, pos)
        if ev is not None:
            return ev
        file = self.file
        binop = _ops.binop
        if op == T.EQUAL or op == T.NOT_EQUAL:
            eq = _ops.equals
            if op == T.EQUAL:
                return lambda f: eq(left(f), right(f))
            return lambda f: not eq(left(f), right(f))

        def ev2(f: list[Any]) -> Any:
            a = left(f)
            b = right(f)
            try:
                return binop(op, a, b, f[1][0])
            except VMError as exc:
                raise exc.at(file, pos) from None

        return ev2

    def x_CondExpr(self, node: A.CondExpr) -> Ev:
        cond, yes, no = self.expr(node.cond), self.expr(node.true), self.expr(node.false)
        falsy = _ops.falsy

        def ev(f: list[Any]) -> Any:
            c = cond(f)
            if c is True or (c is not False and not falsy(c)):
                return yes(f)
            return no(f)

        return ev

    # selectors, indexes, slices -------------------------------------------------------------

    def x_SelectorExpr(self, node: A.SelectorExpr) -> Ev:
        obj = self.expr(node.expr)
        if self.lenient is not None and isinstance(node.expr, A.Ident):
            found = self.table.resolve(node.expr.name)
            if found is not None:
                where = self.file.position(node.sel.pos())
                self.lenient.member(found[0], node.sel.value, where)
        return self.index(obj, self.const(node.sel.value), node.pos(), node.sel.value)

    def x_IndexExpr(self, node: A.IndexExpr) -> Ev:
        if node.index is None:
            raise self.error(node, "missing index")
        return self.index(self.expr(node.expr), self.expr(node.index), node.pos())

    def index(self, obj: Ev, idx: Ev, pos: int, key: str | None = None) -> Ev:
        file = self.file
        get = _index.index_get
        if key is not None:

            def sel(f: list[Any]) -> Any:
                x = obj(f)
                t = type(x)
                if t is dict:
                    return x.get(key)
                if t is ImmMap:
                    return x.v.get(key)
                try:
                    return get(x, key)
                except VMError as exc:
                    raise exc.at(file, pos) from None

            return sel

        def ev(f: list[Any]) -> Any:
            x = obj(f)
            i = idx(f)
            if type(x) is list and type(i) is int and 0 <= i < len(x):
                return x[i]
            try:
                return get(x, i)
            except VMError as exc:
                raise exc.at(file, pos) from None

        return ev

    def x_SliceExpr(self, node: A.SliceExpr) -> Ev:
        obj = self.expr(node.expr)
        low = self.expr(node.low) if node.low is not None else self.const(None)
        high = self.expr(node.high) if node.high is not None else self.const(None)
        file, pos = self.file, node.pos()
        slice_value = _index.slice_value

        def ev(f: list[Any]) -> Any:
            x, lo, hi = obj(f), low(f), high(f)
            try:
                return slice_value(x, lo, hi, f[1][0])
            except VMError as exc:
                raise exc.at(file, pos) from None

        return ev

    # calls ----------------------------------------------------------------------------------

    def x_CallExpr(self, node: A.CallExpr) -> Ev:
        from ._calls import compile_call

        return compile_call(self, node)


def immutable(v: Any) -> Any:
    t = type(v)
    if t is list:
        return ImmArray(v)
    if t is dict:
        return ImmMap(v)
    return v
