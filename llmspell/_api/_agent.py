"""``llm.agent{...}``: check the configuration, and the agent object a script holds.

``llm.agent{name?, model?, system?, tools={names or agents}, max_steps?, temperature?, schema?,
memory?}`` returns an agent object: ``agent:run(input)`` → final text (or a validated object with
``schema``), ``agent:reset()``, ``agent:history()``. The agent itself (its loop, its actor) is
``llmspell._ops``'.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .. import _ops
from .._exceptions import ParameterError
from ..engines import HostObject, ScriptValue
from ._values import is_number, to_script

if TYPE_CHECKING:
    from .._ops import AgentConfig, AgentHandle, RunContext

_FIELDS = ("name", "model", "system", "tools", "max_steps", "temperature", "schema", "memory")


def _config(ctx: RunContext, config: Any) -> AgentConfig:
    fn = "llm.agent"
    if config is None:
        config = {}
    if not isinstance(config, dict):
        raise ParameterError(fn, "config", "must be a table {name?, model?, system?, tools?, ...}")
    for key in config:
        if key not in _FIELDS:
            raise ParameterError(
                fn, str(key), f"is not an agent field (known: {', '.join(sorted(_FIELDS))})"
            )
    name = config.get("name") or ctx.next_id("agent")
    if not isinstance(name, str):
        raise ParameterError(fn, "name", "must be a string")
    tools: list[str] = []
    agents: dict[str, AgentHandle] = {}
    for item in config.get("tools") or []:
        if isinstance(item, str):
            tools.append(item)
        elif isinstance(item, HostObject) and isinstance(item.target, _ops.AgentHandle):
            agents[item.target.config.name] = item.target
        else:
            raise ParameterError(fn, "tools", "must list tool names or agents")
    max_steps = config.get("max_steps", 10)
    if not is_number(max_steps) or max_steps < 1:
        raise ParameterError(fn, "max_steps", "must be a positive integer")
    temperature = config.get("temperature")
    if temperature is not None and (not is_number(temperature) or not 0 <= temperature <= 2):
        raise ParameterError(fn, "temperature", "must be a number from 0 to 2")
    schema = config.get("schema") or None
    if schema is not None:
        import jsonschema  # type: ignore[import-untyped, unused-ignore]

        if not isinstance(schema, dict):
            raise ParameterError(fn, "schema", "must be a JSON Schema table")
        try:
            jsonschema.Draft202012Validator.check_schema(schema)
        except jsonschema.SchemaError as exc:
            raise ParameterError(
                fn, "schema", f"is not a valid JSON Schema: {exc.message}"
            ) from None
    model = config.get("model")
    system = config.get("system")
    memory = config.get("memory", False)
    if not isinstance(memory, bool):
        raise ParameterError(fn, "memory", "must be true or false")
    if memory and not config.get("name"):
        raise ParameterError(fn, "memory", "needs a name: the history is kept as agent:<name>")
    return _ops.AgentConfig(
        name=name,
        model=model if isinstance(model, str) else None,
        system=system if isinstance(system, str) else None,
        tools=tools,
        agents=agents,
        max_steps=int(max_steps),
        temperature=None if temperature is None else float(temperature),
        schema=schema,
        memory=memory,
    )


def create_agent(ctx: RunContext, config: Any) -> HostObject:
    """An agent of the run ``ctx``, as the script object ``llm.agent`` returns."""
    handle = ctx.ops.create_agent(ctx, _config(ctx, config))
    name = handle.config.name

    async def run(user_input: Any = None) -> ScriptValue:
        if user_input is None:
            raise ParameterError(f"{name}:run", "input", "is required")
        return to_script(await ctx.ops.run_agent(ctx, handle, user_input))

    async def reset() -> None:
        await handle.reset()

    async def history() -> ScriptValue:
        return to_script(await handle.history())

    return HostObject(
        "agent",
        {"run": run, "reset": reset, "history": history},
        {"name": name, "model": handle.model},
        target=handle,
    )
