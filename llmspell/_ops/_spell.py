"""A spell run: ``spell.before_run`` → the engine runs the spell → ``spell.after_run``.

Each run is a :class:`SpellRun` actor under the runtime's ``spells`` supervisor: a crash, a
limit or a timeout ends that run with an error in its :class:`RunResult`, never the process. The
``before`` hooks see (and may change) the run's parameters, may refuse the run (cancel) or answer
it without running (replace); the ``after`` hooks see the :class:`RunResult`. Publishes
``spell.started`` and then ``spell.finished`` or ``spell.failed``.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import pathlib
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar

import anyio

import actors

from .._exceptions import SpellError, SpellInterrupted
from ..engines import (
    Api,
    Engine,
    Limits,
    ScriptInstance,
    ScriptValue,
    engine_for,
    limit_exceeded,
)
from ._catalogue import SPELL, OpKind, Payload, SpellFailed, SpellFinished, SpellStarted
from ._context import LogSink, RunContext
from ._instrument import Call, Operation, instrumented
from ._trace import NO_HEADERS

if TYPE_CHECKING:
    from ..tools import Permissions
    from ._operations import Operations
    from ._session import SessionLink

Output = Callable[[str], None]
MakeApi = Callable[[RunContext, Output], Api]


@dataclasses.dataclass(frozen=True)
class SpellSource:
    """A spell to run: its text and the file name errors should name."""

    source: str
    filename: str

    @classmethod
    def from_path(cls, path: str | pathlib.Path) -> SpellSource:
        p = pathlib.Path(path)
        return cls(p.read_text(encoding="utf-8"), str(path))

    @functools.cached_property
    def name(self) -> str:
        return pathlib.Path(self.filename).stem


@dataclasses.dataclass(frozen=True)
class RunResult:
    """The outcome of one spell run (what ``llmspell run --json`` prints).

    Attributes:
        status: ``"ok"``, ``"error"``, or ``"stopped"`` (ended by ``Runtime.stop``).
        error_type: the error's class name (``SpellRuntimeError``, ``LimitExceeded`` ...).
        error_line: the spell line the error points at, when known.
        output: what the spell printed, when the run was given no ``output`` callable to
            stream it to (``Runtime.run(spell)``); None when it was streamed.
    """

    spell: str
    run_id: str
    engine: str
    status: str
    value: ScriptValue = None
    error: str | None = None
    error_type: str | None = None
    error_line: int | None = None
    traceback: str | None = None
    duration: float = 0.0
    usage: dict[str, Any] = dataclasses.field(default_factory=dict)
    output_bytes: int = 0
    output: str | None = None

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def _of(cls, **fields: Any) -> RunResult:
        """The result with ``fields``, every one of them given: the object the constructor
        makes, without its frozen ``__init__`` (an ``object.__setattr__`` per field, ~27k
        instructions in all, on every run)."""
        result = object.__new__(cls)
        result.__dict__.update(fields)
        return result


class RunRequest:
    """Everything one run needs, as :meth:`Runtime.run` assembled it.

    ``session`` is set for a REPL session: the run serves it after its main code (see
    ``_session``). (A plain class: as a dataclass its twelve fields' generated methods cost
    every start-up some 3M instructions.)
    """

    __slots__ = (
        "headers", "limits", "log", "make_api", "output", "params", "permissions", "printed",
        "resident", "run_id", "session", "spell",
    )  # fmt: skip

    def __init__(
        self,
        spell: SpellSource,
        params: dict[str, Any],
        run_id: str,
        output: Output,
        log: LogSink,
        limits: Limits,
        permissions: Permissions,
        make_api: MakeApi,
        resident: bool = False,
        headers: Mapping[str, str] = NO_HEADERS,
        session: SessionLink | None = None,
        printed: list[str] | None = None,
    ) -> None:
        self.spell = spell
        self.params = params
        self.run_id = run_id
        self.output = output
        self.log = log
        self.limits = limits
        self.permissions = permissions
        self.make_api = make_api
        self.resident = resident
        self.headers = headers
        self.session = session
        self.printed = printed

    """Where ``output`` collects the printed text, when the result should carry it."""


class OutputMeter:
    """Passes printed text on and counts it for the result (the engine enforces the limit on
    what the script prints); with ``limits``, ``log.*`` lines count too: :meth:`charge_log`
    charges them, and once prints and log lines together pass ``output_bytes`` the next of
    either ends the run (``LimitExceeded("output")``)."""

    __slots__ = ("limits", "logged", "sink", "written")

    def __init__(self, sink: Output, limits: Limits | None = None) -> None:
        self.sink = sink
        self.limits = limits
        self.written = 0
        self.logged = 0

    def __call__(self, text: str) -> None:
        self.written += len(text.encode("utf-8", "surrogatepass"))
        self._check()
        self.sink(text)

    def charge_log(self, size: int) -> None:
        """Count a log line of ``size`` bytes; raises LimitExceeded("output") past the limit."""
        self.logged += size
        self._check()

    def _check(self) -> None:
        limits = self.limits
        if limits is not None and self.written + self.logged > limits.output_bytes:
            raise limit_exceeded("output", limits)


class SpellRun(actors.Actor):
    """The actor that owns one spell run: its engine instance, context, events and hooks."""

    def __init__(self, ops: Operations) -> None:
        self.ops = ops
        self.scope: anyio.CancelScope | None = None
        self.instance: ScriptInstance | None = None
        self.interrupted: str | None = None
        self.stopping = False  # cancel() was called: an interrupt then means "stopped"

    def interrupt(self, reason: str) -> None:
        """End the run from outside (SIGINT): its script stops even while it computes, and
        the run ends with :class:`SpellInterrupted`. Safe in a signal handler."""
        if self.interrupted is None:
            self.interrupted = reason
        if self.instance is not None:
            self.instance.interrupt(reason)

    async def on_receive(self, message: Any) -> RunResult:
        """Run the request through the instrumented path; errors end up in the result.

        (The run itself, not a call of a function that runs it: with a thousand runs waiting
        on a model, each coroutine layer is a thousand more objects for the cyclic GC.)
        """
        assert isinstance(message, RunRequest)
        ops = self.ops
        try:
            spell = message.spell
            ctx = RunContext(
                ops,
                run_id=message.run_id,
                spell=spell.name,
                filename=spell.filename,
                params=message.params,
                log=message.log,
                permissions=message.permissions,
                limits=message.limits,
                headers=message.headers,
                source=spell.source,
            )
            op = _SpellRunOp(message, self)
            ops.active[message.run_id] = self.cancel
            ops.interrupts[message.run_id] = self.interrupt
            try:
                return await instrumented(op, ctx, message.params)
            except Exception as exc:  # refused by a hook, no engine for the file: this run only
                return op.result(ctx, None, exc)
            finally:
                ops.active.pop(message.run_id, None)
                ops.interrupts.pop(message.run_id, None)
        finally:
            self.context.stop()  # one run per actor: Runtime.run then finds it ended

    def cancel(self) -> None:
        """End the run now (a resident spell stops listening; main code is cancelled, even
        while it computes: its instance is interrupted too)."""
        if self.scope is not None:
            self.scope.cancel()
            self.stopping = True
            if self.instance is not None:
                self.instance.interrupt("stopped")


class _SpellRunOp(Operation[dict[str, Any], RunResult]):
    kind: ClassVar[OpKind] = SPELL

    def __init__(self, request: RunRequest, actor: SpellRun) -> None:
        self.request = request
        self.actor = actor
        self.engine: Engine | None = None
        self.started_at = time.perf_counter()
        self.written = 0

    def accept(self, value: Any, call: Call) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise SpellError("a spell.before_run hook returned parameters that are not a table")
        self.engine = engine_for(self.request.spell.filename)
        call.ctx.params = value
        return value

    def started(self, call: Call) -> Payload:
        assert self.engine is not None
        return SpellStarted(*call.ids(), self.engine.name)

    async def run(self, value: dict[str, Any], call: Call) -> RunResult:
        ctx, request, engine = call.ctx, self.request, self.engine
        assert engine is not None
        meter = OutputMeter(request.output, request.limits)
        ctx.output_meter = meter
        value_out: ScriptValue = None
        error: Exception | None = None
        timeout = None if request.resident else request.limits.timeout_seconds
        actor = self.actor
        try:
            api = request.make_api(ctx, meter)
            # one scope for both ends: the deadline (a timeout) and actor.cancel() (a stop,
            # which sets actor.stopping as it cancels)
            deadline = math.inf if timeout is None else anyio.current_time() + timeout
            with anyio.CancelScope(deadline=deadline) as actor.scope:
                value_out = await self._run(engine, api, ctx)
            if actor.scope.cancelled_caught and not actor.stopping:
                raise limit_exceeded("timeout", request.limits)
        except Exception as exc:  # spell errors, cancelling hooks, even a bug of ours: this run
            error = exc
        finally:
            if ctx.closers or ctx.subscriptions or ctx.hook_ids:  # else nothing to release
                with anyio.CancelScope(shield=True):
                    await ctx.aclose()
            self.written = meter.written
        scope = self.actor.scope
        interrupted = self.actor.stopping and isinstance(error, SpellInterrupted)
        if scope is not None and ((scope.cancelled_caught and error is None) or interrupted):
            return self.result(ctx, None, SpellError("the run was stopped"), stopped=True)
        return self.result(ctx, value_out, error)

    async def _run(self, engine: Engine, api: Api, ctx: RunContext) -> ScriptValue:
        request, actor = self.request, self.actor
        try:
            async with engine.open(request.spell.source, ctx.filename, api, request.limits) as inst:
                actor.instance = inst
                if actor.interrupted is not None:  # interrupted while the engine started
                    inst.interrupt(actor.interrupted)
                try:
                    value = await inst.run_main()
                    if request.session is not None:
                        await request.session.attach(inst, ctx)
                        return value
                    if request.resident and ctx.resident:
                        ctx.log(
                            "info",
                            f"{ctx.spell} is resident: handling events until its handlers "
                            "are removed (events.off) or the run is stopped",
                            {"subscriptions": len(ctx.subscriptions)},
                        )
                    await ctx.wait_done(resident=request.resident)
                    return value
                finally:  # no event may reach the handlers of an interpreter being closed
                    for sub_id in list(ctx.subscriptions):
                        ctx.unsubscribe(sub_id)
        finally:
            actor.instance = None  # a finished run keeps nothing of its interpreter

    def result(
        self,
        ctx: RunContext,
        value: ScriptValue,
        error: Exception | None,
        *,
        stopped: bool = False,
    ) -> RunResult:
        return RunResult._of(
            spell=ctx.spell,
            run_id=ctx.run_id,
            engine=self.engine.name if self.engine is not None else "?",
            status="ok" if error is None else "stopped" if stopped else "error",
            value=value if error is None else None,
            error=None if error is None else str(error),
            error_type=None if error is None else type(error).__name__,
            error_line=getattr(error, "line", None),
            traceback=getattr(error, "traceback", None) or None,
            duration=time.perf_counter() - self.started_at,
            usage=ctx.usage.as_dict(),
            output_bytes=self.written,
            output=None if (printed := self.request.printed) is None else "".join(printed),
        )

    def refused(self, error: actors.HookCancelledError, call: Call) -> RunResult:
        return self.result(call.ctx, None, SpellError(f"refused by a hook: {error.reason}"))

    def replaced(self, result: Any, call: Call) -> RunResult:
        if isinstance(result, RunResult):
            return result
        return self.result(call.ctx, result, None)

    def modified(self, value: Any, result: RunResult, call: Call) -> RunResult:
        return value if isinstance(value, RunResult) else result

    def finished(self, call: Call, result: RunResult | None, error: Exception | None) -> Payload:
        if result is None:
            result = self.result(call.ctx, None, error)
        if result.status == "error":
            return SpellFailed(
                *call.ids(), result.error or "", result.error_type or "", result.duration
            )
        return SpellFinished(*call.ids(), result.status, result.duration, result.usage)
