"""Running a Tengo spell behind the engine seam, driven from async Python.

How a spell runs
================

The interpreter is synchronous; every piece of Tengo the engine runs — the main file and each
callback into a :class:`ScriptFunction` — runs in a **greenlet** of its own (a
:class:`._workers.Worker`, reused once its code has finished), driven by the task that
wants the result (``run_main``'s caller, or whoever awaits the ScriptFunction). An API call
made by the script switches from the greenlet back to the driver with the request; the driver
awaits the API function on the event loop and switches back with the result. So an API call
costs two greenlet switches and one ``await``, concurrency is exactly the caller's (event
handlers run in the tasks that deliver the events, interleaved with a main file suspended in
its own API call), and all Tengo runs on the event-loop thread, one greenlet at a time.
API functions marked :func:`sync_api` run directly, without a switch; those marked
:func:`eager_api` (``events.emit``) are started directly and switch to the driver only when
they wait (the driver awaits the rest of the call, a :class:`~llmspell.engines._eager.Pending`).

Errors
======

A Tengo runtime error ends that piece of code: uncaught, as in Tengo, it surfaces as
:class:`SpellRuntimeError` with the file, line and Tengo's ``at file:line:col`` trace. An
exception raised by an **API function** instead comes back to the script as a Tengo **error
value** (``error("tools.call: ...")``), the way Tengo's own stdlib reports failures, so a
spell tests ``is_error(r)`` and reads ``r.value``. A call with the wrong number of arguments
never reaches the function: as for any Tengo function, it is a runtime error
(``llm.complete expects 1 argument (request), got 2``, see :func:`arity_error`). An error
value used as if the call had succeeded (``r.content``) is a runtime error that quotes it:
``invalid index on error (error: "state.create: ...")``. A callback that *returns* an error
value has failed: the Python caller gets :class:`SpellRuntimeError` (a hook handler cancels the
operation that way, a tool handler reports a tool error). :class:`LimitExceeded` ends the run.

Limits
======

* cpu: CPU time of the event-loop thread spent inside the interpreter (main and callbacks:
  ``spell_cpu_time`` around each resume, so a busy machine does not count against the spell;
  a resume shorter than :data:`~llmspell.engines._clock.CPU_CLOCK_AFTER` counts its wall time
  instead: see :class:`~llmspell.engines._clock.Stretch`),
  checked every :data:`._runtime.STEP_BATCH` loop iterations and calls (at most about
  :data:`TICK_INTERVAL` apart), and after every resume.
* timeout: wall clock from ``open()`` for the main file and the callbacks made while it runs;
  a callback after the main file returned (a resident spell) gets a fresh timeout; pending API
  calls are cancelled at the deadline.
* memory: growth of strings, arrays, maps and bytes is charged; past a threshold the run's
  reachable values are measured (:mod:`._memory`) and the run ends above ``memory_bytes``.
* output: bytes printed through ``print`` and ``fmt``, counted by the shared
  :class:`OutputMeter`.

Every limit is worded by :func:`limit_exceeded`, alike in all engines.
* deep recursion: ``stack overflow`` (a Tengo runtime error) past 1024 nested calls.

A limit is sticky: every later attempt to run the instance raises it again.
"""

from __future__ import annotations

import contextvars
import math
import sys
import threading
from collections.abc import Coroutine
from time import perf_counter
from typing import TYPE_CHECKING, Any

import anyio
from greenlet import getcurrent  # type: ignore[import-untyped]

from ..._exceptions import LimitExceeded, SpellClosedError, SpellInterrupted, SpellRuntimeError
from .._base import (
    Api,
    HostObject,
    Limits,
    OutputMeter,
    ScriptFunction,
    ScriptInstance,
    ScriptValue,
    Suspended,
    api_error_text,
    call_sync,
    limit_exceeded,
)
from .._bounds import Tally, unbounded
from .._clock import Stretch
from .._eager import Pending
from .._slices import SLICE, share_loop
from . import _calls
from ._convert import HostMap, to_py, to_tengo
from ._memory import live_size
from ._plan import Plan, plan_for, program_for
from ._runtime import STEP_BATCH, Context, LimitError, set_active
from ._values import Closure, Error, VMError
from ._workers import FAILED, IDLE_WORKERS, Worker

if TYPE_CHECKING:
    from .._statistics import InstanceStatistics

sys.setrecursionlimit(max(sys.getrecursionlimit(), 20000))

TICK_INTERVAL = 0.002
"""Target seconds between two limit checks."""

STEP_START = 64
"""The step batch a run starts with; it grows to STEP_BATCH while steps are cheap."""

_CLOSURE_CODE = _calls.call_closure.__code__
_NO_TALLY = unbounded()  # for numbers, which are not charged
SMALL_STRING = 4096  # shorter strings are not charged on their own (far below any limit)


async def _finish(pending: Pending) -> Any:
    """What the driver awaits for an eager call that waits: the rest of it."""
    return await pending


class _EngineContext(Context):
    def __init__(self, instance: TengoInstance, limits: Limits) -> None:
        super().__init__()
        self.instance: Any = instance
        self.memory_limit = limits.memory_bytes
        self.next_measure = max(1 << 20, limits.memory_bytes // 16)
        self.batch = self.steps = STEP_START
        self.last_tick = perf_counter()

    def tick(self) -> None:
        """Check the limits; adapt the batch so checks stay near :data:`TICK_INTERVAL` apart
        even when single steps are costly (a loop comparing huge arrays)."""
        now = perf_counter()
        interval = now - self.last_tick
        self.last_tick = now
        if interval > TICK_INTERVAL * 4 and self.batch > 1:
            self.batch = max(1, self.batch // 16)
        elif interval < TICK_INTERVAL / 4 and self.batch < STEP_BATCH:
            self.batch = min(STEP_BATCH, self.batch * 4)
        self.steps = self.batch
        self.instance.check_limits()

    def measure(self) -> None:
        live = self.instance.measure_memory()
        self.allocated = 0
        limit = self.memory_limit or 0
        if live > limit:
            raise LimitError("memory")
        self.next_measure = max(1 << 20, live // 2, limit // 16)

    def output(self, text: str) -> None:
        self.instance.write(text)

    def sleep(self, seconds: float) -> None:
        self.instance.sleep(seconds)


class TengoFunction(ScriptFunction):
    """A Tengo function of one open instance, callable from Python."""

    def __init__(self, instance: TengoInstance, fn: Closure) -> None:
        self._instance = instance
        self._fn = fn

    def __call__(self, *args: ScriptValue) -> Coroutine[Any, Any, ScriptValue]:
        return self._instance.call_function(self._fn, args)  # (its coroutine: one frame less)

    def start(self, *args: ScriptValue) -> ScriptValue | Suspended:
        return self._instance.start_function(self._fn, args)

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, TengoFunction)
            and other._instance is self._instance
            and other._fn is self._fn
        )

    def __hash__(self) -> int:
        return hash((id(self._instance), id(self._fn)))

    def __repr__(self) -> str:
        return f"<Tengo function of {self._instance.filename}>"


class TengoInstance(ScriptInstance):
    """One spell; see the module docstring for how it is driven."""

    def __init__(self, source: str, filename: str, api: Api, limits: Limits) -> None:
        self.filename = filename
        self._limits = limits
        self._budget = limits.memory_bytes
        self._context = api.context
        self._limit: LimitExceeded | None = None
        self._interrupt: str | None = None
        self._closed = False
        self._cpu = 0.0
        self._stretch = Stretch()  # what the current resume has used
        self._slice_due = math.inf  # perf_counter() at which running code hands the loop back
        self._calls = 0
        self._print = OutputMeter(api.output, limits)
        self._memory = 0
        self._thread = threading.get_ident()
        timeout = limits.timeout_seconds
        self._deadline = perf_counter() + timeout if timeout is not None else math.inf
        self._active_deadline = self._deadline
        self._main_done = False
        self._scopes: set[anyio.CancelScope] = set()
        self._runs: set[Worker] = set()
        self._idle: list[Worker] = []
        self._hosts: dict[HostObject, HostMap] = {}
        plan: Plan = plan_for(api)
        self._program = program_for(source, filename, plan, tuple(api.values))
        self.ctx = _EngineContext(self, limits)
        g: list[Any] = [None] * self._program.nglobals
        g[0] = self.ctx
        names = self._program.names
        for name, value in plan.globals:
            g[names[name]] = value
        if plan.print_builtin:
            g[names["print"]] = plan.print_builtin
        for name, value in api.values.items():
            g[names[name]] = self.to_tengo(value)
        self._g: list[Any] | None = g
        self._main_pending = True

    # conversions ---------------------------------------------------------------------------

    # Both directions are charged to the memory limit as they convert (see ._convert).

    def to_tengo(self, value: Any) -> Any:
        t = value.__class__
        if (t is str and len(value) < SMALL_STRING) or t is bool or t is float or value is None:
            return value
        if t is int:
            return to_tengo(value, self._host_map, self._unwrap, _NO_TALLY)
        return to_tengo(value, self._host_map, self._unwrap, Tally(self._budget, self._limits))

    def to_py(self, value: Any) -> Any:
        t = value.__class__
        if (t is str and len(value) < SMALL_STRING) or t is int or t is bool or t is float:
            return value
        if value is None:
            return None
        return to_py(value, self._wrap, Tally(self._budget, self._limits))

    def _wrap(self, fn: Closure) -> ScriptFunction:
        return TengoFunction(self, fn)

    def _unwrap(self, fn: ScriptFunction) -> Closure | None:
        if isinstance(fn, TengoFunction) and fn._instance is self:
            return fn._fn
        return None

    def _host_map(self, host: HostObject) -> HostMap:
        found = self._hosts.get(host)
        if found is None:
            from ._plan import host_methods

            attrs = {k: self.to_tengo(v) for k, v in host.fields.items()}
            attrs.update(host_methods(host))
            found = self._hosts[host] = HostMap(attrs, host)
        return found

    # ScriptInstance --------------------------------------------------------------------------

    async def run_main(self) -> ScriptValue:
        """Run the spell's main file; return the value it ``export``s (converted)."""
        self._ensure_open()
        if not self._main_pending:
            raise RuntimeError("run_main() can be called only once")
        self._main_pending = False
        program, g = self._program, self._g

        def body() -> Any:
            frame: list[Any] = [None, g, None]
            program.main(frame)
            return frame[2]

        try:
            value = await self._drive(body, self._deadline)
            return self._result(value, "the spell's exported value")
        finally:
            self._main_done = True

    async def call_function(self, fn: Closure, args: tuple[ScriptValue, ...]) -> ScriptValue:
        """Call a Tengo function of this instance (see :meth:`start_function`); wait for it."""
        result = self.start_function(fn, args)
        if result.__class__ is Suspended:
            return await result
        return result

    def start_function(self, fn: Closure, args: tuple[ScriptValue, ...]) -> ScriptValue | Suspended:
        """Call a Tengo function of this instance in a worker greenlet of its own, here until
        it ends or waits for an API call (:meth:`ScriptFunction.start`)."""
        self._ensure_open()
        if isinstance(getcurrent(), Worker) or threading.get_ident() != self._thread:
            raise RuntimeError(
                "a spell function cannot be called while the spell's code is running "
                "(from a synchronous API function) or from another thread"
            )
        if self._limit is not None:
            raise self._set_limit(self._limit)
        try:
            targs = [self.to_tengo(a) for a in args]
        except LimitExceeded as exc:
            raise self._set_limit(exc) from None
        info = fn.info
        if not info.var_args and len(targs) != info.nparams:
            # as in Lua and JS, missing arguments are undefined and extra ones are dropped
            targs = (targs + [None] * info.nparams)[: info.nparams]
        g = self._g

        def body() -> Any:
            return _calls.call_closure(fn, targs, g)  # type: ignore[arg-type]

        deadline = self._callback_deadline()
        run, value = self._start(body, deadline)
        if run is not None:  # (it waits for an API call)
            return Suspended(self._serve_call(run, value, deadline))
        return self._returned(value)

    async def _serve_call(self, run: Worker, req: Any, deadline: float) -> ScriptValue:
        """The rest of a call that waits for an API call (``req``)."""
        return self._returned(await self._serve(run, req, deadline))

    def _returned(self, value: Any) -> ScriptValue:
        """A called function's result, converted (its error raised)."""
        if type(value) is Error:
            line = None
            if value.where is not None and value.where[0].name == self.filename:
                line = value.where[0].position(value.where[1])[0]
            raise SpellRuntimeError(self.filename, line, str(self._result(value, "its error")))
        return self._result(value, "the function's result")

    def _result(self, value: Any, what: str) -> Any:
        try:
            return self.to_py(value)
        except LimitExceeded as exc:
            raise self._set_limit(exc) from None
        except (TypeError, ValueError) as exc:
            raise SpellRuntimeError(self.filename, None, f"{what}: {exc}") from None

    def _callback_deadline(self) -> float:
        """The run's deadline while the main file runs, else a fresh one (``perf_counter``)."""
        timeout = self._limits.timeout_seconds
        if not self._main_done or timeout is None:
            return self._deadline
        return perf_counter() + timeout

    def statistics(self) -> InstanceStatistics:
        """CPU seconds used inside the interpreter, memory the run holds, API calls made."""
        from .._statistics import InstanceStatistics

        if self._g is not None:
            self._memory = self.measure_memory()
        return InstanceStatistics(
            cpu_seconds=self._cpu, memory_bytes=self._memory, api_calls=self._calls
        )

    def close(self) -> None:
        """Invalidate the instance: pending calls are cancelled, greenlets are unwound."""
        self._closed = True
        for scope in list(self._scopes):
            scope.cancel()
        for run in [*self._runs, *self._idle]:
            if not run.dead:
                run.throw()
        self._runs.clear()
        self._idle.clear()
        self._g = None
        self._hosts = {}
        self.ctx.instance = None  # no cycle left: the instance is freed without the GC

    # driving ---------------------------------------------------------------------------------

    async def _drive(self, body: Any, deadline: float) -> Any:
        """Run ``body`` in a worker until it ends, serving its API requests; ``deadline`` is
        a ``perf_counter`` time."""
        run, value = self._start(body, deadline)
        if run is None:
            return value
        return await self._serve(run, value, deadline)

    def _start(self, body: Any, deadline: float) -> tuple[Worker | None, Any]:
        """Run ``body`` in a worker until it ends, ``(None, value)``, or requests an async API
        call, ``(worker, request)``: then the caller must :meth:`_serve` the worker."""
        run = self._idle.pop() if self._idle else Worker(self)
        # sync_api functions run in the greenlet: give it the context of the task driving it
        # (the trace context of whoever called, say), as async ones have by running here
        run.gr_context = contextvars.copy_context()
        self._active_deadline = deadline
        self._runs.add(run)
        try:
            done, req = self._resume(run, body)
        except BaseException:
            self._release(run)
            raise
        if done:
            self._release(run)
            return None, req
        return run, req

    async def _serve(self, run: Worker, req: Any, deadline: float) -> Any:
        """Serve the API requests of ``run`` (``req``: its first) until its body ends."""
        try:
            # the loop's clock for the same deadline (computed only for code that suspends)
            loop_deadline = anyio.current_time() + (deadline - perf_counter())
            with anyio.CancelScope(deadline=loop_deadline) as scope:
                self._scopes.add(scope)
                try:
                    while True:
                        fn, label, contextual, args = req
                        try:
                            if contextual:
                                result = await fn(self._context, *args)
                            else:
                                result = await fn(*args)
                        except LimitExceeded as exc:
                            raise self._set_limit(exc) from None
                        except Exception as exc:
                            reply: tuple[str, Any] = ("err", api_error_text(exc, label))
                        else:
                            reply = ("ok", result)
                        self._active_deadline = deadline
                        done, req = self._resume(run, reply)
                        if done:
                            return req
                finally:
                    self._scopes.discard(scope)
            self._ensure_open()
            if self._interrupt is not None:
                raise self._set_limit(SpellInterrupted(self._interrupt))
            raise self._set_limit(limit_exceeded("timeout", self._limits))
        finally:
            self._release(run)

    def _release(self, run: Worker) -> None:
        """Keep ``run`` for the next piece of code if its body has ended, else unwind it."""
        self._runs.discard(run)
        if run.ready and not self._closed and len(self._idle) < IDLE_WORKERS:
            self._idle.append(run)
        elif not run.dead:
            run.throw()

    def _resume(self, run: Worker, value: Any) -> tuple[bool, Any]:
        """Switch into ``run`` (a body to start, or the reply to its API request) until it
        requests an async API call, ``(False, request)``, or its code ends, ``(True, value)``.
        An error of the code is raised here, converted."""
        if self._interrupt is not None and self._limit is None:
            self._set_limit(SpellInterrupted(self._interrupt))
        if self._limit is not None:
            raise self._set_limit(self._limit)
        self._ensure_open()
        previous = set_active(self.ctx)
        self._slice_due = self._stretch.begin() + SLICE
        if run.long:  # the rest of code that held the loop for a slice: the thread's clock
            run.long = False
            self._stretch.on_cpu_clock()
        try:
            req = run.switch(value)
            if req is not None:
                return False, req
            status, result = run.take_outcome()
            if status is FAILED:
                raise result
            return True, result
        except LimitError as exc:
            raise self._set_limit(self._limit_error(exc.kind)) from None
        except VMError as exc:
            raise self._runtime_error(exc) from None
        except RecursionError:
            raise SpellRuntimeError(self.filename, None, "stack overflow") from None
        finally:
            set_active(previous)
            self._cpu += self._stretch.end()
            if self._cpu > self._limits.cpu_seconds and self._limit is None:
                self._set_limit(limit_exceeded("cpu", self._limits))

    def api_call(
        self,
        fn: Any,
        label: str,
        contextual: bool,
        sync: bool,
        eager: bool,
        dynamic: str | None,
        args: list[Any],
    ) -> Any:
        """Called from Tengo (inside a run's greenlet) for every API function call whose
        argument count fits (``label``: as the script wrote it, ``tools.weather``).

        A :func:`sync_api` function runs here; an :func:`eager_api` one starts here and
        suspends the code (a switch to the driver, which awaits the rest of it) only when it
        waits; any other is awaited by the driver."""
        if self._limit is not None or self._interrupt is not None:
            self.check_limits()
        try:
            pyargs = [self.to_py(a) for a in args]
        except LimitExceeded as exc:
            self._set_limit(exc)
            raise LimitError(exc.limit) from None
        except (TypeError, ValueError) as exc:
            return Error(f"{label}: {exc}")
        if dynamic is not None:
            pyargs.insert(0, dynamic)
        self._calls += 1
        request: tuple[Any, str, bool, list[Any]] | None = None  # for the driver to await
        try:
            if sync:
                result = call_sync(fn, [self._context, *pyargs] if contextual else pyargs, label)
            elif eager:
                coro = fn(self._context, *pyargs) if contextual else fn(*pyargs)
                try:
                    first = coro.send(None)
                except StopIteration as stop:
                    result = stop.value
                else:
                    request = (_finish, label, False, [Pending(coro, first, pyargs)])
            else:
                request = (fn, label, contextual, pyargs)
        except LimitExceeded as exc:
            self._set_limit(exc)
            raise LimitError(exc.limit) from None
        except Exception as exc:
            return Error(api_error_text(exc, label))
        if request is not None:
            kind, result = getcurrent().parent.switch(request)
            if kind == "err":
                return Error(result)
        try:
            return self.to_tengo(result)
        except LimitExceeded as exc:
            self._set_limit(exc)
            raise LimitError(exc.limit) from None
        except (TypeError, ValueError) as exc:
            return Error(f"{label}: {exc}")

    # limits ----------------------------------------------------------------------------------

    def interrupt(self, reason: str = "interrupted") -> None:
        """End the run from outside (see :meth:`ScriptInstance.interrupt`): the next limit check
        (every :data:`TICK_INTERVAL` or so of running code) raises :class:`SpellInterrupted`;
        a pending API call is cancelled at once when this is called on the event loop's
        thread."""
        if self._interrupt is None:
            self._interrupt = reason
        if threading.get_ident() == self._thread and not isinstance(getcurrent(), Worker):
            for scope in list(self._scopes):
                scope.cancel()

    def check_limits(self) -> None:
        if self._interrupt is not None and self._limit is None:
            self._set_limit(SpellInterrupted(self._interrupt))
        if self._limit is not None:
            raise LimitError(self._limit.limit)
        now = perf_counter()
        if self._cpu + self._stretch.used(now) > self._limits.cpu_seconds:
            raise LimitError("cpu")
        if now > self._active_deadline:
            raise LimitError("timeout")
        if now > self._slice_due:  # held the loop for a slice: hand it back once
            run = getcurrent()
            if isinstance(run, Worker):
                run.long = True  # (its next resume, this code's rest, is surely long too)
                run.parent.switch((share_loop, "", False, []))
                self.check_limits()  # (an interrupt may have come meanwhile)

    def measure_memory(self) -> int:
        roots: list[Any] = [self._g]
        frames = []
        current = sys._getframe()
        if isinstance(getcurrent(), Worker):
            frames.append(current)
        for run in self._runs:
            if run.gr_frame is not None:
                frames.append(run.gr_frame)
        for top in frames:
            frame: Any = top
            while frame is not None:
                if frame.f_code is _CLOSURE_CODE:
                    roots.append(frame.f_locals.get("f"))
                frame = frame.f_back
        self._memory = live_size(roots, self._limits.memory_bytes + 1)
        return self._memory

    def write(self, text: str) -> None:
        """``print`` and ``fmt.print*``: through the shared :class:`OutputMeter`."""
        try:
            self._print(text)
        except LimitExceeded as exc:
            self._set_limit(exc)
            raise LimitError(exc.limit) from None

    def sleep(self, seconds: float) -> None:
        """``times.sleep`` suspends the run like an API call (never blocks the loop)."""

        async def _sleep() -> None:
            await anyio.sleep(max(0.0, seconds))

        run = getcurrent()
        if not isinstance(run, Worker):
            return
        run.parent.switch((_sleep, "times.sleep", False, []))

    def _limit_error(self, kind: str) -> LimitExceeded:
        if self._limit is not None:
            return self._limit
        return limit_exceeded(kind, self._limits)

    def _set_limit(self, exc: LimitExceeded) -> LimitExceeded:
        if self._limit is None:
            self._limit = exc
        limit = self._limit
        fresh = type(limit).__new__(type(limit))
        fresh.args = limit.args
        fresh.__dict__.update(limit.__dict__)
        return fresh

    def _ensure_open(self) -> None:
        if self._closed:
            raise SpellClosedError(f"{self.filename}: the spell's run has ended")

    def _runtime_error(self, exc: VMError) -> SpellRuntimeError:
        positions = exc.positions()
        line = None
        for name, ln, _col in positions:
            if name == self.filename:
                line = ln
                break
        traceback = "\n".join(f"\tat {n}:{ln}:{c}" for n, ln, c in positions)
        return SpellRuntimeError(self.filename, line, exc.message, traceback)
