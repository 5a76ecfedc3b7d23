"""A small reader for the Go expressions Tengo's tests use (a dev tool of translate.py).

It reads literals, composite literals, calls, selectors, unary and binary operators into
plain Python values (:class:`Go` nodes for anything that is not a constant), so the test
cases of Tengo's Go test files can be written out as data.
"""

from __future__ import annotations

import dataclasses
import re
import sys
from typing import Any

sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parents[2]))

from llmspell.engines.tengo._parser import unquote, unquote_char_literal


class Dynamic(Exception):
    """The expression depends on Go code at run time (a variable, a loop, a Go type)."""


@dataclasses.dataclass
class Go:
    """A non-constant Go expression: ``kind`` is call / composite / sel / ident / func."""

    kind: str
    name: str
    args: list[Any] = dataclasses.field(default_factory=list)
    keys: list[Any] | None = None


@dataclasses.dataclass(frozen=True)
class Char:
    """A Go rune literal."""

    value: int


_TOKEN = re.compile(
    r"""
    (?P<ws>[ \t\r\n]+|//[^\n]*|/\*.*?\*/)
  | (?P<raw>`[^`]*`)
  | (?P<str>"(?:[^"\\\n]|\\.)*")
  | (?P<char>'(?:[^'\\\n]|\\[^\n]+?)')
  | (?P<num>0[xX][0-9a-fA-F_]+|(?:\d[\d_]*\.?\d*(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?))
  | (?P<ident>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<op>\.\.\.|:=|==|!=|<=|>=|&&|\|\||<<|>>|[-+*/%&|^!<>=(){}\[\],.:;])
    """,
    re.VERBOSE | re.DOTALL,
)


def tokenize(src: str, start: int = 0) -> list[tuple[str, str, int]]:
    out = []
    pos = start
    while pos < len(src):
        m = _TOKEN.match(src, pos)
        if not m:
            raise ValueError(f"cannot tokenize at {src[pos : pos + 30]!r}")
        kind = m.lastgroup or ""
        if kind != "ws":
            out.append((kind, m.group(), pos))
        pos = m.end()
    out.append(("eof", "", pos))
    return out


class Reader:
    """Reads one Go expression from a token list."""

    def __init__(
        self, tokens: list[tuple[str, str, int]], i: int = 0, env: dict[str, Any] | None = None
    ):
        self.t = tokens
        self.i = i
        self.env = env or {}

    def peek(self) -> tuple[str, str, int]:
        return self.t[self.i]

    def take(self, text: str | None = None) -> tuple[str, str, int]:
        tok = self.t[self.i]
        if text is not None and tok[1] != text:
            raise ValueError(f"expected {text!r}, found {tok[1]!r}")
        self.i += 1
        return tok

    def skip_balanced(self) -> None:
        """Skip a balanced (...) / {...} / [...] group starting at the current token."""
        depth = 0
        while True:
            _, text, _ = self.take()
            if text in "({[" and text:
                depth += 1
            elif text in ")}]" and text:
                depth -= 1
                if depth == 0:
                    return

    def expr(self, prec: int = 1) -> Any:
        x = self.unary()
        while True:
            op = self.peek()[1]
            p = _PREC.get(op, 0) if self.peek()[0] == "op" else 0
            if p < prec:
                return x
            self.take()
            y = self.expr(p + 1)
            x = _binary(op, x, y)

    def unary(self) -> Any:
        kind, text, _ = self.peek()
        if kind == "op" and text in ("-", "+", "&", "!", "^"):
            self.take()
            x = self.unary()
            if text == "-":
                if isinstance(x, Char):
                    return Char(-x.value)
                if isinstance(x, (int, float)) and not isinstance(x, bool):
                    return -x
                raise Dynamic("negation of a non-constant")
            if text == "^":
                if isinstance(x, int) and not isinstance(x, bool):
                    return ~x
                raise Dynamic("^ of a non-constant")
            if text == "!":
                if isinstance(x, bool):
                    return not x
                raise Dynamic("! of a non-constant")
            return x
        return self.primary()

    def primary(self) -> Any:
        x = self.operand()
        while True:
            kind, text, _ = self.peek()
            if text == "." and kind == "op":
                self.take()
                if self.peek()[1] == "(":  # type assertion
                    raise Dynamic("type assertion")
                name = self.take()[1]
                if isinstance(x, Go) and x.kind == "ident" and x.name in _PACKAGES:
                    x = Go("sel", f"{x.name}.{name}")
                else:
                    x = Go("sel", name, [x])
            elif text == "(" and kind == "op":
                self.take()
                args = []
                while self.peek()[1] != ")":
                    args.append(self.expr())
                    if self.peek()[1] == "...":
                        self.take()
                    if self.peek()[1] == ",":
                        self.take()
                self.take(")")
                if isinstance(x, Go) and x.kind == "sel" and x.args:
                    x = Go("mcall", x.name, [x.args[0], *args])
                else:
                    x = Go("call", _name(x), args)
            elif (
                text == "{"
                and kind == "op"
                and isinstance(x, Go)
                and x.kind in ("ident", "sel", "type")
            ):
                x = self.composite(_name(x))
            elif text == "[" and kind == "op":
                raise Dynamic("indexing a Go value")
            else:
                return x

    def composite(self, type_name: str) -> Go:
        self.take("{")
        args: list[Any] = []
        keys: list[Any] = []
        keyed = False
        while self.peek()[1] != "}":
            if self.peek()[1] == "{":  # elided type inside a composite
                v = self.composite("")
            else:
                v = self.expr()
            if self.peek()[1] == ":":
                self.take()
                keyed = True
                keys.append(v)
                v = self.composite("") if self.peek()[1] == "{" else self.expr()
            args.append(v)
            if self.peek()[1] == ",":
                self.take()
        self.take("}")
        return Go("composite", type_name, args, keys if keyed else None)

    def operand(self) -> Any:
        kind, text, _ = self.take()
        if kind == "num":
            clean = text.replace("_", "")
            if clean.lower().startswith("0x"):
                return int(clean, 16)
            if any(c in clean for c in ".eE"):
                return float(clean)
            if len(clean) > 1 and clean[0] == "0":
                return int(clean, 8)
            return int(clean)
        if kind == "str" or kind == "raw":
            s: Any = unquote(text)
            return s
        if kind == "char":
            v = unquote_char_literal(text)
            if v is None:
                raise ValueError(text)
            return Char(v)
        if kind == "ident":
            if text == "true":
                return True
            if text == "false":
                return False
            if text == "nil":
                return None
            if text == "func":
                return self.func_lit()
            if text == "map":
                self.take("[")
                self.type_name()
                self.take("]")
                return Go("type", "map:" + self.type_name())
            if text in self.env:
                return self.env[text]
            return Go("ident", text)
        if text == "(":
            x = self.expr()
            self.take(")")
            return x
        if text == "[":
            self.take("]")
            return Go("type", "[]" + self.type_name())
        raise ValueError(f"unexpected {text!r}")

    def type_name(self) -> str:
        parts = []
        if self.peek()[1] == "*":
            parts.append(self.take()[1])
        if self.peek()[1] == "[":
            self.take()
            self.take("]")
            parts.append("[]")
        if self.peek()[1] == "map":
            self.take()
            self.take("[")
            key = self.type_name()
            self.take("]")
            parts.append(f"map[{key}]")
        parts.append(self.take()[1])
        while self.peek()[1] == ".":
            self.take()
            parts.append("." + self.take()[1])
        if self.peek()[1] == "{" and parts[-1] == "interface":
            self.skip_balanced()
        return "".join(parts)

    def func_lit(self) -> Go:
        """``func(p pfn) []Stmt { return X }`` → Go("func", "", [X])."""
        self.skip_balanced()  # parameters
        while self.peek()[1] != "{":
            self.take()
        self.take("{")
        if self.peek()[1] != "return":
            raise Dynamic("function body is not a single return")
        self.take()
        result = self.expr()
        while self.peek()[1] == ";":
            self.take()
        self.take("}")
        return Go("func", "", [result])


_PACKAGES = {"tengo", "token", "math", "fmt", "strings", "time", "stdlib", "parser", "errors"}

_PREC = {"||": 1, "&&": 2, "==": 3, "!=": 3, "<": 3, "<=": 3, ">": 3, ">=": 3}
_PREC.update(dict.fromkeys("+-|^", 4))
_PREC.update(dict.fromkeys(("*", "/", "%", "<<", ">>", "&", "&^"), 5))


def _name(x: Any) -> str:
    if isinstance(x, Go) and x.kind in ("ident", "sel", "type"):
        return x.name
    raise Dynamic("call of a computed function")


def _num(x: Any) -> int | float:
    if isinstance(x, Char):
        return x.value
    if isinstance(x, (int, float)) and not isinstance(x, bool):
        return x
    raise Dynamic("arithmetic on a non-constant")


def _binary(op: str, x: Any, y: Any) -> Any:
    if op == "+" and isinstance(x, str) and isinstance(y, str):
        return x + y
    a, b = _num(x), _num(y)
    if op == "+":
        r: Any = a + b
    elif op == "-":
        r = a - b
    elif op == "*":
        r = a * b
    elif op == "/":
        r = a / b if isinstance(a, float) or isinstance(b, float) else int(a / b)
    elif op == "%":
        r = a % b
    elif op == "<<":
        r = int(a) << int(b)
    elif op == ">>":
        r = int(a) >> int(b)
    elif op == "|":
        r = int(a) | int(b)
    elif op == "&":
        r = int(a) & int(b)
    elif op == "^":
        r = int(a) ^ int(b)
    else:
        raise Dynamic(f"operator {op}")
    if (isinstance(x, Char) or isinstance(y, Char)) and isinstance(r, int):
        return Char(r)
    return r


def find_calls(src: str, names: tuple[str, ...]) -> list[tuple[str, int, int]]:
    """(name, offset of its '(', line) of each call to one of ``names`` in ``src``."""
    out = []
    for m in re.finditer(r"\b(" + "|".join(names) + r")\(", src):
        line = src.count("\n", 0, m.start()) + 1
        out.append((m.group(1), m.end() - 1, line))
    return out


def enclosing_func(src: str, offset: int) -> str:
    names = re.findall(r"^func (\w+)\(", src[:offset], re.MULTILINE)
    return names[-1] if names else ""


def read_args(
    tokens: list[tuple[str, str, int]], index: int, env: dict[str, Any] | None = None
) -> list[Any]:
    """Read the arguments of the call whose '(' is ``tokens[index]``; raise Dynamic when an
    argument is not a constant expression this reader understands."""
    r = Reader(tokens, index, env)
    r.take("(")
    args = []
    while r.peek()[1] != ")":
        args.append(r.expr())
        if r.peek()[1] == ",":
            r.take()
    return args
