"""A run's context: the step budget, the limit checks, memory accounting, native modules.

Every compiled frame reaches the context as ``globals[0]``. Loops and calls decrement
``steps``; at zero :meth:`Context.tick` runs the checks (CPU time, deadline, memory) and refills
it. Memory is accounted where values grow (string concatenation, array and map growth, bytes):
each growth is charged to ``allocated``, and once the charges since the last measurement pass a
threshold the context measures what the run really holds (:mod:`._memory`) and ends the run
past the limit. So a string, array or map that keeps growing ends the run, and garbage that is
no longer reachable is not counted.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from ._values import ImmMap, Value

STEP_BATCH = 2000
"""Steps (loop iterations and calls) between two limit checks."""


_active = threading.local()


def active_context() -> Context | None:
    """The context of the run executing on this thread (None outside runs)."""
    ctx: Context | None = getattr(_active, "ctx", None)
    return ctx


def set_active(ctx: Context | None) -> Context | None:
    """Make ``ctx`` the running context; returns the previous one (to restore)."""
    previous: Context | None = getattr(_active, "ctx", None)
    _active.ctx = ctx
    return previous


def charge(n: int) -> None:
    """Charge ``n`` bytes of growth to the running context (native functions use it)."""
    ctx = getattr(_active, "ctx", None)
    if ctx is not None:
        ctx.charge(n)


class LimitError(Exception):
    """A sandbox limit ended the run (``kind``: cpu, memory, timeout, output). Not a VMError:
    no Tengo construct can catch it."""

    def __init__(self, kind: str) -> None:
        super().__init__(kind)
        self.kind = kind


class Context:
    """Per-run state reachable from compiled code. This base has no limits (the conformance
    suite runs on it); the engine's subclass enforces :class:`llmspell.engines.Limits`."""

    def __init__(self, modules: Callable[[str, Context], ImmMap] | None = None) -> None:
        self.steps = STEP_BATCH
        self.depth = 0
        self.allocated = 0
        self.next_measure = 1 << 20
        self.memory_limit: int | None = None
        self._module_factory = modules
        self._modules: dict[str, ImmMap] = {}
        self.printed: list[str] = []

    # budget -------------------------------------------------------------------------------------

    def tick(self) -> None:
        self.steps = STEP_BATCH

    # memory ------------------------------------------------------------------------------------

    def alloc_str(self, s: str) -> None:
        self.charge(len(s) + 49)

    def alloc_items(self, n: int) -> None:
        self.charge(n * 8 + 56)

    def alloc_bytes(self, n: int) -> None:
        self.charge(n + 33)

    def charge(self, n: int) -> None:
        """Account ``n`` bytes of growth (an estimate of what Python allocates)."""
        limit = self.memory_limit
        if limit is not None and n > limit:
            raise LimitError("memory")
        self.allocated += n
        if self.allocated > self.next_measure:
            self.measure()

    def measure(self) -> None:
        """Hook for the engine: measure live memory and enforce the limit."""
        self.allocated = 0

    # modules and output ------------------------------------------------------------------------

    def native_module(self, name: str) -> ImmMap:
        mod = self._modules.get(name)
        if mod is None:
            if self._module_factory is None:
                from ._stdlib import module

                mod = module(name, self)
            else:
                mod = self._module_factory(name, self)
            self._modules[name] = mod
        return mod

    def output(self, text: str) -> None:
        self.printed.append(text)

    def sleep(self, seconds: float) -> None:
        """``times.sleep`` outside the engine (the engine suspends the run instead)."""
        import time

        time.sleep(max(0.0, min(seconds, 1.0)))


def run_program(program: Any, ctx: Context, symbols: dict[str, Value] | None = None) -> list[Value]:
    """Run a compiled main file to completion; returns its globals list."""
    g: list[Value] = [None] * program.nglobals
    g[0] = ctx
    for name, value in (symbols or {}).items():
        g[program.names[name]] = value
    frame: list[Value] = [None, g, None]
    previous = set_active(ctx)
    try:
        program.main(frame)
    finally:
        set_active(previous)
    return g
