"""REPL inputs for the JavaScript engine: which ones are incomplete, and how one that uses
``await`` runs.

An input runs first as a global script (indirect ``eval``), its completion value the input's
value. Declarations in ``eval`` code are its own, except ``var`` and ``function``: so the
input's top-level ``let``/``const`` become ``var`` and ``class X`` becomes ``var X = class X``
(:func:`script_source`), and all of them stay defined for the next inputs (and may be declared
again, as a REPL user expects). A script cannot ``await``, so an input that does (QuickJS
refuses it as a syntax error) runs again as the body of an async function, rewritten the way
Node's REPL does it:

* its top-level ``let``/``const``/``var NAME`` lose the keyword, so that (sloppy-mode)
  assignment defines them as globals for the next inputs (destructuring declarations stay
  local to the input);
* its last statement becomes ``return (...)`` when it is an expression, which gives the value.

Which statement is the last is found with :mod:`._tokens`; QuickJS compiling each candidate body
(``new AsyncFunction``, which runs nothing) decides, in the prelude, which one is right.
"""

from __future__ import annotations

import re

from ._tokens import Token, tokenize

_DECLARATIONS = frozenset({"let", "const", "var"})
_OPEN, _CLOSE = frozenset({"(", "[", "{", "${"}), frozenset({")", "]", "}", "}$"})
_MAX_CANDIDATES = 8
_INCOMPLETE = re.compile(
    r"unexpected end of (input|comment)|unexpected token in expression: ''$|expecting '.*'"
    r" but got end of input",
    re.IGNORECASE,
)


def is_incomplete(message: str, source: str) -> bool:
    """Whether QuickJS's syntax error ``message`` says ``source`` stopped mid-statement (an
    open brace, bracket, comment or template literal), so that a REPL should read on."""
    if _INCOMPLETE.search(message):
        return True
    # an unterminated template literal may go on over lines (a quoted string may not)
    return "end of string" in message and source.count("`") % 2 == 1


def _line_starts(source: str) -> list[int]:
    """Offsets where lines start, counting line breaks as the tokenizer does."""
    starts = [0]
    for i, c in enumerate(source):
        if c in "\n\u2028\u2029" or (c == "\r" and not source.startswith("\n", i + 1)):
            starts.append(i + 1)
    return starts


def _offsets(source: str, tokens: list[Token]) -> list[int]:
    starts = _line_starts(source)
    return [starts[t.line - 1] + t.column - 1 for t in tokens]


def _declarations(tokens: list[Token]) -> list[int]:
    """Indexes of the top-level ``let``/``const``/``var``/``class`` tokens that start a
    declaration of a name (or, but for ``class``, of a destructuring pattern)."""
    found, depth, previous = [], 0, None
    for i, tok in enumerate(tokens):
        if (
            depth == 0
            and tok.text in _DECLARATIONS | {"class"}
            and (previous is None or previous.text in (";", "}") or tok.newline)
            and i + 1 < len(tokens)
            and (
                tokens[i + 1].kind == "name"
                or (tok.text != "class" and tokens[i + 1].text in ("{", "["))
            )
        ):
            found.append(i)
        if tok.kind == "op":
            if tok.text in _OPEN:
                depth += 1
            elif tok.text in _CLOSE:
                depth = max(0, depth - 1)
        previous = tok
    return found


def script_source(source: str) -> str:
    """``source`` with its top-level declarations made global ``var`` ones (same lines)."""
    try:
        tokens = tokenize(source)
    except (IndexError, ValueError):
        return source
    offsets = _offsets(source, tokens)
    parts, at = [], 0
    for i in _declarations(tokens):
        tok, start = tokens[i], offsets[i]
        if tok.text == "var":
            continue
        parts.append(source[at:start])
        if tok.text == "class":
            parts.append(f"var {tokens[i + 1].text} = class")
        else:
            parts.append("var")
        at = start + len(tok.text)
    parts.append(source[at:])
    return "".join(parts)


def async_bodies(source: str) -> list[str]:
    """The async-function bodies to try for an input that uses ``await``, best first (each
    keeps the input's line numbers); [] when the input has no ``await`` (its syntax error is
    then the script's own)."""
    try:
        tokens = tokenize(source)
    except (IndexError, ValueError):
        return []
    if not any(t.text == "await" and t.kind == "name" for t in tokens):
        return []
    offsets = _offsets(source, tokens)
    removed = [  # declaration keywords to drop (destructuring ones stay: local to the input)
        (offsets[i], offsets[i + 1])
        for i in _declarations(tokens)
        if tokens[i].text != "class" and tokens[i + 1].kind == "name"
    ]
    boundaries: list[int] = []  # offsets where a top-level statement may start
    depth = 0
    for i, tok in enumerate(tokens):
        previous = tokens[i - 1] if i else None
        if depth == 0 and previous is not None:
            if (previous.kind == "op" and previous.text in (";", "}")) or tok.newline:
                boundaries.append(offsets[i])
        if tok.kind == "op":
            if tok.text in _OPEN:
                depth += 1
            elif tok.text in _CLOSE:
                depth = max(0, depth - 1)

    def render(start: int, end: int) -> str:
        parts, at = [], start
        for a, b in removed:
            if a >= start and b <= end:
                parts.append(source[at:a])
                at = b
        parts.append(source[at:end])
        return "".join(parts)

    bodies: list[str] = []
    declared = {a for a, _ in removed}  # a declaration's value is not the input's (as in Node)
    for boundary in [*reversed(boundaries), offsets[0]][:_MAX_CANDIDATES]:
        if boundary in declared:
            break
        tail = render(boundary, len(source)).rstrip().rstrip(";")
        if tail:
            bodies.append(f"{render(0, boundary)};return ({tail}\n);")
    bodies.append(render(0, len(source)))
    return bodies
