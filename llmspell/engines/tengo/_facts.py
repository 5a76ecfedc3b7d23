"""The names a Tengo spell uses, for ``llmspell check`` (see :mod:`llmspell.engines._facts`).

Tengo resolves every name at compile time, in order, with block scopes, so the compiler itself
finds the facts: compiled in check mode (:class:`._scope.Lenient`), a name that resolves to
nothing is one the host must provide. Each use of such a name (read, called, assigned) is a
:class:`GlobalRead`; ``name.member`` on it is a :class:`MemberUse`. Tengo calls return their
results directly, so there are no pending results. The builtins (``len``, ``append`` ...) and
the engine's ``print`` are the language's own globals.
"""

from __future__ import annotations

from .._facts import GlobalRead, MemberUse, SourceFacts
from ._builtins import BUILTINS
from ._plan import compile_spell
from ._scope import Lenient


def source_facts(source: str, filename: str) -> SourceFacts:
    """The facts about ``source``, which must compile (see :meth:`TengoEngine.check`)."""
    lenient = Lenient()
    compile_spell(source, filename, ("print",), lenient)  # the engine's print is the language's
    reads = sorted(lenient.reads, key=lambda read: read[1])
    members = sorted(lenient.members, key=lambda use: use[2])
    return SourceFacts(
        globals_read=tuple(GlobalRead(name, *where) for name, where in reads),
        members=tuple(MemberUse(name, member, *where) for name, member, where in members),
        known=frozenset(fn.name for fn in BUILTINS) | lenient.defined | {"print"},
    )
