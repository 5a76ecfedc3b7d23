"""Tengo's expression nodes (``parser/expr.go``); see :mod:`._ast`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from . import _token as T
from ._ast_base import Node, _s

if TYPE_CHECKING:
    from ._ast_stmt import BlockStmt


# expressions ---------------------------------------------------------------------------------


class Ident(Node):
    __slots__ = ("name", "name_pos")

    def __init__(self, name: str, name_pos: int) -> None:
        self.name, self.name_pos = name, name_pos

    def pos(self) -> int:
        return self.name_pos

    def end(self) -> int:
        return self.name_pos + len(self.name.encode())

    def string(self) -> str:
        return self.name


class BadExpr(Node):
    __slots__ = ("frm", "to")

    def __init__(self, frm: int, to: int) -> None:
        self.frm, self.to = frm, to

    def pos(self) -> int:
        return self.frm

    def end(self) -> int:
        return self.to

    def string(self) -> str:
        return "<bad expression>"


class _Lit(Node):
    __slots__ = ("literal", "value", "value_pos")

    def __init__(self, value: Any, value_pos: int, literal: str) -> None:
        self.value, self.value_pos, self.literal = value, value_pos, literal

    def pos(self) -> int:
        return self.value_pos

    def end(self) -> int:
        return self.value_pos + len(self.literal.encode("utf-8", "surrogateescape"))

    def string(self) -> str:
        return self.literal


class IntLit(_Lit):
    __slots__ = ()


class FloatLit(_Lit):
    __slots__ = ()


class StringLit(_Lit):
    __slots__ = ()


class CharLit(_Lit):
    __slots__ = ()


class BoolLit(_Lit):
    __slots__ = ()


class UndefinedLit(Node):
    __slots__ = ("token_pos",)

    def __init__(self, token_pos: int) -> None:
        self.token_pos = token_pos

    def pos(self) -> int:
        return self.token_pos

    def end(self) -> int:
        return self.token_pos + 9

    def string(self) -> str:
        return "undefined"


class ArrayLit(Node):
    __slots__ = ("elements", "lbrack", "rbrack")

    def __init__(self, lbrack: int, rbrack: int, elements: list[Node]) -> None:
        self.lbrack, self.rbrack, self.elements = lbrack, rbrack, elements

    def pos(self) -> int:
        return self.lbrack

    def end(self) -> int:
        return self.rbrack + 1

    def string(self) -> str:
        return "[" + ", ".join(_s(e) for e in self.elements) + "]"


class MapElementLit(Node):
    __slots__ = ("colon_pos", "key", "key_pos", "value")

    def __init__(self, key: str, key_pos: int, colon_pos: int, value: Node) -> None:
        self.key, self.key_pos, self.colon_pos, self.value = key, key_pos, colon_pos, value

    def pos(self) -> int:
        return self.key_pos

    def end(self) -> int:
        return self.value.end()

    def string(self) -> str:
        return self.key + ": " + _s(self.value)


class MapLit(Node):
    __slots__ = ("elements", "lbrace", "rbrace")

    def __init__(self, lbrace: int, rbrace: int, elements: list[MapElementLit]) -> None:
        self.lbrace, self.rbrace, self.elements = lbrace, rbrace, elements

    def pos(self) -> int:
        return self.lbrace

    def end(self) -> int:
        return self.rbrace + 1

    def string(self) -> str:
        return "{" + ", ".join(_s(e) for e in self.elements) + "}"


class BinaryExpr(Node):
    __slots__ = ("lhs", "rhs", "token", "token_pos")

    def __init__(self, lhs: Node, rhs: Node, token: int, token_pos: int) -> None:
        self.lhs, self.rhs, self.token, self.token_pos = lhs, rhs, token, token_pos

    def pos(self) -> int:
        return self.lhs.pos()

    def end(self) -> int:
        return self.rhs.end()

    def string(self) -> str:
        return f"({_s(self.lhs)} {T.string(self.token)} {_s(self.rhs)})"


class UnaryExpr(Node):
    __slots__ = ("expr", "token", "token_pos")

    def __init__(self, expr: Node, token: int, token_pos: int) -> None:
        self.expr, self.token, self.token_pos = expr, token, token_pos

    def pos(self) -> int:
        return self.expr.pos()

    def end(self) -> int:
        return self.expr.end()

    def string(self) -> str:
        return f"({T.string(self.token)}{_s(self.expr)})"


class CondExpr(Node):
    __slots__ = ("colon_pos", "cond", "false", "question_pos", "true")

    def __init__(
        self, cond: Node, true: Node, false: Node, question_pos: int, colon_pos: int
    ) -> None:
        self.cond, self.true, self.false = cond, true, false
        self.question_pos, self.colon_pos = question_pos, colon_pos

    def pos(self) -> int:
        return self.cond.pos()

    def end(self) -> int:
        return self.false.end()

    def string(self) -> str:
        return f"({_s(self.cond)} ? {_s(self.true)} : {_s(self.false)})"


class ParenExpr(Node):
    __slots__ = ("expr", "lparen", "rparen")

    def __init__(self, expr: Node, lparen: int, rparen: int) -> None:
        self.expr, self.lparen, self.rparen = expr, lparen, rparen

    def pos(self) -> int:
        return self.lparen

    def end(self) -> int:
        return self.rparen + 1

    def string(self) -> str:
        return "(" + _s(self.expr) + ")"


class SelectorExpr(Node):
    __slots__ = ("expr", "sel")

    def __init__(self, expr: Node, sel: StringLit) -> None:
        self.expr, self.sel = expr, sel

    def pos(self) -> int:
        return self.expr.pos()

    def end(self) -> int:
        return self.sel.end()

    def string(self) -> str:
        return _s(self.expr) + "." + _s(self.sel)


class IndexExpr(Node):
    __slots__ = ("expr", "index", "lbrack", "rbrack")

    def __init__(self, expr: Node, index: Node | None, lbrack: int, rbrack: int) -> None:
        self.expr, self.index, self.lbrack, self.rbrack = expr, index, lbrack, rbrack

    def pos(self) -> int:
        return self.expr.pos()

    def end(self) -> int:
        return self.rbrack + 1

    def string(self) -> str:
        return _s(self.expr) + "[" + (self.index.string() if self.index else "") + "]"


class SliceExpr(Node):
    __slots__ = ("expr", "high", "lbrack", "low", "rbrack")

    def __init__(
        self, expr: Node, low: Node | None, high: Node | None, lbrack: int, rbrack: int
    ) -> None:
        self.expr, self.low, self.high, self.lbrack, self.rbrack = expr, low, high, lbrack, rbrack

    def pos(self) -> int:
        return self.expr.pos()

    def end(self) -> int:
        return self.rbrack + 1

    def string(self) -> str:
        low = self.low.string() if self.low else ""
        high = self.high.string() if self.high else ""
        return f"{_s(self.expr)}[{low}:{high}]"


class CallExpr(Node):
    __slots__ = ("args", "ellipsis", "func", "lparen", "rparen")

    def __init__(
        self, func: Node, lparen: int, rparen: int, ellipsis: int, args: list[Node]
    ) -> None:
        self.func, self.lparen, self.rparen, self.ellipsis, self.args = (
            func,
            lparen,
            rparen,
            ellipsis,
            args,
        )

    def pos(self) -> int:
        return self.func.pos()

    def end(self) -> int:
        return self.rparen + 1

    def string(self) -> str:
        args = [_s(a) for a in self.args]
        if args and self.ellipsis:
            args[-1] += "..."
        return _s(self.func) + "(" + ", ".join(args) + ")"


class IdentList(Node):
    __slots__ = ("list", "lparen", "rparen", "var_args")

    def __init__(self, lparen: int, rparen: int, var_args: bool, idents: list[Ident]) -> None:
        self.lparen, self.rparen, self.var_args, self.list = lparen, rparen, var_args, idents

    def pos(self) -> int:
        return self.lparen

    def end(self) -> int:
        return self.rparen + 1

    def string(self) -> str:
        names = [i.name for i in self.list]
        if self.var_args and names:
            names[-1] = "..." + names[-1]
        return "(" + ", ".join(names) + ")"


class FuncType(Node):
    __slots__ = ("func_pos", "params")

    def __init__(self, params: IdentList, func_pos: int) -> None:
        self.params, self.func_pos = params, func_pos

    def pos(self) -> int:
        return self.func_pos

    def end(self) -> int:
        return self.params.end()

    def string(self) -> str:
        return "func" + self.params.string()


class FuncLit(Node):
    __slots__ = ("body", "type")

    def __init__(self, type_: FuncType, body: BlockStmt) -> None:
        self.type, self.body = type_, body

    def pos(self) -> int:
        return self.type.pos()

    def end(self) -> int:
        return self.body.end()

    def string(self) -> str:
        return "func" + self.type.params.string() + " " + self.body.string()


class _Wrapped(Node):
    __slots__ = ("error_pos", "expr", "lparen", "rparen")
    _word = ""

    def __init__(self, error_pos: int, expr: Node, lparen: int, rparen: int) -> None:
        self.error_pos, self.expr, self.lparen, self.rparen = error_pos, expr, lparen, rparen

    def pos(self) -> int:
        return self.error_pos

    def end(self) -> int:
        return self.rparen

    def string(self) -> str:
        return f"{self._word}({_s(self.expr)})"


class ErrorExpr(_Wrapped):
    __slots__ = ()
    _word = "error"


class ImmutableExpr(_Wrapped):
    __slots__ = ()
    _word = "immutable"


class ImportExpr(Node):
    __slots__ = ("module_name", "token", "token_pos")

    def __init__(self, module_name: str, token_pos: int) -> None:
        self.module_name, self.token_pos, self.token = module_name, token_pos, T.IMPORT

    def pos(self) -> int:
        return self.token_pos

    def end(self) -> int:
        return self.token_pos + 10 + len(self.module_name.encode())

    def string(self) -> str:
        return f'import("{self.module_name}")'
