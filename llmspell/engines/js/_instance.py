"""One spell in one QuickJS Context, and the driver task that owns it (see the package)."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import math
import threading
import time
from collections.abc import AsyncIterator, Callable, Sequence
from typing import TYPE_CHECKING, Any

import anyio
import anyio.abc
import anyio.lowlevel
import quickjs  # type: ignore[import-untyped]

from ..._exceptions import (
    IncompleteInput,
    LimitExceeded,
    SpellClosedError,
    SpellError,
    SpellInterrupted,
    SpellRuntimeError,
    SpellSyntaxError,
)
from .._base import (
    Api,
    Limits,
    OutputMeter,
    ScriptFunction,
    ScriptInstance,
    ScriptValue,
    Suspended,
    arity_error,
    call_sync,
    limit_exceeded,
)
from .._bounds import too_large
from .._eager import Pending
from .._slices import PAUSED, Slicer
from ._bytecode import load_prelude
from ._codec import BridgeError, Codec, Op, dumps, loads
from ._errors import (
    SKIP,
    clone,
    compile_check,
    engine_error,
    failed_message,
    failure_text,
    script_error,
    syntax_error,
)
from ._interrupt import attach, detach, starve
from ._plan import bind, plans
from ._prelude import LINE_PAD, PRELUDE
from ._repl import async_bodies, is_incomplete, script_source
from ._workers import Job, Workers

if TYPE_CHECKING:
    from .._statistics import InstanceStatistics

logger = logging.getLogger("llmspell.engines.js")

_HOST_NAME = "__llmspellHost"  # the global the prelude takes away before the spell runs

EAGER_BURST = 64
"""How many :func:`eager_api` calls (``events.emit``) one turn runs from inside the spell's
own code (not its handlers'), on asyncio; later calls of the turn start as other calls do. A
loop of ``await events.emit(...)`` thus runs 64 of them, then waits once for the next: the event
loop, and the handlers of what it published, get their turn before the bus's queues fill up."""

PENDING_COST = 512
"""Bytes charged to the run for each API call it started and has not seen finish (the job,
its task's share, the Promise and its entry in the prelude's table), besides its arguments' JSON
text: a spell firing ``events.emit`` in a loop without ``await`` runs into its memory limit."""


class _Waiter:
    """A Python caller waiting for the script: run_main or a ScriptFunction call."""

    __slots__ = ("deadline", "done", "error", "event", "value")

    def __init__(self, deadline: float | None) -> None:
        self.deadline = deadline
        self.done = False
        # made only if the caller has to wait (the turn its post ran may have answered it)
        self.event: anyio.Event | None = None
        self.value: ScriptValue = None
        self.error: BaseException | None = None

    def resolve(self, value: ScriptValue) -> None:
        self.value = value
        self.finish()

    def fail(self, error: BaseException) -> None:
        self.error = error
        self.finish()

    def finish(self) -> None:
        self.done = True
        if self.event is not None:
            self.event.set()

    def outcome(self) -> ScriptValue:
        """What the call ended with (it is done): its value, or its error raised."""
        if self.error is not None:
            raise self.error
        return self.value


class _JsFunction(ScriptFunction):
    """A spell's function held by Python; calls go through the instance's driver."""

    def __init__(self, instance: _JsInstance, fid: int) -> None:
        self._instance = instance
        self._codec = instance._codec
        self._fid = fid
        self._count = 1  # times the script sent it while this handle lived

    async def __call__(self, *args: ScriptValue) -> ScriptValue:
        result = self._instance._start_invoke(self._fid, args)
        if result.__class__ is Suspended:
            return await result
        return result

    def start(self, *args: ScriptValue) -> ScriptValue | Suspended:
        return self._instance._start_invoke(self._fid, args)

    def __repr__(self) -> str:
        return f"<script function #{self._fid} of {self._instance._filename}>"

    def __del__(self) -> None:
        instance = self._instance
        if not instance._closed:
            instance._releases.append(f"[3,{self._fid},{self._count}]")


class _JsInstance(ScriptInstance):
    """One spell in one QuickJS Context, driven by :meth:`_drive`."""

    def __init__(self, source: str, filename: str, api: Api, limits: Limits) -> None:
        self._filename = filename
        self._source = source
        self._api = api
        self._context = api.context
        self._tracker = api.tracker
        self._limits = limits
        self._print = OutputMeter(api.output, limits)
        self._codec = Codec(lambda fid: _JsFunction(self, fid), limits)
        self._pending_bytes = 0  # charged for the calls in flight (see PENDING_COST)
        self._held_bytes = 0  # of which for results waiting in the inbox
        self._interrupt: str | None = None
        self._inbox: list[tuple[str, contextvars.Context | None]] = []  # see _post
        self._current: contextvars.Context | None = None  # the context the turn's code runs in
        # the context the instance was opened in (its driver's): the spell's own code runs in
        # it, and the workers start in a copy of it (see Workers)
        self._base = contextvars.copy_context()
        self._releases: list[str] = []
        self._wake = anyio.Event()
        # the backend's own Event class: constructing it directly skips anyio's dispatch
        self._new_event: Callable[[], anyio.Event] = type(self._wake)
        self._waiters: dict[int, _Waiter] = {}
        self._next_invocation = 1
        self._inflight = 0
        self._main_started = False
        self._main_settling = False
        self._fatal: SpellError | None = None
        self._closed = False
        self._cpu_used = 0.0
        self._api_calls = 0
        self._turn_deadline: float | None = None
        # eager_api calls the turn may still start inside the script's code (see EAGER_BURST)
        self._eager_left = 0
        self._eager_burst = EAGER_BURST if _on_asyncio() else 0
        self._in_turn = False
        self._rejections_pending = False  # a rejection not handled yet, reported when idle
        self._watch_target = math.inf  # the deadline _watch sleeps until
        self._watch_wake = anyio.Event()
        self._host_limit: SpellError | None = None  # hit inside a call from the script
        self._tg: anyio.abc.TaskGroup | None = None
        self._workers = Workers(self._run_request, self._new_event, contextvars.copy_context())
        self._ctx: Any = quickjs.Context()
        self._ctx.set_memory_limit(limits.memory_bytes)
        self._budget, self._runtime = attach(self._ctx)
        self._slicer = self._budget.slicer = Slicer(self._abort)
        self._thread = threading.get_ident()
        try:
            self._ctx.add_callable(_HOST_NAME, self._host)
            self._bridge: Any = self._load(source)
        except BaseException:
            self._free()
            raise

    # Setup and teardown -------------------------------------------------------------------

    def _load(self, source: str) -> Any:
        spec = self._spec()
        self._begin_js()
        try:
            init = load_prelude(self._ctx, self._runtime)
            if init is None:
                init = self._enter(self._ctx.eval, PRELUDE)
            result = self._enter(init, spec, dumps("\n" * LINE_PAD + source))
        finally:
            self._cpu_used += self._budget.stretch.end()
        if isinstance(result, str):
            self._free()
            info = loads(result)
            if info["name"] != "SyntaxError":
                raise self._script_error(info)
            problem = compile_check(source) or f"SyntaxError: {info['message']}"
            raise syntax_error(self._filename, problem)
        return result

    def _spec(self) -> str:
        codec, api = self._codec, self._api
        plan = plans(api)
        if plan.members is not None:
            codec.ops.extend(plan.ops)
            flagged, values = codec.encode(dict(api.values))
            text = f'{{{plan.members},"val":{values}}}'
        else:  # namespace values that need this instance's codec (host objects, functions)
            members = bind(api, codec)
            flagged, text = codec.encode({**members, "val": dict(api.values)})
        mem = self._limits.memory_bytes
        return (
            f'{{"file":{dumps(self._filename)},"skip":{SKIP},"mem":{mem},'
            f'"f":{int(flagged)},"api":{text}}}'
        )

    def _close(self) -> None:
        self._closed = True
        for waiter in self._waiters.values():
            waiter.fail(SpellClosedError(f"{self._filename}: the spell instance was closed"))
        self._waiters.clear()
        self._wake.set()

    def _free(self) -> None:
        self._closed = True
        self._bridge = None
        if self._ctx is not None:
            detach(self._ctx, self._runtime)
        self._ctx = None
        self._tg = None
        self._codec.detach()
        self._workers.detach()
        self._slicer.close()

    # Public API ---------------------------------------------------------------------------

    async def run_main(self) -> ScriptValue:
        """Run the spell's top level; see :meth:`ScriptInstance.run_main`."""
        self._check_usable()
        if self._main_started:
            raise RuntimeError("run_main() can be called once per instance")
        self._main_started = True
        waiter = _Waiter(self._new_deadline())
        self._add_waiter(0, waiter)
        self._post("[2]", None)
        return await self._wait(0, waiter)

    async def evaluate(self, source: str, chunk: str) -> ScriptValue:
        """Run a REPL input (see :meth:`ScriptInstance.evaluate` and :mod:`._repl`): as a
        global script, or, when it awaits, as an async function body. A limit it hits ends
        the instance (QuickJS's state after an interrupt is not to be trusted):
        :attr:`usable` turns False."""
        self._check_usable()
        self._interrupt = None  # (one that came while the previous input waited ended it)
        self._cpu_used = 0.0
        self._filename = chunk  # what errors of this input (and later) name
        try:
            return await self._evaluate(0, ["\n" * SKIP + script_source(source)])
        except SpellRuntimeError as exc:
            error = _syntax(exc, chunk, source)
            if error is None:
                raise
        if isinstance(error, IncompleteInput):
            raise error
        bodies = async_bodies(source)
        if not bodies:
            raise error
        try:
            return await self._evaluate(1, ["\n" * LINE_PAD + body for body in bodies])
        except SpellRuntimeError as exc:
            error = _syntax(exc, chunk, source)
            if error is None:
                raise
        raise error

    async def _evaluate(self, kind: int, sources: list[str]) -> ScriptValue:
        invocation = self._next_invocation
        self._next_invocation += 1
        waiter = _Waiter(self._new_deadline())
        self._add_waiter(invocation, waiter)
        self._post(f"[5,{invocation},{kind},{dumps(sources)},{dumps(self._filename)}]", None)
        return await self._wait(invocation, waiter)

    @property
    def usable(self) -> bool:
        """False once the instance was closed or a limit ended it."""
        return not self._closed and self._fatal is None

    def interrupt(self, reason: str = "interrupted") -> None:
        """End the run from outside (see :meth:`ScriptInstance.interrupt`): running script
        code is stopped by the interrupt handler, its allocations failing until then (see
        :func:`starve`); a script waiting for API calls ends at once when this is called on the
        event loop's thread (otherwise at its next turn). The run raises
        :class:`SpellInterrupted`."""
        if self._interrupt is not None or self._closed:
            return
        self._interrupt = reason
        error = SpellInterrupted(reason)
        if self._in_turn:
            if self._host_limit is None:
                self._host_limit = error
            self._budget.tripped = "host"
            starve(self._runtime)  # see starve: the poll may be seconds away
        elif threading.get_ident() == self._thread:
            self._die(error)

    def statistics(self) -> InstanceStatistics:
        """CPU seconds used by the script, its heap size now, API calls made."""
        from .._statistics import InstanceStatistics

        memory = self._ctx.memory()["malloc_size"] if self._ctx is not None else 0
        return InstanceStatistics(self._cpu_used, memory, self._api_calls)

    def _start_invoke(self, fid: int, args: Sequence[ScriptValue]) -> ScriptValue | Suspended:
        """Call the script's function ``fid``: the turn that runs it runs here when it can
        (see :meth:`_post`); its result if that turn finished the call, else the wait for it
        (:meth:`ScriptFunction.start`)."""
        self._check_usable()
        try:
            flagged, text = self._codec.encode(list(args))
        except LimitExceeded as exc:
            self._die(exc)
            raise
        invocation = self._next_invocation
        self._next_invocation += 1
        main = self._waiters.get(0)
        deadline = main.deadline if main is not None else self._new_deadline()
        waiter = _Waiter(deadline)
        self._add_waiter(invocation, waiter)
        # the API calls its code makes run in our caller's context: under the caller's span
        self._post(f"[1,{invocation},{fid},{int(flagged)},{text}]", contextvars.copy_context())
        if not waiter.done:
            return Suspended(self._wait(invocation, waiter))
        self._forget(invocation, waiter)
        return waiter.outcome()

    def _check_usable(self) -> None:
        if self._closed:
            raise SpellClosedError(f"{self._filename}: the spell instance is closed")
        if self._fatal is not None:
            raise SpellClosedError(f"{self._filename}: the spell's run ended: {self._fatal}")

    def _new_deadline(self) -> float | None:
        timeout = self._limits.timeout_seconds
        return None if timeout is None else time.monotonic() + timeout

    def _add_waiter(self, key: int, waiter: _Waiter) -> None:
        self._waiters[key] = waiter
        if waiter.deadline is not None and waiter.deadline < self._watch_target:
            self._watch_wake.set()

    async def _watch(self) -> None:
        """End the run when someone waits for the script past their deadline.

        One task sleeping until the nearest deadline, rather than a timer around every wait:
        a spell handling thousands of events makes thousands of waits.
        """
        while not self._closed and self._fatal is None:
            now = time.monotonic()
            nearest = min(
                (w.deadline for w in self._waiters.values() if w.deadline is not None),
                default=math.inf,
            )
            if nearest <= now:
                self._die(self._limit_exceeded("timeout"))
                return
            self._watch_target = nearest
            self._watch_wake = anyio.Event()
            with anyio.move_on_after(nearest - now):
                await self._watch_wake.wait()

    async def _wait(self, key: int, waiter: _Waiter) -> ScriptValue:
        try:
            if not waiter.done:  # (it may be: the post ran the script)
                event = waiter.event = self._new_event()
                await event.wait()
        finally:
            self._forget(key, waiter)
        return waiter.outcome()

    def _forget(self, key: int, waiter: _Waiter) -> None:
        """Nobody waits for ``waiter`` (under ``key``) any more."""
        if self._waiters.get(key) is waiter:
            del self._waiters[key]

    def _post(self, message: str, context: contextvars.Context | None) -> None:
        """Queue a message for the script, and run it at once unless a turn is in progress.

        The task that posts (an API call that finished, a caller of a script function) runs
        the turn itself, as Lua's callers drive their coroutines: a round trip then costs no
        switch to the driver task. The driver runs what arrives during a turn and finishes
        runs (see :meth:`_idle`); it is woken when there is something left for it.

        ``context`` is what the code the message runs belongs to (see :meth:`_turn_once`):
        the caller's for a script function called from Python, the context of the call that
        finished for its result; None for the spell's own run (the driver's context).
        """
        self._inbox.append((message, context))
        if self._in_turn or self._tg is None or self._fatal is not None or self._closed:
            self._wake.set()
            return
        self._run_turn()
        if self._inbox or self._main_settling or self._rejections_pending:
            self._wake.set()
        elif self._waiters and not self._inflight:
            self._wake.set()

    def _defer(self, message: str, context: contextvars.Context | None) -> None:
        """Queue a call's result for the script without running a turn for it alone: another
        call's worker is about to run the next started call, and the result of the last of
        them (:meth:`_post`), or the driver, woken meanwhile, runs one turn for them all (a
        burst of ``events.emit`` without ``await`` then settles in batches)."""
        self._inbox.append((message, context))
        self._wake.set()

    def _run_turn(self) -> None:
        """Run a turn here; one that pauses (see :mod:`.._slices`) is the driver's to finish."""
        outcome = self._slicer.start(self._turn)
        if outcome is PAUSED:
            self._wake.set()
        elif not outcome[0]:
            self._turn_failed(outcome[1])

    async def _finish_turn(self) -> None:
        try:
            await self._slicer.finish()
        except Exception as exc:
            self._turn_failed(exc)

    def _turn_failed(self, exc: Exception) -> None:
        if not isinstance(exc, SpellError):
            logger.error("JS bridge failure in %s", self._filename, exc_info=exc)
            exc = SpellRuntimeError(self._filename, None, f"internal error: {exc!r}")
        self._die(exc)

    def _abort(self) -> None:
        """The driver was cancelled while a turn was paused: stop the script now."""
        if self._host_limit is None:
            self._host_limit = SpellInterrupted("cancelled while the spell's code was running")
        self._budget.tripped = "host"

    def _die(self, error: SpellError) -> None:
        if self._fatal is not None or self._closed:
            return
        self._fatal = error
        first = True
        for waiter in self._waiters.values():
            waiter.fail(error if first else clone(error))
            first = False
        self._waiters.clear()
        self._wake.set()

    # The driver ---------------------------------------------------------------------------

    async def _drive(self) -> None:
        async with anyio.create_task_group() as tg:
            self._tg = tg
            self._workers.start(tg)
            tg.start_soon(self._watch)
            while self._fatal is None and not self._closed:
                if self._slicer.running:  # a turn handed the loop back: see it to its end
                    await self._finish_turn()
                    continue
                if self._inbox:
                    self._run_turn()
                    if self._fatal is not None:
                        break
                    if self._inbox:
                        await anyio.lowlevel.checkpoint()
                    continue
                self._idle()
                if self._fatal is None and not self._closed and not self._inbox:
                    await self._wake.wait()
                    self._wake = self._new_event()
            if self._slicer.running:  # closed or failed while a turn was paused: end it
                self._budget.tripped = "host"
                await self._finish_turn()
            # Idle workers just return; only calls still in flight are cancelled (cancelling
            # idle tasks too would leave their frames in reference cycles for the GC).
            self._workers.close()
            self._watch_wake.set()
            if self._inflight:
                tg.cancel_scope.cancel()

    def _idle(self) -> None:
        """Nothing to feed the script: finish run_main, or detect a deadlock."""
        if self._inflight:
            return
        if self._rejections_pending:  # report them before the run can finish
            self._inbox.append(("[4]", None))
            return
        main = self._waiters.get(0)
        if main is not None and self._main_settling:
            self._main_settling = False
            del self._waiters[0]
            main.finish()
            return
        if self._waiters and not self._codec.live_functions():
            error = SpellRuntimeError(
                self._filename,
                None,
                "deadlock: the spell awaits a Promise that nothing can settle",
            )
            if main is not None:
                self._die(error)
            else:
                for waiter in self._waiters.values():
                    waiter.fail(clone(error))

    def _turn(self) -> None:
        self._in_turn = True
        try:
            self._turn_once()
        finally:
            self._in_turn = False

    def _turn_once(self) -> None:
        """Apply what the inbox holds, run the jobs it queued, process what the script sent.

        Messages are applied in runs of the same context, each followed by the jobs it
        queued, with that context current (see :meth:`_apply`): the code an invocation or a
        call's result resumes, and what it awaits in turn, makes its API calls in the context
        of the invocation that started it. (Code resumed by another invocation's call, as when
        a callback awaits a Promise the main run created, goes with that call's context.)
        """
        releases, self._releases = self._releases, []
        inbox, self._inbox = self._inbox, []
        self._pending_bytes -= self._held_bytes  # those results reach the script now
        self._held_bytes = 0
        nearest = None  # the earliest deadline of those waiting (a loop: no frame per turn)
        for waiter in self._waiters.values():
            deadline = waiter.deadline
            if deadline is not None and (nearest is None or deadline < nearest):
                nearest = deadline
        self._turn_deadline = nearest
        self._eager_left = self._eager_burst
        self._begin_js()
        try:
            batch, context = releases, inbox[0][1] if inbox else None
            for message, of in inbox:
                if of is not context:
                    self._apply(batch, context)
                    batch, context = [], of
                batch.append(message)
            self._apply(batch, context)
            text = self._enter(self._bridge, 2, None)
        finally:  # (less the time others ran while the turn was paused: see Budget)
            self._current = None
            self._cpu_used += self._budget.stretch.end()
        if self._interrupt is not None:  # came during the turn, which ended all the same
            self._ctx.set_memory_limit(self._limits.memory_bytes)
            raise SpellInterrupted(self._interrupt)
        self._process(text)

    def _apply(self, batch: list[str], context: contextvars.Context | None) -> None:
        """Apply ``batch`` and run the jobs it queued in ``context`` (None: the driver's)."""
        self._current = context
        (self._base if context is None else context).run(self._run_jobs, batch)

    def _run_jobs(self, batch: list[str]) -> None:
        ctx, enter = self._ctx, self._enter
        enter(self._bridge, 1, "[" + ",".join(batch) + "]")
        while enter(ctx.execute_pending_job):
            pass

    def _begin_js(self) -> None:
        """Start a stretch of script execution.

        The interrupt handler stops the script once the stretch has used what is left of the
        CPU budget (see :class:`~._interrupt.Budget`), or at the earliest deadline of whoever
        waits for it (wall clock); what the whole stretch used (the API functions it called
        directly included) is added at its end.
        """
        budget = self._budget
        budget.tripped = None
        if self._interrupt is not None:
            raise SpellInterrupted(self._interrupt)
        deadline = self._turn_deadline
        budget.wall_deadline = math.inf if deadline is None else deadline
        if self._cpu_used >= self._limits.cpu_seconds:
            raise self._limit_exceeded("cpu")
        if deadline is not None and time.monotonic() >= deadline:
            raise self._limit_exceeded("timeout")
        budget.begin(self._limits.cpu_seconds - self._cpu_used)

    def _enter(self, fn: Any, *args: Any) -> Any:
        """Call into QuickJS (under the stretch's budget)."""
        try:
            return fn(*args)
        except quickjs.JSException as exc:
            tripped = self._budget.tripped
            if self._interrupt is not None:  # (starved: give the context its memory back)
                self._ctx.set_memory_limit(self._limits.memory_bytes)
            if tripped == "host" and self._host_limit is not None:
                raise self._host_limit from None
            raise engine_error(exc, tripped, self._filename, self._limits) from None

    def _process(self, text: str) -> None:
        self._rejections_pending = False
        try:
            entries = loads(text)
            for entry in entries:
                kind = entry[0]
                if kind == 2:
                    self._completed(entry[1], entry[2], entry[3], entry[4])
                elif kind == 3:
                    self._unhandled(entry[1])
                elif kind == 4:
                    self._rejections_pending = True
                else:
                    raise BridgeError(f"unknown message {kind!r}")
        except (BridgeError, IndexError, KeyError, TypeError, ValueError) as exc:
            raise SpellRuntimeError(
                self._filename, None, f"internal bridge error: {exc!r}"
            ) from exc

    # Calls from the script ----------------------------------------------------------------

    def _host(self, op_index: int, call_id: int, flagged: int, text: str) -> str:
        """``HOST`` in the prelude: print, run a sync_api function, or start an API call.

        Called by QuickJS while the script runs; it must never raise. A limit hit here (the
        output limit, or one an API function raises) is recorded and answered with 'L': the
        script then spins until the interrupt handler, told through the budget, stops it.
        """
        try:
            if op_index < 0:
                if op_index == -2:  # a value over the memory budget (see ser in prelude.js)
                    raise too_large(self._limits.memory_bytes, self._limits)
                self._print(loads(text))
                return ""
            # (QuickJS may hand over an integral number as a float)
            return self._request(int(op_index), int(call_id), flagged, text)
        except LimitExceeded as exc:
            error: SpellError = exc
        except Exception as exc:
            logger.exception("JS bridge failure in %s", self._filename)
            error = SpellRuntimeError(self._filename, None, f"internal error: {exc!r}")
        if self._host_limit is None:
            self._host_limit = error
        self._budget.tripped = "host"
        return "L"

    def _request(self, op_index: int, call_id: int, flagged: int, text: str) -> str:
        op = self._codec.ops[op_index]
        try:
            args = loads(text)
        except ValueError as exc:  # (the prelude sends valid JSON; kept catchable all the same)
            return failure_text(
                TypeError(f"{op.label}: cannot pass its arguments: {exc}"), op.label
            )
        if flagged:
            args = self._codec.decode(args)
        self._api_calls += 1
        label = f"{op.label}.{args[0]}" if op.dynamic and args else op.label
        count = len(args) - op.dynamic
        if not op.fewest <= count <= op.most:
            return failure_text(arity_error(label, op.fn, op.dynamic, count), label)
        if not op.sync:
            # Eager only in the spell's own code (a handler's emit, published at once, would
            # reach the spell's handlers before the code its own calls resume), and only once
            # every call started before it has started (workers may not have taken them yet).
            if (
                op.eager
                and self._eager_left
                and self._current is None
                and not self._workers.backlog()
            ):
                self._eager_left -= 1
                return self._start_eager(call_id, op, args, label, text)
            self._start(call_id, op, args, label, text)
            return ""
        try:
            value = call_sync(op.fn, [self._context, *args] if op.context else args, label)
        except LimitExceeded:
            raise
        except Exception as exc:
            return failure_text(exc, label)
        try:
            flagged_value, text = self._codec.encode(value)
        except (TypeError, RecursionError) as exc:
            return failure_text(TypeError(f"{label}: {exc} (in its result)"), label)
        return f"[0,{int(flagged_value)},{text}]"

    def _start(self, call_id: int, op: Op, args: Any, label: str, text: str) -> None:
        """Hand API call ``call_id`` to the workers: ``args`` are its arguments, or the rest
        of an eager call that awaited (:class:`Pending`). The run is charged for it (see
        :data:`PENDING_COST`) until its result reaches the script."""
        charge = len(text) + PENDING_COST
        self._pending_bytes += charge
        if self._pending_bytes > self._limits.memory_bytes:
            self._pending_bytes -= charge
            raise LimitExceeded(
                "memory",
                f"the spell needed more than {self._limits.memory_bytes} bytes of memory: "
                "the API calls it started and did not wait for hold more",
            )
        self._inflight += 1
        if self._tracker is not None:
            self._tracker.call_started()
        # eager calls of one function and first argument (events.emit to a topic) go in line
        line = None
        if op.eager and args.__class__ is list and args and args[0].__class__ is str:
            line = (op.fn, args[0])
        self._workers.submit((call_id, op, args, label, charge, self._current), line)

    def _start_eager(self, call_id: int, op: Op, args: list[Any], label: str, text: str) -> str:
        """Run an :func:`eager_api` call's first step here, inside the script's code: its
        value (``[0, flagged, value]``) or error (``[1, ...]``) when it finished there, as for
        a ``sync_api`` function; '' when it awaited, the rest of it then going to a worker
        like any started call. Errors are worded as those of the calls the workers run."""
        try:
            coro: Any = op.fn(self._context, *args) if op.context else op.fn(*args)
            first = coro.send(None)
        except StopIteration as stop:
            value = stop.value
        except LimitExceeded:
            raise
        except Exception as exc:
            return failure_text(exc, label)
        else:
            try:
                self._start(call_id, op, Pending(coro, first), label, text)
            except BaseException:
                coro.close()
                raise
            return ""
        try:
            flagged, text = self._codec.encode(value)
        except (TypeError, RecursionError) as exc:
            return failure_text(TypeError(f"{label}: {exc} (in its result)"), label)
        return f"[0,{int(flagged)},{text}]"

    async def _run_request(self, job: Job) -> None:
        try:
            await self._run_call(job)
        finally:  # after its result reached the script (calls that started meanwhile count)
            if self._in_turn or self._inbox:  # it waits in the inbox: until the next turn
                self._held_bytes += job[4]
            else:
                self._pending_bytes -= job[4]
            if self._tracker is not None:
                self._tracker.call_finished()

    async def _run_call(self, job: Job) -> None:
        call_id, op, args, label, _, context = job
        try:
            if args.__class__ is Pending:
                value = await args
            elif op.context:
                value = await op.fn(self._context, *args)
            else:
                value = await op.fn(*args)
        except LimitExceeded as exc:
            self._inflight -= 1
            self._die(exc)
            return
        except Exception as exc:
            message = failed_message(call_id, exc, label)
        except BaseException:
            self._inflight -= 1
            raise
        else:
            try:
                message = self._settled(call_id, value, label)
            except LimitExceeded as exc:  # a result too big for the run
                self._inflight -= 1
                self._die(exc)
                return
        self._workers.finishing()
        self._inflight -= 1
        if self._workers.backlog():  # more calls to run first: their results go together
            self._defer(message, context)
        else:
            self._post(message, context)

    def _settled(self, call_id: int, value: ScriptValue, label: str) -> str:
        try:
            flagged, text = self._codec.encode(value)
        except (TypeError, RecursionError) as exc:
            return failed_message(call_id, TypeError(f"{label}: {exc} (in its result)"), label)
        return f"[0,{call_id},1,{int(flagged)},{text}]"

    # Results from the script --------------------------------------------------------------

    def _completed(self, invocation: int, ok: int, flagged: int, value: Any) -> None:
        if not ok:
            error = self._script_error(value)
            if invocation == 0 or isinstance(error, LimitExceeded):
                self._die(error)
            elif (waiter := self._waiters.get(invocation)) is not None:
                waiter.fail(error)
            return
        waiter = self._waiters.get(invocation)
        if waiter is None:
            return
        result = self._codec.decode(value) if flagged else value
        if invocation == 0:
            waiter.value = result
            self._main_settling = True
        else:
            waiter.resolve(result)

    def _unhandled(self, info: dict[str, Any]) -> None:
        error = self._script_error(info, "Uncaught (in promise) ")
        if 0 in self._waiters or isinstance(error, LimitExceeded):
            self._die(error)
        elif self._waiters:
            for waiter in self._waiters.values():
                waiter.fail(clone(error))
        else:
            logger.warning("%s", error)

    # Error mapping ------------------------------------------------------------------------

    def _limit_exceeded(self, kind: str) -> LimitExceeded:
        return limit_exceeded(kind, self._limits)

    def _script_error(self, info: dict[str, Any], prefix: str = "") -> SpellError:
        return script_error(info, self._filename, self._limits, prefix, self._source)


def _on_asyncio() -> bool:
    """Whether the running event loop is asyncio's (eager calls are started only there)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def _syntax(exc: SpellRuntimeError, chunk: str, source: str) -> SpellSyntaxError | None:
    """The syntax error a REPL input's ``exc`` is (None if it is another error)."""
    if not exc.message.startswith("SyntaxError: "):
        return None
    message = exc.message.removeprefix("SyntaxError: ")
    kind = IncompleteInput if is_incomplete(message, source) else SpellSyntaxError
    return kind(chunk, exc.line, message)


@contextlib.asynccontextmanager
async def open_instance(
    source: str, filename: str, api: Api, limits: Limits
) -> AsyncIterator[ScriptInstance]:
    """What :meth:`JsEngine.open` returns: the instance, with its driver task running."""
    instance = _JsInstance(source, filename, api, limits)
    error: Exception | None = None
    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(instance._drive)
            try:
                yield instance
            except Exception as exc:  # re-raised below, not wrapped in an ExceptionGroup
                error = exc
            finally:
                instance._close()  # the driver sees it and returns
    finally:
        instance._free()
    if error is not None:
        raise error
