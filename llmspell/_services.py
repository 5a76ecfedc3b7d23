"""LLM calls and tool calls for spells: hooks, events, usage, and tools as actors.

Every LLM call passes ``llm.before_generate`` → provider → ``llm.after_generate`` and publishes
``llm.request`` / ``llm.response`` (``model``, ``usage``, ``cost``, ``duration``). Every tool
call passes ``tool.before_call`` → the tool's actor → ``tool.after_call`` and publishes
``tool.executed`` (``toolName``, ``duration``, ``success``, ``error``).
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable
from typing import Any

import anyio

import actors

from ._api import Session
from ._api._llm import llm_namespace
from ._api._tools import tools_namespace
from ._exceptions import ParameterError, ProviderError, ToolError
from .engines import Namespace, ScriptFunction
from .providers import LLMRequest, Provider, is_offline_model
from .tools import Permissions, Tool, ToolContext, ToolRegistry

POOL_SIZE = 8
"""How many actors one tool may have, so that concurrent calls of it run concurrently."""


@dataclasses.dataclass(frozen=True)
class _Invoke:
    registry: ToolRegistry
    name: str
    args: dict[str, Any]
    ctx: ToolContext


class ToolActor(actors.Actor):
    """Runs calls of one tool, one at a time; a tool has a small pool of these."""

    async def on_receive(self, message: Any) -> Any:
        assert isinstance(message, _Invoke)
        return await message.registry.invoke(message.name, message.args, message.ctx)


class Services:
    """What the ``llm`` and ``tools`` namespaces need: provider, tools, permissions."""

    def __init__(
        self,
        system: actors.ActorSystem,
        supervisor: Any,
        *,
        provider: Provider,
        tools: ToolRegistry,
        permissions: Permissions,
        notice: Callable[[str], None] | None = None,
    ) -> None:
        self.system = system
        self.provider = provider
        self.tools = tools
        self.permissions = permissions
        self._supervisor = supervisor
        self._notice = notice
        self._noticed = False
        self._pools: dict[str, list[tuple[Any, list[int]]]] = {}
        self._spawning: dict[str, anyio.Lock] = {}

    @property
    def default_model(self) -> str:
        return self.provider.default_model

    def namespaces(self) -> dict[str, Namespace]:
        """The ``llm`` and ``tools`` namespaces (shared by every run)."""
        return {"llm": llm_namespace(self), "tools": tools_namespace(self)}

    # -- tools --

    def session_tools(self, session: Session) -> ToolRegistry:
        """The run's tools: the shared ones plus those the spell registered."""
        registry = session.services.get("tools")
        if registry is None:
            registry = session.services["tools"] = self.tools.copy()
        assert isinstance(registry, ToolRegistry)
        return registry

    def tool_specs(self, session: Session, names: list[str]) -> list[dict[str, Any]]:
        """OpenAI function-tool definitions for ``names``."""
        if not names:
            return []  # without copying the shared tools for this run
        registry = self.session_tools(session)
        specs = []
        for name in names:
            try:
                tool = registry.get(name)
            except ToolError as exc:
                raise ParameterError("tools", name, str(exc)) from None
            specs.append(
                {
                    "type": "function",
                    "function": {
                        "name": tool.name,
                        "description": tool.description,
                        "parameters": tool.parameters,
                    },
                }
            )
        return specs

    async def _claim_actor(self, session: Session, tool: Tool) -> tuple[Any, list[int]]:
        """An idle actor of ``tool`` (spawning one while the pool has room), claimed.

        The caller must decrement the returned in-flight counter when its call is done.
        """
        key = f"{session.run_id}:{tool.name}" if tool.source == "script" else tool.name
        lock = self._spawning.setdefault(key, anyio.Lock())
        async with lock:  # concurrent first calls must not spawn the same actor twice
            pool = self._pools.get(key)
            if pool is None:
                pool = self._pools[key] = []
                if tool.source == "script":
                    session.closers.append(lambda: self._drop_pool(key))
            idle = [e for e in pool if e[1][0] == 0 and e[0].is_alive]
            if idle:
                entry = idle[0]
            elif len(pool) < POOL_SIZE:
                ref = await self._supervisor.spawn(
                    ToolActor, name=f"tool:{key}#{len(pool) + 1}", restart="permanent"
                )
                entry = (ref, [0])
                pool.append(entry)
            else:
                entry = min(pool, key=lambda e: e[1][0])
            entry[1][0] += 1
            return entry

    async def _drop_pool(self, key: str) -> None:
        self._spawning.pop(key, None)
        for ref, _ in self._pools.pop(key, []):
            if ref.is_alive:
                await ref.stop()

    async def call_tool(
        self, session: Session, name: str, args: dict[str, Any], *, caller: str | None = None
    ) -> Any:
        """Run tool ``name`` for ``session`` through hooks, its actor and ``tool.executed``."""
        registry = self.session_tools(session)
        tool = registry.get(name)  # unknown tools fail before any hook runs
        data = {"run_id": session.run_id, "spell": session.spell, "tool": name, "caller": caller}
        started = time.perf_counter()
        event = {"toolName": name, "runId": session.run_id, "spell": session.spell}
        try:
            value = await self.system.hooks.run("tool.before_call", args, data)
            if isinstance(value, actors.Replace):
                result = value.result
            else:
                if not isinstance(value, dict):
                    raise ToolError(name, "a tool.before_call hook returned non-table arguments")
                args = value
                permissions = session.services.get("permissions") or self.permissions
                ctx = ToolContext(permissions, run_id=session.run_id, caller=caller)
                ref, inflight = await self._claim_actor(session, tool)
                try:
                    result = await ref.ask(_Invoke(registry, name, args, ctx), timeout=None)
                finally:
                    inflight[0] -= 1
            result = await self.system.hooks.run("tool.after_call", result, dict(data, input=args))
            if isinstance(result, actors.Replace):
                result = result.result
        except actors.HookCancelledError as exc:
            error: Exception = ToolError(name, f"refused by a hook: {exc.reason}")
            await self._executed(event, started, error)
            raise error from None
        except Exception as exc:
            await self._executed(event, started, exc)
            raise
        await self._executed(event, started, None)
        return result

    async def _executed(
        self, event: dict[str, Any], started: float, error: Exception | None
    ) -> None:
        await self.system.bus.publish(
            "tool.executed",
            dict(
                event,
                duration=time.perf_counter() - started,
                success=error is None,
                error=None if error is None else str(error),
            ),
        )

    # -- agents --

    async def spawn_agent(self, session: Session, cls: type[actors.Actor], config: Any) -> Any:
        """Spawn an agent actor living as long as the run."""
        ref = await self._supervisor.spawn(
            cls,
            self,
            session,
            config,
            name=f"agent:{session.run_id}:{config.name}:{session.next_id('a')}",
            restart="temporary",
        )

        async def stop() -> None:
            if ref.is_alive:
                await ref.stop()

        session.closers.append(stop)
        return ref

    # -- llm --

    async def generate(
        self,
        session: Session,
        request: dict[str, Any],
        *,
        on_chunk: ScriptFunction | None = None,
        tool_specs: list[dict[str, Any]] | None = None,
        agent: str | None = None,
    ) -> dict[str, Any]:
        """One LLM call for ``session``: hooks, events, provider, usage accounting."""
        request = dict(request)
        request.setdefault("model", self.default_model)
        data = {"run_id": session.run_id, "spell": session.spell, "model": request["model"]}
        if agent is not None:
            data["agent"] = agent
        value = await self.system.hooks.run("llm.before_generate", request, data)
        if isinstance(value, actors.Replace):
            return (
                dict(value.result) if isinstance(value.result, dict) else {"content": value.result}
            )
        if not isinstance(value, dict) or not isinstance(value.get("messages"), list):
            raise ParameterError("llm", "request", "a beforeGenerate hook returned a bad request")
        request = value
        model = str(request.get("model") or self.default_model)
        tools = (
            tool_specs
            if tool_specs is not None
            else self.tool_specs(session, request.get("tools") or [])
        )
        llm_request = LLMRequest(
            model=model,
            messages=request["messages"],
            temperature=request.get("temperature"),
            max_tokens=request.get("max_tokens"),
            tools=tools or None,
            schema=request.get("schema"),
            api_base=request.get("api_base"),
            timeout=request.get("timeout"),
        )
        base = {"model": model, "runId": session.run_id, "spell": session.spell, "agent": agent}
        await self.system.bus.publish("llm.request", dict(base, messages=len(llm_request.messages)))
        started = time.perf_counter()
        try:
            if on_chunk is None:
                response = await self.provider.complete(llm_request)
            else:

                async def chunk(text: str) -> None:
                    await on_chunk(text)

                response = await self.provider.stream(llm_request, chunk)
        except ProviderError as exc:
            await self.system.bus.publish(
                "llm.error", dict(base, error=str(exc), duration=time.perf_counter() - started)
            )
            raise
        result = response.to_script()
        result["tool_calls"] = [
            {
                "id": call.id,
                "name": call.name,
                "arguments": call.arguments,
                "raw_arguments": call.raw_arguments,
                **({"error": call.error} if call.error else {}),
            }
            for call in response.tool_calls
        ]
        if llm_request.schema and response.content:
            try:
                result["object"] = json.loads(response.content)
            except ValueError:
                result["object"] = None
        after = await self.system.hooks.run(
            "llm.after_generate", result, dict(data, request=request)
        )
        if isinstance(after, actors.Replace):
            after = after.result
        if isinstance(after, dict):
            result = after
        usage = session.usage
        usage.calls += 1
        usage.prompt_tokens += response.usage.prompt_tokens
        usage.completion_tokens += response.usage.completion_tokens
        usage.total_tokens += response.usage.total_tokens
        usage.cost += response.cost
        await self.system.bus.publish(
            "llm.response",
            dict(
                base,
                model=response.model,
                usage=response.usage.as_dict(),
                cost=response.cost,
                duration=response.duration,
                finishReason=response.finish_reason,
            ),
        )
        if is_offline_model(response.model) and not self._noticed:
            self._noticed = True
            if self._notice is not None:
                self._notice(
                    f"answered by the offline model ({response.model}). To use a real model pass "
                    "--model (e.g. openai/gpt-4o-mini with OPENAI_API_KEY set), or set "
                    "LLMSPELL_MODEL or `model` in llmspell.toml."
                )
        return result
