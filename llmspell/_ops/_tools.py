"""A tool call: ``tool.before_call`` → the tool → ``tool.after_call``, then ``tool.executed``.

Built-in and Python tools run in actors: each tool has a small pool of :class:`ToolActor`
(one call at a time each), so concurrent calls of one tool run concurrently and a crashing tool
is restarted by its supervisor. A spell's own tools (``tools.register``) run where the spell
runs, in its interpreter: an actor would only forward to it, and a handler calling its own tool
again (recursion) must not wait for a pool slot held by its caller.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar, NamedTuple

import anyio

import actors

from .._exceptions import ParameterError, ToolError
from ..tools import Tool, ToolContext, ToolRegistry
from ._catalogue import TOOL, OpKind, Payload, ToolExecuted
from ._instrument import Call, Operation
from ._measure import charge
from ._trace import adopt_envelope_headers

if TYPE_CHECKING:
    from ._operations import Operations

POOL_SIZE = 8
"""How many actors one tool may have, so that concurrent calls of it run concurrently."""


class _Execute(NamedTuple):
    """A call for a tool actor (a named tuple: a frozen dataclass costs every start-up ~3M
    instructions to create)."""

    tool: Tool
    args: dict[str, Any]
    ctx: ToolContext


class ToolActor(actors.Actor):
    """Runs calls of one tool, one at a time; a tool has a small pool of these."""

    async def on_receive(self, message: Any) -> Any:
        assert isinstance(message, _Execute)
        adopt_envelope_headers()
        return await ToolRegistry.execute(message.tool, message.args, message.ctx)


class _Slot:
    """One actor of a pool and how many calls it has been given that have not returned."""

    __slots__ = ("inflight", "ref")

    def __init__(self, ref: actors.ActorRef) -> None:
        self.ref = ref
        self.inflight = 0


class ToolPools:
    """The actors of each shared tool, spawned on demand under the ``tools`` supervisor."""

    def __init__(self, supervisor: actors.SupervisorRef, size: int = POOL_SIZE) -> None:
        self._supervisor = supervisor
        self._size = size
        self._pools: dict[str, list[_Slot]] = {}
        self._spawning: dict[str, anyio.Lock] = {}

    async def claim(self, tool: Tool) -> _Slot:
        """An idle actor of ``tool`` (a new one while the pool has room, else the least busy),
        counted as busy until :meth:`release`."""
        pool = self._pools.get(tool.name)
        if pool is not None:  # the common case: an idle live actor, no lock needed
            for slot in pool:
                if slot.inflight == 0 and slot.ref.is_alive:
                    slot.inflight += 1
                    return slot
        lock = self._spawning.setdefault(tool.name, anyio.Lock())
        async with lock:  # concurrent first calls must not spawn the same actor twice
            pool = self._pools.setdefault(tool.name, [])
            idle = [s for s in pool if s.inflight == 0 and s.ref.is_alive]
            if idle:
                slot = idle[0]
            elif len(pool) < self._size:
                ref = await self._supervisor.spawn(
                    ToolActor, name=f"tool:{tool.name}#{len(pool) + 1}", restart="permanent"
                )
                slot = _Slot(ref)
                pool.append(slot)
            else:
                slot = min(pool, key=lambda s: s.inflight)
            slot.inflight += 1
            return slot

    @staticmethod
    def release(slot: _Slot) -> None:
        slot.inflight -= 1


class ToolCall(Operation[dict[str, Any], Any]):
    """One call of ``tool``; the input is its named arguments."""

    kind: ClassVar[OpKind] = TOOL

    def __init__(self, ops: Operations, tool: Tool, caller: str | None) -> None:
        self.ops = ops
        self.tool = tool
        self.caller = caller

    def data(self) -> dict[str, Any]:
        return {"tool": self.tool.name, "caller": self.caller}

    def accept(self, value: Any, call: Call) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise ToolError(self.tool.name, "a tool.before_call hook returned non-table arguments")
        return value

    async def run(self, value: dict[str, Any], call: Call) -> Any:
        ctx = call.ctx
        limit = ctx.limits.memory_bytes
        name = self.tool.name
        try:
            charge(f"tool {name!r}: its arguments", value, limit)
        except ValueError as exc:  # nested too deeply
            raise ParameterError(f"tools.{name}", "args", str(exc)) from None
        tool_ctx = ToolContext(
            ctx.permissions,
            run_id=ctx.run_id,
            caller=self.caller,
            headers=call.headers,
            max_bytes=limit,
        )
        tool, args = ctx.tools.prepare(name, value, tool_ctx)
        if tool.source == "script":
            result = await ToolRegistry.execute(tool, args, tool_ctx)
        else:
            pools = self.ops.pools
            slot = await pools.claim(tool)
            try:
                result = await slot.ref.ask(
                    _Execute(tool, args, tool_ctx), timeout=None, headers=call.headers
                )
            finally:
                pools.release(slot)
        try:
            charge(f"tool {name!r}: its result", result, limit)
        except ValueError as exc:
            raise ToolError(name, f"its result cannot be passed back: {exc}") from None
        return result

    def cancelled(self, error: actors.HookCancelledError, call: Call) -> Exception:
        return ToolError(self.tool.name, f"refused by a hook: {error.reason}")

    def finished(self, call: Call, result: Any, error: Exception | None) -> Payload:
        return ToolExecuted(
            *call.ids(),
            self.tool.name,
            self.caller,
            call.duration,
            error is None,
            None if error is None else str(error),
        )


def tool_specs(registry: ToolRegistry, names: list[str]) -> list[dict[str, Any]]:
    """OpenAI function-tool definitions for the tools ``names`` of ``registry``."""
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
