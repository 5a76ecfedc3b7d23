"""Tengo's parser, ported from ``parser/parser.go``: source → :class:`_ast.File` or
:class:`ParseError` (the first error, sorted by position, as Tengo reports it)."""

from __future__ import annotations

from . import _ast as A
from . import _token as T
from ._literals import parse_float, parse_int
from ._literals import unquote as unquote
from ._literals import unquote_char_literal as unquote_char_literal
from ._parse_stmt import STMT_START, StmtParser
from ._scanner import Scanner, SourceFile


class ParseError(Exception):
    """The source does not parse. ``errors`` holds every (line, column, message) found."""

    def __init__(self, filename: str, errors: list[tuple[int, int, str]]) -> None:
        self.filename = filename
        self.errors = errors
        self.line, self.column, self.msg = errors[0]
        where = (
            f"{filename}:{self.line}:{self.column}" if filename else f"{self.line}:{self.column}"
        )
        text = f"Parse Error: {self.msg}\n\tat {where}"
        if len(errors) > 1:
            text += f" (and {len(errors) - 1} more errors)"
        super().__init__(text)


class _Bailout(Exception):
    pass


class Parser(StmtParser):
    def __init__(self, file: SourceFile, src: bytes) -> None:
        self.file = file
        self.errors: list[tuple[int, int, str]] = []
        self.scanner = Scanner(file, src, self._scan_error, 0)
        self.token = T.ILLEGAL
        self.lit = ""
        self.p = 0
        self.sync_pos = 0
        self.sync_count = 0
        self.next()

    def _scan_error(self, pos: int, msg: str) -> None:
        line, col = self.file.position(pos)
        self.errors.append((line, col, msg))

    # entry ---------------------------------------------------------------------------------

    def parse_file(self) -> A.File:
        stmts: list[A.Node] = []
        try:
            if not self.errors:
                stmts = self.parse_stmt_list()
                self.expect(T.EOF)
        except _Bailout:
            pass
        if self.errors:
            self.errors.sort()
            raise ParseError(self.file.name, self.errors)
        return A.File(stmts)

    # helpers -------------------------------------------------------------------------------

    def next(self) -> None:
        self.token, self.lit, self.p = self.scanner.scan()

    def error(self, pos: int, msg: str) -> None:
        line, col = self.file.position(pos)
        if self.errors and self.errors[-1][0] == line:
            return
        if len(self.errors) > 10:
            raise _Bailout
        self.errors.append((line, col, msg))

    def error_expected(self, pos: int, msg: str) -> None:
        msg = "expected " + msg
        if pos == self.p:
            if self.token == T.SEMICOLON and self.lit == "\n":
                msg += ", found newline"
            elif T.is_literal(self.token):
                msg += ", found " + self.lit
            else:
                msg += ", found '" + T.string(self.token) + "'"
        self.error(pos, msg)

    def expect(self, tok: int) -> int:
        pos = self.p
        if self.token != tok:
            self.error_expected(pos, "'" + T.string(tok) + "'")
        self.next()
        return pos

    def expect_semi(self) -> None:
        tok = self.token
        if tok in (T.RPAREN, T.RBRACE):
            return
        if tok == T.COMMA:
            self.error_expected(self.p, "';'")
            self.next()
        elif tok == T.SEMICOLON:
            self.next()
        else:
            self.error_expected(self.p, "';'")
            self.advance(STMT_START)

    def expect_comma(self, closing: int, want: str) -> bool:
        if self.token == T.COMMA:
            self.next()
            if self.token == closing:
                self.error_expected(self.p, want)
                return False
            return True
        if self.token == T.SEMICOLON and self.lit == "\n":
            self.next()
        return False

    def advance(self, to: frozenset[int]) -> None:
        while self.token != T.EOF:
            if self.token in to:
                if self.p == self.sync_pos and self.sync_count < 10:
                    self.sync_count += 1
                    return
                if self.p > self.sync_pos:
                    self.sync_pos = self.p
                    self.sync_count = 0
                    return
            self.next()

    # expressions ---------------------------------------------------------------------------

    def parse_expr(self) -> A.Node:
        expr = self.parse_binary_expr(1)
        if self.token == T.QUESTION:
            return self.parse_cond_expr(expr)
        return expr

    def parse_binary_expr(self, prec1: int) -> A.Node:
        x = self.parse_unary_expr()
        while True:
            op = self.token
            prec = T.PRECEDENCE.get(op, 0)
            if prec < prec1:
                return x
            pos = self.expect(op)
            y = self.parse_binary_expr(prec + 1)
            x = A.BinaryExpr(x, y, op, pos)

    def parse_cond_expr(self, cond: A.Node) -> A.Node:
        qpos = self.expect(T.QUESTION)
        true = self.parse_expr()
        cpos = self.expect(T.COLON)
        false = self.parse_expr()
        return A.CondExpr(cond, true, false, qpos, cpos)

    def parse_unary_expr(self) -> A.Node:
        if self.token in (T.ADD, T.SUB, T.NOT, T.XOR):
            pos, op = self.p, self.token
            self.next()
            x = self.parse_unary_expr()
            return A.UnaryExpr(x, op, pos)
        return self.parse_primary_expr()

    def parse_primary_expr(self) -> A.Node:
        x = self.parse_operand()
        while True:
            if self.token == T.PERIOD:
                self.next()
                if self.token == T.IDENT:
                    sel = self.parse_ident()
                    x = A.SelectorExpr(x, A.StringLit(sel.name, sel.name_pos, sel.name))
                else:
                    pos = self.p
                    self.error_expected(pos, "selector")
                    self.advance(STMT_START)
                    return A.BadExpr(pos, self.p)
            elif self.token == T.LBRACK:
                x = self.parse_index_or_slice(x)
            elif self.token == T.LPAREN:
                x = self.parse_call(x)
            else:
                return x

    def parse_call(self, x: A.Node) -> A.CallExpr:
        lparen = self.expect(T.LPAREN)
        args: list[A.Node] = []
        ellipsis = 0
        while self.token not in (T.RPAREN, T.EOF) and not ellipsis:
            args.append(self.parse_expr())
            if self.token == T.ELLIPSIS:
                ellipsis = self.p
                self.next()
            if not self.expect_comma(T.RPAREN, "call argument"):
                break
        rparen = self.expect(T.RPAREN)
        return A.CallExpr(x, lparen, rparen, ellipsis, args)

    def parse_index_or_slice(self, x: A.Node) -> A.Node:
        lbrack = self.expect(T.LBRACK)
        index: list[A.Node | None] = [None, None]
        if self.token != T.COLON:
            index[0] = self.parse_expr()
        colons = 0
        if self.token == T.COLON:
            colons = 1
            self.next()
            if self.token not in (T.RBRACK, T.EOF):
                index[1] = self.parse_expr()
        rbrack = self.expect(T.RBRACK)
        if colons:
            return A.SliceExpr(x, index[0], index[1], lbrack, rbrack)
        return A.IndexExpr(x, index[0], lbrack, rbrack)

    def parse_operand(self) -> A.Node:
        tok, pos, lit = self.token, self.p, self.lit
        if tok == T.IDENT:
            return self.parse_ident()
        if tok == T.INT:
            value = 0
            try:
                value = parse_int(lit)
            except OverflowError:
                self.error(pos, "number out of range")
            except ValueError:
                self.error(pos, "invalid integer")
            self.next()
            return A.IntLit(value, pos, lit)
        if tok == T.FLOAT:
            fvalue = 0.0
            try:
                fvalue = parse_float(lit)
            except OverflowError:
                self.error(pos, "number out of range")
            except ValueError:
                self.error(pos, "invalid float")
            self.next()
            return A.FloatLit(fvalue, pos, lit)
        if tok == T.CHAR:
            code = unquote_char_literal(lit)
            if code is not None:
                self.next()
                return A.CharLit(code, pos, lit)
            self.error(pos, "illegal char literal")
            self.next()
            return A.BadExpr(pos, self.p)
        if tok == T.STRING:
            try:
                value_s = unquote(lit)
            except ValueError:
                value_s = ""
            self.next()
            return A.StringLit(value_s, pos, lit)
        if tok in (T.TRUE, T.FALSE):
            self.next()
            return A.BoolLit(tok == T.TRUE, pos, lit)
        if tok == T.UNDEFINED:
            self.next()
            return A.UndefinedLit(pos)
        if tok == T.IMPORT:
            return self.parse_import_expr()
        if tok == T.LPAREN:
            self.next()
            x = self.parse_expr()
            rparen = self.expect(T.RPAREN)
            return A.ParenExpr(x, pos, rparen)
        if tok == T.LBRACK:
            return self.parse_array_lit()
        if tok == T.LBRACE:
            return self.parse_map_lit()
        if tok == T.FUNC:
            return self.parse_func_lit()
        if tok in (T.ERROR, T.IMMUTABLE):
            self.next()
            lparen = self.expect(T.LPAREN)
            inner = self.parse_expr()
            rparen = self.expect(T.RPAREN)
            cls = A.ErrorExpr if tok == T.ERROR else A.ImmutableExpr
            return cls(pos, inner, lparen, rparen)
        self.error_expected(pos, "operand")
        self.advance(STMT_START)
        return A.BadExpr(pos, self.p)

    def parse_import_expr(self) -> A.Node:
        pos = self.p
        self.next()
        self.expect(T.LPAREN)
        if self.token != T.STRING:
            self.error_expected(self.p, "module name")
            self.advance(STMT_START)
            return A.BadExpr(pos, self.p)
        try:
            name = unquote(self.lit)
        except ValueError:
            name = ""
        expr = A.ImportExpr(name, pos)
        self.next()
        self.expect(T.RPAREN)
        return expr

    def parse_func_lit(self) -> A.Node:
        typ = self.parse_func_type()
        body = self.parse_block_stmt()
        return A.FuncLit(typ, body)

    def parse_func_type(self) -> A.FuncType:
        pos = self.expect(T.FUNC)
        return A.FuncType(self.parse_ident_list(), pos)

    def parse_array_lit(self) -> A.Node:
        lbrack = self.expect(T.LBRACK)
        elements: list[A.Node] = []
        while self.token not in (T.RBRACK, T.EOF):
            elements.append(self.parse_expr())
            if not self.expect_comma(T.RBRACK, "array element"):
                break
        rbrack = self.expect(T.RBRACK)
        return A.ArrayLit(lbrack, rbrack, elements)

    def parse_map_lit(self) -> A.MapLit:
        lbrace = self.expect(T.LBRACE)
        elements: list[A.MapElementLit] = []
        while self.token not in (T.RBRACE, T.EOF):
            elements.append(self.parse_map_element())
            if not self.expect_comma(T.RBRACE, "map element"):
                break
        rbrace = self.expect(T.RBRACE)
        return A.MapLit(lbrace, rbrace, elements)

    def parse_map_element(self) -> A.MapElementLit:
        pos = self.p
        name = "_"
        if self.token == T.IDENT:
            name = self.lit
        elif self.token == T.STRING:
            try:
                name = unquote(self.lit)
            except ValueError:
                name = ""
        else:
            self.error_expected(pos, "map key")
        self.next()
        colon = self.expect(T.COLON)
        value = self.parse_expr()
        return A.MapElementLit(name, pos, colon, value)

    def parse_ident(self) -> A.Ident:
        pos = self.p
        name = "_"
        if self.token == T.IDENT:
            name = self.lit
            self.next()
        else:
            self.expect(T.IDENT)
        return A.Ident(name, pos)

    def parse_ident_list(self) -> A.IdentList:
        params: list[A.Ident] = []
        lparen = self.expect(T.LPAREN)
        var_args = False
        if self.token != T.RPAREN:
            if self.token == T.ELLIPSIS:
                var_args = True
                self.next()
            params.append(self.parse_ident())
            while not var_args and self.token == T.COMMA:
                self.next()
                if self.token == T.ELLIPSIS:
                    var_args = True
                    self.next()
                params.append(self.parse_ident())
        rparen = self.expect(T.RPAREN)
        return A.IdentList(lparen, rparen, var_args, params)

    def parse_expr_list(self) -> list[A.Node]:
        out = [self.parse_expr()]
        while self.token == T.COMMA:
            self.next()
            out.append(self.parse_expr())
        return out

    # statements ----------------------------------------------------------------------------


def parse(src: str | bytes, filename: str = "") -> tuple[A.File, SourceFile]:
    """Parse one source; raises :class:`ParseError`."""
    data = src.encode("utf-8", "surrogateescape") if isinstance(src, str) else src
    file = SourceFile(filename, len(data))
    return Parser(file, data).parse_file(), file
