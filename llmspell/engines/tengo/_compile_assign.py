"""Assignments: ``:=``, ``=``, compound operators, ``++``/``--`` and index targets
(a mixin of :class:`._compiler.Compiler`)."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from . import _ast as A
from . import _index
from . import _token as T
from ._compile_expr import Ev
from ._scope import BUILTIN, FREE, GLOBAL, LOCAL, Lenient, Symbol, Table
from ._values import Cell, VMError

Ex = Callable[[list[Any]], Any]


class AssignCompiler:
    """How values are stored into variables and containers."""

    file: Any
    table: Table
    lenient: Lenient | None

    if TYPE_CHECKING:

        def expr(self, node: A.Node) -> Ev:
            raise NotImplementedError

        def read(self, sym: Any) -> Ev:
            raise NotImplementedError

        def error(self, node: A.Node, msg: str) -> Exception:
            raise NotImplementedError

        def binary(
            self, op: int, left: Ev, right: Ev, lnode: A.Node | None, rnode: A.Node | None, pos: int
        ) -> Ev:
            raise NotImplementedError

    def define_setter(self, name: str) -> Callable[[list[Any], Any], None]:
        sym = self.table.define(name)
        i = sym.index
        if sym.scope == GLOBAL:

            def set_global(f: list[Any], v: Any) -> None:
                f[1][i] = v

            return set_global
        sym.assigned = True
        slot = i + 3
        if sym.cell:

            def set_cell(f: list[Any], v: Any) -> None:
                f[slot] = Cell(v)

            return set_cell

        def set_local(f: list[Any], v: Any) -> None:
            f[slot] = v

        return set_local

    # assignment ---------------------------------------------------------------------------------

    def assign(self, node: A.Node, lhs: list[A.Node], rhs: list[A.Node], op: int) -> Ex:
        if len(lhs) > 1 or len(rhs) > 1:
            raise self.error(node, "tuple assignment not allowed")
        name, selectors = _resolve_lhs(lhs[0])
        if op == T.DEFINE and selectors:
            raise self.error(node, "operator ':=' not allowed with selector")
        is_func = isinstance(rhs[0], A.FuncLit)
        found = self.table.resolve(name)
        if self.lenient is not None:
            found = self.lenient_target(lhs[0], op, found)
        sym = found[0] if found else None
        if op == T.DEFINE:
            if found is not None and found[1] == 0:
                raise self.error(node, f"'{name}' redeclared in this block")
            if is_func:
                sym = self.table.define(name)
        elif found is None:
            raise self.error(node, f"unresolved reference '{name}'")
        pos = node.pos()
        if op == T.ASSIGN and not selectors and sym is not None:
            grow = self.append_in_place(sym, name, rhs[0])
            if grow is not None:
                return grow
        value = self.expr(rhs[0])
        if op not in (T.ASSIGN, T.DEFINE):
            current = self.expr(lhs[0])
            value = self.binary(T.COMPOUND[op], current, value, lhs[0], rhs[0], pos)
        if op == T.DEFINE and not is_func:
            sym = self.table.define(name)
        assert sym is not None
        if sym.scope == BUILTIN:
            raise self.error(node, f"cannot assign to builtin '{name}'")
        if selectors:
            return self.assign_selectors(sym, [self.expr(s) for s in selectors], value, pos)
        return self.store(sym, value, op == T.DEFINE)

    def lenient_target(
        self, target: A.Node, op: int, found: tuple[Symbol, int] | None
    ) -> tuple[Symbol, int] | None:
        """In check mode (:class:`Lenient`): an assignment to a name that resolves to nothing
        treats it as a host global (noted as used, like a read); a definition at the top level
        of a name used earlier as a host global fails as a run would: Tengo resolves names in
        order, so the earlier use was an unresolved reference."""
        lenient = self.lenient
        assert lenient is not None
        root = _root_ident(target)
        if root is None:
            return found
        if op == T.DEFINE:
            if found is not None and found[1] == 0 and lenient.is_host(found[0]):
                first = lenient.first[root.name][1]
                raise self.error(first, f"unresolved reference '{root.name}'")
            return found
        if found is None:
            found = lenient.define(self.table, root)
        lenient.read(found[0], self.file.position(root.pos()))
        return found

    def append_in_place(self, sym: Any, name: str, rhs: A.Node) -> Ex | None:
        """``a = append(a, x...)``: when nothing else refers to the array, no one can tell a
        new array from the old one grown in place, so grow it in place (amortised O(1)
        instead of a copy per append)."""
        if not (
            isinstance(rhs, A.CallExpr)
            and not rhs.ellipsis
            and isinstance(rhs.func, A.Ident)
            and rhs.func.name == "append"
            and len(rhs.args) >= 2
            and isinstance(rhs.args[0], A.Ident)
            and rhs.args[0].name == name
        ):
            return None
        found = self.table.resolve("append")
        if found is None or found[0].scope != BUILTIN:
            return None
        current = self.read(sym)
        extra = [self.expr(a) for a in rhs.args[1:]]
        file, pos = self.file, rhs.pos()
        # the slow path stores a new array through the frame's result slot (reset after)
        store_new = self.store(sym, lambda f: f[2], False)
        getrefcount = sys.getrefcount
        from ._builtins import BUILTINS

        append = BUILTINS[found[0].index]

        def grow(f: list[Any]) -> Any:
            arr = current(f)
            items = [e(f) for e in extra]
            if type(arr) is list and getrefcount(arr) <= 3:
                f[1][0].charge(8 * len(items))
                arr.extend(items)
                return None
            try:
                f[2] = append.fn([arr, *items])
            except VMError as exc:
                raise _ops_builtin_error(exc, append).frame(file, pos) from None
            store_new(f)
            f[2] = None
            return None

        return grow

    def store(self, sym: Any, value: Ev, define: bool) -> Ex:
        i = sym.index
        if sym.scope == GLOBAL:

            def set_global(f: list[Any]) -> None:
                f[1][i] = value(f)

            return set_global
        if sym.scope == FREE:

            def set_free(f: list[Any]) -> None:
                f[0].free[i].v = value(f)

            return set_free
        slot = i + 3
        fresh = define and not sym.assigned
        sym.assigned = True
        if sym.cell:
            if fresh:

                def new_cell(f: list[Any]) -> None:
                    f[slot] = Cell(value(f))

                return new_cell

            def set_cell(f: list[Any]) -> None:
                v = value(f)
                cell = f[slot]
                if type(cell) is Cell:
                    cell.v = v
                else:
                    f[slot] = Cell(v)

            return set_cell

        def set_local(f: list[Any]) -> None:
            f[slot] = value(f)

        return set_local

    def assign_selectors(self, sym: Any, sels: list[Ev], value: Ev, pos: int) -> Ex:
        target = self.read(sym)
        file = self.file
        assign = _index.index_assign
        sels_rev = list(reversed(sels))
        if sym.scope == LOCAL:
            sym.assigned = True

        def ex(f: list[Any]) -> None:
            v = value(f)
            keys = [s(f) for s in sels_rev]
            dst = target(f)
            if len(keys) == 1 and type(dst) is dict and type(keys[0]) is str:
                if keys[0] not in dst:
                    f[1][0].charge(100)
                dst[keys[0]] = v
                return
            try:
                assign(dst, v, keys, f[1][0])
            except VMError as exc:
                raise exc.at(file, pos) from None

        return ex

    # functions and modules ------------------------------------------------------------------


def _ops_builtin_error(exc: VMError, fn: Any) -> VMError:
    from ._calls import _builtin_message

    _builtin_message(exc, fn)
    return exc


def _root_ident(node: A.Node) -> A.Ident | None:
    """The variable an assignment target starts from (``a`` in ``a.b[1] = x``)."""
    while isinstance(node, (A.SelectorExpr, A.IndexExpr, A.ParenExpr)):
        node = node.expr
    return node if isinstance(node, A.Ident) else None


def _resolve_lhs(node: A.Node) -> tuple[str, list[A.Node]]:
    if isinstance(node, A.SelectorExpr):
        name, sels = _resolve_lhs(node.expr)
        return name, [*sels, node.sel]
    if isinstance(node, A.IndexExpr):
        name, sels = _resolve_lhs(node.expr)
        if node.index is None:
            return name, sels
        return name, [*sels, node.index]
    if isinstance(node, A.Ident):
        return node.name, []
    if isinstance(node, A.ParenExpr):
        return _resolve_lhs(node.expr)
    return "", []
