"""What an engine tells ``llmspell check`` about the names a spell uses, without running it.

Each engine reads its own language (a small tokenizer and scope walk per language) and reports
plain facts; ``llmspell check`` (:mod:`llmspell._check`) compares them with the script API's
description, so it knows no language and no engine knows the API. An engine errs towards
reporting less: a fact it is unsure of is left out, so that a correct spell never fails the check.
"""

from __future__ import annotations

from typing import NamedTuple


class GlobalRead(NamedTuple):
    """A read of a global that the spell never defines and the language does not provide
    (``agent`` in ``agent:run(x)`` with no ``agent`` assigned or declared anywhere). API globals
    (``llm``, ``params`` ...) are reported too: the engine does not know the API.

    Attributes:
        name: the global's name.
        line: 1-based line of the read.
        column: 1-based column of the read.
    """

    name: str
    line: int
    column: int


class MemberUse(NamedTuple):
    """``ns.member`` or ``ns:member`` where ``ns`` is such a global (read, called or passed).

    Members the spell assigns itself (``ns.member = ...``, ``function ns.member()``) are left
    out.
    """

    namespace: str
    member: str
    line: int
    column: int


class PendingUse(NamedTuple):
    """The result of a call used as a value before the call was waited for.

    In JavaScript a call that returns a Promise must be awaited before its result is read:
    ``const r = llm.complete("hi"); r.content`` reads ``content`` of the Promise. Engines whose
    calls return their results directly (Lua) never report these. Whether ``call`` returns a
    Promise at all is for the API description to say.

    Attributes:
        call: the called global, dotted: ``"llm.complete"``, ``"sleep"``.
        line: 1-based line where the result is used.
        column: 1-based column of that use.
        call_line: 1-based line of the call.
        variable: the variable holding the result, or None when it is used in place
            (``llm.complete("hi").content``).
    """

    call: str
    line: int
    column: int
    call_line: int
    variable: str | None = None


class SourceFacts(NamedTuple):
    """Everything an engine found out about a spell's names (see the module docstring).

    Attributes:
        globals_read: reads of globals the spell does not define and the language does not
            provide, in source order.
        members: member uses of those globals, in source order.
        pending: results used before they were waited for, in source order.
        known: the language's own globals plus the globals the spell defines (for "did you
            mean" hints).
    """

    globals_read: tuple[GlobalRead, ...] = ()
    members: tuple[MemberUse, ...] = ()
    pending: tuple[PendingUse, ...] = ()
    known: frozenset[str] = frozenset()
