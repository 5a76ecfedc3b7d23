"""Durable workflow runs: where ``wf:run`` records its steps, so a crashed run resumes.

The workflow engine itself is ``llmspell._ops``' (every step passes the instrumented path); this
package is the seam it records through, for the CLI (``llmspell workflows list|show``) and the
daemon (which resumes :meth:`WorkflowStore.incomplete` runs on restart).
"""

from __future__ import annotations

import pathlib

from ._sqlite import SqliteWorkflowStore as SqliteWorkflowStore
from ._store import COMPLETED as COMPLETED
from ._store import FAILED as FAILED
from ._store import INTERRUPTED as INTERRUPTED
from ._store import RUNNING as RUNNING
from ._store import STRANDED as STRANDED
from ._store import Checkpoint as Checkpoint
from ._store import MemoryWorkflowStore as MemoryWorkflowStore
from ._store import RunRecord as RunRecord
from ._store import WorkflowStore as WorkflowStore
from ._store import owner_alive as owner_alive
from ._store import owner_id as owner_id


def open_workflow_store(path: str | pathlib.Path) -> WorkflowStore:
    """The store for the state database ``path`` (``":memory:"``: this process only)."""
    if str(path) == ":memory:":
        return MemoryWorkflowStore()
    return SqliteWorkflowStore(path)


__all__ = [
    "COMPLETED",
    "FAILED",
    "INTERRUPTED",
    "RUNNING",
    "STRANDED",
    "Checkpoint",
    "MemoryWorkflowStore",
    "RunRecord",
    "SqliteWorkflowStore",
    "WorkflowStore",
    "open_workflow_store",
    "owner_alive",
    "owner_id",
]
