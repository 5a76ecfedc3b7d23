"""Compiling Tengo into a tree of Python closures.

Statements become ``ex(f) -> signal`` (None, or BREAK / CONTINUE / RETURN / TAIL), expressions
``ev(f) -> value`` (see :mod:`._compile_expr`). Names are resolved at compile time, as Tengo's
symbol table does, to a global slot, a local slot, a captured variable or a builtin. A local
that a nested function captures lives in a :class:`Cell`; ``:=`` makes a new cell and ``=``
writes into it, which gives Tengo's closure semantics (a closure made in a loop body sees that
iteration's variables; a loop counter is shared).

Loops and calls count steps against the run's budget (``ctx.steps``); when it runs out the
context checks the CPU, wall-clock and memory limits (:mod:`._runtime`).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

from . import _ast as A
from . import _ops
from . import _token as T
from ._calls import BREAK, CONTINUE, RETURN, TAIL, compile_tail_return
from ._compile_expr import Ev, ExprCompiler, immutable
from ._scanner import SourceFile
from ._scope import BUILTIN, FREE, GLOBAL, LOCAL, Function, Globals, Table, captured_names
from ._values import Cell, Closure, FuncInfo, VMError, type_name

Ex = Callable[[list[Any]], Any]


class CompileError(Exception):
    """The source parses but does not compile (an unresolved name, ``break`` outside a loop)."""

    def __init__(self, file: SourceFile, pos: int, msg: str) -> None:
        self.filename = file.name
        self.line, self.column = file.position(pos)
        self.msg = msg
        where = (
            f"{file.name}:{self.line}:{self.column}" if file.name else f"{self.line}:{self.column}"
        )
        super().__init__(f"Compile Error: {msg}\n\tat {where}")


class Modules:
    """Modules ``import`` can load: Tengo source modules by name, and native modules (the
    stdlib and any the embedder adds) resolved per run by the context."""

    def __init__(self, sources: dict[str, str] | None = None, native: frozenset[str] = frozenset()):
        self.sources = dict(sources or {})
        self.native = native


class Program:
    """A compiled main file: run it with a globals list whose slot 0 is the context."""

    def __init__(self, main: Ex, nglobals: int, names: dict[str, int]) -> None:
        self.main = main
        self.nglobals = nglobals
        self.names = names


def _void(f: list[Any]) -> None:
    return None


class Compiler(ExprCompiler):
    def __init__(
        self,
        file: SourceFile,
        table: Table,
        modules: Modules,
        module_cache: dict[str, FuncInfo],
        importing: tuple[str, ...] = (),
        is_module: bool = False,
    ) -> None:
        self.file = file
        self.table = table
        self.modules = modules
        self.module_cache = module_cache
        self.importing = importing
        self.is_module = is_module
        self.loops = 0
        self.in_function = is_module

    def error(self, node: A.Node, msg: str) -> CompileError:
        return CompileError(self.file, node.pos(), msg)

    # statements -------------------------------------------------------------------------------

    def stmt(self, node: A.Node) -> Ex | None:
        method = getattr(self, "s_" + type(node).__name__, None)
        if method is None:
            raise self.error(node, f"unsupported statement {type(node).__name__}")
        ex: Ex | None = method(node)
        return ex

    def stmts(self, nodes: list[A.Node]) -> Ex:
        compiled = [s for s in (self.stmt(n) for n in nodes) if s is not None]
        return sequence(compiled)

    def s_EmptyStmt(self, node: A.EmptyStmt) -> Ex | None:
        return None

    def s_BadStmt(self, node: A.BadStmt) -> Ex | None:
        raise self.error(node, "bad statement")

    def s_ExprStmt(self, node: A.ExprStmt) -> Ex | None:
        ev = self.expr(node.expr)

        def ex(f: list[Any]) -> None:
            ev(f)

        return ex

    def s_BlockStmt(self, node: A.BlockStmt) -> Ex | None:
        if not node.stmts:
            return None
        outer = self.table
        self.table = outer.fork(True)
        try:
            return self.stmts(node.stmts)
        finally:
            self.table = outer

    def s_IncDecStmt(self, node: A.IncDecStmt) -> Ex | None:
        op = T.by_name("AddAssign") if node.token == T.INC else T.by_name("SubAssign")
        return self.assign(node, [node.expr], [A.IntLit(1, 0, "1")], op)

    def s_AssignStmt(self, node: A.AssignStmt) -> Ex | None:
        return self.assign(node, node.lhs, node.rhs, node.token)

    def s_ReturnStmt(self, node: A.ReturnStmt) -> Ex | None:
        if not self.in_function:
            raise self.error(node, "return not allowed outside function")
        if node.result is None:

            def ret0(f: list[Any]) -> int:
                f[2] = None
                return RETURN

            return ret0
        result = node.result
        while isinstance(result, A.ParenExpr):
            result = result.expr
        if isinstance(result, A.CallExpr) and isinstance(result.func, A.Ident):
            tail = compile_tail_return(self, result)
            if tail is not None:
                return tail
        from ._inline import inline_return

        fast = inline_return(self, result)
        if fast is not None:
            return fast
        ev = self.expr(node.result)

        def ret(f: list[Any]) -> int:
            f[2] = ev(f)
            return RETURN

        return ret

    def s_ExportStmt(self, node: A.ExportStmt) -> Ex | None:
        if self.function_depth > 0:
            raise self.error(node, "export not allowed inside function")
        if not self.is_module and not self.main_export:
            return None
        ev = self.expr(node.result)

        def export(f: list[Any]) -> int:
            f[2] = immutable(ev(f))
            return RETURN

        return export

    function_depth = 0
    main_export = False

    def s_BranchStmt(self, node: A.BranchStmt) -> Ex | None:
        if node.token == T.BREAK:
            if not self.loops:
                raise self.error(node, "break not allowed outside loop")
            return lambda f: BREAK
        if not self.loops:
            raise self.error(node, "continue not allowed outside loop")
        return lambda f: CONTINUE

    def s_IfStmt(self, node: A.IfStmt) -> Ex | None:
        outer = self.table
        self.table = outer.fork(True)
        try:
            init = self.stmt(node.init) if node.init is not None else None
            cond = self.expr(node.cond)
            body = self.stmt(node.body) or _void
            els = (self.stmt(node.else_) or _void) if node.else_ is not None else _void
        finally:
            self.table = outer
        falsy = _ops.falsy

        def ex(f: list[Any]) -> Any:
            c = cond(f)
            if c is True or (c is not False and not falsy(c)):
                return body(f)
            return els(f)

        if init is None:
            from ._inline import inline_if

            outer2 = self.table
            self.table = self.table.fork(True)
            try:
                fast = inline_if(self, node.cond, cond, body, els)
            finally:
                self.table = outer2
            return fast or ex

        def ex_init(f: list[Any]) -> Any:
            init(f)
            return ex(f)

        return ex_init

    def s_ForStmt(self, node: A.ForStmt) -> Ex | None:
        outer = self.table
        self.table = outer.fork(True)
        try:
            init = self.stmt(node.init) if node.init is not None else None
            cond = self.expr(node.cond) if node.cond is not None else None
            self.loops += 1
            try:
                body = self.stmt(node.body) or _void
            finally:
                self.loops -= 1
            post = self.stmt(node.post) if node.post is not None else None
        finally:
            self.table = outer
        falsy = _ops.falsy

        def loop(f: list[Any]) -> Any:
            ctx = f[1][0]
            if init is not None:
                init(f)
            while True:
                if cond is not None:
                    c = cond(f)
                    if c is not True and (c is False or falsy(c)):
                        return None
                r = body(f)
                if r:
                    if r == BREAK:
                        return None
                    if r != CONTINUE:
                        return r
                if post is not None:
                    post(f)
                ctx.steps -= 1
                if ctx.steps <= 0:
                    ctx.tick()

        return loop

    def s_ForInStmt(self, node: A.ForInStmt) -> Ex | None:
        outer = self.table
        self.table = outer.fork(True)
        try:
            iterable = self.expr(node.iterable)
            self.loops += 1
            try:
                key_set = self.define_setter(node.key.name) if node.key.name != "_" else None
                val_set = (
                    self.define_setter(node.value.name)
                    if node.value is not None and node.value.name != "_"
                    else None
                )
                assert node.body is not None
                body = self.stmt(node.body) or _void
            finally:
                self.loops -= 1
        finally:
            self.table = outer
        file, pos = self.file, node.pos()

        def loop(f: list[Any]) -> Any:
            ctx = f[1][0]
            seq = iterable(f)
            it = _ops.iterate(seq)
            if it is None:
                raise VMError(f"not iterable: {type_name(seq)}").at(file, pos)
            for k, v in it:
                if key_set is not None:
                    key_set(f, k)
                if val_set is not None:
                    val_set(f, v)
                r = body(f)
                if r:
                    if r == BREAK:
                        return None
                    if r != CONTINUE:
                        return r
                ctx.steps -= 1
                if ctx.steps <= 0:
                    ctx.tick()
            return None

        return loop

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
        assign = _ops.index_assign
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
                body = sequence([*head, tail]) if tail is not None else self.stmts(stmts)
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
        sub = Compiler(file, table, self.modules, self.module_cache, (*self.importing, name), True)
        body = sub.stmts(tree.stmts)
        info = FuncInfo(0, False, state.nslots, (), body, file, 0)
        self.module_cache[name] = info
        return info


def _ops_builtin_error(exc: VMError, fn: Any) -> VMError:
    from ._calls import _builtin_message

    _builtin_message(exc, fn)
    return exc


def sequence(stmts: list[Ex]) -> Ex:
    if not stmts:
        return _void
    if len(stmts) == 1:
        return stmts[0]
    if len(stmts) == 2:
        s0, s1 = stmts

        def seq2(f: list[Any]) -> Any:
            r = s0(f)
            if r:
                return r
            return s1(f)

        return seq2
    if len(stmts) == 3:
        s0, s1, s2 = stmts

        def seq3(f: list[Any]) -> Any:
            r = s0(f)
            if r:
                return r
            r = s1(f)
            if r:
                return r
            return s2(f)

        return seq3
    items = tuple(stmts)

    def seq(f: list[Any]) -> Any:
        for s in items:
            r = s(f)
            if r:
                return r
        return None

    return seq


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


def builtin_table(globals_: Globals) -> Table:
    from ._builtins import BUILTINS

    table = Table(None, False, None, globals_)
    for i, fn in enumerate(BUILTINS):
        table.define_builtin(fn.name, i)
    return table


def compile_main(
    source: str | bytes,
    filename: str,
    modules: Modules | None = None,
    predefined: tuple[str, ...] = (),
    main_export: bool = False,
    lenient: bool = False,
) -> Program:
    """Parse and compile a main file; ``predefined`` names become the first globals (the
    script API's globals), in that order from slot 1."""
    from ._parser import parse

    tree, file = parse(source, filename)
    globals_ = Globals()
    table = builtin_table(globals_)
    names = {}
    for name in predefined:
        sym = table.define(name)
        names[name] = sym.index
    comp = Compiler(file, table, modules or Modules(), {})
    comp.main_export = main_export
    comp.lenient = lenient
    main = comp.stmts(tree.stmts)
    for name, sym in table.store.items():
        if sym.scope == GLOBAL:
            names[name] = sym.index
    return Program(main, globals_.count, names)


__all__ = ["BREAK", "CONTINUE", "RETURN", "TAIL", "CompileError", "Modules", "Program"]
