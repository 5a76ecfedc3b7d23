"""The Lua engine: ``.lua`` spells in sandboxed PUC Lua 5.4 interpreters (via lupa).

Importing this package is cheap: lupa and the interpreter machinery (``_instance``) are imported
on the first :meth:`LuaEngine.open` or :meth:`LuaEngine.check`. The Lua side of the sandbox is
ordinary Lua in this package's ``prelude.lua``, ``guards.lua`` and ``fallback.lua``.
"""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING

from .._base import Api, Engine, Limits, ScriptInstance

if TYPE_CHECKING:
    from .._facts import SourceFacts


class LuaEngine(Engine):
    """Runs ``.lua`` spells in sandboxed PUC Lua 5.4 interpreters (via lupa).

    Lua tables become Python dicts or lists (an empty table becomes ``{}``; see
    :mod:`llmspell.engines.lua._convert`), Lua strings become ``str`` (invalid UTF-8 is
    replaced with U+FFFD).
    """

    name = "lua"
    extensions = (".lua",)

    def check(self, source: str, filename: str) -> None:
        """Compile ``source`` without running it; raise :class:`SpellSyntaxError` if invalid."""
        from ._chunks import check_syntax

        check_syntax(source, filename)

    def facts(self, source: str, filename: str) -> SourceFacts:
        """The names ``source`` uses (see :class:`SourceFacts`): a tokenizer and one walk; the
        sandbox's own globals are read off a real instance of the prelude."""
        from ._chunks import builtin_globals
        from ._scope import source_facts

        return source_facts(source, builtin_globals())

    def open(
        self, source: str, filename: str, api: Api, limits: Limits
    ) -> AbstractAsyncContextManager[ScriptInstance]:
        """Load the spell into a fresh sandbox; see :class:`Engine`."""
        from ._instance import open_instance

        return open_instance(source, filename, api, limits)


ENGINE = LuaEngine
