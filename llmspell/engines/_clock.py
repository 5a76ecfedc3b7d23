"""The CPU clock a spell's CPU limit counts: this thread's CPU time, less full collections.

A spell is charged the CPU its thread uses while its code runs (``time.thread_time``), so a
busy machine does not count against it. One thing on that thread is not the spell's doing: a
full (generation 2) garbage collection walks every object of the process, so a spell that
happens to trigger one in a process holding millions of objects (a daemon, a test session) was
charged ten times what the same work costs in a fresh process. Young collections, which are
proportional to what was allocated recently (the spell's own garbage), still count.
"""

from __future__ import annotations

import gc
import threading
from time import thread_time
from typing import Any

__all__ = ["spell_cpu_time"]


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
