"""``llmspell check``: what would fail at once, found without running the spell.

The engine of the spell's file compiles it (syntax errors with file, line and column) and reports
the facts about the names it uses (:class:`~llmspell.engines.SourceFacts`); this module compares
them with the script API's description and knows no language:

* a global read that is neither part of the API nor set by the spell nor the language's own
  (``promise``, ``Provider``, a misspelt ``agnet``);
* ``ns.member`` / ``ns:member`` where ``ns`` is an API namespace without that member
  (``state.foo``, ``llm.chat``);
* the result of an API call that returns a Promise, used before it was awaited (JS:
  ``const r = llm.complete(...); r.content``).
"""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Iterable

from .engines import Api, engine_for, is_sync_api


@dataclasses.dataclass(frozen=True)
class Problem:
    """One finding of ``check``: where, and what is wrong."""

    filename: str
    line: int | None
    message: str
    column: int | None = None

    def __str__(self) -> str:
        """``file:line:column: message`` (what editors and terminals link to), as far as known."""
        where = self.filename
        if self.line:
            where += f":{self.line}" + (f":{self.column}" if self.column else "")
        return f"{where}: {self.message}"


def _hint(name: str, candidates: Iterable[str], prefix: str = "") -> str:
    close = difflib.get_close_matches(name, sorted(set(candidates)), n=1, cutoff=0.75)
    return f"; did you mean {prefix}{close[0]}?" if close else ""


def _returns_promise(api: Api, call: str) -> bool:
    """Whether the API function ``call`` (``"llm.complete"``, ``"sleep"``) waits, so that in
    JavaScript it returns a Promise; False for names that are not API functions."""
    first, _, member = call.partition(".")
    if not member:
        fn = api.functions.get(first)
        return fn is not None and not is_sync_api(fn)
    ns = api.namespaces.get(first)
    if ns is None:
        return False
    found = ns.functions.get(member)
    if found is None:
        found = ns.dynamic if member not in ns.values else None
    return found is not None and not is_sync_api(found)


def check_source(source: str, filename: str, api: Api) -> list[Problem]:
    """Every problem ``check`` finds in a spell: a syntax error (then nothing else), undefined
    globals (once each, where first read), unknown API members, and results used before they
    were awaited."""
    from ._exceptions import SpellSyntaxError

    engine = engine_for(filename)
    try:
        engine.check(source, filename)
    except SpellSyntaxError as exc:
        return [Problem(filename, exc.line, f"syntax error: {exc.message}", exc.column)]
    facts = engine.facts(source, filename)
    api_globals = {*api.namespaces, *api.functions, *api.values}
    problems: list[Problem] = []
    reported: set[str] = set()
    for read in facts.globals_read:
        if read.name in api_globals or read.name in reported:
            continue
        reported.add(read.name)
        hint = _hint(read.name, api_globals | facts.known)
        message = (
            f"{read.name} is not defined: the spell never sets it and the API has no such "
            f"global{hint}"
        )
        problems.append(Problem(filename, read.line, message, read.column))
    for use in facts.members:
        ns = api.namespaces.get(use.namespace)
        if ns is None or ns.dynamic is not None:
            continue
        if use.member in ns.functions or use.member in ns.values:
            continue
        known = sorted(ns.functions)
        hint = _hint(use.member, known, f"{use.namespace}.")
        message = (
            f"{use.namespace}.{use.member} is not part of the API{hint} (known: {', '.join(known)})"
        )
        problems.append(Problem(filename, use.line, message, use.column))
    for pending in facts.pending:
        if not _returns_promise(api, pending.call):
            continue
        if pending.variable is None:
            message = (
                f"{pending.call}(...) returns a Promise: await it before using its result, "
                f"(await {pending.call}(...))"
            )
        else:
            message = (
                f"{pending.variable} is a Promise: {pending.call}(...) on line "
                f"{pending.call_line} is not awaited (const {pending.variable} = "
                f"await {pending.call}(...))"
            )
        problems.append(Problem(filename, pending.line, message, pending.column))
    problems.sort(key=lambda p: (p.line or 0, p.column or 0))
    return problems
