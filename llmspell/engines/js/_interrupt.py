"""The CPU and wall-clock limits of a QuickJS context that also calls into Python.

quickjs-ng's own time limit (``Context.set_time_limit``) refuses every call from the script
into Python while it is set ("Can not call into Python with a time limit set"), and API
functions marked ``sync_api`` must return their value directly, which takes such a call. So the
engine never sets that limit: it installs its own interrupt handler on the context's runtime
through QuickJS's C API (``JS_SetInterruptHandler``, exported by the extension module), found
with ctypes. QuickJS calls the handler every few thousand operations and inside regular-
expression matching; when it returns 1, QuickJS throws an uncatchable ``InternalError:
interrupted`` (``try``/``finally`` do not run).

The handler compares the thread's CPU time (the script's own, unlike the binding's process-wide
``clock()``) and the monotonic clock with the deadlines of the context's :class:`Budget`.

The runtime pointer is read from the ``_quickjs.Context`` object (its first field, as in every
release of the binding) and checked with ``JS_GetRuntimeOpaque``, which the binding sets to the
Context itself; a binding laid out otherwise is refused at the first ``open``, never guessed at.
"""

from __future__ import annotations

import ctypes
import math
import threading
import time
from time import perf_counter
from typing import Any

import _quickjs  # type: ignore[import-not-found]

from .._clock import Stretch
from .._slices import Slicer

_HANDLER = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p)
_EXPECTED_SIZE = 80  # sizeof the binding's Context object in quickjs-ng 0.17
_lock = threading.Lock()


class Budget:
    """What one context's current stretch of script execution may use, and has used.

    Attributes:
        cpu_left: seconds of CPU time the script may still use in this stretch.
        stretch: what the stretch has used (see :class:`~llmspell.engines._clock.Stretch`).
        wall_deadline: ``time.monotonic()`` past which the run is over its wall clock.
        tripped: why the handler stopped the script (``"cpu"``, ``"timeout"``) or ``"host"``
            when Python asked it to stop (a limit hit inside an API call); None while running.
        slicer: the instance's :class:`Slicer`, whose stretch the handler pauses once it has
            held the event loop for a slice.
    """

    __slots__ = ("cpu_left", "slicer", "stretch", "tripped", "wall_deadline")

    def __init__(self) -> None:
        self.cpu_left = math.inf
        self.stretch = Stretch()
        self.wall_deadline = math.inf
        self.tripped: str | None = None
        self.slicer: Slicer | None = None

    def begin(self, cpu_left: float) -> None:
        """Start a stretch that may use ``cpu_left`` seconds."""
        self.cpu_left = cpu_left
        self.stretch.begin()


_budgets: dict[int, Budget] = {}


def _check(runtime: int | None, opaque: int | None) -> int:
    """The interrupt handler: 1 stops the script. Never raises (ctypes would only print)."""
    budget = _budgets.get(runtime or 0)
    if budget is None:
        return 0
    if budget.tripped is not None:
        return 1
    used = budget.stretch.used(perf_counter())
    if used > budget.cpu_left:
        budget.tripped = "cpu"
        return 1
    if time.monotonic() > budget.wall_deadline:
        budget.tripped = "timeout"
        return 1
    slicer = budget.slicer
    if slicer is not None and slicer.due():  # held the loop for a slice: hand it back once
        slicer.pause()
        budget.stretch.on_cpu_clock(used)  # (the CPU others used meanwhile is not ours)
        return 1 if budget.tripped is not None else 0
    return 0


_handler = _HANDLER(_check)
_lib: Any = None


def _library() -> Any:
    global _lib
    with _lock:
        if _lib is None:
            lib = ctypes.CDLL(_quickjs.__file__)
            lib.JS_SetInterruptHandler.argtypes = [ctypes.c_void_p, _HANDLER, ctypes.c_void_p]
            lib.JS_SetInterruptHandler.restype = None
            lib.JS_GetRuntimeOpaque.argtypes = [ctypes.c_void_p]
            lib.JS_GetRuntimeOpaque.restype = ctypes.c_void_p
            lib.JS_SetMemoryLimit.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
            lib.JS_SetMemoryLimit.restype = None
            _lib = lib
        return _lib


def _runtime_of(ctx: Any) -> int:
    if type(ctx).__basicsize__ != _EXPECTED_SIZE:
        raise RuntimeError(
            "this quickjs-ng build is laid out differently from the one the JavaScript engine "
            "supports (quickjs-ng 0.17): reinstall llmspell's pinned dependencies"
        )
    runtime = ctypes.c_void_p.from_address(id(ctx) + object.__basicsize__).value
    if not runtime or _library().JS_GetRuntimeOpaque(runtime) != id(ctx):
        raise RuntimeError("cannot find the QuickJS runtime of a quickjs-ng Context")
    return int(runtime)


def attach(ctx: Any) -> tuple[Budget, int]:
    """Install the interrupt handler on ``ctx``'s runtime; returns its budget and the runtime's
    address (for :func:`detach`). ``ctx`` must never get ``set_time_limit``."""
    runtime = _runtime_of(ctx)
    budget = _budgets[runtime] = Budget()
    _library().JS_SetInterruptHandler(runtime, _handler, None)
    return budget, runtime


def starve(runtime: int) -> None:
    """Make every further allocation of ``runtime`` fail (its memory limit to one byte), from
    any thread, to stop a script sooner than its next interrupt poll.

    QuickJS polls the handler once every 10,000 function calls and loop iterations, so a loop
    of costly built-ins (``s.toUpperCase()`` on a megabyte) would run for many seconds before
    the poll; starved, such a loop fails at its next allocation (an "out of memory" the script
    may catch, and fail again), and the poll, reached sooner, ends it for good. The caller
    restores the limit (``Context.set_memory_limit``) once the script has stopped.
    """
    _library().JS_SetMemoryLimit(runtime, 1)


def detach(ctx: Any, runtime: int) -> None:
    """Remove the handler of ``ctx`` (still alive) before it is freed."""
    if _budgets.pop(runtime, None) is not None:
        _library().JS_SetInterruptHandler(runtime, ctypes.cast(0, _HANDLER), None)
    del ctx
