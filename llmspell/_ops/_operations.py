"""The runtime's operations: what every run shares (provider, tools, supervisors, observer).

:class:`Operations` is built once per runtime. Its methods are the operations a spell can make
happen, each through :func:`~llmspell._ops.instrumented`: :meth:`generate` (an LLM call),
:meth:`call_tool`, :meth:`create_agent` and :meth:`run_agent`. The script API (``llmspell._api``)
validates a script's arguments, converts values and calls these; nothing below it knows scripts.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine
from typing import TYPE_CHECKING, Any

import actors

from ..engines import ScriptFunction
from ..providers import Provider, is_offline_model
from ..state import MemoryStateStore, StateStore
from ..tools import Permissions, ToolRegistry
from ._instrument import instrumented
from ._llm import LlmCall
from ._state import StateWrite
from ._tools import ToolCall, ToolPools, tool_specs

if TYPE_CHECKING:  # agents and workflows load on first use: not on every run's start-up
    from ..workflows import WorkflowStore
    from ._agent import AgentConfig, AgentHandle
    from ._context import RunContext
    from ._metrics import SpellMetrics
    from ._trace import Observer
    from ._workflow import Workflow


class Operations:
    """What the runs of one runtime share, and the operations they make.

    Attributes:
        system: the actor system (bus, hooks, supervisors).
        provider: the LLM provider; ``provider.default_model`` answers requests naming none.
        tools: the runtime's tools (a run sees these plus its own).
        permissions: what tool calls may touch unless a run brings its own.
        observer: watches every operation (tracing, metrics), or None.
        state: the runtime's state store (``state.*`` from spells, agent memory).
        state_path: the SQLite file durable workflows record in (the state store's, when it
            is one; ``":memory:"``: this process only).
        metrics: records the metrics spells make (``metrics.*``), or None: the calls then
            validate and do nothing.
    """

    def __init__(
        self,
        system: actors.ActorSystem,
        workers: actors.SupervisorRef,
        *,
        provider: Provider,
        tools: ToolRegistry,
        permissions: Permissions,
        notice: Callable[[str], None] | None = None,
        observer: Observer | None = None,
        state: StateStore | None = None,
        state_path: str = ":memory:",
        metrics: SpellMetrics | None = None,
    ) -> None:
        self.system = system
        self.provider = provider
        self.tools = tools
        self.permissions = permissions
        self.observer = observer
        self.metrics = metrics
        self.workers = workers
        self.pools = ToolPools(workers)
        self.active: dict[str, Callable[[], None]] = {}
        """The runs in progress: run id → what stops it."""
        self.interrupts: dict[str, Callable[[str], None]] = {}
        """The runs in progress: run id → what interrupts its script (even computing)."""
        self._notice = notice
        self.state = state if state is not None else MemoryStateStore()
        self.state_path = state_path
        self._workflows: WorkflowStore | None = None
        self.workflow_retention: tuple[float | None, int | None] = (30 * 86400.0, 1000)
        """Finished workflow runs kept: (max age in seconds, max count); None: no bound."""
        self.workflow_prune_every = 100
        self._since_prune: int | None = None

    @property
    def default_model(self) -> str:
        return self.provider.default_model

    def generate(
        self,
        ctx: RunContext,
        request: dict[str, Any],
        *,
        on_chunk: ScriptFunction | None = None,
        specs: list[dict[str, Any]] | None = None,
        agent: str | None = None,
    ) -> Coroutine[Any, Any, dict[str, Any]]:
        """One LLM call for ``ctx`` (``await ops.generate(...)``): ``request`` is ``{messages,
        model?, temperature?, ...}``.

        Returns the script-shaped response ``{content, role, model, tool_calls, usage, cost,
        finish_reason, object?}``. ``specs`` are the tools offered (else the request's
        ``tools`` names are looked up). (The instrumented call's own coroutine: one that only
        awaited it would be one more object per waiting call.)
        """
        call = LlmCall(self, request.get("model") or self.default_model, on_chunk, specs, agent)
        return instrumented(call, ctx, request)

    def tool_specs(self, ctx: RunContext, names: list[str]) -> list[dict[str, Any]]:
        """OpenAI function-tool definitions for the tools ``names`` of the run."""
        return tool_specs(ctx.tools, names)

    async def call_tool(
        self, ctx: RunContext, name: str, args: dict[str, Any], *, caller: str | None = None
    ) -> Any:
        """Run tool ``name`` with named ``args`` for ``ctx`` (unknown names fail at once)."""
        tool = ctx.tools.get(name)
        return await instrumented(ToolCall(self, tool, caller), ctx, args)

    def create_agent(self, ctx: RunContext, config: AgentConfig) -> AgentHandle:
        """An agent living as long as the run (its actor is spawned on first use)."""
        from ._agent import spawn_agent

        return spawn_agent(self, ctx, config)

    async def run_agent(self, ctx: RunContext, agent: AgentHandle, user_input: Any) -> Any:
        """Let ``agent`` answer ``user_input`` (a run through ``agent.before/after_run``)."""
        from ._agent import AgentRun

        return await instrumented(AgentRun(agent), ctx, user_input)

    def write_state(
        self,
        ctx: RunContext,
        store: StateStore,
        scope: str,
        path: str,
        value: Any,
        apply: Callable[[Any], Awaitable[Any]],
    ) -> Awaitable[Any]:
        """A change to state (``set``/``delete``/``update``) through ``state.before_write`` →
        ``apply(value)`` → ``state.after_write``, then ``state.changed``; await it."""
        return instrumented(StateWrite(store, scope, path, apply), ctx, value)

    def workflow_store(self) -> WorkflowStore:
        """Where durable workflows record their runs (opened on first use)."""
        if self._workflows is None:
            from ..workflows import open_workflow_store

            self._workflows = open_workflow_store(self.state_path)
        return self._workflows

    async def run_workflow(
        self, ctx: RunContext, wf: Workflow, input: Any, run_id: str | None
    ) -> dict[str, Any]:
        """Run, resume or recall the durable workflow run ``run_id`` of ``wf`` on ``input``.

        Finished runs are pruned (``workflow_retention``: max age in seconds, max count) when
        the store is first used and after every ``workflow_prune_every`` runs.
        """
        from ._workflow import run_workflow

        store = self.workflow_store()
        if self._since_prune is None or self._since_prune >= self.workflow_prune_every:
            max_age, max_runs = self.workflow_retention
            await store.prune(max_age=max_age, max_runs=max_runs)
            self._since_prune = 0
        try:
            return await run_workflow(ctx, store, wf, input, run_id)
        finally:
            self._since_prune += 1

    async def aclose(self) -> None:
        """Release what the operations opened (the workflow store)."""
        if self._workflows is not None:
            store, self._workflows = self._workflows, None
            await store.aclose()

    def answered(self, model: str) -> None:
        """Tell the user once which model answered, when it was the offline one."""
        if self._notice is not None and is_offline_model(model):
            notice, self._notice = self._notice, None
            notice(
                f"answered by the offline model ({model}). To use a real model pass "
                "--model (e.g. openai/gpt-4o-mini with OPENAI_API_KEY set), or set "
                "LLMSPELL_MODEL or `model` in llmspell.toml."
            )
