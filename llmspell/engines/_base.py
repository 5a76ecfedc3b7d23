"""The engine seam: what a script engine (Lua, JavaScript) must provide.

An engine compiles a spell and opens an *instance*: one sandboxed interpreter running one spell,
owned by exactly one task (the instance's driver). The script API reaches the instance as an
:class:`Api` — namespaces of async Python functions — and every engine exposes it identically.

Calling convention, both directions:

* Script → Python: each API function is ``async def f(*args) -> value`` (or, marked with
  :func:`with_context`, ``async def f(context, *args)``: it receives :attr:`Api.context`, the
  run's own state, so one set of namespaces can serve every run); the script's arguments
  arrive converted (tables/objects → ``dict``, arrays → ``list``, script functions →
  :class:`ScriptFunction`, nil/null/undefined → ``None``). While the call is pending the script
  is suspended (Lua: its coroutine yields; JS: a Promise) and the event loop runs freely. Several
  calls may be pending at once (JS ``Promise.all``; the ``parallel`` API function). Functions
  flagged with :func:`sync_api` never await: engines call them directly (:func:`call_sync`)
  and the script gets their value at once (JS: the value, not a Promise). Functions flagged
  with :func:`eager_api` usually finish without waiting: an engine may start them from inside
  the script's code and suspend the script only when they do wait. Before a call, the
  argument count is checked against the function's signature (:func:`arity`): the script
  gets ``llm.complete expects 1 argument (request), got 2``, not Python's complaint.
* Python → script: a :class:`ScriptFunction` is awaited with converted Python values; it may
  itself call the API; several callbacks may run interleaved with the suspended main chunk.
  :meth:`ScriptFunction.start` runs a call synchronously as far as it goes and hands back the
  rest only if it has to wait (how the bus delivers events to script handlers).

Errors: an exception raised by an API function becomes a script error (Lua ``error`` with the
message, catchable by ``pcall``; JS a rejected Promise / thrown ``Error``) — except
:class:`LimitExceeded`, which ends the run and cannot be caught. An uncaught script error surfaces
in Python as :class:`SpellRuntimeError` with the spell's file name, line and script traceback.
"""

from __future__ import annotations

import dataclasses
import threading
from abc import ABC, abstractmethod
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Coroutine, Generator, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Protocol, TypeVar, cast

from .._exceptions import LimitExceeded, SpellError

if TYPE_CHECKING:
    from ._facts import SourceFacts
    from ._statistics import InstanceStatistics

ScriptValue = Any
"""A value crossing the script boundary: None, bool, int, float, str, list, dict,
:class:`ScriptFunction` or :class:`HostObject`."""

ApiFunction = Callable[..., Awaitable[ScriptValue]]


def sync_api(fn: Callable[..., Awaitable[ScriptValue]]) -> Callable[..., Awaitable[ScriptValue]]:
    """Mark an async API function whose body never awaits (``log.info``, ``llm.agent``): one
    that only builds or registers.

    Engines run such a function to completion synchronously (``coro.send(None)`` must raise
    ``StopIteration``) and return its value to the script directly: in JavaScript it returns
    the value, not a Promise (``await`` on it still works).
    """
    fn._llmspell_sync = True  # type: ignore[attr-defined]
    return fn


def is_sync_api(fn: object) -> bool:
    """Whether ``fn`` was marked with :func:`sync_api`."""
    return getattr(fn, "_llmspell_sync", False) is True


def eager_api(
    fn: Callable[..., Awaitable[ScriptValue]], nowait: Callable[..., ScriptValue] | None = None
) -> Callable[..., Awaitable[ScriptValue]]:
    """Mark an async API function that usually finishes without waiting (``events.emit``: a
    local publish that finds room) and calls no function of the script before its first
    ``await``.

    An engine may then start it from inside the script's running code (``coro.send(None)``):
    when it finishes there, the script gets its value without being suspended; when it awaits,
    the script is suspended as for any API call while the rest of it runs. For the script
    nothing differs but the cost. Engines that do not know the flag await it as usual.

    ``nowait``, if given, is the same call as a plain function (same signature, the context
    first too): it returns what ``fn`` would, or raises :class:`anyio.WouldBlock` *having done
    nothing* when the call would have to wait. An engine may try it first and start ``fn`` only
    when it raises (:func:`eager_nowait`): no coroutine is made for a call that does not wait.
    """
    fn._llmspell_eager = True  # type: ignore[attr-defined]
    if nowait is not None:
        fn._llmspell_nowait = nowait  # type: ignore[attr-defined]
    return fn


def is_eager_api(fn: object) -> bool:
    """Whether ``fn`` was marked with :func:`eager_api`."""
    return getattr(fn, "_llmspell_eager", False) is True


def eager_nowait(fn: object) -> Callable[..., ScriptValue] | None:
    """The ``nowait`` form :func:`eager_api` was given for ``fn``, if any."""
    return getattr(fn, "_llmspell_nowait", None)


def with_context(fn: ApiFunction) -> ApiFunction:
    """Mark an API function that takes :attr:`Api.context` as its first argument.

    Namespaces built once and shared by many runs (the runtime's) use it to reach the run they
    serve; the engine passes the context of the instance making the call.
    """
    fn._llmspell_context = True  # type: ignore[attr-defined]
    return fn


def takes_context(fn: object) -> bool:
    """Whether ``fn`` was marked with :func:`with_context`."""
    return getattr(fn, "_llmspell_context", False) is True


class Suspended:
    """What :meth:`ScriptFunction.start` returns for a call that has to wait: the rest of the
    call, to be awaited (once) for its result."""

    __slots__ = ("_rest",)

    def __init__(self, rest: Coroutine[Any, Any, ScriptValue]) -> None:
        self._rest = rest

    def __await__(self) -> Generator[Any, Any, ScriptValue]:
        return self._rest.__await__()

    def close(self) -> None:
        """Drop a call that will not be awaited (its script code is abandoned)."""
        self._rest.close()


class ScriptFunction(ABC):
    """A function defined by a spell, callable from Python while its instance is open.

    Calling it after the instance closed raises :class:`SpellClosedError`. An error inside it
    raises :class:`SpellRuntimeError`; a limit hit inside it raises :class:`LimitExceeded`.
    The API functions its code calls, those it awaits later included, run in the caller's
    :mod:`contextvars` context (a copy): a handler's calls nest under the caller's trace span.

    Two ways to call it: ``await fn(*args)``, or ``fn.start(*args)``, which runs the call here
    and now as far as it goes without waiting (an event handler that only counts and emits
    runs to its end, with no coroutine in between) and returns its result, or a
    :class:`Suspended` to await only when the script waited (an API call that suspends, a slice
    of CPU handed back to the loop). Both raise the same errors.
    """

    @abstractmethod
    async def __call__(self, *args: ScriptValue) -> ScriptValue: ...

    def start(self, *args: ScriptValue) -> ScriptValue | Suspended:
        """Run the call as far as it goes without waiting: its result, or a :class:`Suspended`
        to await for it (never a plain script value, which is not awaitable). The default
        suspends at once; an engine overrides it to run the call synchronously.

        Like awaiting the call, it must run on the event loop's thread, in the task that waits
        for the result: what the call does before it suspends runs in that task's context.
        """
        return Suspended(self(*args))


@dataclasses.dataclass(frozen=True, eq=False)
class HostObject:
    """A Python object a script sees as a table (Lua) / object (JS) with methods and fields.

    Lua calls methods as ``obj:method(...)`` or ``obj.method(...)`` (the engine drops the
    object itself when passed as first argument); JS as ``obj.method(...)``. ``fields`` are
    plain values copied when the object crosses into the script. Passing the object back to
    Python yields this same ``HostObject``.
    """

    type_name: str
    methods: Mapping[str, ApiFunction]
    fields: Mapping[str, ScriptValue] = dataclasses.field(default_factory=dict)
    target: Any = None
    """The Python object behind it, for the API's own use (never shown to the script)."""


@dataclasses.dataclass(frozen=True)
class Namespace:
    """A global table/object of API functions, e.g. ``log`` or ``events``.

    ``dynamic``, when set, serves any other attribute: ``ns.<name>(args...)`` calls
    ``dynamic(name, *args)`` (this is how ``tools.<name>(...)`` works).
    ``values`` are plain fields (constants) of the namespace.
    """

    functions: Mapping[str, ApiFunction]
    dynamic: ApiFunction | None = None
    values: Mapping[str, ScriptValue] = dataclasses.field(default_factory=dict)


class CallTracker(Protocol):
    """Counts the API calls of a run that are in flight (see :attr:`Api.tracker`)."""

    def call_started(self) -> None: ...

    def call_finished(self) -> None: ...


@dataclasses.dataclass(frozen=True)
class Api:
    """Everything a spell sees as globals.

    Attributes:
        namespaces: global name → :class:`Namespace` (``log``, ``json``, ``events`` ...).
            Aliases (``logger``) are simply a second key holding the same Namespace.
        functions: global functions (``print``, ``sleep``, ``parallel``).
        values: global plain values (``params``).
        output: called with each piece of text the spell prints (``print``/``console.log``
            already joined and newline-terminated); may raise :class:`LimitExceeded`.
        context: passed as first argument to functions marked :func:`with_context`.
        tracker: told when an API call the script did not wait for starts and ends (a JS
            handler may return before the calls it made without ``await`` finish): the
            runtime does not end a run while one is in flight.

    Engines may cache what they derive from ``namespaces`` and ``functions`` (keyed by the
    identity of those two mappings): an Api built per run should reuse the same mappings for
    every run, and must not change them afterwards.
    """

    namespaces: Mapping[str, Namespace]
    functions: Mapping[str, ApiFunction]
    values: Mapping[str, ScriptValue]
    output: Callable[[str], None]
    context: Any = None
    tracker: CallTracker | None = None


_T = TypeVar("_T")


class ApiCache(Generic[_T]):
    """What an engine derives from an Api's ``namespaces`` and ``functions`` (the binding plan),
    computed once per pair of mappings and reused by every instance opened with them.

    Keyed by identity; a cached pair is kept alive, so its ids cannot be reused by other
    mappings while it is cached. Safe to share between threads.
    """

    def __init__(self, derive: Callable[[Api], _T], size: int = 16) -> None:
        self._derive = derive
        self._size = size
        self._items: OrderedDict[tuple[int, int], tuple[object, object, _T]] = OrderedDict()
        self._lock = threading.Lock()

    def __call__(self, api: Api) -> _T:
        namespaces, functions = api.namespaces, api.functions
        key = (id(namespaces), id(functions))
        with self._lock:
            hit = self._items.get(key)
            if hit is not None and hit[0] is namespaces and hit[1] is functions:
                self._items.move_to_end(key)
                return hit[2]
        value = self._derive(api)
        with self._lock:
            self._items[key] = (namespaces, functions, value)
            if len(self._items) > self._size:
                self._items.popitem(last=False)
        return value


@dataclasses.dataclass(frozen=True)
class Limits:
    """Per-run sandbox limits; every engine enforces every one.

    Attributes:
        memory_bytes: the interpreter's heap limit.
        cpu_seconds: CPU time the script's own code may use in total (callbacks included),
            not counting time suspended in API calls. Uncatchable when exceeded.
        timeout_seconds: wall-clock limit of the whole run (None = no limit).
        output_bytes: how much the spell may print in total.
    """

    memory_bytes: int = 64 * 1024 * 1024
    cpu_seconds: float = 10.0
    timeout_seconds: float | None = 300.0
    output_bytes: int = 1024 * 1024


def limit_exceeded(kind: str, limits: Limits) -> LimitExceeded:
    """The error that ends a run over one of its limits, worded alike in every engine.

    Args:
        kind: ``"cpu"``, ``"timeout"``, ``"memory"``, ``"output"`` or ``"interrupt"``.
        limits: the run's limits (the message quotes the one exceeded).
    """
    if kind == "interrupt":
        detail = "interrupted"
    elif kind == "cpu":
        detail = f"the spell used more than {limits.cpu_seconds:g} s of CPU time"
    elif kind == "timeout":
        detail = f"the spell ran longer than {limits.timeout_seconds:g} s"
    elif kind == "memory":
        detail = f"the spell needed more than {limits.memory_bytes} bytes of memory"
    elif kind == "output":
        detail = f"the spell printed more than {limits.output_bytes} bytes"
    else:
        raise ValueError(f"unknown limit {kind!r}")
    return LimitExceeded(kind, detail)


class OutputMeter:
    """Where an engine sends what a spell prints: counts it against ``Limits.output_bytes``
    (the one place that limit is enforced) and passes it on to ``Api.output``.

    Attributes:
        used: UTF-8 bytes printed so far, the refused piece included.
    """

    __slots__ = ("_limits", "_output", "used")

    def __init__(self, output: Callable[[str], None], limits: Limits) -> None:
        self._output = output
        self._limits = limits
        self.used = 0

    def __call__(self, text: str) -> None:
        """Print ``text``; raises LimitExceeded("output") if it does not fit (then nothing of it
        is printed)."""
        self.used += len(text.encode("utf-8", "surrogatepass"))
        if self.used > self._limits.output_bytes:
            raise limit_exceeded("output", self._limits)
        self._output(text)


def call_sync(fn: ApiFunction, args: Sequence[ScriptValue], label: str) -> ScriptValue:
    """Run a :func:`sync_api` function to completion, outside any event loop.

    ``args`` are passed as given (the context first, for a function marked
    :func:`with_context`). Raises what the function raises, or RuntimeError if it awaited after
    all.
    """
    coro = cast("Coroutine[Any, Any, ScriptValue]", fn(*args))
    try:
        coro.send(None)
    except StopIteration as stop:
        return stop.value
    coro.close()
    raise RuntimeError(f"{label} is marked sync_api but it awaited")


MANY = 1 << 30
"""The ``most`` of :func:`arity` for a function taking ``*args``."""

_arities: dict[tuple[object, int, int], tuple[int, int, tuple[str, ...]]] = {}


def _signature(fn: object, dynamic: bool) -> tuple[int, int, tuple[str, ...]]:
    """(fewest, most, names) of the arguments a script passes to ``fn``: its positional
    parameters after the context (:func:`with_context`) and, for a namespace's ``dynamic``
    function, the member name. Read off the code object (cached), not ``inspect``."""
    skip = int(takes_context(fn)) + int(dynamic)
    target = getattr(fn, "__func__", fn)  # a bound method: its self is not the script's
    if target is not fn:
        skip += 1
    code = getattr(target, "__code__", None)
    if code is None:  # a callable object (a script function of another spell ...): unchecked
        return 0, MANY, ()
    defaults = len(getattr(target, "__defaults__", None) or ())
    key = (code, defaults, skip)
    found = _arities.get(key)
    if found is None:
        names = code.co_varnames[: code.co_argcount][skip:]
        fewest = max(0, code.co_argcount - defaults - skip)
        most = MANY if code.co_flags & 0x04 else len(names)  # CO_VARARGS
        found = _arities[key] = (fewest, most, tuple(names))
    return found


def arity(fn: ApiFunction, dynamic: bool = False) -> tuple[int, int]:
    """The fewest and most arguments a script may pass to API function ``fn`` (``most`` is
    :data:`MANY` for ``*args``), derived once from its signature (see :func:`arity_error`)."""
    fewest, most, _ = _signature(fn, dynamic)
    return fewest, most


def arity_error(label: str, fn: ApiFunction, dynamic: bool, count: int) -> TypeError:
    """The error for a call of ``fn`` (``label``, as the script wrote it) with ``count``
    arguments outside :func:`arity`, in the script's terms:
    ``llm.complete expects 1 argument (request), got 2``."""
    fewest, most, names = _signature(fn, dynamic)
    listed = f" ({', '.join(names)})" if names else ""
    if most == 0:
        return TypeError(f"{label} expects no arguments, got {count}")
    if most == MANY or (count < fewest and fewest != most):
        expected = f"at least {fewest} argument{'s' if fewest != 1 else ''}"
    elif fewest in (0, most):
        expected = f"{most} argument{'s' if most != 1 else ''}"
    else:
        expected = f"{fewest} to {most} arguments"
    return TypeError(f"{label} expects {expected}{listed}, got {count}")


def api_error_text(exc: BaseException, label: str) -> str:
    """The script-side message of an API function's exception, alike in every engine.

    The runtime's own errors (:class:`SpellError`) say everything already; any other message is
    prefixed with the function's name (``t.fail: boom``) unless it starts with it.
    """
    text = str(exc)
    if not isinstance(exc, SpellError) and not text.startswith(label):
        text = f"{label}: {text}" if text else label
    return text


class ScriptInstance(ABC):
    """One spell loaded in one sandboxed interpreter.

    Obtained from :meth:`Engine.open`; usable until that context exits. All access to the
    interpreter goes through the instance's own driver task.
    """

    @abstractmethod
    async def run_main(self) -> ScriptValue:
        """Run the spell's top-level code to completion and return its return value.

        In JS, top-level ``await`` works and API calls made without ``await`` are settled
        before this returns. Raises SpellRuntimeError or LimitExceeded.
        """

    @abstractmethod
    def statistics(self) -> InstanceStatistics:
        """CPU time used so far, memory in use, API calls made."""

    async def evaluate(self, source: str, chunk: str) -> ScriptValue:
        """Run one more piece of code in this instance, after :meth:`run_main` (a REPL input).

        Globals the spell or earlier inputs set stay visible. The value is the input's: Lua
        tries ``return <source>`` first, so an expression gives its value; JS gives the
        completion value, and an input using ``await`` works. ``chunk`` is the name errors cite
        for it (``stdin``). Each input gets the CPU budget and the wall-clock timeout afresh,
        and a limit it hits ends the input, not the instance when the engine can help it.

        Raises :class:`IncompleteInput` when the source stops mid-statement,
        :class:`SpellSyntaxError`, :class:`SpellRuntimeError`, :class:`LimitExceeded`;
        :class:`NotImplementedError` for an engine without sessions.
        """
        raise NotImplementedError(f"the {type(self).__name__} engine cannot evaluate inputs")

    @property
    def usable(self) -> bool:
        """Whether :meth:`evaluate` can still run (a JS instance dies at a limit)."""
        return True

    @abstractmethod
    def interrupt(self, reason: str = "interrupted") -> None:
        """End the run from outside: SIGINT under ``llmspell run``, a daemon stopping the run,
        Ctrl-C in a REPL (where it ends the running input: the next :meth:`evaluate` starts
        afresh).

        Script code that is running stops within about 100 ms (the engines' limit checks poll
        the request: the Lua count hook, the QuickJS interrupt handler, Tengo's step budget); a
        script suspended in an API call is woken at once when this is called on the event
        loop's thread (as a ``signal.signal`` handler is), else at its next step. The run then
        raises :class:`~llmspell.SpellInterrupted` (a :class:`LimitExceeded` whose ``limit`` is
        ``"interrupt"``: uncatchable, and raised again by every later call into the spell).
        Safe to call from any thread, more than once, and after the run ended (then it does
        nothing that can be seen).
        """


class Engine(ABC):
    """A script engine: compiles spells and opens sandboxed instances.

    An engine is a subpackage of :mod:`llmspell.engines` whose ``__init__`` defines the
    subclass and ``ENGINE = ThatEngine`` (see :mod:`llmspell.engines._registry`); importing
    that ``__init__`` must stay cheap (the interpreter is imported by the methods).

    Attributes:
        name: the engine's name (``"lua"``), as reported in run results.
        extensions: the lower-case file extensions it runs (``(".lua",)``).
    """

    name: ClassVar[str]
    extensions: ClassVar[tuple[str, ...]]

    @abstractmethod
    def check(self, source: str, filename: str) -> None:
        """Compile without running; raise :class:`SpellSyntaxError` with file, line and (when
        the language says) column."""

    def facts(self, source: str, filename: str) -> SourceFacts:
        """What ``llmspell check`` needs to know about the names ``source`` uses (see
        :class:`SourceFacts`), found without running it. Call it on source that compiles.

        The default reports nothing, so the check of such an engine is the syntax check alone.
        """
        from ._facts import SourceFacts

        return SourceFacts()

    @abstractmethod
    def open(
        self, source: str, filename: str, api: Api, limits: Limits
    ) -> AbstractAsyncContextManager[ScriptInstance]:
        """Load ``source`` into a fresh sandbox exposing ``api``; syntax errors raise here.

        Exiting the context cancels pending API calls, invalidates ScriptFunctions and frees
        the interpreter.
        """
