"""Where durable workflow runs are recorded: the seam, its records, and the memory store.

A run is one ``wf:run(...)``: its id, the workflow's name, the spell that ran it (name and
content hash), the input, and once it ends its status and result. Each step the run completes is
a checkpoint at a *position* — a path assigned in program order (``"2"``, a nested workflow's
third step ``"1.2"``, a loop's second iteration ``"0@2.1"``, a condition's decision
``"3?"``) — holding the step's name and output. Resuming a run re-executes the workflow from
the top and, where a position already holds a checkpoint, uses it instead of running the step
(the DBOS design: steps are at-least-once, the step running at a crash runs again).

A run in progress records its *owner* (host and process). ``list_runs`` reports a run whose owner
is gone as ``stranded``, so a crashed run is never silently "pending"; a run whose spell run was
stopped (an operator, a daemon's shutdown) is ``interrupted``. Both are what a daemon resumes.
"""

from __future__ import annotations

import dataclasses
import json
import os
import socket
import time
from abc import ABC, abstractmethod
from typing import Any

RUNNING, COMPLETED, FAILED, STRANDED = "running", "completed", "failed", "stranded"
INTERRUPTED = "interrupted"
"""A run stopped before it ended (its spell run was stopped, the daemon shut down): resumable."""


def owner_id() -> str:
    """This process, as a run's owner: ``host:pid:start`` (pids are reused; start times not)."""
    return f"{socket.gethostname()}:{os.getpid()}:{_process_start()}"


def _process_start() -> str:
    try:
        with open(f"/proc/{os.getpid()}/stat", encoding="ascii") as f:
            return f.read().rsplit(")", 1)[1].split()[19]
    except OSError:
        return "?"


def owner_alive(owner: str) -> bool | None:
    """Whether the process ``owner`` names still runs: None when it is on another host."""
    host, _, rest = owner.partition(":")
    if host != socket.gethostname():
        return None
    pid_text, _, start = rest.partition(":")
    try:
        with open(f"/proc/{int(pid_text)}/stat", encoding="ascii") as f:
            return f.read().rsplit(")", 1)[1].split()[19] == start
    except (OSError, ValueError, IndexError):
        return False


def canonical(value: Any) -> str:
    """The JSON text two equal inputs share (sorted keys, no spaces)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


@dataclasses.dataclass(frozen=True)
class RunRecord:
    """One durable workflow run as stored.

    Attributes:
        status: ``running``, ``completed`` or ``failed`` (``list_runs`` also reports
            ``stranded``: running, but its owner process is gone).
        result: the run's result table once it ended (``{id, status, output, outputs, ...}``).
        version: the content hash of the spell that started it.
        params: the parameters of the spell run that started it (what a resuming daemon runs
            the spell with again).
        steps: how many checkpoints it has.
    """

    id: str
    workflow: str
    spell: str
    version: str
    input: Any
    status: str
    result: Any
    error: str | None
    owner: str
    created: float
    updated: float
    params: Any = None
    steps: int = 0


@dataclasses.dataclass(frozen=True)
class Checkpoint:
    """A completed step of a run: where, which step, what it gave."""

    position: str
    name: str
    output: Any
    error: str | None = None


class WorkflowStore(ABC):
    """Durable records of workflow runs (SQLite by default; memory for ``--state :memory:``)."""

    @abstractmethod
    async def begin(
        self, run_id: str, workflow: str, spell: str, version: str, input: Any, params: Any = None
    ) -> RunRecord | None:
        """Start (or resume) run ``run_id`` in this process: the existing record, or None if new.

        Raises:
            ValueError: the run exists with a different input, or belongs to another workflow.
        """

    @abstractmethod
    async def checkpoints(self, run_id: str) -> dict[str, Checkpoint]:
        """The completed steps of ``run_id`` by position."""

    @abstractmethod
    async def checkpoint(self, run_id: str, step: Checkpoint) -> None:
        """Record a completed step; returns once it is durable."""

    @abstractmethod
    async def finish(self, run_id: str, status: str, result: Any, error: str | None) -> None:
        """Record the run's end and result."""

    @abstractmethod
    async def get(self, run_id: str) -> RunRecord | None:
        """One run, or None."""

    @abstractmethod
    async def list_runs(self, *, status: str | None = None, limit: int = 100) -> list[RunRecord]:
        """Runs, newest first; ``status`` filters (``stranded`` included)."""

    @abstractmethod
    async def prune(self, *, max_age: float | None, max_runs: int | None) -> int:
        """Delete finished runs older than ``max_age`` seconds or beyond the newest ``max_runs``."""

    async def incomplete(self) -> list[RunRecord]:
        """Runs that did not finish, stranded (their owner is gone) or interrupted: what a
        restarted daemon resumes."""
        return [
            r for r in await self.list_runs(limit=1_000_000) if r.status in (STRANDED, INTERRUPTED)
        ]

    async def aclose(self) -> None:
        """Release the store."""


def with_liveness(record: RunRecord) -> RunRecord:
    """``record`` with status ``stranded`` when it is running but its owner is gone."""
    if record.status == RUNNING and owner_alive(record.owner) is False:
        return dataclasses.replace(record, status=STRANDED)
    return record


def check_same(record: RunRecord, workflow: str, input_text: str) -> None:
    if record.workflow != workflow:
        raise ValueError(
            f"run id {record.id!r} belongs to workflow {record.workflow!r}, not {workflow!r}"
        )
    if canonical(record.input) != input_text:
        raise ValueError(
            f"run id {record.id!r} was started with a different input; use a new id for a new input"
        )


class MemoryWorkflowStore(WorkflowStore):
    """Runs kept in this process only (``--state :memory:``): resumable within the process."""

    def __init__(self) -> None:
        self._runs: dict[str, RunRecord] = {}
        self._steps: dict[str, dict[str, Checkpoint]] = {}

    async def begin(
        self, run_id: str, workflow: str, spell: str, version: str, input: Any, params: Any = None
    ) -> RunRecord | None:
        text = canonical(input)
        record = self._runs.get(run_id)
        now = time.time()
        if record is not None:
            check_same(record, workflow, text)
            if record.status != COMPLETED:
                self._runs[run_id] = dataclasses.replace(
                    record, status=RUNNING, owner=owner_id(), updated=now
                )
            return record
        self._runs[run_id] = RunRecord(
            run_id,
            workflow,
            spell,
            version,
            json.loads(text),
            RUNNING,
            None,
            None,
            owner_id(),
            now,
            now,
        )
        self._steps[run_id] = {}
        return None

    async def checkpoints(self, run_id: str) -> dict[str, Checkpoint]:
        return dict(self._steps.get(run_id, {}))

    async def checkpoint(self, run_id: str, step: Checkpoint) -> None:
        self._steps.setdefault(run_id, {})[step.position] = step

    async def finish(self, run_id: str, status: str, result: Any, error: str | None) -> None:
        record = self._runs[run_id]
        self._runs[run_id] = dataclasses.replace(
            record, status=status, result=result, error=error, updated=time.time()
        )

    async def get(self, run_id: str) -> RunRecord | None:
        record = self._runs.get(run_id)
        if record is None:
            return None
        return dataclasses.replace(with_liveness(record), steps=len(self._steps.get(run_id, {})))

    async def list_runs(self, *, status: str | None = None, limit: int = 100) -> list[RunRecord]:
        runs = [await self.get(run_id) for run_id in self._runs]
        found = [r for r in runs if r is not None and (status is None or r.status == status)]
        return sorted(found, key=lambda r: r.created, reverse=True)[:limit]

    async def prune(self, *, max_age: float | None, max_runs: int | None) -> int:
        finished = sorted(
            (r for r in self._runs.values() if r.status in (COMPLETED, FAILED)),
            key=lambda r: r.updated,
            reverse=True,
        )
        cutoff = time.time() - max_age if max_age is not None else None
        doomed = [
            r.id
            for i, r in enumerate(finished)
            if (max_runs is not None and i >= max_runs)
            or (cutoff is not None and r.updated < cutoff)
        ]
        for run_id in doomed:
            del self._runs[run_id]
            self._steps.pop(run_id, None)
        return len(doomed)
