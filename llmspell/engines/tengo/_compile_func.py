"""Function literals, closures and ``import`` of modules (a mixin of
:class:`._compiler.Compiler`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from . import _ast as A
from ._calls import compile_tail_return
from ._compile_expr import Ev
from ._scope import FREE, Function, Globals, Table, captured_names
from ._values import Cell, Closure, FuncInfo, VMError

Ex = Callable[[list[Any]], Any]


def _sequence(stmts: list[Ex]) -> Ex:
    from ._compiler import sequence

    return sequence(stmts)


class FuncCompiler:
    """How functions capture variables and how modules are loaded."""

    file: Any
    table: Table
    loops: int
    in_function: bool
    function_depth: int
    modules: Any
    module_cache: dict[str, FuncInfo]
    importing: tuple[str, ...]

    if TYPE_CHECKING:

        def stmt(self, node: A.Node) -> Ex | None:
            raise NotImplementedError

        def stmts(self, nodes: list[A.Node]) -> Ex:
            raise NotImplementedError

        def error(self, node: A.Node, msg: str) -> Exception:
            raise NotImplementedError

    def compile_func(self, node: A.FuncLit) -> Ev:
        outer_table, outer_loops, outer_in = self.table, self.loops, self.in_function
        fn_state = Function(captured_names(node.body))
        table = outer_table.fork(False, fn_state)
        self.table, self.loops, self.in_function = table, 0, True
        self.function_depth += 1
        try:
            params = []
            for p in node.type.params.list:
                sym = table.define(p.name)
                sym.assigned = True
                params.append(sym)
            stmts = list(node.body.stmts)
            while stmts and isinstance(stmts[-1], A.EmptyStmt):
                stmts.pop()
            last = stmts[-1] if stmts else None
            if (
                isinstance(last, A.ExprStmt)
                and isinstance(last.expr, A.CallExpr)
                and isinstance(last.expr.func, A.Ident)
            ):
                # Tengo reuses the frame for a self call followed by the implicit return
                head = [s for s in (self.stmt(n) for n in stmts[:-1]) if s is not None]
                tail = compile_tail_return(self, last.expr, discard=True)
                body = _sequence([*head, tail]) if tail is not None else self.stmts(stmts)
            else:
                body = self.stmts(stmts)
        finally:
            self.table, self.loops, self.in_function = outer_table, outer_loops, outer_in
            self.function_depth -= 1
        info = FuncInfo(
            len(params),
            node.type.params.var_args,
            fn_state.nslots,
            tuple(s.index + 3 for s in params if s.cell),
            body,
            self.file,
            node.pos(),
        )
        captures = [self.capture(sym) for sym in table.free]
        if not captures:
            fn = Closure(info, ())
            return lambda f: fn
        if len(captures) == 1:
            (c0,) = captures
            return lambda f: Closure(info, (c0(f),))
        return lambda f: Closure(info, tuple(c(f) for c in captures))

    def capture(self, sym: Any) -> Callable[[list[Any]], Cell]:
        """The cell of a variable a new closure captures (created now if the variable was not
        assigned yet: a function that refers to itself)."""
        if sym.scope == FREE:
            i = sym.index
            return lambda f: f[0].free[i]
        slot = sym.index + 3
        if not sym.cell:  # captured_names() is conservative: this cannot happen
            raise AssertionError(f"captured variable {sym.name} has no cell")
        if not sym.assigned:
            sym.assigned = True

            def make(f: list[Any]) -> Cell:
                cell = f[slot]
                if type(cell) is not Cell:
                    cell = f[slot] = Cell(None)
                return cell

            return make

        def get(f: list[Any]) -> Cell:
            cell = f[slot]
            if type(cell) is not Cell:  # a parameter captured before assignment
                cell = f[slot] = Cell(cell)
            return cell

        return get

    def compile_import(self, node: A.ImportExpr) -> Ev:
        name = node.module_name
        if not name:
            raise self.error(node, "empty module name")
        if name in self.modules.sources:
            info = self.module(node, name)
            fn = Closure(info, ())
            from ._calls import call_closure

            file, pos = self.file, node.pos()

            def run_module(f: list[Any]) -> Any:
                try:
                    return call_closure(fn, [], f[1])
                except VMError as exc:
                    raise exc.frame(file, pos) from None

            return run_module
        if name in self.modules.native:
            return lambda f: f[1][0].native_module(name)
        raise self.error(node, f"module '{name}' not found")

    def module(self, node: A.Node, name: str) -> FuncInfo:
        if name in self.importing:
            raise self.error(node, f"cyclic module import: {name}")
        cached = self.module_cache.get(name)
        if cached is not None:
            return cached
        from ._parser import parse

        tree, file = parse(self.modules.sources[name], name)
        root = builtin_table(Globals())
        state = Function(captured_names(tree))
        table = root.fork(False, state)
        sub = type(self)(  # type: ignore[call-arg]
            file, table, self.modules, self.module_cache, (*self.importing, name), True
        )
        body = sub.stmts(tree.stmts)
        info = FuncInfo(0, False, state.nslots, (), body, file, 0)
        self.module_cache[name] = info
        return info


def builtin_table(globals_: Globals) -> Table:
    from ._builtins import BUILTINS

    table = Table(None, False, None, globals_)
    for i, fn in enumerate(BUILTINS):
        table.define_builtin(fn.name, i)
    return table
