"""Agents: an actor that loops model → tool calls → tool results → model until it answers.

An agent's conversation history persists across runs of it (within the spell run); several tool
calls of one turn run concurrently; invalid tool arguments and tool errors go back to the model as
tool results so it can correct itself; with a ``schema`` an answer that does not validate is sent
back for repair (at most :data:`MAX_REPAIRS` times). An agent listed in another's tools is a tool
taking ``{input}``. Each run passes ``agent.before_run`` / ``agent.after_run`` and publishes
``agent.started`` / ``agent.finished``.
"""

from __future__ import annotations

import dataclasses
import json
from typing import TYPE_CHECKING, Any, ClassVar

import anyio

import actors

from .._exceptions import SpellError
from ._catalogue import AGENT, AgentFinished, AgentStarted, OpKind, Payload
from ._instrument import Call, Operation
from ._trace import adopt_envelope_headers

if TYPE_CHECKING:
    from ._context import RunContext
    from ._operations import Operations

MAX_REPAIRS = 2
"""How many times an answer that does not match the agent's schema is sent back for repair."""


@dataclasses.dataclass
class AgentConfig:
    """A validated agent configuration (``llm.agent{...}``)."""

    name: str
    model: str | None
    system: str | None
    tools: list[str]
    agents: dict[str, AgentHandle]
    max_steps: int
    temperature: float | None
    schema: dict[str, Any] | None
    memory: bool = False
    """Keep the conversation in the state store (scope ``agent:<name>``) across runs."""


@dataclasses.dataclass(frozen=True, slots=True)
class _Run:
    input: Any


_RESET, _HISTORY = object(), object()


class AgentHandle:
    """An agent of one run: its configuration, and its actor once it has been used."""

    def __init__(self, ops: Operations, ctx: RunContext, config: AgentConfig) -> None:
        self.ops = ops
        self.ctx = ctx
        self.config = config
        self.agent_id = f"{ctx.run_id}:{config.name}"
        self._ref: actors.ActorRef | None = None
        self._lock = anyio.Lock()

    @property
    def model(self) -> str:
        return self.config.model or self.ops.default_model

    async def ask(self, message: Any, headers: Any = None) -> Any:
        """Send ``message`` to the agent's actor (spawned on first use) and wait for its reply."""
        if self._ref is None:
            async with self._lock:
                if self._ref is None:
                    self._ref = await self.ops.workers.spawn(
                        Agent,
                        self,
                        name=f"agent:{self.ctx.run_id}:{self.config.name}:{self.ctx.next_id('a')}",
                        restart="temporary",
                    )
                    self.ctx.closers.append(self._stop)
        return await self._ref.ask(message, timeout=None, headers=headers)

    async def reset(self) -> None:
        if self._ref is not None or self.config.memory:
            await self.ask(_RESET)

    async def history(self) -> list[dict[str, Any]]:
        if self._ref is None and not self.config.memory:
            return []
        result: list[dict[str, Any]] = await self.ask(_HISTORY)
        return result

    async def _stop(self) -> None:
        if self._ref is not None and self._ref.is_alive:
            await self._ref.stop()


def spawn_agent(ops: Operations, ctx: RunContext, config: AgentConfig) -> AgentHandle:
    """An agent of the run ``ctx``; its actor starts with its first run."""
    return AgentHandle(ops, ctx, config)


class AgentRun(Operation[Any, Any]):
    """One answer of an agent; the input is the user's message."""

    kind: ClassVar[OpKind] = AGENT

    def __init__(self, agent: AgentHandle) -> None:
        self.agent = agent

    def data(self) -> dict[str, Any]:
        return {"agent": self.agent.config.name}

    def started(self, call: Call) -> Payload:
        return AgentStarted(*call.ids(), self.agent.agent_id, self.agent.config.name)

    async def run(self, value: Any, call: Call) -> Any:
        steps, output = await self.agent.ask(_Run(value), headers=call.headers)
        call.facts["steps"] = steps
        return output

    def finished(self, call: Call, result: Any, error: Exception | None) -> Payload:
        return AgentFinished(
            *call.ids(),
            self.agent.agent_id,
            self.agent.config.name,
            call.facts.get("steps", 0),
            call.duration,
            error is None,
            None if error is None else str(error),
        )


MEMORY_KEY = "history"
"""Where a ``memory=true`` agent keeps its conversation, in scope ``agent:<name>``."""


class Agent(actors.Actor):
    """One agent: its conversation history, one run at a time.

    With ``memory`` the history is read from the state store when the agent first runs and
    written back after every answer (through the instrumented state-write path), so the next
    run of the spell — or another spell naming the same agent — continues the conversation.
    """

    def __init__(self, handle: AgentHandle) -> None:
        self.handle = handle
        self.config = handle.config
        self.history: list[dict[str, Any]] = []
        self._loaded = not handle.config.memory

    @property
    def scope(self) -> str:
        return f"agent:{self.config.name}"

    async def on_receive(self, message: Any) -> Any:
        adopt_envelope_headers()
        if not self._loaded:
            stored = await self.handle.ops.state.get(self.scope, MEMORY_KEY)
            self.history = list(stored) if isinstance(stored, list) else []
            self._loaded = True
        if isinstance(message, _Run):
            result = await self._answer(message.input)
            await self._remember()
            return result
        if message is _RESET:
            self.history.clear()
            await self._remember()
            return None
        if message is _HISTORY:
            return [dict(m) for m in self.history]
        raise TypeError(f"agent {self.config.name!r} got an unknown message {message!r}")

    async def _remember(self) -> None:
        if not self.config.memory:
            return
        ops, ctx, store = self.handle.ops, self.handle.ctx, self.handle.ops.state
        history = [dict(m) for m in self.history]

        async def write(value: Any) -> Any:
            await store.set(self.scope, MEMORY_KEY, value)
            return value

        await ops.write_state(ctx, store, self.scope, MEMORY_KEY, history, write)

    def _tool_specs(self) -> list[dict[str, Any]]:
        specs = self.handle.ops.tool_specs(self.handle.ctx, self.config.tools)
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
        ops, ctx = self.handle.ops, self.handle.ctx
        try:
            if name in self.config.agents:
                result = await ops.run_agent(ctx, self.config.agents[name], args.get("input", ""))
            else:
                result = await ops.call_tool(ctx, name, args, caller=self.config.name)
        except (SpellError, actors.HookCancelledError) as exc:
            return f"error: {exc}"
        return text_of(result)

    async def _call_tools(self, calls: list[dict[str, Any]]) -> list[str]:
        """Run one turn's tool calls concurrently; results in call order."""
        results = [""] * len(calls)

        async def one(i: int, call: dict[str, Any]) -> None:
            results[i] = await self._call_tool(call)

        async with anyio.create_task_group() as tg:
            for i, call in enumerate(calls):
                tg.start_soon(one, i, call)
        return results

    async def _answer(self, user_input: Any) -> tuple[int, Any]:
        """Loop model → tools until the model answers; return (steps taken, answer)."""
        cfg, ops, ctx = self.config, self.handle.ops, self.handle.ctx
        self.history.append({"role": "user", "content": text_of(user_input)})
        tools = self._tool_specs()
        repairs = 0
        for step in range(1, cfg.max_steps + 1):
            request: dict[str, Any] = {"messages": self._messages()}
            for key in ("model", "temperature", "schema"):
                if getattr(cfg, key) is not None:
                    request[key] = getattr(cfg, key)
            response = await ops.generate(ctx, request, specs=tools or None, agent=cfg.name)
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
                return step, content
            problem, output = _validate(content, cfg.schema)
            if problem is None:
                return step, output
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
        raise SpellError(f"agent {cfg.name!r} did not finish within max_steps={cfg.max_steps}")

    def _messages(self) -> list[dict[str, Any]]:
        head = [{"role": "system", "content": self.config.system}] if self.config.system else []
        return head + [dict(m) for m in self.history]


def text_of(value: Any) -> str:
    """``value`` as message text: strings as they are, anything else as JSON."""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, default=str)


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
