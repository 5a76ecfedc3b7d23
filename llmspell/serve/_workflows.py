"""Durable workflow runs a previous daemon process left behind, resumed at start.

A run whose owner process is gone is *stranded* (``WorkflowStore.incomplete``). Resuming it
means running its spell again with the parameters it was started with: the spell's
``wf:run(input, {id=...})`` then finds the run's checkpoints and continues after the last
completed step. Runs of spells this daemon does not host are left alone (and logged). A spell
that runs its workflow without a stable id cannot find it again: after the spell's run, a run
still stranded is marked ``failed`` with the reason, so it is never silently pending (nor
retried at every start).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from ..workflows import COMPLETED, FAILED, INTERRUPTED, RunRecord
from ..workflows import STRANDED as STRANDED

if TYPE_CHECKING:
    from ._daemon import Daemon

_log = logging.getLogger("llmspell.serve")


def _key(record: RunRecord) -> tuple[str, str]:
    import json

    return record.spell, json.dumps(record.params or {}, sort_keys=True, default=str)


async def resume_stranded(daemon: Daemon) -> int:
    """Start resuming every stranded run of a hosted spell; returns how many spell runs began.

    One spell run per spell and parameters: a spell that ran several workflows resumes them
    all in one run.
    """
    store = daemon.workflows
    if store is None:
        return 0
    groups: dict[tuple[str, str], list[RunRecord]] = {}
    for record in await store.incomplete():
        groups.setdefault(_key(record), []).append(record)
    started = 0
    for (spell, _), records in groups.items():
        entry = daemon.catalog.entries.get(spell)
        ids = ", ".join(r.id for r in records)
        if entry is None or entry.version is None:
            _log.warning(
                "workflow runs %s of spell %s stay stranded: no such spell here", ids, spell
            )
            continue
        _log.info("resuming workflow runs %s: running spell %s again", ids, spell)
        daemon.start_soon(_resume, daemon, records)
        started += 1
    return started


async def _resume(daemon: Daemon, records: list[RunRecord]) -> None:
    store = daemon.workflows
    entry = daemon.catalog.entries.get(records[0].spell)
    if store is None or entry is None or entry.version is None:
        return
    params: dict[str, Any] = dict(records[0].params or {})
    result = await daemon.execute(entry.version, params=params, origin="resume")
    for record in records:
        after = await store.get(record.id)
        if after is not None and after.status in (STRANDED, INTERRUPTED):
            reason = (
                f"not resumed: spell {record.spell} ran again ({result.status}) but did not "
                "resume this run; give wf:run a stable id (wf:run(input, {id = ...}))"
            )
            await store.finish(record.id, FAILED, None, reason)
            _log.error("workflow run %s: %s", record.id, reason)
        elif after is not None:
            level = logging.INFO if after.status == COMPLETED else logging.WARNING
            _log.log(level, "workflow run %s resumed: %s", record.id, after.status)
