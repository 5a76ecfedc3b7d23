"""Statements of Tengo's parser (``parser/parser.go``), as a mixin of :class:`._parser.Parser`."""

from __future__ import annotations

from . import _ast as A
from . import _token as T

STMT_START = frozenset((T.BREAK, T.CONTINUE, T.FOR, T.IF, T.RETURN, T.EXPORT))
_SIMPLE_START = frozenset(
    (
        T.FUNC,
        T.ERROR,
        T.IMMUTABLE,
        T.IDENT,
        T.INT,
        T.FLOAT,
        T.CHAR,
        T.STRING,
        T.TRUE,
        T.FALSE,
        T.UNDEFINED,
        T.IMPORT,
        T.LPAREN,
        T.LBRACE,
        T.LBRACK,
        T.ADD,
        T.SUB,
        T.MUL,
        T.AND,
        T.XOR,
        T.NOT,
    )
)
_ASSIGN_OPS = frozenset((T.DEFINE, *T.COMPOUND))


class StmtParser:
    """Statement rules; the token helpers and expression rules come from the parser."""

    token: int
    lit: str
    p: int

    def next(self) -> None:
        raise NotImplementedError

    def expect(self, tok: int) -> int:
        raise NotImplementedError

    def expect_semi(self) -> None:
        raise NotImplementedError

    def error(self, pos: int, msg: str) -> None:
        raise NotImplementedError

    def error_expected(self, pos: int, msg: str) -> None:
        raise NotImplementedError

    def advance(self, to: frozenset[int]) -> None:
        raise NotImplementedError

    def parse_expr(self) -> A.Node:
        raise NotImplementedError

    def parse_expr_list(self) -> list[A.Node]:
        raise NotImplementedError

    def parse_ident(self) -> A.Ident:
        raise NotImplementedError

    def parse_stmt_list(self) -> list[A.Node]:
        out: list[A.Node] = []
        while self.token not in (T.RBRACE, T.EOF):
            out.append(self.parse_stmt())
        return out

    def parse_stmt(self) -> A.Node:
        tok = self.token
        if tok in _SIMPLE_START:
            s = self.parse_simple_stmt(False)
            self.expect_semi()
            return s
        if tok == T.RETURN:
            pos = self.p
            self.next()
            result = None
            if self.token not in (T.SEMICOLON, T.RBRACE):
                result = self.parse_expr()
            self.expect_semi()
            return A.ReturnStmt(pos, result)
        if tok == T.EXPORT:
            pos = self.p
            self.next()
            x = self.parse_expr()
            self.expect_semi()
            return A.ExportStmt(pos, x)
        if tok == T.IF:
            return self.parse_if_stmt()
        if tok == T.FOR:
            return self.parse_for_stmt()
        if tok in (T.BREAK, T.CONTINUE):
            pos = self.expect(tok)
            label = self.parse_ident() if self.token == T.IDENT else None
            self.expect_semi()
            return A.BranchStmt(tok, pos, label)
        if tok == T.SEMICOLON:
            s = A.EmptyStmt(self.lit == "\n", self.p)
            self.next()
            return s
        if tok == T.RBRACE:
            return A.EmptyStmt(True, self.p)
        pos = self.p
        self.error_expected(pos, "statement")
        self.advance(STMT_START)
        return A.BadStmt(pos, self.p)

    def parse_block_stmt(self) -> A.BlockStmt:
        lbrace = self.expect(T.LBRACE)
        stmts = self.parse_stmt_list()
        rbrace = self.expect(T.RBRACE)
        return A.BlockStmt(lbrace, rbrace, stmts)

    def parse_for_stmt(self) -> A.Node:
        pos = self.expect(T.FOR)
        if self.token == T.LBRACE:
            body = self.parse_block_stmt()
            self.expect_semi()
            return A.ForStmt(None, None, None, body, pos)
        s1: A.Node | None = None
        if self.token != T.SEMICOLON:
            s1 = self.parse_simple_stmt(True)
        if isinstance(s1, A.ForInStmt):
            s1.for_pos = pos
            s1.body = self.parse_block_stmt()
            self.expect_semi()
            return s1
        s2: A.Node | None = None
        s3: A.Node | None = None
        if self.token == T.SEMICOLON:
            self.next()
            if self.token != T.SEMICOLON:
                s2 = self.parse_simple_stmt(False)
            self.expect(T.SEMICOLON)
            if self.token != T.LBRACE:
                s3 = self.parse_simple_stmt(False)
        else:
            s2, s1 = s1, None
        body = self.parse_block_stmt()
        self.expect_semi()
        cond = self.make_expr(s2, "condition expression")
        return A.ForStmt(s1, cond, s3, body, pos)

    def parse_if_stmt(self) -> A.Node:
        pos = self.expect(T.IF)
        init, cond = self.parse_if_header()
        body = self.parse_block_stmt()
        else_: A.Node | None = None
        if self.token == T.ELSE:
            self.next()
            if self.token == T.IF:
                else_ = self.parse_if_stmt()
            elif self.token == T.LBRACE:
                else_ = self.parse_block_stmt()
                self.expect_semi()
            else:
                self.error_expected(self.p, "if or {")
                else_ = A.BadStmt(self.p, self.p)
        else:
            self.expect_semi()
        return A.IfStmt(init, cond, body, else_, pos)

    def parse_if_header(self) -> tuple[A.Node | None, A.Node]:
        if self.token == T.LBRACE:
            self.error(self.p, "missing condition in if statement")
            return None, A.BadExpr(self.p, self.p)
        if self.token == T.SEMICOLON:
            self.error(self.p, "missing init in if statement")
            return None, A.BadExpr(self.p, self.p)
        init: A.Node | None = self.parse_simple_stmt(False)
        cond_stmt: A.Node | None = None
        if self.token == T.LBRACE:
            cond_stmt, init = init, None
        elif self.token == T.SEMICOLON:
            self.next()
            cond_stmt = self.parse_simple_stmt(False)
        else:
            self.error(self.p, "missing condition in if statement")
        cond = self.make_expr(cond_stmt, "boolean expression") if cond_stmt else None
        if cond is None:
            cond = A.BadExpr(self.p, self.p)
        return init, cond

    def make_expr(self, s: A.Node | None, want: str) -> A.Node | None:
        if s is None:
            return None
        if isinstance(s, A.ExprStmt):
            return s.expr
        found = "assignment" if isinstance(s, A.AssignStmt) else "simple statement"
        self.error(s.pos(), f"expected {want}, found {found}")
        return A.BadExpr(s.pos(), s.end())

    def parse_simple_stmt(self, for_in: bool) -> A.Node:
        x = self.parse_expr_list()
        tok = self.token
        if tok in (T.ASSIGN, T.DEFINE):
            pos = self.p
            self.next()
            y = self.parse_expr_list()
            return A.AssignStmt(x, y, tok, pos)
        if tok == T.IN and for_in:
            self.next()
            iterable = self.parse_expr()
            key: A.Ident
            value: A.Ident
            if len(x) == 1:
                key = A.Ident("_", x[0].pos())
                if isinstance(x[0], A.Ident):
                    value = x[0]
                else:
                    self.error_expected(x[0].pos(), "identifier")
                    value = A.Ident("_", x[0].pos())
            else:
                if isinstance(x[0], A.Ident):
                    key = x[0]
                else:
                    self.error_expected(x[0].pos(), "identifier")
                    key = A.Ident("_", x[0].pos())
                if isinstance(x[1], A.Ident):
                    value = x[1]
                else:
                    self.error_expected(x[1].pos(), "identifier")
                    value = A.Ident("_", x[1].pos())
            return A.ForInStmt(key, value, iterable, None, 0)
        if len(x) > 1:
            self.error_expected(x[0].pos(), "1 expression")
        if tok in _ASSIGN_OPS:
            pos = self.p
            self.next()
            y1 = self.parse_expr()
            return A.AssignStmt([x[0]], [y1], tok, pos)
        if tok in (T.INC, T.DEC):
            s = A.IncDecStmt(x[0], tok, self.p)
            self.next()
            return s
        return A.ExprStmt(x[0])
