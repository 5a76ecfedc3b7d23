"""The one instrumented path: before-hook → operation → after-hook → event, for every operation.

A spell run, an LLM call, a tool call, an agent run (and workflow steps and state writes) are
each an :class:`Operation` subclass; :func:`instrumented` runs any of them the same way:

1. a :class:`Call` is made: a call id, the hook data (``runId``, ``spell``, ``callId`` and the
   operation's own entries), the start time; an observer may give it trace headers;
2. the ``before`` hooks run on the input: a handler may modify it, cancel the operation (it
   fails with the operation's own error, or — a spell run — ends with a result saying so),
   or replace it (the operation is skipped and the handler's result used);
3. the operation's ``started`` event, if any, is published; the operation runs with the call's
   headers current, so nested calls, actor messages and events name it as parent;
4. the ``after`` hooks run on the result (also on a replaced one, so that a redacting hook sees
   every result): modify, or replace;
5. the operation's ``finished`` event (on failure its failed form) is published, timed.

Hooks are the system's (Python) handlers merged by priority with the run's own (script)
handlers, which see only the operations of their run.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar

import actors

from ._catalogue import OpKind, Payload
from ._trace import reset_headers, use_headers

if TYPE_CHECKING:
    from ._context import RunContext

In = TypeVar("In")
Out = TypeVar("Out")


class Call:
    """One operation in progress, as hooks, events and observers see it.

    Attributes:
        kind: what operation this is.
        ctx: the run it belongs to.
        call_id: unique within the process; every event of the call carries it.
        data: the hook data (``HookContext.data``): ``runId``, ``spell``, ``callId`` plus the
            operation's entries (``model``, ``tool``, ``agent`` ...).
        headers: the trace context nested calls inherit (an observer may set it in ``start``).
        started: ``time.perf_counter()`` at creation; ``duration`` once finished.
        input: the input as the operation received it (after the ``before`` hooks).
        facts: what the operation learnt that its events and observers report (the response's
            model, usage, cost ...), filled by the operation.
        replaced: whether a ``before`` hook answered instead of the operation.
        result: the operation's result once it finished (None if it failed).
        token: free for the observer.
    """

    __slots__ = (
        "call_id",
        "ctx",
        "data",
        "duration",
        "facts",
        "headers",
        "input",
        "kind",
        "replaced",
        "result",
        "started",
        "token",
    )

    def __init__(self, kind: OpKind, ctx: RunContext, data: dict[str, Any]) -> None:
        self.kind = kind
        self.ctx = ctx
        self.call_id = call_id = ctx.new_call_id()
        data["runId"] = ctx.run_id
        data["spell"] = ctx.spell
        data["callId"] = call_id
        self.data = data
        self.headers: Mapping[str, str] = ctx.current_headers()
        self.started = time.perf_counter()
        self.duration = 0.0
        self.input: Any = None
        self.facts: dict[str, Any] = {}
        self.replaced = False
        self.result: Any = None
        self.token: Any = None

    def ids(self) -> tuple[str, str, str]:
        """``(run_id, spell, call_id)``: the first fields of every payload."""
        return self.ctx.run_id, self.ctx.spell, self.call_id


class Operation(Generic[In, Out]):
    """An operation the instrumented path can run; subclasses say what it does and reports.

    Attributes:
        kind: the catalogue entry (hook points, events, script hook names).
    """

    kind: ClassVar[OpKind]

    def data(self) -> dict[str, Any]:
        """The operation's own hook-data entries (``{"tool": name}``); fresh each call."""
        return {}

    def accept(self, value: Any, call: Call) -> In:
        """Check what the ``before`` hooks returned; raise if it is not a valid input."""
        return value  # type: ignore[no-any-return]

    def started(self, call: Call) -> Payload | None:
        """The event published once the operation goes ahead, if any."""
        return None

    async def run(self, value: In, call: Call) -> Out:
        raise NotImplementedError

    def replaced(self, result: Any, call: Call) -> Out:
        """The operation's result when a ``before`` hook replaced it with ``result``."""
        return result  # type: ignore[no-any-return]

    def modified(self, value: Any, result: Out, call: Call) -> Out:
        """What an ``after`` hook's returned ``value`` becomes (``result`` is the original)."""
        return value  # type: ignore[no-any-return]

    def refused(self, error: actors.HookCancelledError, call: Call) -> Out:
        """When a ``before`` hook cancels: raise (the default), or return the result that
        stands for the refusal (it then passes the ``after`` hooks like any result)."""
        raise error

    def cancelled(self, error: actors.HookCancelledError, call: Call) -> Exception:
        """The error the operation fails with when a hook cancels it."""
        return error

    def finished(self, call: Call, result: Out | None, error: Exception | None) -> Payload | None:
        """The event published when the operation ends (``error`` set if it failed)."""
        return None


async def instrumented(op: Operation[In, Out], ctx: RunContext, value: Any) -> Out:
    """Run ``op`` on ``value`` for the run ``ctx`` through hooks, events and observers."""
    kind = op.kind
    call = Call(kind, ctx, op.data())
    system = ctx.system
    hooks, extra = system.hooks, ctx.hooks
    observer = ctx.ops.observer
    if observer is not None:
        observer.start(call)
    token = use_headers(call.headers)
    error: Exception | None = None
    result: Out | None = None
    try:
        if _heard(kind.before, hooks, extra):  # else the hooks would return value as it is
            try:
                value = await hooks.run(kind.before, value, call.data, extra=extra)
            except actors.HookCancelledError as exc:
                value = actors.Replace(op.refused(exc, call))
        if isinstance(value, actors.Replace):
            call.replaced = True
            result = op.replaced(value.result, call)
        else:
            value = call.input = op.accept(value, call)
            event = op.started(call)
            if event is not None and not system.bus.skip_unheard(event.topic):
                await system.bus.publish(
                    event.topic, event.as_dict(), headers=call.headers, owner=ctx.run_id
                )
            event = None  # (not kept while the operation runs)
            result = await op.run(value, call)
        if _heard(kind.after, hooks, extra):  # (else nor build their data)
            after = await hooks.run(
                kind.after, result, {**call.data, kind.input_key: call.input}, extra=extra
            )
            if after is not result:
                result = op.modified(
                    after.result if isinstance(after, actors.Replace) else after, result, call
                )
    except actors.HookCancelledError as exc:
        error = op.cancelled(exc, call)
    except Exception as exc:
        error = exc
    finally:
        reset_headers(token)
    call.duration = time.perf_counter() - call.started
    event = op.finished(call, result, error)
    if event is not None and not system.bus.skip_unheard(event.topic):
        await system.bus.publish(
            event.topic, event.as_dict(), headers=call.headers, owner=ctx.run_id
        )
    if observer is not None:
        call.result = result
        observer.end(call, error)
    if error is not None:
        raise error
    return result  # type: ignore[return-value]


def _heard(point: str, hooks: actors.HookRegistry, extra: actors.HookRegistry | None) -> bool:
    """Whether ``point`` has a handler in the system's registry or the run's own."""
    return hooks.has_handlers(point) or (extra is not None and extra.has_handlers(point))
