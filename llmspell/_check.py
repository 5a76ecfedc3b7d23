"""``llmspell check``: syntax errors and calls to API names that do not exist, without running."""

from __future__ import annotations

import dataclasses
import difflib
import re
from collections.abc import Mapping

from .engines import Namespace, engine_for

# Strings and comments are blanked (newlines kept) before looking for `ns.name` / `ns:name`.
_LUA_NOISE = re.compile(
    r"--\[(=*)\[.*?\]\1\]|--[^\n]*|\[(=*)\[.*?\]\2\]|\"(?:\\.|[^\"\\\n])*\"|'(?:\\.|[^'\\\n])*'",
    re.S,
)
_JS_NOISE = re.compile(
    r"/\*.*?\*/|//[^\n]*|`(?:\\.|[^`\\])*`|\"(?:\\.|[^\"\\\n])*\"|'(?:\\.|[^'\\\n])*'", re.S
)


@dataclasses.dataclass(frozen=True)
class Problem:
    """One finding of ``check``: where, and what is wrong."""

    filename: str
    line: int | None
    message: str
    column: int | None = None

    def __str__(self) -> str:
        where = f"{self.filename}:{self.line}" if self.line else self.filename
        if self.line and self.column:
            where += f":{self.column}"
        return f"{where}: {self.message}"


def _blank(match: re.Match[str]) -> str:
    return re.sub(r"[^\n]", " ", match.group(0))


def unknown_api_names(
    source: str, filename: str, namespaces: Mapping[str, Namespace], *, lua: bool
) -> list[Problem]:
    """Find ``ns.name`` uses where ``ns`` is an API namespace without a member ``name``."""
    code = (_LUA_NOISE if lua else _JS_NOISE).sub(_blank, source)
    names = "|".join(re.escape(n) for n in namespaces)
    if not names:
        return []
    use = re.compile(rf"(?<![\w.:])({names})\s*[.:]\s*([A-Za-z_]\w*)")
    problems = []
    for match in use.finditer(code):
        ns = namespaces[match.group(1)]
        member = match.group(2)
        if ns.dynamic is not None or member in ns.functions or member in ns.values:
            continue
        line = code.count("\n", 0, match.start()) + 1
        known = sorted(ns.functions)
        close = difflib.get_close_matches(member, known, n=1)
        hint = f"; did you mean {match.group(1)}.{close[0]}?" if close else ""
        problems.append(
            Problem(
                filename,
                line,
                f"{match.group(1)}.{member} is not part of the API{hint} "
                f"(known: {', '.join(known)})",
            )
        )
    return problems


def check_source(source: str, filename: str, namespaces: Mapping[str, Namespace]) -> list[Problem]:
    """All problems ``check`` finds in a spell: a syntax error, or unknown API names."""
    from ._exceptions import SpellSyntaxError

    engine = engine_for(filename)
    try:
        engine.check(source, filename)
    except SpellSyntaxError as exc:
        return [Problem(filename, exc.line, f"syntax error: {exc.message}", exc.column)]
    return unknown_api_names(source, filename, namespaces, lua=engine.name == "lua")
