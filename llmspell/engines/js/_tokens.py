"""A tokenizer for the JavaScript a spell is written in (for :mod:`._scope`).

Comments and whitespace are dropped; template literals with nested ``${}`` come as chunks
around the code inside them; a ``/`` starts a regular-expression literal or is division
depending on the token before it.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator

RESERVED = frozenset(
    "break case catch class const continue debugger default delete do else enum export extends "
    "false finally for function if import in instanceof new null return super switch this throw "
    "true try typeof var void while with".split()
)
CONTEXTUAL = frozenset("async await yield let static get set of as from target meta".split())
"""Words that are keywords in some places and names in others: never reported as globals."""

_IDENT = re.compile(r"[A-Za-z_$\u0080-\uffff][\w$\u0080-\uffff]*")
_NUMBER = re.compile(
    r"0[xX][0-9a-fA-F_]+n?|0[oO][0-7_]+n?|0[bB][01_]+n?"
    r"|(?:[0-9][0-9_]*\.?[0-9_]*|\.[0-9][0-9_]*)(?:[eE][+-]?[0-9_]+)?n?"
)
_PUNCTUATORS = sorted(
    ">>>= ... === !== **= <<= >>= >>> &&= ||= ??= => == != <= >= && || ?? ?. ++ -- += -= *= /= "
    "%= &= |= ^= ** << >>".split(),
    key=len,
    reverse=True,
)
_REGEX_AFTER_WORDS = frozenset(
    "return typeof case do else in of new delete void throw instanceof yield await".split()
)
_LINE_BREAKS = "\n\r\u2028\u2029"


@dataclasses.dataclass(frozen=True, slots=True)
class Token:
    """One token: ``kind`` is ``name``, ``keyword``, ``string``, ``template``, ``number``,
    ``regex``, ``private`` or ``op``; ``${`` and the ``}`` closing it are ops ``${`` / ``}$``.
    ``newline`` says whether a line break precedes it."""

    kind: str
    text: str
    line: int
    column: int
    newline: bool


class _Scanner:
    def __init__(self, source: str) -> None:
        self.src = source
        self.pos = 0
        self.line = 1
        self.line_start = 0
        self.newline = True
        self.braces: list[bool] = []  # per open "{" or "${": True for "${"
        self.last: Token | None = None

    def _advance(self, end: int) -> None:
        src, i = self.src, self.pos
        while i < end:
            c = src[i]
            if c in _LINE_BREAKS and not (c == "\r" and src.startswith("\n", i + 1)):
                self.line += 1
                self.line_start = i + 1
                self.newline = True
            i += 1
        self.pos = end

    def _make(self, kind: str, start: int, end: int, text: str | None = None) -> Token:
        column = start - self.line_start + 1
        text = self.src[start:end] if text is None else text
        tok = Token(kind, text, self.line, column, self.newline)
        self._advance(end)
        self.newline = False
        self.last = tok
        return tok

    def _string_end(self, start: int) -> int:
        quote, src, i = self.src[start], self.src, start + 1
        while i < len(src):
            c = src[i]
            if c == "\\":
                i += 2
            elif c == quote or c in "\n\r":
                return i + 1
            else:
                i += 1
        return len(src)

    def _template_end(self, start: int) -> tuple[int, bool]:
        """End of a template chunk from ``start`` (after a backtick or ``}``); True if it
        stops at ``${`` rather than at the closing backtick."""
        src, i = self.src, start
        while i < len(src):
            c = src[i]
            if c == "\\":
                i += 2
            elif c == "`":
                return i + 1, False
            elif c == "$" and src.startswith("{", i + 1):
                return i + 2, True
            else:
                i += 1
        return len(src), False

    def _regex_end(self, start: int) -> int:
        src, i, in_class = self.src, start + 1, False
        while i < len(src) and src[i] not in _LINE_BREAKS:
            c = src[i]
            if c == "\\":
                i += 2
                continue
            if c == "[":
                in_class = True
            elif c == "]":
                in_class = False
            elif c == "/" and not in_class:
                i += 1
                while i < len(src) and (src[i].isalnum() or src[i] in "_$"):
                    i += 1
                return i
            i += 1
        return i

    def _regex_allowed(self) -> bool:
        last = self.last
        if last is None:
            return True
        if last.kind in ("name", "number", "string", "template", "regex", "private"):
            return False
        if last.kind == "keyword":
            return last.text in _REGEX_AFTER_WORDS
        return last.text not in (")", "]", "}", "}$", "++", "--")

    def _template(self, start: int) -> Token:
        end, nested = self._template_end(start + 1)
        if nested:
            self.braces.append(True)
        return self._make("template", start, end)

    def tokens(self) -> Iterator[Token]:
        src = self.src
        if src.startswith("#!"):
            self._advance(len(src) if "\n" not in src else src.index("\n"))
        while True:
            i = self.pos
            while i < len(src) and (src[i].isspace() or src[i] == "\ufeff"):
                i += 1
            self._advance(i)
            if i >= len(src):
                return
            c = src[i]
            if src.startswith("//", i):
                end = i
                while end < len(src) and src[end] not in _LINE_BREAKS:
                    end += 1
                self._advance(end)
                continue
            if src.startswith("/*", i):
                end = src.find("*/", i + 2)
                self._advance(len(src) if end < 0 else end + 2)
                continue
            if c in "\"'":
                yield self._make("string", i, self._string_end(i))
                continue
            if c == "`":
                yield self._template(i)
                continue
            if c == "}" and self.braces and self.braces[-1]:
                self.braces.pop()
                yield self._make("op", i, i + 1, "}$")
                end, nested = self._template_end(self.pos)
                if nested:
                    self.braces.append(True)
                yield self._make("template", self.pos, end)
                continue
            m = _IDENT.match(src, i)
            if m is not None and not c.isdigit():
                text = m.group()
                kind = "keyword" if text in RESERVED else "name"
                yield self._make(kind, i, m.end())
                continue
            if c == "#" and (m := _IDENT.match(src, i + 1)) is not None:
                yield self._make("private", i, m.end())
                continue
            if c.isdigit() or (c == "." and src[i + 1 : i + 2].isdigit()):
                m = _NUMBER.match(src, i)
                yield self._make("number", i, m.end() if m and m.end() > i else i + 1)
                continue
            if c == "/" and self._regex_allowed():
                yield self._make("regex", i, self._regex_end(i))
                continue
            op = next((p for p in _PUNCTUATORS if src.startswith(p, i)), c)
            if op == "?." and src[i + 2 : i + 3].isdigit():
                op = "?"
            if op == "{":
                self.braces.append(False)
            elif op == "}" and self.braces:
                self.braces.pop()
            yield self._make("op", i, i + len(op))


def tokenize(source: str) -> list[Token]:
    """The tokens of ``source`` (comments and whitespace dropped)."""
    return list(_Scanner(source).tokens())
