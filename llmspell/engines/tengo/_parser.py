"""Tengo's parser, ported from ``parser/parser.go``: source → :class:`_ast.File` or
:class:`ParseError` (the first error, sorted by position, as Tengo reports it)."""

from __future__ import annotations

from . import _ast as A
from . import _token as T
from ._scanner import Scanner, SourceFile

_STMT_START = frozenset((T.BREAK, T.CONTINUE, T.FOR, T.IF, T.RETURN, T.EXPORT))
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


class _Unquote(ValueError):
    pass


_SIMPLE_ESC = {
    "a": 7,
    "b": 8,
    "f": 12,
    "n": 10,
    "r": 13,
    "t": 9,
    "v": 11,
    "\\": 92,
}


def _unquote_char(s: str, i: int, quote: str) -> tuple[int, bool, int]:
    """Go's ``strconv.UnquoteChar`` at ``s[i]``: (value, is_byte, next index)."""
    c = s[i]
    if c == quote and quote in "'\"":
        raise _Unquote
    if c != "\\":
        return ord(c), False, i + 1
    if i + 1 >= len(s):
        raise _Unquote
    c = s[i + 1]
    i += 2
    if c in _SIMPLE_ESC:
        return _SIMPLE_ESC[c], False, i
    if c in "xuU":
        n = {"x": 2, "u": 4, "U": 8}[c]
        digits = s[i : i + n]
        if len(digits) < n or any(d not in "0123456789abcdefABCDEF" for d in digits):
            raise _Unquote
        v = int(digits, 16)
        if c == "x":
            return v, True, i + n
        if v > 0x10FFFF or 0xD800 <= v < 0xE000:
            raise _Unquote
        return v, False, i + n
    if c in "01234567":
        digits = s[i - 1 : i + 2]
        if len(digits) < 3 or any(d not in "01234567" for d in digits):
            raise _Unquote
        v = int(digits, 8)
        if v > 255:
            raise _Unquote
        return v, True, i + 2
    if c in "'\"":
        if c != quote:
            raise _Unquote
        return ord(c), False, i
    raise _Unquote


def unquote(lit: str) -> str:
    """Go's ``strconv.Unquote`` for string literals; bytes that are not UTF-8 are kept as
    surrogate escapes. Raises ValueError when invalid."""
    if len(lit) < 2 or lit[0] != lit[-1]:
        raise _Unquote
    quote, body = lit[0], lit[1:-1]
    if quote == "`":
        if "`" in body:
            raise _Unquote
        return body.replace("\r", "")
    if quote not in "\"'":
        raise _Unquote
    if "\\" not in body and quote not in body and "\n" not in body:
        return body
    out = bytearray()
    i = 0
    while i < len(body):
        if body[i] == "\n":
            raise _Unquote
        v, is_byte, i = _unquote_char(body, i, quote)
        if is_byte or v < 0x80:
            out.append(v)
        else:
            out += chr(v).encode("utf-8", "surrogateescape")
    return out.decode("utf-8", "surrogateescape")


def unquote_char_literal(lit: str) -> int | None:
    """The rune of a char literal ``'x'``, or None when it is not exactly one character."""
    if len(lit) < 3:
        return None
    body = lit[1:-1]
    try:
        v, _, nxt = _unquote_char(body, 0, "'")
    except (_Unquote, IndexError):
        return None
    if nxt != len(body):
        return None
    return v


class Parser:
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
            self.advance(_STMT_START)

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
                    self.advance(_STMT_START)
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
                value = _parse_int(lit)
            except OverflowError:
                self.error(pos, "number out of range")
            except ValueError:
                self.error(pos, "invalid integer")
            self.next()
            return A.IntLit(value, pos, lit)
        if tok == T.FLOAT:
            fvalue = 0.0
            try:
                fvalue = _parse_float(lit)
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
        self.advance(_STMT_START)
        return A.BadExpr(pos, self.p)

    def parse_import_expr(self) -> A.Node:
        pos = self.p
        self.next()
        self.expect(T.LPAREN)
        if self.token != T.STRING:
            self.error_expected(self.p, "module name")
            self.advance(_STMT_START)
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
        self.advance(_STMT_START)
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


def _parse_int(lit: str) -> int:
    """Go's ``strconv.ParseInt(lit, 0, 64)``."""
    text = lit
    if "_" in text:
        # underscores only between digits (or after a base prefix), as Go requires
        body = text[2:] if text[:2].lower() in ("0x", "0b", "0o") else text
        if body.startswith("_") or body.endswith("_") or "__" in body:
            raise ValueError(lit)
        text = text.replace("_", "")
    low = text.lower()
    if low.startswith("0x"):
        v = int(text[2:], 16)
    elif low.startswith("0b"):
        v = int(text[2:], 2)
    elif low.startswith("0o"):
        v = int(text[2:], 8)
    elif len(text) > 1 and text[0] == "0":
        v = int(text[1:], 8)
    else:
        v = int(text, 10)
    if v > 0x7FFFFFFFFFFFFFFF:
        raise OverflowError(lit)
    return v


def _parse_float(lit: str) -> float:
    """Go's ``strconv.ParseFloat(lit, 64)`` (decimal and hexadecimal forms)."""
    text = lit.replace("_", "")
    if text[:2].lower() == "0x":
        v = float.fromhex(text)
    else:
        v = float(text)
    if v in (float("inf"), float("-inf")):
        raise OverflowError(lit)
    return v


def parse(src: str | bytes, filename: str = "") -> tuple[A.File, SourceFile]:
    """Parse one source; raises :class:`ParseError`."""
    data = src.encode("utf-8", "surrogateescape") if isinstance(src, str) else src
    file = SourceFile(filename, len(data))
    return Parser(file, data).parse_file(), file
