"""The names a Lua spell uses, for ``llmspell check`` (see :mod:`llmspell.engines._facts`).

A tokenizer for Lua 5.4 and one walk over its tokens. Scopes are taken file-wide: a name declared
``local`` anywhere (a local, a parameter, a ``for`` variable) or assigned as a global anywhere
counts as defined everywhere. That misses a few mistakes (a local read outside its block) but
never flags a correct spell, which is what a checker that runs before every spell must promise.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator

from .._facts import GlobalRead, MemberUse, SourceFacts

KEYWORDS = frozenset(
    "and break do else elseif end false for function goto if in local nil not or repeat "
    "return then true until while".split()
)
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_NUMBER = re.compile(
    r"0[xX](?:[0-9a-fA-F]*\.?[0-9a-fA-F]*)(?:[pP][+-]?[0-9]+)?"
    r"|(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?"
)
_LONG_OPEN = re.compile(r"\[(=*)\[")
_OPERATORS = ("...", "..", "==", "~=", "<=", ">=", "<<", ">>", "//", "::")


@dataclasses.dataclass(frozen=True, slots=True)
class Token:
    """One token: ``kind`` is ``name``, ``keyword``, ``string``, ``number`` or ``op``."""

    kind: str
    text: str
    line: int
    column: int


class _Scanner:
    def __init__(self, source: str) -> None:
        self.src = source
        self.pos = 0
        self.line = 1
        self.line_start = 0

    def _newlines(self, start: int, end: int) -> None:
        count = self.src.count("\n", start, end)
        if count:
            self.line += count
            self.line_start = self.src.rindex("\n", start, end) + 1

    def _long_bracket(self, start: int) -> int | None:
        """End of the long bracket (``[==[ ... ]==]``) opening at ``start``, or None."""
        m = _LONG_OPEN.match(self.src, start)
        if m is None:
            return None
        close = "]" + m.group(1) + "]"
        end = self.src.find(close, m.end())
        return len(self.src) if end < 0 else end + len(close)

    def _quoted(self, start: int) -> int:
        quote, src, i = self.src[start], self.src, start + 1
        while i < len(src):
            c = src[i]
            if c == "\\":
                i += 2
            elif c == quote or c == "\n":
                return i + 1
            else:
                i += 1
        return len(src)

    def tokens(self) -> Iterator[Token]:
        src = self.src
        if src.startswith("#"):  # a shebang line
            self.pos = src.find("\n") if "\n" in src else len(src)
        while True:
            while self.pos < len(src) and src[self.pos] in " \t\r\n\f\v":
                if src[self.pos] == "\n":
                    self.line += 1
                    self.line_start = self.pos + 1
                self.pos += 1
            if self.pos >= len(src):
                return
            start, c = self.pos, src[self.pos]
            line, column = self.line, start - self.line_start + 1
            if src.startswith("--", start):
                end = self._long_bracket(start + 2)
                if end is None:
                    newline = src.find("\n", start)
                    end = len(src) if newline < 0 else newline
                self._newlines(start, end)
                self.pos = end
                continue
            if c == "[" and (end := self._long_bracket(start)) is not None:
                self._newlines(start, end)
                self.pos = end
                yield Token("string", src[start:end], line, column)
                continue
            if c in "\"'":
                self.pos = end = self._quoted(start)
                self._newlines(start, end)
                yield Token("string", src[start:end], line, column)
                continue
            m = _NAME.match(src, start)
            if m is not None:
                self.pos = m.end()
                text = m.group()
                yield Token("keyword" if text in KEYWORDS else "name", text, line, column)
                continue
            m = _NUMBER.match(src, start)
            if m is not None and m.end() > start:
                self.pos = m.end()
                yield Token("number", m.group(), line, column)
                continue
            op = next((o for o in _OPERATORS if src.startswith(o, start)), c)
            self.pos = start + len(op)
            yield Token("op", op, line, column)


def tokenize(source: str) -> list[Token]:
    """The tokens of ``source`` (comments and whitespace dropped)."""
    return list(_Scanner(source).tokens())


class _Walk:
    """One pass over the tokens, collecting declarations, assignments, reads and members."""

    def __init__(self, tokens: list[Token]) -> None:
        self.t = tokens
        self.declared: set[str] = set()
        self.assigned: set[str] = set()
        self.reads: list[Token] = []
        self.members: list[tuple[Token, Token]] = []
        self.written_members: set[tuple[str, str]] = set()

    def at(self, i: int) -> Token | None:
        return self.t[i] if 0 <= i < len(self.t) else None

    def is_op(self, i: int, *texts: str) -> bool:
        tok = self.at(i)
        return tok is not None and tok.kind == "op" and tok.text in texts

    def is_name(self, i: int) -> bool:
        tok = self.at(i)
        return tok is not None and tok.kind == "name"

    def skip_brackets(self, i: int) -> int:
        """Index after the bracket group opening at ``i``."""
        depth = 0
        while i < len(self.t):
            tok = self.t[i]
            if tok.kind == "op" and tok.text in "([{":
                depth += 1
            elif tok.kind == "op" and tok.text in ")]}":
                depth -= 1
                if depth == 0:
                    return i + 1
            i += 1
        return i

    def is_varlist(self, i: int) -> bool:
        """Whether the ``,`` at ``i`` continues a list of assignment targets (``a, b.c = ...``)."""
        while self.is_op(i, ","):
            i += 1
            if not self.is_name(i):
                return False
            i += 1
            while self.is_op(i, ".", "["):
                i = i + 2 if self.t[i].text == "." else self.skip_brackets(i)
        return self.is_op(i, "=")

    def namelist(self, i: int) -> int:
        """Declare ``NAME [<attrib>] {, NAME [<attrib>]}`` from ``i``; returns the index after."""
        while self.is_name(i):
            self.declared.add(self.t[i].text)
            i += 1
            if self.is_op(i, "<") and self.is_name(i + 1) and self.is_op(i + 2, ">"):
                i += 3
            if not self.is_op(i, ","):
                break
            i += 1
        return i

    def run(self) -> None:
        t, i = self.t, 0
        stack: list[str] = []  # open brackets, and "block" for function/do/if/repeat bodies
        while i < len(t):
            tok = t[i]
            if tok.kind == "op":
                if tok.text in "([{":
                    stack.append(tok.text)
                elif tok.text in ")]}" and stack and stack[-1] != "block":
                    stack.pop()
                elif tok.text == "::" and self.is_name(i + 1):  # a label
                    i += 2
                i += 1
                continue
            if tok.kind == "keyword":
                if tok.text in ("function", "do", "if", "repeat"):
                    stack.append("block")
                elif tok.text in ("end", "until"):
                    while stack and stack.pop() != "block":
                        pass
                i = self.keyword(i)
                continue
            if tok.kind != "name":
                i += 1
                continue
            prev = self.at(i - 1)
            if prev is not None and prev.kind == "op" and prev.text in (".", ":"):
                i += 1  # a field, handled with its table
                continue
            if self.is_op(i + 1, "="):
                if stack and stack[-1] == "{" and prev is not None and prev.text in "{,;":
                    i += 1  # a table constructor's key: {name = value}
                    continue
                self.assigned.add(tok.text)
                i += 1
                continue
            if self.is_op(i + 1, ",") and self.is_varlist(i + 1):
                self.assigned.add(tok.text)
                i += 1
                continue
            self.reads.append(tok)
            if self.is_op(i + 1, ".", ":") and self.is_name(i + 2):
                member = t[i + 2]
                if self.is_op(i + 3, "=") and t[i + 1].text == ".":
                    self.written_members.add((tok.text, member.text))
                else:
                    self.members.append((tok, member))
            i += 1

    def keyword(self, i: int) -> int:
        """Handle the keyword at ``i`` (the caller tracks its block); returns the next index."""
        word = self.t[i].text
        if word == "local":
            if self.at(i + 1) is not None and self.t[i + 1].text == "function":
                if self.is_name(i + 2):
                    self.declared.add(self.t[i + 2].text)
                return i + 1  # the walk goes on at "function", which opens its block
            return self.namelist(i + 1)
        if word == "function":
            j = i + 1
            if self.is_name(j):  # function NAME{.NAME}[:NAME](...)
                names = [self.t[j]]
                j += 1
                while self.is_op(j, ".", ":") and self.is_name(j + 1):
                    if self.t[j].text == ":":
                        self.declared.add("self")
                    names.append(self.t[j + 1])
                    j += 2
                if len(names) == 1:
                    if names[0].text not in self.declared:
                        self.assigned.add(names[0].text)
                else:
                    self.reads.append(names[0])
                    self.written_members.add((names[0].text, names[1].text))
            if self.is_op(j, "("):
                j = self.namelist(j + 1)
            return j
        if word == "for":
            return self.namelist(i + 1)
        if word == "goto":
            return i + 2
        return i + 1


def source_facts(source: str, builtins: frozenset[str]) -> SourceFacts:
    """The facts about ``source`` (see :class:`SourceFacts`); ``builtins`` are the globals the
    sandbox provides."""
    walk = _Walk(tokenize(source))
    walk.run()
    defined = walk.declared | walk.assigned
    free = builtins | defined
    reads = tuple(
        GlobalRead(tok.text, tok.line, tok.column) for tok in walk.reads if tok.text not in free
    )
    members = tuple(
        MemberUse(ns.text, member.text, member.line, member.column)
        for ns, member in walk.members
        if ns.text not in free and (ns.text, member.text) not in walk.written_members
    )
    return SourceFacts(globals_read=reads, members=members, known=frozenset(free))
