"""``tools``: register, call and list tools from a spell.

``tools.register{name, description, parameters, handler}`` adds a tool visible to this run (its
handler is a script function called back while the spell is suspended); ``tools.call(name,
args)`` and ``tools.<name>(...)`` (positional arguments map to parameters in declared order, or
one table of named arguments) run a tool through the ``tool.before_call``/``tool.after_call``
hooks, publishing ``tool.executed``; ``tools.list()`` describes every tool the run can use.
"""

from __future__ import annotations

from typing import Any

from .._exceptions import ParameterError
from .._ops import RunContext
from ..engines import Namespace, ScriptFunction, ScriptValue, sync_api, with_context
from ..tools import Tool, ToolContext, bind_arguments, normalize_parameters
from ._values import to_script


def _script_tool(spec: Any) -> Tool:
    fn = "tools.register"
    if not isinstance(spec, dict):
        raise ParameterError(fn, "spec", "must be a table {name, description, parameters, handler}")
    name = spec.get("name")
    if not isinstance(name, str) or not name.replace("_", "").replace("-", "").isalnum():
        raise ParameterError(fn, "name", "must be a name of letters, digits, '_' or '-'")
    description = spec.get("description", "")
    if not isinstance(description, str):
        raise ParameterError(fn, "description", "must be a string")
    handler = spec.get("handler")
    if not isinstance(handler, ScriptFunction):
        raise ParameterError(fn, "handler", "must be a function(args)")
    parameters = normalize_parameters(spec.get("parameters") or None)

    async def call(args: dict[str, Any], ctx: ToolContext) -> Any:
        return await handler(to_script(args))

    return Tool(
        name=name,
        description=description,
        parameters=parameters,
        handler=call,
        permission=None,
        timeout=float(spec.get("timeout", 30.0)),
        source="script",
    )


def tools_namespace() -> Namespace:
    """Build ``tools.register/call/list`` and ``tools.<name>(...)`` (each takes the run's
    context first)."""

    @sync_api
    @with_context
    async def register(ctx: RunContext, spec: Any = None) -> str:
        tool = _script_tool(spec)
        ctx.register_tool(tool)
        return tool.name

    @with_context
    async def call(ctx: RunContext, name: Any = None, args: Any = None) -> ScriptValue:
        if not isinstance(name, str):
            raise ParameterError("tools.call", "name", "must be a tool name")
        if args is None or args == []:
            args = {}
        if not isinstance(args, dict):
            raise ParameterError("tools.call", "args", "must be a table of named arguments")
        return to_script(await ctx.ops.call_tool(ctx, name, args))

    @with_context
    async def list_tools(ctx: RunContext) -> ScriptValue:
        return to_script(ctx.tools.list())

    @with_context
    async def dynamic(ctx: RunContext, name: str, *args: Any) -> ScriptValue:
        tool = ctx.tools.get(name)
        if len(args) == 1 and isinstance(args[0], dict):
            named = bind_arguments(tool, (), args[0])
        else:
            named = bind_arguments(tool, args, None)
        return to_script(await ctx.ops.call_tool(ctx, name, named))

    return Namespace({"register": register, "call": call, "list": list_tools}, dynamic=dynamic)
