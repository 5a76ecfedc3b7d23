"""Tengo's statement nodes (``parser/stmt.go``); see :mod:`._ast`."""

from __future__ import annotations

from . import _token as T
from ._ast_base import Node, _s
from ._ast_expr import Ident

# statements ----------------------------------------------------------------------------------


class BadStmt(Node):
    __slots__ = ("frm", "to")

    def __init__(self, frm: int, to: int) -> None:
        self.frm, self.to = frm, to

    def pos(self) -> int:
        return self.frm

    def end(self) -> int:
        return self.to

    def string(self) -> str:
        return "<bad statement>"


class ExprStmt(Node):
    __slots__ = ("expr",)

    def __init__(self, expr: Node) -> None:
        self.expr = expr

    def pos(self) -> int:
        return self.expr.pos()

    def end(self) -> int:
        return self.expr.end()

    def string(self) -> str:
        return _s(self.expr)


class EmptyStmt(Node):
    __slots__ = ("implicit", "semicolon")

    def __init__(self, implicit: bool, semicolon: int) -> None:
        self.implicit, self.semicolon = implicit, semicolon

    def pos(self) -> int:
        return self.semicolon

    def end(self) -> int:
        return self.semicolon if self.implicit else self.semicolon + 1

    def string(self) -> str:
        return ";"


class AssignStmt(Node):
    __slots__ = ("lhs", "rhs", "token", "token_pos")

    def __init__(self, lhs: list[Node], rhs: list[Node], token: int, token_pos: int) -> None:
        self.lhs, self.rhs, self.token, self.token_pos = lhs, rhs, token, token_pos

    def pos(self) -> int:
        return self.lhs[0].pos()

    def end(self) -> int:
        return self.rhs[-1].end()

    def string(self) -> str:
        lhs = ", ".join(_s(e) for e in self.lhs)
        rhs = ", ".join(_s(e) for e in self.rhs)
        return f"{lhs} {T.string(self.token)} {rhs}"


class IncDecStmt(Node):
    __slots__ = ("expr", "token", "token_pos")

    def __init__(self, expr: Node, token: int, token_pos: int) -> None:
        self.expr, self.token, self.token_pos = expr, token, token_pos

    def pos(self) -> int:
        return self.expr.pos()

    def end(self) -> int:
        return self.token_pos + 2

    def string(self) -> str:
        return _s(self.expr) + T.string(self.token)


class BlockStmt(Node):
    __slots__ = ("lbrace", "rbrace", "stmts")

    def __init__(self, lbrace: int, rbrace: int, stmts: list[Node]) -> None:
        self.lbrace, self.rbrace, self.stmts = lbrace, rbrace, stmts

    def pos(self) -> int:
        return self.lbrace

    def end(self) -> int:
        return self.rbrace + 1

    def string(self) -> str:
        return "{" + "; ".join(_s(s) for s in self.stmts) + "}"


class BranchStmt(Node):
    __slots__ = ("label", "token", "token_pos")

    def __init__(self, token: int, token_pos: int, label: Ident | None) -> None:
        self.token, self.token_pos, self.label = token, token_pos, label

    def pos(self) -> int:
        return self.token_pos

    def end(self) -> int:
        if self.label is not None:
            return self.label.end()
        return self.token_pos + len(T.string(self.token))

    def string(self) -> str:
        return T.string(self.token) + (" " + self.label.name if self.label else "")


class ReturnStmt(Node):
    __slots__ = ("result", "return_pos")

    def __init__(self, return_pos: int, result: Node | None) -> None:
        self.return_pos, self.result = return_pos, result

    def pos(self) -> int:
        return self.return_pos

    def end(self) -> int:
        return self.result.end() if self.result is not None else self.return_pos + 6

    def string(self) -> str:
        return "return " + self.result.string() if self.result is not None else "return"


class ExportStmt(Node):
    __slots__ = ("export_pos", "result")

    def __init__(self, export_pos: int, result: Node) -> None:
        self.export_pos, self.result = export_pos, result

    def pos(self) -> int:
        return self.export_pos

    def end(self) -> int:
        return self.result.end()

    def string(self) -> str:
        return "export " + _s(self.result)


class IfStmt(Node):
    __slots__ = ("body", "cond", "else_", "if_pos", "init")

    def __init__(
        self, init: Node | None, cond: Node, body: BlockStmt, else_: Node | None, if_pos: int
    ) -> None:
        self.init, self.cond, self.body, self.else_, self.if_pos = init, cond, body, else_, if_pos

    def pos(self) -> int:
        return self.if_pos

    def end(self) -> int:
        return self.else_.end() if self.else_ is not None else self.body.end()

    def string(self) -> str:
        init = self.init.string() + "; " if self.init is not None else ""
        els = " else " + self.else_.string() if self.else_ is not None else ""
        return f"if {init}{_s(self.cond)} {self.body.string()}{els}"


class ForStmt(Node):
    __slots__ = ("body", "cond", "for_pos", "init", "post")

    def __init__(
        self,
        init: Node | None,
        cond: Node | None,
        post: Node | None,
        body: BlockStmt,
        for_pos: int,
    ) -> None:
        self.init, self.cond, self.post, self.body, self.for_pos = init, cond, post, body, for_pos

    def pos(self) -> int:
        return self.for_pos

    def end(self) -> int:
        return self.body.end()

    def string(self) -> str:
        init = self.init.string() if self.init is not None else ""
        cond = self.cond.string() + " " if self.cond is not None else ""
        post = self.post.string() if self.post is not None else ""
        if init or post:
            return f"for {init} ; {cond} ; {post}{self.body.string()}"
        return f"for {cond}{self.body.string()}"


class ForInStmt(Node):
    __slots__ = ("body", "for_pos", "iterable", "key", "value")

    def __init__(
        self, key: Ident, value: Ident | None, iterable: Node, body: BlockStmt | None, for_pos: int
    ) -> None:
        self.key, self.value, self.iterable, self.body, self.for_pos = (
            key,
            value,
            iterable,
            body,
            for_pos,
        )

    def pos(self) -> int:
        return self.for_pos

    def end(self) -> int:
        return self.body.end() if self.body is not None else self.iterable.end()

    def string(self) -> str:
        body = _s(self.body)
        if self.value is not None:
            return f"for {self.key.string()}, {self.value.string()} in {_s(self.iterable)} {body}"
        return f"for {self.key.string()} in {_s(self.iterable)} {body}"


class File(Node):
    __slots__ = ("stmts",)

    def __init__(self, stmts: list[Node]) -> None:
        self.stmts = stmts

    def pos(self) -> int:
        return self.stmts[0].pos() if self.stmts else 0

    def end(self) -> int:
        return self.stmts[-1].end() if self.stmts else 0

    def string(self) -> str:
        return "; ".join(_s(s) for s in self.stmts)
