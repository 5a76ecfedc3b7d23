"""One spell in one sandboxed PUC Lua 5.4 interpreter (lupa), driven from async Python.

How a spell runs
================

Every piece of Lua the engine runs — the main chunk and each callback into a
:class:`ScriptFunction` — is a Lua coroutine whose body is the prelude's ``runner``. The task
that wants the result (``run_main``'s caller, or whoever awaits the ScriptFunction) *drives* that
coroutine: it resumes it synchronously until it yields an API request, awaits the API function
itself, and resumes it with the result. So an API call costs one resume and one ``await``, with
no task switch (well over 100k round trips/s), and concurrency is exactly the caller's: event
handlers, hook handlers and stream callbacks run in the tasks that call them, interleaved with a
main chunk suspended in its own API call. All Lua runs on the event-loop thread; each resume is a
stretch of :class:`~llmspell.engines._slices.Slicer`, which the count hook pauses once it has held
the loop for a slice (the driver lets the loop run, then resumes it). The interpreter is never
entered twice at once: a resume waits while another is paused, and calling a ScriptFunction from
inside a synchronous API function (while Lua is running) is refused.

Functions marked :func:`sync_api` skip the yield: their stub calls Python directly, which runs
the coroutine function to completion with ``send(None)``. Functions marked :func:`eager_api`
(``events.emit``) are started the same way; only when one awaits does the stub yield, and the
driver awaits the rest of that call (:class:`~llmspell.engines._eager.Pending`) before it
resumes the coroutine.

Limits
======

* memory: the interpreter's allocator (``max_memory``) → ``LimitExceeded("memory")``; values
  crossing to Python and back are charged too (see :mod:`._convert`). A value going into Lua is
  measured against what is left of the heap *before* lupa builds it: lupa builds tables and
  pushes values outside Lua's protected calls, where a failed allocation aborts the process
  (``PANIC: unprotected error in call to Lua API``) or, inside a synchronous API function,
  longjmps past lupa's callback frame with the GIL still held, so that the thread then waits
  for the GIL it holds itself (0 % CPU, SIGINT never handled: the ``json.decode`` hang).
* cpu: the thread's CPU time inside the interpreter (resumes and synchronous
  API functions), summed over the main chunk, callbacks and user coroutines; time the thread
  waits (a busy machine, a blocking call) does not count. A count hook checks it, the
  wall-clock deadline and :meth:`LuaInstance.interrupt` from inside loops: every
  :data:`HOOK_COUNT` instructions at most, fewer when instructions are costly (a loop of
  ``big:upper()``), aiming at :data:`HOOK_INTERVAL`.
  C pattern matching cannot be interrupted, so costly matches run in an interruptible
  pure-Lua matcher (``fallback.lua``; ``guards.lua`` decides which calls need it).
* timeout: wall clock from ``open()`` for the main chunk and the callbacks made while it runs;
  a callback made after the main chunk returned (a resident spell handling an event) gets a
  fresh ``timeout_seconds`` of its own; also a cancel-scope deadline around every pending API
  call.
* output: bytes printed through the built-in ``print`` (the API's own ``print``/``output`` may
  raise ``LimitExceeded`` too).

Once a limit is hit it is sticky: the hook re-raises it, the sandbox's ``pcall``/``xpcall``/
``coroutine.resume`` re-raise it, every API stub refuses to run (a ``<close>`` handler runs
while the limit's error unwinds), and Python never resumes the instance again.
"""

from __future__ import annotations

import math
import threading
import weakref
from collections.abc import Coroutine
from contextlib import AbstractAsyncContextManager
from time import perf_counter
from typing import TYPE_CHECKING, Any

import anyio
from anyio import WouldBlock
from lupa import lua54  # type: ignore[import-untyped]

from ..._exceptions import (
    IncompleteInput,
    LimitExceeded,
    SpellClosedError,
    SpellInterrupted,
    SpellRuntimeError,
)
from .._base import (
    Api,
    ApiFunction,
    HostObject,
    Limits,
    OutputMeter,
    ScriptFunction,
    ScriptInstance,
    ScriptValue,
    Suspended,
    api_error_text,
    arity_error,
    call_sync,
    limit_exceeded,
)
from .._clock import Stretch
from .._eager import Pending as _Pending
from .._slices import PAUSED, Slicer
from ._chunks import compile_error, compile_spell, compiled_chunk, new_runtime
from ._convert import LuaConverter, LuaObject
from ._errors import (
    chunk_name,
    prepare_source,
    runtime_error,
    syntax_error,
)
from ._plan import Entry as _Entry
from ._plan import call_kind, entry, plans

if TYPE_CHECKING:
    from .._statistics import InstanceStatistics

IDLE_COROUTINES = 4
"""Coroutines whose call has finished that an instance keeps for its next callbacks (the
prelude's ``runner`` serves one call after the other): resuming an idle one with the next call
is cheaper than making a new Lua thread for each."""

HOOK_COUNT = 1000
"""VM instructions between two checks of the CPU and wall-clock limits (at most)."""

HOOK_START = 64
"""The count a new coroutine starts with; it grows to HOOK_COUNT while instructions are cheap."""

HOOK_INTERVAL = 0.002
"""Target seconds between two checks; the count shrinks when instructions are costly."""

PATTERN_BUDGET = 1e7
"""Estimated worst-case steps above which a pattern call runs in the interruptible matcher
(C matching does roughly 4 ns per step)."""

_PRINT_ENTRY = ("print", False, False, 1, 1, None)
"""The instance's own ``print`` as an entry after its function (see :data:`_Entry`): one text."""

_KINDS = {"true": True, "false": False, '"eager"': b"eager"}
""":func:`call_kind` as a value to hand to Lua."""

_LuaError = lua54.LuaError
_LuaMemoryError = lua54.LuaMemoryError
_lua_type = lua54.lua_type


class _Failed:
    """What a Lua function returned as ``nil, "message"``: Lua's way to report a failure."""

    __slots__ = ("message",)

    def __init__(self, message: str) -> None:
        self.message = message


def _detached(*args: Any) -> Any:
    raise SpellClosedError("the spell's run has ended")


_DETACHED = LuaConverter(_detached, _detached, _detached, _detached)
"""The converter of a closed instance."""


def open_instance(
    source: str, filename: str, api: Api, limits: Limits
) -> AbstractAsyncContextManager[ScriptInstance]:
    """What :meth:`LuaEngine.open` returns; see :class:`~llmspell.engines.Engine`."""
    return _Opening(source, filename, api, limits)


class _Opening(AbstractAsyncContextManager[ScriptInstance]):
    """What :meth:`LuaEngine.open` returns (a class: cheaper than an asynccontextmanager, and
    opened on every run)."""

    __slots__ = ("_api", "_filename", "_instance", "_limits", "_source")

    def __init__(self, source: str, filename: str, api: Api, limits: Limits) -> None:
        self._source, self._filename, self._api, self._limits = source, filename, api, limits
        self._instance: LuaInstance | None = None

    async def __aenter__(self) -> ScriptInstance:
        self._instance = LuaInstance(self._source, self._filename, self._api, self._limits)
        return self._instance

    async def __aexit__(self, *exc_info: object) -> None:
        if self._instance is not None:
            self._instance.close()


class LuaFunction(ScriptFunction):
    """A Lua function of one open instance, callable from Python.

    A call returns the function's first result. A function that returns ``nil, "message"``
    (Lua's convention for a failure, as ``io.open`` does) raises :class:`SpellRuntimeError`
    with that message, as ``error("message")`` would: a tool handler's ``return nil, err``
    becomes a tool error.
    """

    def __init__(self, instance: LuaInstance, fn: LuaObject) -> None:
        self._instance = instance
        self._fn: LuaObject | None = fn

    def __call__(self, *args: ScriptValue) -> Coroutine[Any, Any, ScriptValue]:
        return self._instance.call_function(self._fn, args)  # (its coroutine: one frame less)

    def start(self, *args: ScriptValue) -> ScriptValue | Suspended:
        return self._instance.start_function(self._fn, args)

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, LuaFunction)
            and other._instance is self._instance
            and repr(other._fn) == repr(self._fn)
        )

    def __hash__(self) -> int:
        return hash((id(self._instance), repr(self._fn)))

    def __repr__(self) -> str:
        return f"<Lua function of {self._instance.filename}>"


class LuaInstance(ScriptInstance):
    """One spell in one interpreter; see the module docstring for how it is driven."""

    def __init__(self, source: str, filename: str, api: Api, limits: Limits) -> None:
        self.filename = filename
        self._chunk = chunk_name(filename)
        self._limits = limits
        self._api = api
        self._context = api.context
        self._limit: LimitExceeded | None = None
        self._closed = False
        self._busy = False
        self._cpu = 0.0
        self._stretch = Stretch()  # what the current resume has used
        self._last_hook = 0.0
        self._interrupt: str | None = None
        self._count = HOOK_START
        self._calls = 0
        self._print = OutputMeter(api.output, limits)
        self._thread = threading.get_ident()
        timeout = limits.timeout_seconds
        self._deadline = perf_counter() + timeout if timeout is not None else math.inf
        self._main_done = False
        self._active_deadline = self._deadline
        self._scopes: set[anyio.CancelScope] = set()
        self._fns: list[_Entry] = []
        self._pending: _Pending | None = None  # an eager call that awaited (see _call_eager)
        self._idle: list[LuaObject] = []  # coroutines waiting for their next call
        self._main_co: LuaObject | None = None  # the main chunk's (not kept: see _park)
        self._host_tables: dict[HostObject, LuaObject] = {}
        self._wrappers: weakref.WeakSet[LuaFunction] | None = None  # made by the first _wrap
        self._anchor: LuaObject | None = None
        self._main: LuaObject | None = None
        self._rt: Any = None
        self._slicer = Slicer(self._abort)
        try:
            self._setup(source, api, limits)
        except _LuaMemoryError:
            self.close()
            raise self._limit_error("memory") from None
        except BaseException:
            self.close()
            raise

    # setup ---------------------------------------------------------------------------------

    def _setup(self, source: str, api: Api, limits: Limits) -> None:
        self._rt = rt = new_runtime(limits.memory_bytes)
        plan = plans(api)
        # Lua's collector is stopped while the instance is built: in a fresh, small heap its
        # incremental steps run every few allocations and cost as much as the building itself.
        # (A failing allocation still collects first.)
        with rt.nogc():
            self._anchor = rt.table_from({})
            self._conv = conv = LuaConverter(
                rt.table_from, self._wrap, self._unwrap, self._host_table, rt, limits
            )
            to_lua = conv.to_lua
            fns = self._fns = list(plan.entries)
            if plan.print_id is not None:
                fns.append((self._builtin_print, *_PRINT_ENTRY))
            # bytecode straight from Python's buffer: no copy of it becomes a Lua string
            runner, compile_, make_table, env, untrip, hosts, tables, dump = rt.execute(
                plan.chunk,
                self._check,
                self._call_sync,
                self._call_eager,
                compiled_chunk,
                HOOK_START,
                PATTERN_BUDGET,
                limits.memory_bytes,
                name=b"=[llmspell]",
                mode=b"b",
            )
            self._runner, self._make_table = runner, make_table
            self._compile, self._untrip = compile_, untrip
            for i, host in enumerate(plan.hosts, 1):
                table = hosts[i]
                self._host_tables[host] = table
                conv.register_host(table, host)
            for i, values in enumerate(plan.extra, 1):
                table = tables[i]
                for key, value in values.items():
                    table[key.encode()] = to_lua(value)
            for name, value in api.values.items():
                env[name.encode()] = to_lua(value)
            res = compile_spell(compile_, dump, source, self._chunk)
        if isinstance(res, tuple):
            name = self._chunk
            raise syntax_error(
                self.filename,
                name,
                res[1],
                source,
                lambda text: compile_error(new_runtime(None), text, name),
            )
        self._main = res

    def _add(self, fn: ApiFunction, label: str) -> int:
        self._fns.append(entry(fn, label))
        return len(self._fns)

    def _host_table(self, host: HostObject) -> LuaObject:
        table = self._host_tables.get(host)
        if table is None:
            spec: list[Any] = []
            for name, fn in host.methods.items():
                fid = self._add(fn, f"{host.type_name}:{name}")
                spec += (name.encode(), fid, _KINDS[call_kind(fn)])
            fields = self._conv.to_lua(dict(host.fields)) if host.fields else None
            table = self._make_table(host.type_name.encode(), fields, None, False, *spec)
            self._host_tables[host] = table
            self._conv.register_host(table, host)
        return table

    def _wrap(self, fn: LuaObject) -> ScriptFunction:
        # lupa ties a Lua object to the Lua thread it was made in: a function the spell passes
        # to the API arrives from a coroutine, which Lua may collect once it ends, leaving the
        # object to unref itself through freed memory later. Re-read it through a table of the
        # main state (made in _setup, outside any coroutine) so the wrapper holds a reference
        # anchored there.
        anchor = self._anchor
        assert anchor is not None
        anchor[1] = fn
        fn = anchor[1]
        anchor[1] = None
        wrapper = LuaFunction(self, fn)
        if self._wrappers is None:
            self._wrappers = weakref.WeakSet()
        self._wrappers.add(wrapper)
        return wrapper

    def _unwrap(self, fn: ScriptFunction) -> LuaObject | None:
        if isinstance(fn, LuaFunction) and fn._instance is self:
            return fn._fn
        return None

    # ScriptInstance ----------------------------------------------------------------------------

    async def run_main(self) -> ScriptValue:
        """Run the spell's top-level code; return its first return value (converted)."""
        main, self._main = self._main, None
        if main is None:
            self._ensure_open()
            raise RuntimeError("run_main() can be called only once")
        try:
            co = self._main_co = self._runner.coroutine(main)
            # _drive, written out: while the main chunk waits on an API call (a model's
            # answer), a coroutine layer that only forwards would be one more live object
            deadline = self._active_deadline = self._deadline
            entry, result = await self._slicer.run(self._step, co, None, None)
            if entry is not None:
                result = await self._serve(co, entry, result, deadline)
        finally:
            self._main_done = True
            self._main_co = None
        return None if result.__class__ is _Failed else result

    def _callback_deadline(self) -> float:
        """The main chunk's deadline while it runs; afterwards a fresh timeout per callback
        (``perf_counter`` time)."""
        timeout = self._limits.timeout_seconds
        if not self._main_done or timeout is None:
            return self._deadline
        return perf_counter() + timeout

    async def call_function(self, fn: LuaObject, args: tuple[ScriptValue, ...]) -> ScriptValue:
        """Call a Lua function of this instance (see :meth:`start_function`) and wait for it."""
        result = self.start_function(fn, args)
        if result.__class__ is Suspended:
            return await result
        return result

    def start_function(
        self, fn: LuaObject, args: tuple[ScriptValue, ...]
    ) -> ScriptValue | Suspended:
        """Call a Lua function of this instance in a coroutine of its own, an idle one or a
        new one, and run it here until it ends or waits (:meth:`ScriptFunction.start`)."""
        # (run once per event: the checks of the methods it would call are inlined)
        if self._closed:
            self._ensure_open()
        slicer = self._slicer
        running = slicer.running
        if (running and slicer.inside()) or threading.get_ident() != self._thread:
            raise RuntimeError(
                "a spell function cannot be called while the spell's code is running "
                "(from a synchronous API function) or from another thread"
            )
        if self._limit is not None:
            raise self._set_limit(self._limit)
        try:
            if self._idle:
                co, first = self._idle.pop(), (fn, *self._conv.args_to_lua(args))
            else:
                co, first = self._runner.coroutine(fn, *self._conv.args_to_lua(args)), None
        except _LuaMemoryError:
            raise self._set_limit(self._limit_error("memory")) from None
        except LimitExceeded as exc:
            raise self._set_limit(exc) from None
        deadline = self._callback_deadline() if self._main_done else self._deadline
        if running:  # (a paused stretch: wait for it)
            return Suspended(self._finish_call(co, first, deadline, started=False))
        # the first stretch here, without a coroutine frame
        self._active_deadline = deadline
        outcome = slicer.start(self._step, co, None, first)
        if outcome is PAUSED:
            return Suspended(self._finish_call(co, None, deadline, started=True))
        if not outcome[0]:
            raise outcome[1]
        entry, result = outcome[1]
        if entry is not None:  # (it waits for an API call)
            return Suspended(self._serve_call(co, entry, result, deadline))
        if result.__class__ is _Failed:
            return self._returned(result)
        return result

    async def _finish_call(
        self, co: LuaObject, first: tuple[Any, ...] | None, deadline: float, started: bool
    ) -> ScriptValue:
        """The rest of a call :meth:`start_function` could not run to its end: all of it when
        another stretch was paused (``started`` False: ``first`` is what to start it with),
        else what follows its own first stretch, which paused."""
        if not started:
            result = await self._drive(co, first, deadline)
        else:
            entry, result = await self._slicer.finish()
            if entry is not None:
                result = await self._serve(co, entry, result, deadline)
        return self._returned(result)

    async def _serve_call(
        self, co: LuaObject, entry: _Entry, payload: Any, deadline: float
    ) -> ScriptValue:
        """The rest of a call that waits for an API call (``entry``, ``payload``)."""
        return self._returned(await self._serve(co, entry, payload, deadline))

    def _returned(self, result: Any) -> ScriptValue:
        """A called function's result (its error raised: a call ends with ``_Failed`` when its
        Lua code raised)."""
        if result.__class__ is _Failed:
            raise SpellRuntimeError(self.filename, None, result.message)
        return result

    async def evaluate(self, source: str, chunk: str) -> ScriptValue:
        """Run a REPL input (see :meth:`ScriptInstance.evaluate`): ``return <source>`` when
        that compiles, else ``source``. A limit it hits unwinds only its own coroutine, so the
        instance stays usable: the next input starts with the limit cleared."""
        self._ensure_open()
        if self._slicer.inside() or threading.get_ident() != self._thread:
            raise RuntimeError("evaluate() must be called from the instance's own thread")
        await self._slicer.wait_idle()
        self._limit = None
        self._interrupt = None  # (an interrupt ended the previous input only)
        self._untrip()
        self._cpu = 0.0
        self._main_done = True
        self.filename = self._chunk = chunk  # what errors of this input (and later) name
        fn = self._compile_input(source, chunk)
        timeout = self._limits.timeout_seconds
        deadline = perf_counter() + timeout if timeout is not None else math.inf
        result = await self._drive(self._runner.coroutine(fn), None, deadline)
        return None if result.__class__ is _Failed else result

    def _compile_input(self, source: str, chunk: str) -> LuaObject:
        name = b"=" + chunk.encode()
        try:
            res = self._compile(b"return " + prepare_source(source), name)
            if not isinstance(res, tuple):
                return res
            as_value = res[1]
            res = self._compile(prepare_source(source), name)
        except _LuaMemoryError:
            raise self._limit_error("memory") from None
        if not isinstance(res, tuple):
            return res
        error = syntax_error(
            chunk, chunk, res[1], source, lambda text: compile_error(new_runtime(None), text, chunk)
        )
        if error.message.endswith("<eof>") or bytes(as_value or b"").endswith(b"<eof>"):
            raise IncompleteInput(chunk, error.line, error.message, error.column) from None
        raise error

    def interrupt(self, reason: str = "interrupted") -> None:
        """End the run from outside, within :data:`HOOK_INTERVAL` or so of Lua time: the count
        hook sees the flag, and a pending API call is cancelled (when called on the event
        loop's thread, as a ``signal.signal`` handler is). The run raises
        :class:`SpellInterrupted`; every later call into the spell raises it again."""
        if self._interrupt is None:
            self._interrupt = reason
            if self._limit is None:  # every check of the limit sees it from now on
                self._limit = SpellInterrupted(reason)
        if not self._busy and threading.get_ident() == self._thread:
            for scope in list(self._scopes):
                scope.cancel()

    def _abort(self) -> None:
        """The task driving a paused stretch was cancelled: end the spell's code for good."""
        if self._limit is None:
            self._limit = SpellInterrupted("cancelled while the spell's code was running")

    def statistics(self) -> InstanceStatistics:
        """CPU seconds used inside the interpreter, its memory in use, API calls made."""
        from .._statistics import InstanceStatistics

        memory = self._rt.get_memory_used() if self._rt is not None else 0
        return InstanceStatistics(cpu_seconds=self._cpu, memory_bytes=memory, api_calls=self._calls)

    def close(self) -> None:
        """Invalidate the instance: pending calls are cancelled, the interpreter is released."""
        self._closed = True
        for scope in list(self._scopes):
            scope.cancel()
        # Drop every reference to the interpreter, the converter's included: the interpreter
        # holds this instance's methods, and a cycle left here would keep the whole Lua state
        # alive until the cyclic GC finds it.
        # A function the spell handed out may outlive the instance (in a handler's frame kept by
        # a traceback, say): let its Lua reference go now, while the interpreter surely lives.
        for wrapper in list(self._wrappers or ()):
            wrapper._fn = None
        if self._pending is not None:
            self._pending.close()
            self._pending = None
        self._idle = []
        self._main_co = None
        self._rt = self._runner = self._make_table = self._main = self._anchor = None
        self._compile = self._untrip = None
        self._slicer.close()
        self._conv = _DETACHED
        self._host_tables = {}
        self._fns = []

    # driving -----------------------------------------------------------------------------------

    async def _drive(self, co: LuaObject, first: tuple[Any, ...] | None, deadline: float) -> Any:
        """Run ``co`` (a new coroutine, or an idle one resumed with ``first``: the function and
        its arguments) to the end of its call, serving its API requests; ``deadline`` is a
        ``perf_counter`` time."""
        self._active_deadline = deadline
        entry, payload = await self._slicer.run(self._step, co, None, first)
        if entry is None:
            return payload
        return await self._serve(co, entry, payload, deadline)

    async def _serve(self, co: LuaObject, entry: _Entry, payload: Any, deadline: float) -> Any:
        """Serve the API requests of ``co`` (``entry``, ``payload``: its first) until its call
        ends."""
        # the loop's clock for the same deadline (computed only for code that suspends); no
        # timer of our own when an enclosing scope's deadline (the spell run's, for the main
        # chunk) ends the wait first anyway: ours would never fire
        deadline_loop = anyio.current_time() + (deadline - perf_counter())
        if anyio.current_effective_deadline() <= deadline_loop:
            deadline_loop = math.inf
        with anyio.CancelScope(deadline=deadline_loop) as scope:
            self._scopes.add(scope)
            try:
                while True:
                    fn, label, _, contextual, _, _, _ = entry
                    try:
                        if payload.__class__ is _Pending:
                            result = await payload
                        elif contextual:
                            result = await fn(self._context, *payload)
                        else:
                            result = await fn(*payload)
                    except LimitExceeded as exc:
                        raise self._set_limit(exc) from None
                    except Exception as exc:
                        if payload.__class__ is _Pending:
                            payload = payload.args
                        error = self._call_error(exc, entry, payload)
                        self._active_deadline = deadline
                        entry, payload = await self._slicer.run(self._step, co, 1, error)
                    else:
                        self._active_deadline = deadline
                        entry, payload = await self._slicer.run(self._step, co, 0, result, label)
                    if entry is None:
                        return payload
            finally:
                self._scopes.discard(scope)
        self._ensure_open()
        if self._interrupt is not None:
            raise self._set_limit(SpellInterrupted(self._interrupt))
        raise self._set_limit(self._limit_error("timeout"))

    def _step(
        self, co: LuaObject, code: int | None, value: Any, label: str = ""
    ) -> tuple[_Entry | None, Any]:
        """Resume ``co`` until it requests an async API call or its call ends (synchronous; a
        stretch of :class:`Slicer`, so a long one hands the loop back from :meth:`_check`).
        ``code`` None: start a call (``value``: what to resume with); 0 / 1: the API call's
        result / error."""
        if self._limit is not None:
            raise self._set_limit(self._limit)
        if self._closed:
            self._ensure_open()
        if self._busy:
            raise RuntimeError("the spell's interpreter is already running")
        self._busy = True
        conv = self._conv
        stretch = self._stretch
        stretch.begin()
        try:
            if code is None:
                send: Any = value
            elif code == 0:
                try:
                    send = (0, conv.to_lua(value))
                except (TypeError, ValueError) as exc:
                    send = (1, f"{label}: {exc}".encode())
            else:
                send = (1, value)
            while True:
                r = co.send(send)
                if r.__class__ is not tuple:
                    r = (r,)
                status = r[0]
                if status > 0:
                    entry = self._fns[status - 1]
                    pending = self._pending
                    if pending is not None:  # (counted when it started)
                        self._pending = None
                        return entry, pending
                    self._calls += 1
                    try:
                        args = conv.args_to_py(r, 1)
                    except (TypeError, ValueError) as exc:
                        send = (1, f"{entry[1]}: {exc}".encode())
                        continue
                    return entry, args
                if status == 0:
                    self._park(co)
                    if len(r) < 2:
                        return None, None
                    first = r[1]
                    if first is None:
                        if len(r) > 2 and r[2].__class__ is bytes:
                            return None, _Failed(r[2].decode("utf-8", "replace"))
                        return None, None
                    return None, conv.to_py(first)
                if status == -1:
                    self._park(co)
                    raw = r[1] if len(r) > 1 else None
                    raise runtime_error(self.filename, self._chunk, raw, conv.to_py)
                if r[1] == b"memory":
                    raise self._set_limit(self._limit_error("memory"))
                raise self._set_limit(self._limit_error("cpu"))
        except _LuaMemoryError:
            raise self._set_limit(self._limit_error("memory")) from None
        except LimitExceeded as exc:  # a value too big to convert
            raise self._set_limit(exc) from None
        except _LuaError as exc:
            if self._limit is not None:
                raise self._set_limit(self._limit) from None
            raise SpellRuntimeError(self.filename, None, str(exc) or "unknown error") from None
        finally:
            # no Lua object made in the coroutine may outlive it in this frame (a traceback
            # keeps frames): see _wrap
            r = send = raw = None
            if self._pending is not None:  # the code ended before it could wait for the call
                self._pending.close()
                self._pending = None
            self._cpu += stretch.end()  # (the hook moves a long one to the thread's clock)
            self._busy = False
            if self._cpu > self._limits.cpu_seconds and self._limit is None:
                self._set_limit(self._limit_error("cpu"))

    def _park(self, co: LuaObject) -> None:
        """Keep ``co``, whose call has finished, for a later call (a few at most; not the main
        chunk's, whose stack may have grown large and which an instance that never gets a
        callback would keep for nothing)."""
        if len(self._idle) < IDLE_COROUTINES and co is not self._main_co:
            self._idle.append(co)

    def _check(self) -> bool | int:
        """The count hook: True when the run must end (the prelude then raises LIMIT).

        Also keeps the time between two hooks near :data:`HOOK_INTERVAL` by returning a new
        instruction count for the running coroutine when it strays far from it.
        """
        if self._limit is not None or self._closed:
            return True
        now = perf_counter()
        stretch = self._stretch
        used = self._cpu + stretch.used(now)
        if used > self._limits.cpu_seconds:
            self._set_limit(self._limit_error("cpu"))
            return True
        if now > self._active_deadline:
            self._set_limit(self._limit_error("timeout"))
            return True
        if self._slicer.due():  # held the loop for a slice: hand it back once
            self._cpu = used
            self._slicer.pause()
            # the rest of this stretch is surely long: on the thread's clock from now on
            self._last_hook = stretch.begin()
            stretch.on_cpu_clock()
            return self._limit is not None or self._closed
        interval = now - max(self._last_hook, stretch.wall0)
        self._last_hook = now
        count = self._count
        if interval > HOOK_INTERVAL * 4 and count > 1:
            self._count = max(1, count // 16)
        elif interval < HOOK_INTERVAL / 4 and count < HOOK_COUNT:
            self._count = min(HOOK_COUNT, count * 4)
        else:
            return False
        return self._count

    def _call_sync(self, fid: int, *args: Any) -> tuple[int, Any]:
        """Called directly from Lua for sync_api functions: returns (status, value)."""
        if self._limit is not None:  # a <close> handler's call after a limit
            return 2, None
        entry = self._fns[fid - 1]
        fn, label, _, contextual, _, _, _ = entry
        self._calls += 1
        try:
            pyargs = self._conv.args_to_py(args, 0)
            if contextual:
                pyargs.insert(0, self._context)
            return 0, self._conv.to_lua(call_sync(fn, pyargs, label))
        except LimitExceeded as exc:
            return self._tripped(exc)
        except _LuaMemoryError:
            return self._tripped(self._limit_error("memory"))
        except Exception as exc:
            return 1, self._call_error(exc, entry, args)

    def _call_eager(self, fid: int, *args: Any) -> tuple[int, Any]:
        """Called directly from Lua for eager_api functions: starts the call and returns
        ``(status, value)`` as :meth:`_call_sync` does when it finished, or ``(3, None)``
        when it awaited: the stub then yields its id, and :meth:`_step` hands the rest of the
        call (kept in ``_pending``) to the driver. A function with a ``nowait`` form
        (:func:`~llmspell.engines.eager_api`) is tried that way first: its coroutine is made
        only when that raises ``WouldBlock``."""
        if self._limit is not None:  # a <close> handler's call after a limit
            return 2, None
        entry = self._fns[fid - 1]
        fn, label, _, contextual, _, _, nowait = entry
        self._calls += 1
        conv = self._conv
        # (errors are worded as the driver words those of the calls it awaits)
        try:
            try:
                pyargs = conv.args_to_py(args, 0)
            except (TypeError, ValueError) as exc:
                return 1, f"{label}: {exc}".encode()
            try:
                waits = True
                if nowait is not None:
                    try:
                        value = nowait(self._context, *pyargs) if contextual else nowait(*pyargs)
                        waits = False
                    except WouldBlock:
                        pass
                if waits:
                    coro: Any = fn(self._context, *pyargs) if contextual else fn(*pyargs)
                    first = coro.send(None)
                    self._pending = _Pending(coro, first, pyargs)
                    return 3, None
            except StopIteration as stop:
                value = stop.value
            except LimitExceeded:
                raise
            except Exception as exc:
                return 1, self._call_error(exc, entry, pyargs)
            if value is None:  # (events.emit's value)
                return 0, None
            try:
                return 0, conv.to_lua(value)
            except (TypeError, ValueError) as exc:
                return 1, f"{label}: {exc}".encode()
        except LimitExceeded as exc:
            return self._tripped(exc)
        except _LuaMemoryError:
            return self._tripped(self._limit_error("memory"))

    def _tripped(self, exc: LimitExceeded) -> tuple[int, None]:
        """Record a limit hit in a direct call; its status for the stub (which then trips)."""
        self._set_limit(exc)
        return 2, None

    async def _builtin_print(self, text: str) -> None:
        self._print(text)

    # errors and limits ----------------------------------------------------------------------

    def _ensure_open(self) -> None:
        if self._closed:
            raise SpellClosedError(f"{self.filename}: the spell's run has ended")

    def _set_limit(self, exc: LimitExceeded) -> LimitExceeded:
        """Record the run's first limit; return a fresh copy of it to raise (every later
        attempt to run the spell raises the same limit again)."""
        if self._limit is None:
            self._limit = exc
        limit = self._limit
        fresh = type(limit).__new__(type(limit))
        fresh.args = limit.args
        fresh.__dict__.update(limit.__dict__)
        return fresh

    def _limit_error(self, kind: str) -> LimitExceeded:
        return limit_exceeded(kind, self._limits)

    def _api_error(self, exc: Exception, label: str, dynamic: bool, args: Any) -> bytes:
        return api_error_text(exc, _call_label(label, dynamic, args)).encode(
            "utf-8", "surrogatepass"
        )

    def _call_error(self, exc: Exception, entry: _Entry, args: Any) -> bytes:
        """The Lua error for an API call that raised ``exc``.

        A call with an argument count outside the function's (derived once from its signature,
        in the plan) fails before the function runs: Python refuses to bind the arguments, and
        the error is worded in the script's terms instead. Checking here rather than before
        every call keeps the happy path free of it.
        """
        fn, label, dynamic = entry[0], entry[1], entry[2]
        if exc.__class__ is TypeError:
            count = len(args) - dynamic
            if not entry[4] <= count <= entry[5]:
                exc = arity_error(_call_label(label, dynamic, args), fn, dynamic, count)
        return self._api_error(exc, label, dynamic, args)


def _call_label(label: str, dynamic: bool, args: Any) -> str:
    """``tools.weather`` for a call of the dynamic function of ``tools`` with key ``weather``."""
    if dynamic and args and isinstance(args[0], (str, bytes)):
        key = args[0] if isinstance(args[0], str) else args[0].decode("utf-8", "replace")
        return f"{label}.{key}"
    return label
