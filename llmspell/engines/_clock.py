"""The CPU clock a spell's CPU limit counts: this thread's CPU time, less full collections.

A spell is charged the CPU its thread uses while its code runs (``time.thread_time``), so a
busy machine does not count against it. One thing on that thread is not the spell's doing: a
full (generation 2) garbage collection walks every object of the process, so a spell that
happens to trigger one in a process holding millions of objects (a daemon, a test session) was
charged ten times what the same work costs in a fresh process. Young collections, which are
proportional to what was allocated recently (the spell's own garbage), still count.

:class:`Stretch` is how every engine charges a stretch of script execution against that clock.
"""

from __future__ import annotations

import gc
import threading
from time import perf_counter, thread_time
from typing import Any

__all__ = ["CPU_CLOCK_AFTER", "Stretch", "spell_cpu_time"]


class _Thread(threading.local):
    excluded = 0.0  # CPU seconds of full collections this thread ran (class default: no miss)
    started: float | None = None


_local = _Thread()


def _on_gc(phase: str, info: dict[str, Any]) -> None:
    if info.get("generation") != 2:
        return
    if phase == "start":
        _local.started = thread_time()
    else:
        started = _local.started
        if started is not None:
            _local.excluded += thread_time() - started
            _local.started = None


if _on_gc not in gc.callbacks:
    gc.callbacks.append(_on_gc)


def spell_cpu_time() -> float:
    """This thread's CPU seconds, less the full collections it ran (see the module docstring);
    differences of two readings are what a spell is charged."""
    return thread_time() - _local.excluded


CPU_CLOCK_AFTER = 0.001
"""Seconds into a stretch after which its CPU time is read from the thread's clock (before, its
wall time is counted): that clock is a system call (no vDSO; ~1.5 us here, the cost of a whole
API round trip), and most stretches (a handler's turn) end well before this."""


class Stretch:
    """What one stretch of script execution has used, as charged against the CPU limit.

    A short stretch counts its wall time (:func:`time.perf_counter` since ``wall0``), which
    cannot be much more than its CPU time; one seen (by :meth:`used`) still running
    :data:`CPU_CLOCK_AFTER` seconds in counts its wall time up to then (``before``) and the
    thread's CPU time from then on (:func:`spell_cpu_time` since ``mark``), so that a busy
    machine does not eat a computing spell's budget.
    """

    __slots__ = ("before", "mark", "wall0")

    def __init__(self) -> None:
        self.wall0 = 0.0
        self.mark: float | None = None
        self.before = 0.0

    def begin(self) -> float:
        """Start a stretch; returns ``wall0``."""
        self.mark = None
        self.wall0 = now = perf_counter()
        return now

    def on_cpu_clock(self, before: float = 0.0) -> None:
        """Count from now on with the thread's clock, ``before`` used until now (the rest of a
        stretch known to be long: one that handed the loop back for a slice)."""
        self.mark, self.before = spell_cpu_time(), before

    def used(self, now: float) -> float:
        """What the stretch has used by ``now`` (a ``perf_counter()`` reading); from
        :data:`CPU_CLOCK_AFTER` seconds in, on the thread's clock."""
        mark = self.mark
        if mark is not None:
            return self.before + (spell_cpu_time() - mark)
        used = now - self.wall0
        if used > CPU_CLOCK_AFTER:
            self.mark, self.before = spell_cpu_time(), used
        return used

    def end(self) -> float:
        """What the whole stretch used: what to charge the run."""
        mark = self.mark
        if mark is None:
            return perf_counter() - self.wall0
        self.mark = None
        return self.before + (spell_cpu_time() - mark)
