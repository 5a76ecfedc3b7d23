"""The Tengo engine: ``.tengo`` spells run in our own Tengo interpreter (a Python port of
github.com/d5/tengo v2 semantics), sandboxed, driven from async Python.

This module stays cheap to import: the interpreter loads on first use.
"""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING, Any

from .._base import Api, Engine, Limits, ScriptInstance

if TYPE_CHECKING:
    from .._facts import SourceFacts
    from ._instance import TengoInstance


class TengoEngine(Engine):
    """Runs ``.tengo`` spells.

    The script API's namespaces are globals (``llm.complete({...})``, ``tools.call(...)``);
    calls are synchronous, as in Lua. An API error comes back as a Tengo error value
    (``is_error(r)``, ``r.value``); the main file's ``export`` value is the run's result.
    See :mod:`llmspell.engines.tengo._instance` for the calling convention and limits.
    """

    name = "tengo"
    extensions = (".tengo",)

    def check(self, source: str, filename: str) -> None:
        """Parse and compile without running; raise :class:`SpellSyntaxError` with file, line
        and column. Names that are not defined are allowed here (the script API's globals are
        known only when the spell runs)."""
        from ._plan import compile_spell
        from ._scope import Lenient

        compile_spell(source, filename, ("print",), Lenient())

    def facts(self, source: str, filename: str) -> SourceFacts:
        """The names ``source`` uses (see :class:`SourceFacts`), as the compiler resolves
        them: Tengo resolves every name at compile time, so a name nothing defines is one the
        host must provide (the builtins are the language's own)."""
        from ._facts import source_facts

        return source_facts(source, filename)

    def open(
        self, source: str, filename: str, api: Api, limits: Limits
    ) -> AbstractAsyncContextManager[ScriptInstance]:
        """Compile the spell and prepare a sandboxed instance; see :class:`Engine`."""
        return _Opening(source, filename, api, limits)


class _Opening(AbstractAsyncContextManager[ScriptInstance]):
    __slots__ = ("_api", "_filename", "_instance", "_limits", "_source")

    def __init__(self, source: str, filename: str, api: Api, limits: Limits) -> None:
        self._source, self._filename, self._api, self._limits = source, filename, api, limits
        self._instance: TengoInstance | None = None

    async def __aenter__(self) -> ScriptInstance:
        from ._instance import TengoInstance

        self._instance = TengoInstance(self._source, self._filename, self._api, self._limits)
        return self._instance

    async def __aexit__(self, *exc_info: Any) -> None:
        if self._instance is not None:
            self._instance.close()


ENGINE = TengoEngine
"""The engine class the registry discovers."""

__all__ = ["ENGINE", "TengoEngine"]
