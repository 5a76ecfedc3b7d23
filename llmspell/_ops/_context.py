"""The run context: everything one spell run owns, typed, and released when the run ends.

A :class:`RunContext` is what every API function of a run receives (the engine passes it as
:attr:`~llmspell.engines.Api.context`) and what every operation of the run is charged to: its
identity (spell, run id), its permissions and limits, its usage totals, its trace headers, the
subscriptions, hooks and tools the spell made, and what must be closed at the end.

It also decides when a run is over. Under ``llmspell run`` a spell ends when its main code has
returned and nothing is left to do: no event queued for its handlers, no handler running (the way
a Node.js process ends when its event loop is empty). A *resident* run (``llmspell serve``) keeps
handling events until it removes its handlers or is stopped.
"""

from __future__ import annotations

import itertools
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any

import anyio

import actors

from .._exceptions import LimitExceeded
from ._trace import NO_HEADERS, current_headers, reset_headers, use_headers

if TYPE_CHECKING:
    from ..engines import Limits
    from ..tools import Permissions, Tool, ToolRegistry
    from ._operations import Operations
    from ._spell import OutputMeter

LogSink = Callable[[str, str, dict[str, Any]], None]
"""Receives ``(level, message, fields)`` for every ``log.*`` call of a spell."""

EventHandler = Callable[[actors.Event], Awaitable[None] | None]
"""Handles one event: it returns ``None`` once done, or an awaitable when it has to wait (the
rest of it: a script handler that suspended)."""

REGISTRATION_BYTES = 16 * 1024
"""What one event handler or hook handler of a run is charged against its memory limit: its
subscription, queue and delivery task, or its hook entry, on the host, plus the function the
engine keeps alive for it (measured: 300,000 Lua ``events.on`` took ~5 GB, ~17 KB each)."""

QUEUE_SIZE = 256
"""Events that may wait for one handler of a run. Publishers of the same run wait for room;
those of other runs do not: the oldest waiting event is dropped, and the run is told."""


class Usage:
    """Token usage and cost summed over a run's LLM calls (a plain class: a dataclass costs
    every start-up some 2M instructions to create)."""

    __slots__ = ("calls", "completion_tokens", "cost", "prompt_tokens", "total_tokens")

    def __init__(
        self,
        calls: int = 0,
        prompt_tokens: int = 0,
        completion_tokens: int = 0,
        total_tokens: int = 0,
        cost: float = 0.0,
    ) -> None:
        self.calls = calls
        self.prompt_tokens = prompt_tokens
        self.completion_tokens = completion_tokens
        self.total_tokens = total_tokens
        self.cost = cost

    def __repr__(self) -> str:
        return f"Usage({', '.join(f'{k}={v!r}' for k, v in self.as_dict().items())})"

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not Usage:
            return NotImplemented
        assert isinstance(other, Usage)
        return self.as_dict() == other.as_dict()

    __hash__ = None  # type: ignore[assignment]  # mutable, like the dataclass it was

    def add(self, prompt: int, completion: int, total: int, cost: float) -> None:
        self.calls += 1
        self.prompt_tokens += prompt
        self.completion_tokens += completion
        self.total_tokens += total
        self.cost += cost

    def as_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in _USAGE_FIELDS}  # asdict() deep-copies


_USAGE_FIELDS = ("calls", "prompt_tokens", "completion_tokens", "total_tokens", "cost")


class RunContext:
    """One spell run: identity, permissions, limits, usage, and what the spell registered.

    Everything registered through the context is released by :meth:`aclose`, so a finished or
    crashed run leaves nothing behind on the shared bus and hook registry.

    Attributes:
        ops: the runtime's operations (provider, tools, supervisors, observer).
        run_id: unique per run.
        spell: the spell's name (its file stem, or the daemon's name for it).
        filename: what errors name.
        params: the spell's parameters.
        log: where ``log.*`` lines go.
        permissions: what the run's tool calls may touch.
        limits: the run's sandbox limits.
        headers: the run's trace context (what its operations nest under).
        source: the spell's text (durable workflows record its hash).
        usage: tokens and cost of the run's LLM calls.
        hooks: the spell's own hook handlers (None until it registers one); they see only
            this run's operations.
    """

    def __init__(
        self,
        ops: Operations,
        *,
        run_id: str,
        spell: str,
        filename: str,
        params: dict[str, Any],
        log: LogSink,
        permissions: Permissions,
        limits: Limits,
        headers: Mapping[str, str] = NO_HEADERS,
        source: str = "",
    ) -> None:
        self.ops = ops
        self.source = source
        self.system: actors.ActorSystem = ops.system
        self.run_id = run_id
        self.spell = spell
        self.filename = filename
        self.params = params
        self.log = log
        self.permissions = permissions
        self.limits = limits
        self.headers = headers
        self.usage = Usage()
        self.hooks: actors.HookRegistry | None = None
        self.subscriptions: dict[str, actors.Subscription] = {}
        self.hook_ids: dict[str, list[actors.HookRegistration]] = {}
        self.fatal: Exception | None = None
        self.output_meter: OutputMeter | None = None  # counts log.* lines with the prints
        self.closers: list[Callable[[], Awaitable[None]]] = []
        self._tools: ToolRegistry | None = None
        self._ids = itertools.count(1)
        self._calls = itertools.count(1)
        self._busy = 0  # event handlers running
        self._registered = 0  # live event and hook handlers, charged to the memory limit
        self._dropped: dict[str, int] = {}  # per subscription: drops already told to the run
        self._inflight = 0  # API calls started by the spell and not finished
        self._wake: anyio.Event | None = None

    def next_id(self, prefix: str) -> str:
        """A short id unique within the run (``sub-3``, ``hook-1``)."""
        return f"{prefix}-{next(self._ids)}"

    def new_call_id(self) -> str:
        """An operation's call id: unique within the process (``<run id>.<n>``)."""
        return f"{self.run_id}.{next(self._calls)}"

    def current_headers(self) -> Mapping[str, str]:
        """The trace headers calls made now nest under: the current operation's, else the run's."""
        return current_headers() or self.headers

    # -- tools --------------------------------------------------------------------------------

    @property
    def tools(self) -> ToolRegistry:
        """The run's tools: the runtime's, plus those the spell registered."""
        return self.ops.tools if self._tools is None else self._tools

    def register_tool(self, tool: Tool) -> None:
        """Add a tool visible to this run only (the shared registry is copied on first use)."""
        if self._tools is None:
            self._tools = self.ops.tools.copy()
        self._tools.register(tool, replace=True)

    # -- hooks --------------------------------------------------------------------------------

    def add_hooks(self, handlers: list[tuple[str, Callable[..., Any]]], priority: int) -> str:
        """Register the spell's handlers ``[(point, fn)]`` as one unit; return its id.

        They run fail-closed (a handler's error cancels the operation) and only on this run's
        operations.
        """
        self._charge(len(handlers), "hook")
        if self.hooks is None:
            self.hooks = actors.HookRegistry()
        hook_id = self.next_id("hook")
        self.hook_ids[hook_id] = [
            self.hooks.register(
                point, fn, priority=priority, fail_closed=True, name=f"{self.spell}:{hook_id}"
            )
            for point, fn in handlers
        ]
        return hook_id

    def remove_hooks(self, hook_id: str) -> bool:
        registrations = self.hook_ids.pop(hook_id, None)
        if registrations is None:
            return False
        for registration in registrations:
            registration.cancel()
        self._registered -= len(registrations)
        return True

    @property
    def max_registrations(self) -> int:
        """How many event and hook handlers the run may hold at once (from its memory limit)."""
        return max(16, self.limits.memory_bytes // REGISTRATION_BYTES)

    def _charge(self, count: int, what: str) -> None:
        """Count ``count`` new handlers against the run's memory limit (or end the run)."""
        cap = self.max_registrations
        if self._registered + count > cap:
            raise LimitExceeded(
                "memory",
                f"the spell registered more than {cap} event and hook handlers at once (each is"
                f" charged {REGISTRATION_BYTES} bytes of its {self.limits.memory_bytes}-byte"
                " memory limit)",
            )
        self._registered += count

    # -- events -------------------------------------------------------------------------------

    def subscribe(
        self,
        pattern: str,
        handler: EventHandler,
        *,
        name: str,
        once: bool,
        queue: str | None = None,
    ) -> str:
        """Subscribe ``handler`` for this run; return the subscription's id.

        The handler runs with the event's trace headers current (and, if it returns an
        awaitable, while that is awaited), and the run counts it as work in progress until it
        is done. ``once`` removes the subscription at the first
        event. ``queue`` shares the events with every subscription of that queue name and
        pattern (each event to one of them; see ``actors.EventBus.subscribe``). Raises
        ``ValueError`` for an invalid pattern or queue name.
        """
        self._charge(1, "event")
        sub_id = self.next_id("sub")

        # A plain function: the bus calls it, and awaits what it returns only when the
        # handler has to wait (most script handlers run to their end right here).
        def deliver(event: actors.Event) -> Awaitable[None] | None:
            if once:
                self.unsubscribe(sub_id)
            else:
                sub = self.subscriptions.get(sub_id)
                if sub is not None and sub.dropped:  # (any drop at all: rare)
                    self._report_drops(sub_id)
            self._busy += 1
            headers = event.headers or self.headers
            # (already current when the event and the delivery task carry none: most events)
            token = None if current_headers() is headers else use_headers(headers)
            rest = None
            try:
                rest = handler(event)
            finally:
                if token is not None:
                    reset_headers(token)
                if rest is None:
                    self._busy -= 1
                    self._changed()
            return None if rest is None else self._finish_handler(rest, headers)

        try:
            self.subscriptions[sub_id] = self.system.bus.subscribe(
                pattern, deliver, name=name, queue=queue, queue_size=QUEUE_SIZE, owner=self.run_id
            )
        except BaseException:
            self._registered -= 1
            raise
        return sub_id

    async def _finish_handler(self, rest: Awaitable[None], headers: Mapping[str, str]) -> None:
        """The rest of an event handler that had to wait (see :meth:`subscribe`)."""
        token = use_headers(headers)
        try:
            await rest
        finally:
            reset_headers(token)
            self._busy -= 1
            self._changed()

    def _report_drops(self, sub_id: str) -> None:
        """Tell the run (a ``log.warn`` line) when events were lost to its full queue."""
        sub = self.subscriptions.get(sub_id)
        if sub is None:
            return
        told = self._dropped.get(sub_id, 0)
        if sub.dropped > told:  # on every event: the counter, not the statistics
            stats = sub.statistics()
            self._dropped[sub_id] = stats.dropped
            self.log(
                "warn",
                f"events for {stats.pattern!r} came faster than the handler took them:"
                f" {stats.dropped - told} dropped",
                {"pattern": stats.pattern, "dropped": stats.dropped},
            )

    def unsubscribe(self, sub_id: str) -> bool:
        sub = self.subscriptions.pop(sub_id, None)
        if sub is None:
            return False
        self._registered -= 1
        self._dropped.pop(sub_id, None)
        sub.cancel()
        self._changed()
        return True

    @property
    def publisher(self) -> str | None:
        """Who the run's publishes are from, for the bus (``owner=``): the run, whose own full
        queues then hold them back. A handler publishing to its own full queue would wait for
        itself: the bus sees that one by its context (``actors`` DELIVERING: every engine runs
        a script function's API calls in its caller's context) and drops instead."""
        return self.run_id

    @property
    def resident(self) -> bool:
        """Whether the run still has event handlers."""
        return bool(self.subscriptions)

    def call_started(self) -> None:
        """An API call of the spell began (un-awaited ones too: a JS handler may return first)."""
        self._inflight += 1

    def call_finished(self) -> None:
        self._inflight -= 1
        if not self._inflight:
            self._changed()

    def idle(self) -> bool:
        """Whether nothing is left to do: no handler running, no event queued for one, no
        API call in flight."""
        if self._busy or self._inflight:
            return False
        return all(sub.queued == 0 for sub in self.subscriptions.values())

    def fail(self, exc: Exception) -> None:
        """End the run with ``exc`` (a callback hit a sandbox limit)."""
        if self.fatal is None:
            self.fatal = exc
        self._changed()

    def _changed(self) -> None:
        if self._wake is not None:
            self._wake.set()

    async def wait_done(self, *, resident: bool) -> None:
        """After the main code returned: wait until the run is over.

        Not ``resident``: until it is idle. ``resident``: until it holds no subscription.
        Raises the error a callback ended the run with.
        """
        while True:
            while self.fatal is None and (self.resident if resident else not self.idle()):
                self._wake = anyio.Event()
                await self._wake.wait()
            self._wake = None
            bus = self.system.bus
            if self.fatal is not None or resident or bus.backend is None:
                break
            # On a distributed bus the events for this run's handlers may still be on their
            # way (nothing is queued in the process): idle only once they are handled too.
            await bus.flush(list(self.subscriptions.values()))
            if self.idle():
                break
        if self.fatal is not None:
            raise self.fatal

    async def aclose(self) -> None:
        """Release everything the run made: subscriptions, hooks, agents, script tools."""
        closers, self.closers = self.closers, []
        for close in reversed(closers):
            await close()
        for sub_id in list(self.subscriptions):
            self.unsubscribe(sub_id)
        for hook_id in list(self.hook_ids):
            self.remove_hooks(hook_id)
