"""The tool registry: look-up, listing and one well-defined call path."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import anyio

from .._exceptions import LimitExceeded, ToolError
from ._schema import complete_arguments, validate_arguments
from ._tool import Tool, ToolContext


class ToolRegistry:
    """Tools by name, in registration order.

    `invoke` is the whole call path; `prepare` and `execute` are its two halves, so a caller
    can run hooks between them (``tool.before_call``) and around them (``tool.executed``).

    Args:
        tools: tools to register at once (e.g. `builtin_tools()`).
    """

    def __init__(self, tools: Iterable[Tool] = ()) -> None:
        self._tools: dict[str, Tool] = {}
        for tool in tools:
            self.register(tool)

    def register(self, tool: Tool, *, replace: bool = False) -> None:
        """Add ``tool``.

        Raises:
            ToolError: a tool of that name exists and ``replace`` is false.
        """
        if not isinstance(tool, Tool):
            raise TypeError(f"register() takes a Tool, got {type(tool).__name__}")
        if tool.name in self._tools and not replace:
            raise ToolError(tool.name, "is already registered (pass replace=True to replace it)")
        self._tools[tool.name] = tool

    def unregister(self, name: str) -> None:
        """Remove the tool called ``name``.

        Raises:
            ToolError: no such tool.
        """
        self.get(name)
        del self._tools[name]

    def permissions(self) -> frozenset[str]:
        """The permissions the registered tools declare (what ``--allow`` can grant)."""
        return frozenset(t.permission for t in self._tools.values() if t.permission)

    def get(self, name: str) -> Tool:
        """Return the tool called ``name``.

        Raises:
            ToolError: ``unknown tool``, suggesting close names.
        """
        tool = self._tools.get(name)
        if tool is not None:
            return tool
        import difflib  # only for an unknown name

        close = difflib.get_close_matches(str(name), list(self._tools), n=3, cutoff=0.6)
        if close:
            quoted = [repr(c) for c in close]
            head = ", ".join(quoted[:-1])
            hint = f"did you mean {head + ' or ' if head else ''}{quoted[-1]}?"
        elif self._tools:
            hint = "known tools: " + ", ".join(sorted(self._tools))
        else:
            hint = "no tools are registered"
        raise ToolError(str(name), f"unknown tool; {hint}")

    def names(self) -> list[str]:
        """Tool names in registration order."""
        return list(self._tools)

    def list(self) -> list[dict[str, Any]]:
        """Describe every tool: ``{name, description, parameters, permission, source}``."""
        return [tool.describe() for tool in self._tools.values()]

    def copy(self) -> ToolRegistry:
        """A new registry holding the same tools; registering in it leaves this one alone."""
        return ToolRegistry(self._tools.values())

    def __contains__(self, name: object) -> bool:
        return name in self._tools

    def __len__(self) -> int:
        return len(self._tools)

    async def invoke(self, name: str, args: Mapping[str, Any], ctx: ToolContext) -> Any:
        """Call tool ``name`` with named ``args``: `prepare`, then `execute`.

        Raises:
            ToolError: unknown tool, permission not granted, handler failure or timeout.
            ParameterError: ``args`` do not match the tool's parameters.
        """
        tool, args = self.prepare(name, args, ctx)
        return await self.execute(tool, args, ctx)

    def prepare(
        self, name: str, args: Mapping[str, Any], ctx: ToolContext
    ) -> tuple[Tool, dict[str, Any]]:
        """Find the tool, check its permission, validate ``args``, fill in defaults.

        Raises:
            ToolError: unknown tool, or ``permission 'fs.read' not granted; run with
                --allow fs.read``.
            ParameterError: ``args`` do not match the tool's parameters.
        """
        tool = self.get(name)
        if tool.permission is not None and not ctx.permissions.grants(tool.permission):
            raise ToolError(tool.name, ctx.permissions.denial(tool.permission))
        validate_arguments(tool, args)
        return tool, complete_arguments(tool, args)

    @staticmethod
    async def execute(tool: Tool, args: dict[str, Any], ctx: ToolContext) -> Any:
        """Run the handler under the tool's timeout; any failure becomes a `ToolError`.

        Cancellation from outside passes through untouched, and so does `LimitExceeded` (a
        result that the calling run could not hold ends the run, as its own allocation would).
        """
        with anyio.move_on_after(tool.timeout) as scope:
            try:
                return await tool.handler(args, ctx)
            except LimitExceeded:
                raise
            except ToolError as exc:
                if exc.tool == tool.name:
                    raise
                raise ToolError(tool.name, str(exc)) from exc
            except Exception as exc:
                raise ToolError(tool.name, _message(exc)) from exc
        assert scope.cancelled_caught
        raise ToolError(tool.name, f"timed out after {tool.timeout:g}s")


def _message(exc: Exception) -> str:
    text = str(exc).strip()
    if isinstance(exc, KeyError | AssertionError) or not text:
        return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    return text
