"""``json_query``: pick values out of JSON data with a small path language.

A query is a chain of steps, optionally starting with ``$``:

=============  ==============================================
``name``       a key (``.name`` after the first step)
``["a.b"]``    a key written as a quoted string
``[2]``        an array index (negative counts from the end)
``[1:3]``      an array slice
``[*]``/``.*`` every element of an array or value of an object
=============  ==============================================

After a ``[*]`` or a slice the query maps over the results, skipping those without the next
key, and returns a list: ``items[*].name``.
"""

from __future__ import annotations

import functools
import json
import re
from typing import Any

from .._exceptions import ToolError
from ._schema import type_name
from ._tool import Tool, ToolContext

_NAME = "json_query"


@functools.cache
def _step_pattern() -> re.Pattern[str]:
    """One step of a query (compiled on the first query, not on every run's start-up)."""
    return re.compile(
        r"""\.?\*|\[\*\]
          |\[\s*(?P<index>-?\d+)\s*\]
          |\[\s*(?P<slice>-?\d*\s*:\s*-?\d*)\s*\]
          |\[\s*(?P<quote>["'])(?P<key>(?:\\.|(?!(?P=quote)).)*)(?P=quote)\s*\]
          |(?P<dot>\.)?(?P<name>[^.\[\]\s"']+)""",
        re.VERBOSE,
    )


Step = tuple[str, Any]


def parse_query(query: str) -> list[Step]:
    """Parse ``query`` into steps: ``("key", str)``, ``("index", int)``,
    ``("slice", slice)`` or ``("all", None)``.

    Raises:
        ToolError: pointing at the position where the query stops making sense.
    """
    text = query.strip()
    text = text[1:] if text.startswith("$") else text
    steps: list[Step] = []
    pos = 0
    while pos < len(text):
        match = _step_pattern().match(text, pos)
        if match is None or (match["name"] and not match["dot"] and pos > 0):
            raise ToolError(_NAME, f"invalid query {query!r} at {text[pos:]!r}")
        if match["index"] is not None:
            steps.append(("index", int(match["index"])))
        elif match["slice"] is not None:
            start, stop = (int(p) if p.strip() else None for p in match["slice"].split(":"))
            steps.append(("slice", slice(start, stop)))
        elif match["key"] is not None:
            steps.append(("key", re.sub(r"\\(.)", r"\1", match["key"])))
        elif match["name"] is not None:
            steps.append(("key", match["name"]))
        else:
            steps.append(("all", None))
        pos = match.end()
    return steps


def run_query(data: Any, query: str) -> Any:
    """Apply ``query`` to ``data``.

    Raises:
        ToolError: a missing key or index, or a step that does not fit the value's type.
    """
    values, many, path = [data], False, "$"
    for kind, arg in parse_query(query):
        found = []
        for value in values:
            try:
                found.extend(_step(value, kind, arg, path))
            except LookupError as exc:
                if not many:
                    raise ToolError(_NAME, str(exc)) from None
        values, many = found, many or kind in ("all", "slice")
        path += _show(kind, arg)
    return values if many else values[0]


def _show(kind: str, arg: Any) -> str:
    if kind == "key":
        return f".{arg}"
    if kind == "slice":
        return f"[{'' if arg.start is None else arg.start}:{'' if arg.stop is None else arg.stop}]"
    return "[*]" if kind == "all" else f"[{arg}]"


def _step(value: Any, kind: str, arg: Any, path: str) -> list[Any]:
    if kind == "all":
        if isinstance(value, dict):
            return list(value.values())
        if isinstance(value, list):
            return list(value)
        raise LookupError(f"{path} is {type_name(value)}, not an array or object")
    if kind == "key":
        if not isinstance(value, dict):
            raise LookupError(f"{path} is {type_name(value)}, so it has no key {arg!r}")
        if arg not in value:
            keys = ", ".join(list(value)[:20]) or "none"
            raise LookupError(f"{path} has no key {arg!r} (keys: {keys})")
        return [value[arg]]
    if not isinstance(value, list):
        raise LookupError(f"{path} is {type_name(value)}, not an array")
    if kind == "slice":
        return list(value[arg])
    if not -len(value) <= arg < len(value):
        raise LookupError(f"{path} has {len(value)} elements; index {arg} is out of range")
    return [value[arg]]


async def json_query(args: dict[str, Any], ctx: ToolContext) -> Any:
    """Run ``args["query"]`` on ``args["data"]`` (a value, or JSON text)."""
    data = args["data"]
    if isinstance(data, str):
        try:
            data = json.loads(data)
        except ValueError as exc:
            raise ToolError(_NAME, f"data is a string but not valid JSON: {exc}") from None
    return run_query(data, args["query"])


JSON_TOOLS = [
    Tool(
        name="json_query",
        description="Extract values from JSON data with a path such as 'a.b[0].c', "
        "'items[*].name', 'list[-1]', 'rows[1:3]' or '[\"key.with.dots\"]'.",
        parameters={
            "data": {"description": "the data, or a JSON string", "required": True},
            "query": {"type": "string", "required": True, "description": "the path"},
        },
        handler=json_query,
    ),
]
