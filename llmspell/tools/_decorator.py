"""``@tool``: turn a typed Python function into a `Tool`."""

from __future__ import annotations

import collections.abc
import functools
import inspect
import re
import types
import typing
from collections.abc import Callable
from typing import Any, Literal, Union, overload

import anyio

from .._exceptions import ParameterError
from ._tool import Tool, ToolContext

_SIMPLE = {str: "string", bool: "boolean", int: "integer", float: "number", type(None): "null"}
_ARRAYS = (list, tuple, set, frozenset, collections.abc.Sequence, collections.abc.Iterable)
_OBJECTS = (dict, collections.abc.Mapping)
_SECTION = r"^(Args|Arguments|Parameters|Returns|Yields|Raises|Examples?|Notes?):\s*$"  # re caches


@overload
def tool(name: Callable[..., Any], /) -> Tool: ...
@overload
def tool(
    name: str | None = None,
    *,
    description: str | None = None,
    permission: str | None = None,
    timeout: float = 30.0,
) -> Callable[[Callable[..., Any]], Tool]: ...
def tool(
    name: str | Callable[..., Any] | None = None,
    *,
    description: str | None = None,
    permission: str | None = None,
    timeout: float = 30.0,
) -> Tool | Callable[[Callable[..., Any]], Tool]:
    """Make a `Tool` from a function with typed parameters (sync or async).

    The JSON schema comes from the annotations (``str``, ``int``, ``float``, ``bool``,
    ``list[X]``, ``dict``, ``Literal[...]``, ``X | None``), parameters without a default are
    required, and descriptions come from the docstring's first paragraph and ``Args:``
    section. A parameter named ``ctx`` (or annotated `ToolContext`) receives the call's
    context instead of an argument. Sync functions run in a worker thread.

    Usable bare (``@tool``) or with options (``@tool("name", permission="net.http")``)::

        @tool(permission="net.http")
        async def weather(location: str, units: Literal["c", "f"] = "c") -> dict:
            '''Current weather for a city.

            Args:
                location: the city, e.g. "Paris".
            '''

    Raises:
        ParameterError: a parameter without an annotation the schema can express, or a
            ``*args``/``**kwargs`` parameter.
    """
    if callable(name):
        return _make(name, None, description, permission, timeout)

    def decorate(fn: Callable[..., Any]) -> Tool:
        return _make(fn, name, description, permission, timeout)

    return decorate


def _make(
    fn: Callable[..., Any],
    name: str | None,
    description: str | None,
    permission: str | None,
    timeout: float,
) -> Tool:
    tool_name = name or fn.__name__
    where = f"@tool {tool_name}"
    summary, docs = _parse_docstring(inspect.getdoc(fn) or "")
    try:
        hints = typing.get_type_hints(fn)
    except Exception as exc:
        raise ParameterError(where, "annotations", f"cannot be resolved: {exc}") from exc
    properties: dict[str, Any] = {}
    required: list[str] = []
    context_param: str | None = None
    for param in inspect.signature(fn).parameters.values():
        hint = hints.get(param.name, Any)
        if param.name == "ctx" or hint is ToolContext:
            context_param = param.name
            continue
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD, param.POSITIONAL_ONLY):
            raise ParameterError(where, param.name, "must be an ordinary named parameter")
        prop = _schema_for(hint, where, param.name)
        if param.name in docs:
            prop["description"] = docs[param.name]
        if param.default is param.empty:
            required.append(param.name)
        elif param.default is not None:
            prop["default"] = param.default
        properties[param.name] = prop
    schema: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        schema["required"] = required
    schema["additionalProperties"] = False

    async def handler(args: dict[str, Any], ctx: ToolContext) -> Any:
        kwargs = dict(args)
        if context_param is not None:
            kwargs[context_param] = ctx
        if inspect.iscoroutinefunction(fn):
            return await fn(**kwargs)
        call = functools.partial(fn, **kwargs)
        return await anyio.to_thread.run_sync(call, abandon_on_cancel=True)

    return Tool(
        name=tool_name,
        description=description if description is not None else summary,
        parameters=schema,
        handler=handler,
        permission=permission,
        timeout=timeout,
        source="python",
    )


def _schema_for(hint: Any, where: str, name: str) -> dict[str, Any]:
    if hint is Any:
        return {}
    if hint in _SIMPLE:
        return {"type": _SIMPLE[hint]}
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (Union, types.UnionType):
        options = [a for a in args if a is not type(None)]
        inner: dict[str, Any] = (
            _schema_for(options[0], where, name)
            if len(options) == 1
            else {"anyOf": [_schema_for(a, where, name) for a in options]}
        )
        if len(options) < len(args) and isinstance(inner.get("type"), str):
            inner["type"] = [inner["type"], "null"]
        return inner
    if origin is Literal:
        return {"enum": list(args)}
    if hint in _ARRAYS or origin in _ARRAYS:
        if args and args[0] is not Ellipsis:
            return {"type": "array", "items": _schema_for(args[0], where, name)}
        return {"type": "array"}
    if hint in _OBJECTS or origin in _OBJECTS:
        return {"type": "object"}
    raise ParameterError(where, name, f"has an annotation the schema cannot express: {hint!r}")


def _parse_docstring(doc: str) -> tuple[str, dict[str, str]]:
    """Split a Google-style docstring into its summary and ``Args:`` descriptions."""
    summary: list[str] = []
    params: dict[str, str] = {}
    section: str | None = None
    current: str | None = None
    entry_indent = 0
    for line in doc.splitlines():
        indent = len(line) - len(line.lstrip())
        header = re.match(_SECTION, line.strip())
        if header and indent == 0:
            section, current = header.group(1), None
        elif section is None:
            summary.append(line)
        elif section in ("Args", "Arguments", "Parameters") and line.strip():
            entry = re.match(r"\s*(\w+)\s*(\([^)]*\))?:\s*(.*)$", line)
            if entry and (current is None or indent <= entry_indent):
                current, entry_indent = entry.group(1), indent
                params[current] = entry.group(3).strip()
            elif current is not None:
                params[current] = f"{params[current]} {line.strip()}"
    text = "\n".join(summary).strip().split("\n\n")[0]
    return " ".join(text.split()), params
