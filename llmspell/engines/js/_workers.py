"""The tasks that run the API calls a JavaScript spell started (see :mod:`._instance`)."""

from __future__ import annotations

import contextvars
from collections import deque
from collections.abc import Awaitable, Callable, Hashable
from typing import Any

import anyio
import anyio.abc
import anyio.lowlevel

from ._codec import Op

Job = tuple[int, Op, Any, str, int, contextvars.Context | None]
"""An API call the script started: call id, op, its arguments (a list; for an eager call that
awaited, the rest of it: an awaitable with a ``close`` method), label, bytes charged to the run
while it is pending, and the context to run it in (None: the workers' own)."""

IDLE_WORKERS = 4
"""Workers kept waiting for the next call (waking one costs far less than a new task)."""


class Workers:
    """Runs started calls concurrently, in the order they were started, on as few tasks as
    possible.

    A task is spawned only for a call that has to wait: a worker taking a call while others
    are queued first makes sure a spare worker exists to take them should this one wait, then
    runs the calls that finish without waiting one after the other. (A burst of
    ``events.emit`` without ``await`` spawns no task per call; ``Promise.all`` still overlaps.)

    Calls submitted with the same *line* start one after the other: while one of them runs,
    the next wait behind it, taken in order by the worker that runs it once it ends. The
    engine gives a line to :func:`eager_api` calls (``events.emit`` to one topic): the first
    that has to wait for room in a subscriber's queue is the only one waiting; the others stay
    jobs (not coroutines each parked in the bus), and once it is in they follow without a task
    switch each, as long as there is room. (They would have waited behind it in the bus all
    the same: a subscriber takes a topic's events in the order they were published.)

    Workers start in ``context`` whichever task makes them (the one running a callback of the
    script, say); a job with a context of its own runs with that context's variables set (see
    :func:`run_in`).

    Args:
        run: runs one call to its end (reporting its result itself).
        new_event: the backend's Event class.
        context: the context workers start in (a copy of it); no one else may enter it.
    """

    def __init__(
        self,
        run: Callable[[Job], Awaitable[None]],
        new_event: Callable[[], anyio.Event],
        context: contextvars.Context,
    ) -> None:
        self._run = run
        self._new_event = new_event
        self._context = context
        self._tg: anyio.abc.TaskGroup | None = None
        self._jobs: deque[tuple[Job, Hashable]] = deque()  # calls no worker has taken yet
        self._lines: dict[Hashable, deque[Job]] = {}  # a line whose call runs: those behind it
        self._held = 0  # calls waiting in a line
        self._spares = 0  # workers not running a call: idle, or started and not yet running
        self._idle: list[anyio.Event] = []  # the wake-up events of the idle ones
        self._done = False
        self._finishing = False  # a worker's call is reporting its result (see finishing)

    def start(self, tg: anyio.abc.TaskGroup) -> None:
        """Spawn workers in ``tg`` from now on."""
        self._tg = tg

    def submit(self, job: Job, line: Hashable = None) -> None:
        """Start ``job`` (it runs once the caller yields to the event loop), after the calls
        of its ``line`` (None: none) submitted before it have ended."""
        self._jobs.append((job, line))
        if self._finishing:
            return  # the worker whose call is ending takes it next, waking others for the rest
        if self._idle:
            self._idle.pop().set()  # still a spare until it takes a call
        elif not self._spares:
            self._spawn()

    def backlog(self) -> bool:
        """Whether started calls are waiting for a worker to take them (or in a line)."""
        return bool(self._jobs) or self._held > 0

    def finishing(self) -> None:
        """Say that the call being run has ended and is about to report its result, with
        nothing left to await: calls started from now until its worker takes the next one
        (those the script starts on seeing the result) are left to that worker instead of
        waking an idle one that would find nothing to do (a sequence of awaited calls then
        costs no task switch per call)."""
        self._finishing = True

    def close(self) -> None:
        """Let the idle workers end; calls not taken yet are dropped."""
        self._done = True
        for idle in self._idle:
            idle.set()
        self._idle.clear()

    def detach(self) -> None:
        """Drop the references back to the instance (no cycle outlives a closed instance)."""
        self.close()
        self._run = _closed
        self._tg = None
        for job, _ in self._jobs:
            if not isinstance(job[2], list):  # an eager call's rest, started: let it end
                job[2].close()
        self._jobs.clear()
        self._lines.clear()  # (only calls not started wait in a line)
        self._held = 0

    def _spawn(self) -> None:
        assert self._tg is not None, "Workers.start() first"
        self._spares += 1
        self._context.run(self._tg.start_soon, self._worker)

    async def _worker(self) -> None:
        jobs, lines, in_a_row = self._jobs, self._lines, 0
        while not self._done:
            if jobs:
                job, line = jobs.popleft()
                if line is not None:
                    behind = lines.get(line)
                    if behind is not None and isinstance(job[2], list):
                        behind.append(job)  # its line's call runs: it goes next, in order
                        self._held += 1
                        in_a_row += 1
                        if in_a_row % 64 == 0 and jobs:
                            await anyio.lowlevel.checkpoint()
                        continue
                    if behind is None:
                        behind = lines[line] = deque()
                    else:  # (an eager call's rest, started already: it runs beside them)
                        line = None
                self._spares -= 1
                self._spare_for_the_rest()
                await self._run_one(job)
                if line is not None:  # then those that waited behind it, one by one
                    while behind and not self._done:
                        job = behind.popleft()
                        self._held -= 1
                        self._spare_for_the_rest()  # (calls submitted meanwhile: see finishing)
                        await self._run_one(job)
                        in_a_row += 1
                        if in_a_row % 64 == 0:
                            await anyio.lowlevel.checkpoint()
                    del lines[line]
                self._spares += 1
                in_a_row += 1
                if in_a_row % 64 == 0 and jobs:
                    await anyio.lowlevel.checkpoint()  # let others run in a long burst
                continue
            if len(self._idle) >= IDLE_WORKERS:
                break
            idle = self._new_event()
            self._idle.append(idle)
            await idle.wait()
        self._spares -= 1

    def _spare_for_the_rest(self) -> None:
        """A worker is taking a call while others are queued: make sure another is awake to
        take them should this one wait."""
        if self._jobs and self._spares == len(self._idle):  # nobody awake to take the rest
            if self._idle:
                self._idle.pop().set()  # (still a spare until it takes a call)
            else:
                self._spawn()

    async def _run_one(self, job: Job) -> None:
        if job[5] is None:
            await self._run(job)
        else:
            await run_in(job[5], self._run, job)
        self._finishing = False


async def run_in(
    context: contextvars.Context, fn: Callable[[Job], Awaitable[None]], job: Job
) -> None:
    """Await ``fn(job)`` with ``context``'s variables set in this task, restored after: what
    ``context.run`` does for a plain call, for a coroutine on a task that outlives it."""
    tokens = [(var, var.set(value)) for var, value in context.items()]
    try:
        await fn(job)
    finally:
        for var, token in reversed(tokens):
            var.reset(token)


async def _closed(job: Job) -> None:
    raise RuntimeError("the spell instance is closed")
