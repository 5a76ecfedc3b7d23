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

from collections.abc import Callable
from typing import Any

from . import _ast as A
from . import _ops
from . import _token as T
from ._calls import BREAK, CONTINUE, RETURN, TAIL, compile_tail_return
from ._compile_assign import AssignCompiler
from ._compile_expr import ExprCompiler, immutable
from ._compile_func import FuncCompiler, builtin_table
from ._scanner import SourceFile
from ._scope import GLOBAL, Globals, Lenient, Table
from ._values import FuncInfo, VMError, type_name

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


class Compiler(AssignCompiler, FuncCompiler, ExprCompiler):
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


def compile_main(
    source: str | bytes,
    filename: str,
    modules: Modules | None = None,
    predefined: tuple[str, ...] = (),
    main_export: bool = False,
    lenient: Lenient | None = None,
) -> Program:
    """Parse and compile a main file; ``predefined`` names become the first globals (the
    script API's globals), in that order from slot 1. With ``lenient`` (check mode), names
    that resolve to nothing are host globals, noted there (see :class:`Lenient`)."""
    from ._parser import parse

    tree, file = parse(source, filename)
    globals_ = Globals()
    if lenient is not None:
        globals_.defined = lenient.defined
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
