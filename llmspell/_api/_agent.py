"""Agents: an actor that loops model → tool calls → tool results → model until it answers.

``llm.agent{name?, model?, system?, tools={names or agents}, max_steps?, temperature?, schema?}``
returns an agent object: ``agent:run(input)`` → final text (or a validated object with
``schema``), ``agent:reset()``, ``agent:history()``. Conversation history persists across
``run`` calls; several tool calls of one turn run concurrently; invalid tool arguments and tool
errors go back to the model as tool results. An agent in another agent's ``tools`` is a tool
taking ``{input}``.
"""

from __future__ import annotations

import dataclasses
import json
import time
from typing import TYPE_CHECKING, Any

import anyio

import actors

from .._exceptions import ParameterError, SpellError
from ..engines import HostObject, ScriptValue
from ._session import Session
from ._values import is_number, to_script

if TYPE_CHECKING:
    from .._services import Services

MAX_REPAIRS = 2
RESET, HISTORY = object(), object()


@dataclasses.dataclass(frozen=True)
class RunAgent:
    """Ask an agent actor to answer ``input``."""

    input: Any


@dataclasses.dataclass
class AgentConfig:
    name: str
    model: str | None
    system: str | None
    tools: list[str]
    agents: dict[str, HostObject]
    max_steps: int
    temperature: float | None
    schema: dict[str, Any] | None


def _config(session: Session, config: Any) -> AgentConfig:
    fn = "llm.agent"
    if config is None:
        config = {}
    if not isinstance(config, dict):
        raise ParameterError(fn, "config", "must be a table {name?, model?, system?, tools?, ...}")
    known = {"name", "model", "system", "tools", "max_steps", "temperature", "schema"}
    for key in config:
        if key not in known:
            raise ParameterError(
                fn, str(key), f"is not an agent field (known: {', '.join(sorted(known))})"
            )
    name = config.get("name") or session.next_id("agent")
    if not isinstance(name, str):
        raise ParameterError(fn, "name", "must be a string")
    tools: list[str] = []
    agents: dict[str, HostObject] = {}
    for item in config.get("tools") or []:
        if isinstance(item, str):
            tools.append(item)
        elif isinstance(item, HostObject) and item.type_name == "agent":
            agents[str(item.fields["name"])] = item
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
    return AgentConfig(
        name=name,
        model=model if isinstance(model, str) else None,
        system=system if isinstance(system, str) else None,
        tools=tools,
        agents=agents,
        max_steps=int(max_steps),
        temperature=None if temperature is None else float(temperature),
        schema=schema,
    )


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(to_script(value), ensure_ascii=False)


class Agent(actors.Actor):
    """One agent: its configuration and conversation history, one run at a time."""

    def __init__(self, services: Services, session: Session, config: AgentConfig) -> None:
        self.services = services
        self.session = session
        self.config = config
        self.history: list[dict[str, Any]] = []

    async def on_receive(self, message: Any) -> Any:
        if isinstance(message, RunAgent):
            return await self.run(message.input)
        if message is RESET:
            self.history.clear()
            return None
        if message is HISTORY:
            return [dict(m) for m in self.history]
        raise TypeError(f"agent {self.config.name!r} got an unknown message {message!r}")

    def _tool_specs(self) -> list[dict[str, Any]]:
        specs = self.services.tool_specs(self.session, self.config.tools)
        for name in self.config.agents:
            specs.append(
                {
                    "type": "function",
                    "function": {
                        "name": name,
                        "description": f"Ask the {name} agent; it answers in text.",
                        "parameters": {
                            "type": "object",
                            "properties": {"input": {"type": "string"}},
                            "required": ["input"],
                        },
                    },
                }
            )
        return specs

    async def _call_tool(self, call: dict[str, Any]) -> str:
        name = call.get("name", "")
        if call.get("error"):
            return f"error: the arguments are not valid JSON ({call['error']}); send valid JSON"
        args = call.get("arguments") or {}
        try:
            if name in self.config.agents:
                result = await self.config.agents[name].methods["run"](args.get("input", ""))
            else:
                result = await self.services.call_tool(
                    self.session, name, args, caller=self.config.name
                )
        except (SpellError, actors.HookCancelledError) as exc:
            return f"error: {exc}"
        return _text(result)

    async def _call_tools(self, calls: list[dict[str, Any]]) -> list[str]:
        """Run one turn's tool calls concurrently; results in call order."""
        results = [""] * len(calls)

        async def one(i: int, call: dict[str, Any]) -> None:
            results[i] = await self._call_tool(call)

        async with anyio.create_task_group() as tg:
            for i, call in enumerate(calls):
                tg.start_soon(one, i, call)
        return results

    async def run(self, user_input: Any) -> ScriptValue:
        cfg, session = self.config, self.session
        data = {"run_id": session.run_id, "spell": session.spell, "agent": cfg.name}
        user_input = await session.system.hooks.run("agent.before_run", user_input, data)
        if isinstance(user_input, actors.Replace):
            return user_input.result
        base = {
            "agentId": f"{session.run_id}:{cfg.name}",
            "name": cfg.name,
            "runId": session.run_id,
        }
        await session.system.bus.publish("agent.started", dict(base))
        started = time.perf_counter()
        self.history.append({"role": "user", "content": _text(user_input)})
        tools = self._tool_specs()
        repairs = 0
        output: Any = None
        for step in range(1, cfg.max_steps + 1):  # noqa: B007 - reported after the loop
            request: dict[str, Any] = {"messages": self._messages()}
            for key in ("model", "temperature", "schema"):
                if getattr(cfg, key) is not None:
                    request[key] = getattr(cfg, key)
            response = await self.services.generate(
                session, request, tool_specs=tools or None, agent=cfg.name
            )
            calls = response.get("tool_calls") or []
            if calls:
                self.history.append(_assistant_with_calls(response, calls))
                results = await self._call_tools(calls)
                for call, result in zip(calls, results, strict=True):
                    self.history.append(
                        {"role": "tool", "tool_call_id": call.get("id"), "content": result}
                    )
                continue
            content = response.get("content") or ""
            self.history.append({"role": "assistant", "content": content})
            if cfg.schema is None:
                output = content
                break
            problem, output = _validate(content, cfg.schema)
            if problem is None:
                break
            repairs += 1
            if repairs > MAX_REPAIRS:
                raise SpellError(
                    f"agent {cfg.name!r}: the answer did not match the schema after "
                    f"{MAX_REPAIRS} repairs: {problem}"
                )
            self.history.append(
                {
                    "role": "user",
                    "content": f"Your answer did not match the JSON schema: {problem}. "
                    "Reply with only a JSON value that matches the schema.",
                }
            )
        else:
            raise SpellError(f"agent {cfg.name!r} did not finish within max_steps={cfg.max_steps}")
        output = await session.system.hooks.run(
            "agent.after_run", output, dict(data, input=user_input)
        )
        if isinstance(output, actors.Replace):
            output = output.result
        await session.system.bus.publish(
            "agent.finished",
            dict(base, steps=step, duration=time.perf_counter() - started),
        )
        return to_script(output)

    def _messages(self) -> list[dict[str, Any]]:
        head = [{"role": "system", "content": self.config.system}] if self.config.system else []
        return head + [dict(m) for m in self.history]


def _assistant_with_calls(response: dict[str, Any], calls: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "role": "assistant",
        "content": response.get("content"),
        "tool_calls": [
            {
                "id": call.get("id"),
                "type": "function",
                "function": {
                    "name": call.get("name"),
                    "arguments": call.get("raw_arguments")
                    or json.dumps(call.get("arguments") or {}),
                },
            }
            for call in calls
        ],
    }


def _validate(content: str, schema: dict[str, Any]) -> tuple[str | None, Any]:
    text = content.strip()
    if text.startswith("```"):
        text = text.strip("`")
        text = text[text.find("\n") + 1 :] if "\n" in text else text
    try:
        value = json.loads(text)
    except ValueError as exc:
        return f"not valid JSON ({exc})", None
    import jsonschema  # type: ignore[import-untyped, unused-ignore]

    error = jsonschema.exceptions.best_match(
        jsonschema.Draft202012Validator(schema).iter_errors(value)
    )
    if error is not None:
        where = "/".join(str(p) for p in error.absolute_path) or "the value"
        return f"{where}: {error.message}", None
    return None, value


async def create_agent(services: Services, session: Session, config: Any) -> HostObject:
    """Spawn an agent actor for ``session`` and return its script object."""
    cfg = _config(session, config)
    ref = await services.spawn_agent(session, Agent, cfg)

    async def run(user_input: Any = None) -> ScriptValue:
        if user_input is None:
            raise ParameterError(f"{cfg.name}:run", "input", "is required")
        result: ScriptValue = await ref.ask(RunAgent(user_input), timeout=None)
        return result

    async def reset() -> None:
        await ref.ask(RESET, timeout=None)

    async def history() -> ScriptValue:
        return to_script(await ref.ask(HISTORY, timeout=None))

    return HostObject(
        "agent",
        {"run": run, "reset": reset, "history": history},
        {"name": cfg.name, "model": cfg.model or services.default_model},
    )
