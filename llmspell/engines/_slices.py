"""Handing the event loop back from script code that computes for long.

All script code runs on the event loop's thread. A stretch of it — a Lua resume, a QuickJS turn
— is a synchronous call into the interpreter that ends at the script's next API request or at
its end; a loop that computes for seconds would hold every other task of the process (the other
spells, the daemon's HTTP server, the bus) for as long, up to the spell's CPU limit.

So each stretch runs in a greenlet of its own (:class:`Slicer`). The engine's limit check,
which the interpreter calls every few milliseconds of script time anyway (Lua's count hook,
QuickJS's interrupt handler), also calls :meth:`Slicer.pause` once the stretch has held the
loop for :data:`SLICE` seconds: that switches out of the interpreter's C stack, back to the
task that drives the stretch, which lets the event loop run (see :func:`share_loop`) and
switches back in. The
interpreter never notices; a greenlet switch copies the C stack aside and back, and nothing else
enters that interpreter meanwhile (a second stretch of the same instance waits, see
:meth:`Slicer.wait_idle`). A stretch that ends before its slice is up costs two switches
(under 1 µs).

CPU limits count the script's own time: the thread CPU time spent elsewhere while a stretch was
paused is reported by :meth:`Slicer.pause` so the engine can leave it out.

Cancellation: the task driving a paused stretch may be cancelled (its caller gave up, the
runtime is closing). The stretch cannot be dropped half-way (the interpreter is in the middle of
it), so the engine's ``abort`` callback makes its limit check end the script for good (as an
interrupt does), the stretch is run to that end at once, and the cancellation goes on.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from time import perf_counter
from typing import Any

import anyio
import anyio.lowlevel
from greenlet import getcurrent, greenlet  # type: ignore[import-untyped]

from ._clock import spell_cpu_time

SLICE = 0.01
"""Seconds a stretch of script may hold the event loop before it hands it back once."""

IDLE_TURN = 0.0001
"""A turn of the event loop quicker than this seconds ran nothing much: the loop is idle."""

_PAUSED = object()
"""What a worker switches to its driver with when the stretch pauses."""


class _Worker(greenlet):  # type: ignore[misc]
    """Runs the stretches switched into it, one after the other (a new greenlet costs ~8 µs,
    switching into an idle one well under 1 µs). A closed instance's idle worker serves the
    next instance of its thread (see :func:`_reuse_worker`).

    Nothing of a stretch stays alive in the worker while it is idle (while its spell waits on
    an API call, or between instances): started without arguments (those of a greenlet's first
    switch are held for its whole life), it hands each outcome over in ``slicer.outcome``, not
    in a local or as the switch's argument (which would stay on this frame's stack, keeping the
    last result, or error and through its traceback the interpreter, of an instance alive).
    """

    def __init__(self, slicer: Slicer) -> None:
        super().__init__(self._serve)
        self.slicer: Slicer | None = slicer

    def _serve(self) -> None:
        slicer = self.slicer
        assert slicer is not None
        driver, slicer._driver = slicer._driver, None
        slicer = None
        while True:
            fn, args = driver.switch()
            slicer = self.slicer
            assert slicer is not None
            try:
                slicer.outcome = (True, fn(*args))
            except Exception as exc:  # handed to the driver, which raises it in its own task
                slicer.outcome = (False, exc)
            fn = args = None  # nothing kept alive while idle
            driver, slicer._driver = slicer._driver, None
            slicer = None


SPARE_WORKERS = 16
"""Idle workers a thread keeps for the instances it opens next."""

_spare = threading.local()


def _reuse_worker(slicer: Slicer, driver: Any) -> _Worker | None:
    """An idle worker of this thread for ``slicer``, if one is kept; its parent (where it would
    return if it ended) becomes ``driver``, as if ``driver`` had made it."""
    workers: list[_Worker] | None = getattr(_spare, "workers", None)
    if not workers:
        return None
    worker = workers.pop()
    try:
        worker.parent = driver
    except ValueError:  # (driver runs inside that worker's own greenlet tree): a new one
        return None
    worker.slicer = slicer
    return worker


def _keep_worker(worker: _Worker) -> bool:
    """Keep an idle worker for a later instance of this thread (False: there are enough)."""
    workers: list[_Worker] | None = getattr(_spare, "workers", None)
    if workers is None:
        workers = _spare.workers = []
    if len(workers) >= SPARE_WORKERS:
        return False
    worker.slicer = worker.gr_context = None  # (the last driver's context vars: its run's)
    workers.append(worker)
    return True


class Slicer:
    """Runs one script instance's stretches so that a long one hands the loop back.

    Args:
        abort: called when the task driving a paused stretch is cancelled; it must make the
            engine's next limit check end the script (the stretch then runs to that end).
    """

    __slots__ = (
        "_abort",
        "_aborting",
        "_context",
        "_driver",
        "_due",
        "_idle",
        "_worker",
        "away",
        "outcome",
    )

    def __init__(self, abort: Callable[[], None]) -> None:
        self._abort = abort
        self._aborting = False
        self._worker: _Worker | None = None
        self._context: Any = None  # the context vars last handed to the worker (its gr_context)
        self._driver: Any = None  # the greenlet driving the current stretch; None when idle
        self._due = 0.0  # perf_counter() at which the current stretch should pause
        self._idle: anyio.Event | None = None  # set when a paused stretch ends (if awaited)
        self.away = 0.0
        """Thread CPU seconds spent outside the current stretch while it was paused."""
        self.outcome: tuple[bool, Any] | None = None
        """How the stretch that just ended ended, for the driver to take (see _Worker)."""

    @property
    def running(self) -> bool:
        """Whether a stretch has started and not ended (it may be paused)."""
        return self._driver is not None or self._idle is not None

    def inside(self) -> bool:
        """Whether the caller is the code of the current stretch (in the interpreter)."""
        return self._worker is not None and getcurrent() is self._worker

    def due(self) -> bool:
        """Whether the current stretch has held the loop for its slice (cheap: for hooks;
        meaningless outside a stretch, where :meth:`pause` does nothing)."""
        return perf_counter() > self._due

    def pause(self) -> float:
        """Hand the event loop back once, from inside the current stretch; returns the thread
        CPU seconds spent elsewhere meanwhile (also added to :attr:`away`). Does nothing
        (returns 0.0) outside a stretch or while the stretch is being aborted."""
        driver = self._driver
        if driver is None or self._aborting or getcurrent() is not self._worker:
            return 0.0
        before = spell_cpu_time()
        driver.switch(_PAUSED)
        away = spell_cpu_time() - before
        self.away += away
        self._due = perf_counter() + SLICE
        return away

    async def run(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Run the stretch ``fn(*args)`` (synchronous) to its end; return or raise what it
        does. Another stretch of this instance that is paused is waited for first."""
        while self._idle is not None:  # (a paused stretch; one running would be the caller)
            await self._idle.wait()
        outcome = self.start(fn, *args)
        if outcome is _PAUSED:
            return await self.finish()
        ok, value = outcome
        if ok:
            return value
        raise value

    def start(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Begin the stretch ``fn(*args)`` here, synchronously: returns ``(True, value)`` or
        ``(False, exception)`` when it ended, or :data:`PAUSED` when it handed the loop back
        (then some task must :meth:`finish` it). Nothing else may be running."""
        if self._driver is not None or self._idle is not None:
            raise RuntimeError("a stretch of this instance is already running")
        worker = self._worker
        current = getcurrent()
        if worker is None:
            worker = _reuse_worker(self, current)
            if worker is None:
                worker = _Worker(self)
                self._driver = current
                worker.switch()  # to its first wait (started without arguments: see _Worker)
            self._worker = worker
            self._context = None
        context = current.gr_context  # the stretch sees the driver's context vars
        if context is not self._context:  # (a Context stays the same object as vars change)
            worker.gr_context = self._context = context
        self._driver = current
        self.away = 0.0
        self._due = perf_counter() + SLICE
        if worker.switch(fn, args) is _PAUSED:
            self._idle = anyio.Event()
            return _PAUSED
        outcome, self.outcome = self.outcome, None
        return outcome

    def _resume(self, worker: _Worker) -> Any:
        """Switch back into the paused stretch: :data:`PAUSED` again, or its outcome."""
        self._driver = getcurrent()
        if worker.switch() is _PAUSED:
            return _PAUSED
        outcome, self.outcome = self.outcome, None
        return outcome

    async def finish(self) -> Any:
        """Drive a paused stretch to its end, yielding to the loop once per slice."""
        worker, idle = self._worker, self._idle
        assert worker is not None and idle is not None, "no stretch is paused"
        outcome: Any = _PAUSED
        try:
            while outcome is _PAUSED:
                try:
                    await share_loop()
                except BaseException:
                    self._aborting = True
                    self._abort()
                    raise
                finally:
                    if self._aborting:  # run what is left of the stretch to its end, now
                        while outcome is _PAUSED:
                            outcome = self._resume(worker)
                if outcome is _PAUSED:  # (the stretch keeps the context it started in)
                    outcome = self._resume(worker)
        finally:
            self._aborting = False
            self._idle = None
            idle.set()
        ok, value = outcome
        if ok:
            return value
        raise value

    async def wait_idle(self) -> None:
        """Wait until the paused stretch (if any) has ended."""
        idle = self._idle
        if idle is not None:
            await idle.wait()

    def close(self) -> None:
        """Let the instance go: drop the worker (kept idle for the thread's next instance) and
        the abort callback (no reference cycle outlives a closed instance). A paused stretch
        keeps its worker until it ends."""
        self._abort = _nothing
        if self.running:
            return
        worker, self._worker, self._context = self._worker, None, None
        if worker is not None and not worker.dead and not _keep_worker(worker):
            worker.throw()  # GreenletExit ends its loop while idle


PAUSED = _PAUSED


def _nothing() -> None:
    pass


async def share_loop() -> None:
    """What a paused stretch does: let the event loop run the rest of the process until it
    looks idle (two turns in a row took under :data:`IDLE_TURN` each), for up to :data:`SLICE` (an
    equal share; a task waiting for its next turn would otherwise advance one step per
    slice)."""
    end = perf_counter() + SLICE
    quick = 0
    while quick < 2:  # (a task woken in one turn runs in the next)
        start = perf_counter()
        await anyio.lowlevel.checkpoint()
        now = perf_counter()
        if now > end:
            return
        quick = quick + 1 if now - start < IDLE_TURN else 0
