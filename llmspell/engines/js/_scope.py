"""The names a JavaScript spell uses, for ``llmspell check`` (see :mod:`llmspell.engines._facts`).

A tokenizer (:mod:`._tokens`) and two walks over its tokens. Scopes are taken file-wide, as in
the Lua engine: a name declared anywhere (``var``/``let``/``const``, a function or class, a
parameter, a ``catch`` binding) or assigned as a global anywhere counts as defined everywhere,
so a correct spell is never flagged.

The walk also finds the results of calls used before being awaited: ``const r = llm.complete(x)``
followed by ``r.content``, or ``llm.complete(x).content`` in place. Whether such a call returns
a Promise is for the API description to say (:mod:`llmspell._check`).
"""

from __future__ import annotations

import re

from .._facts import GlobalRead, MemberUse, PendingUse, SourceFacts
from ._tokens import CONTEXTUAL, Token, tokenize

_PROMISE_METHODS = frozenset(("then", "catch", "finally"))


def _opens(tok: Token) -> bool:
    return (tok.kind == "op" and tok.text in "([{") or (
        tok.kind == "template" and tok.text.endswith("${")
    )


def _closes(tok: Token) -> bool:
    return tok.kind == "op" and tok.text in (")", "]", "}", "}$")


_OBJECT_AFTER_WORDS = frozenset(
    "return typeof case in of new delete void throw instanceof yield await".split()
)
_BLOCK_AFTER_OPS = frozenset((")", ";", "{", "}", "=>"))
_NOT_PARAMS = frozenset(("if", "for", "while", "switch", "with"))
_MEMBER_PREFIXES = frozenset(("static", "get", "set", "async"))


class _Walk:
    """Two passes over the tokens: structure and declarations, then reads (see module doc)."""

    def __init__(self, tokens: list[Token]) -> None:
        self.t = tokens
        self.match: dict[int, int] = {}
        self.container: list[str] = []  # per token: the innermost bracket or brace kind
        self.declared: set[str] = set()
        self.assigned: set[str] = set()
        self.skip: set[int] = set()  # names that are declarations, keys or labels
        self.reads: list[Token] = []
        self.members: list[tuple[Token, Token]] = []
        self.written_members: set[tuple[str, str]] = set()
        self.results: dict[str, tuple[str, Token]] = {}  # variable -> (call, call token)
        self.declarations: dict[str, int] = {}
        self.uses: list[tuple[str, Token]] = []  # (variable, member token) of held results
        self.pending: list[PendingUse] = []

    # helpers --------------------------------------------------------------------------------

    def at(self, i: int) -> Token | None:
        return self.t[i] if 0 <= i < len(self.t) else None

    def op(self, i: int, *texts: str) -> bool:
        tok = self.at(i)
        return tok is not None and tok.kind == "op" and tok.text in texts

    def word(self, i: int, *texts: str) -> bool:
        tok = self.at(i)
        return tok is not None and tok.kind in ("name", "keyword") and tok.text in texts

    def name(self, i: int) -> bool:
        tok = self.at(i)
        return tok is not None and tok.kind == "name"

    def declare(self, i: int) -> None:
        if i in self.skip:
            return
        tok = self.t[i]
        self.declared.add(tok.text)
        self.declarations[tok.text] = self.declarations.get(tok.text, 0) + 1
        self.skip.add(i)

    def declare_in(self, start: int, end: int) -> None:
        """Declare every name in ``t[start:end]`` (a parameter list or binding pattern) that is
        not a property (after ``.``); defaults are declared too, which errs on the safe side."""
        for j in range(start, end):
            if self.name(j) and not self.op(j - 1, ".", "?."):
                self.declare(j)

    # pass 1: brackets, containers, declarations ---------------------------------------------

    def structure(self) -> None:
        stack: list[tuple[int, str]] = []
        classes: set[int] = set()  # indices of "{" opening a class body
        for i, tok in enumerate(self.t):
            self.container.append(stack[-1][1] if stack else "block")
            if _opens(tok):
                kind = self.brace_kind(i, classes) if tok.text == "{" else tok.text[-2:]
                stack.append((i, kind if tok.text == "{" else tok.text))
            elif _closes(tok) and stack:
                self.match[stack.pop()[0]] = i
            if tok.kind == "keyword" and tok.text == "class":
                classes.add(self.class_brace(i))
        for i, tok in enumerate(self.t):
            if tok.kind in ("keyword", "name"):
                self.declaration(i, tok.text)
            elif tok.kind == "op" and tok.text == "(":
                self.method_params(i)

    def brace_kind(self, i: int, classes: set[int]) -> str:
        if i in classes:
            return "class"
        prev = self.at(i - 1)
        if prev is None:
            return "block"
        if prev.kind == "op":
            return "block" if prev.text in _BLOCK_AFTER_OPS else "object"
        if prev.kind in ("keyword", "name"):
            return "object" if prev.text in _OBJECT_AFTER_WORDS else "block"
        return "block"

    def class_brace(self, i: int) -> int:
        if self.name(i + 1) and self.t[i + 1].text != "extends":
            self.declare(i + 1)
        depth, j = 0, i + 1
        while j < len(self.t):
            tok = self.t[j]
            if tok.kind == "op" and tok.text == "{" and depth == 0:
                return j
            if _opens(tok):
                depth += 1
            elif _closes(tok):
                depth -= 1
            j += 1
        return -1

    def declaration(self, i: int, word: str) -> None:
        t = self.t
        let = word == "let" and (self.name(i + 1) or self.op(i + 1, "[", "{"))
        if word in ("var", "const") or let:
            if not self.op(i - 1, ".", "?."):
                self.declarators(i + 1)
        elif word == "function":
            j = i + 2 if self.op(i + 1, "*") else i + 1
            if self.name(j):
                self.declare(j)
                j += 1
            if self.op(j, "(") and j in self.match:
                self.declare_in(j + 1, self.match[j])
        elif word == "catch" and self.op(i + 1, "(") and i + 1 in self.match:
            self.declare_in(i + 2, self.match[i + 1])
        elif t[i].kind == "name" and self.op(i + 1, "=>"):
            self.declare(i)

    def declarators(self, j: int) -> None:
        """The bindings of a ``var``/``let``/``const`` from ``j``: each binding is declared, and
        one initialised by a call that is not awaited is remembered (see :meth:`held`)."""
        t = self.t
        while j < len(t):
            if self.op(j, "[", "{") and j in self.match:
                end = self.match[j] + 1
                self.declare_in(j + 1, end - 1)
                pattern = True
            elif self.name(j):
                self.declare(j)
                end, pattern = j + 1, False
            else:
                return
            if self.op(end, "="):
                self.held(j, end + 1, pattern)
            k = end
            while k < len(t):  # to the next "," of this declaration, or its end
                tok = t[k]
                if tok.kind == "op" and tok.text in (";", ")", "]", "}", "}$"):
                    return
                if tok.kind == "op" and tok.text == ",":
                    break
                if tok.newline and k > end and not (self.at(k - 1) and t[k - 1].kind == "op"):
                    return
                k = self.match[k] + 1 if k in self.match else k + 1
            j = k + 1

    def call_at(self, k: int) -> tuple[str, int] | None:
        """The callee and its ``(`` if a call of a global ``f(...)``/``ns.f(...)`` starts at k."""
        if not self.name(k) or self.op(k - 1, ".", "?."):
            return None
        if self.op(k + 1, "("):
            return self.t[k].text, k + 1
        if self.op(k + 1, ".") and self.name(k + 2) and self.op(k + 3, "("):
            return f"{self.t[k].text}.{self.t[k + 2].text}", k + 3
        return None

    def held(self, binding: int, k: int, pattern: bool) -> None:
        """A binding initialised by ``call(...)`` without ``await`` holds what the call returns."""
        call = self.call_at(k)
        if call is None or call[1] not in self.match:
            return
        after = self.match[call[1]] + 1
        if self.op(after, ".", "?.", "[", "("):
            return  # used in place: see the direct case in reads()
        callee, tok = call[0], self.t[k]
        if pattern:
            first = self.t[binding]
            self.pending.append(PendingUse(callee, first.line, first.column, tok.line))
        else:
            self.results[self.t[binding].text] = (callee, tok)

    def method_params(self, i: int) -> None:
        """``name(params) {`` in an object literal or class body, and ``(params) =>``."""
        end = self.match.get(i)
        if end is None:
            return
        if self.op(end + 1, "=>"):
            self.declare_in(i + 1, end)
        elif self.op(end + 1, "{") and self.container[i] in ("object", "class"):
            prev = self.at(i - 1)
            if prev is not None and not (prev.kind == "keyword" and prev.text in _NOT_PARAMS):
                self.declare_in(i + 1, end)

    # pass 2: reads, assignments, members, results used too early ---------------------------

    def find_reads(self) -> None:
        t = self.t
        for i, tok in enumerate(t):
            if tok.kind != "name" or i in self.skip or self.op(i - 1, ".", "?."):
                continue
            if tok.text in CONTEXTUAL or self.word(i - 1, "break", "continue"):
                continue
            prev = self.at(i - 1)
            if self.container[i] in ("object", "class") and self.key_position(i):
                continue
            if self.op(i + 1, ":") and self.container[i] == "block":
                if prev is None or (prev.kind == "op" and prev.text in ("{", "}", ";")):
                    continue  # a label
            if self.op(i + 1, "="):
                self.assigned.add(tok.text)
                self.results.pop(tok.text, None)  # reassigned: no longer surely the call's
                continue
            if self.word(i - 1, "typeof") and not self.op(i + 1, ".", "?.", "[", "("):
                continue
            self.reads.append(tok)
            if self.op(i + 1, ".", "?.") and self.name(i + 2):
                member = t[i + 2]
                if self.op(i + 3, "=") and t[i + 1].text == ".":
                    self.written_members.add((tok.text, member.text))
                else:
                    self.members.append((tok, member))
            self.used_early(i)

    def key_position(self, i: int) -> bool:
        j, prev = i, self.at(i - 1)
        while prev is not None and prev.kind == "name" and prev.text in _MEMBER_PREFIXES:
            j -= 1
            prev = self.at(j - 1)
        if self.op(j - 1, "*"):
            j -= 1
            prev = self.at(j - 1)
        if self.container[i] == "object":
            starts = prev is None or (prev.kind == "op" and prev.text in ("{", ","))
            return starts and self.op(i + 1, ":", "(")
        starts = prev is None or (prev.kind == "op" and prev.text in ("{", ";", "}"))
        return starts or self.t[j].newline

    def used_early(self, i: int) -> None:
        """``r.x`` for a held result ``r``, or ``f(...).x`` in place."""
        t = self.t
        if t[i].text in self.results and self.op(i + 1, ".", "?.", "["):
            member = t[i + 2] if self.name(i + 2) else t[i + 1]
            if member.text not in _PROMISE_METHODS:
                self.uses.append((t[i].text, member))
            return
        call = self.call_at(i)
        if call is None or call[1] not in self.match:
            return
        after = self.match[call[1]] + 1
        if self.op(after, ".", "?.", "[") and self.at(after + 1) is not None:
            member = t[after + 1] if self.name(after + 1) else t[after]
            if member.text not in _PROMISE_METHODS:
                use = PendingUse(call[0], member.line, member.column, t[i].line)
                self.pending.append(use)


def source_facts(source: str, builtins: frozenset[str]) -> SourceFacts:
    """The facts about ``source`` (see :class:`SourceFacts`); ``builtins`` are the globals the
    sandbox provides."""
    walk = _Walk(tokenize(source))
    walk.structure()
    walk.find_reads()
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
    pending = list(walk.pending)
    for variable, member in walk.uses:
        held = walk.results.get(variable)
        if held is None or walk.declarations.get(variable) != 1:
            continue
        callee, call = held
        if callee.partition(".")[0] in free:
            continue
        pending.append(PendingUse(callee, member.line, member.column, call.line, variable))
    pending = [p for p in pending if p.call.partition(".")[0] not in free]
    pending.sort(key=lambda p: (p.line, p.column))
    return SourceFacts(reads, members, tuple(pending), frozenset(free))


_NULL_ACCESS = re.compile(r"^cannot (?:read|set) property '(.*)' of (null|undefined)$")


def error_line(source: str, name: str, message: str, line: int | None) -> int | None:
    """The line of a runtime error QuickJS placed badly, found in the source; None to keep
    ``line``.

    QuickJS records no source position for some expressions that throw: ``const q = null.foo``
    gets its function's first line (so no line at all), or the line of whatever came last
    (``await sleep(0)`` the line before); a ``throw`` of a non-Error value carries no position.
    When the error names what failed and ``line`` does not hold it, the one place in the
    source that can fail that way is the line: a literal ``null.foo`` (``null[...]``,
    ``undefined.foo``), or ``throw "message"``.
    """
    tokens = tokenize(source)
    candidates: list[int] = []
    access = _NULL_ACCESS.match(message) if name == "TypeError" else None
    if access is not None:
        prop, base = access.groups()

        def reads_prop(i: int) -> bool:
            nxt = tokens[i + 1] if i + 1 < len(tokens) else None
            after = tokens[i + 2] if i + 2 < len(tokens) else None
            if nxt is None or nxt.kind != "op":
                return False
            if nxt.text == "[":
                return True
            return nxt.text in (".", "?.") and after is not None and after.text == prop

        if line is not None and any(
            tok.line == line
            and tok.kind == "op"
            and tok.text in (".", "?.", "[")
            and (tok.text == "[" or (i + 1 < len(tokens) and tokens[i + 1].text == prop))
            for i, tok in enumerate(tokens)
        ):
            return None  # the reported line does access it
        candidates = [t.line for i, t in enumerate(tokens) if t.text == base and reads_prop(i)]
        if prop == "Symbol.iterator":  # for (x of null), [...null]
            candidates += [
                t.line
                for i, t in enumerate(tokens[:-1])
                if t.text in ("of", "...") and tokens[i + 1].text == base
            ]
    elif name == "TypeError" and message == "Cannot convert undefined or null to object":
        candidates = [  # const {a} = null
            t.line
            for i, t in enumerate(tokens[1:-1], 1)
            if t.text == "="
            and tokens[i - 1].text in ("}", "]")
            and tokens[i + 1].text in ("null", "undefined")
        ]
    elif name == "" and line is None:
        for i, tok in enumerate(tokens[:-1]):
            literal = tokens[i + 1]
            if tok.text == "throw" and literal.kind == "string" and literal.text[1:-1] == message:
                candidates.append(tok.line)
    lines = set(candidates)
    return lines.pop() if len(lines) == 1 else None
