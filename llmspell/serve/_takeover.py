"""Durable workflows of a dead daemon, taken over by a live one (daemons joined by NATS).

When a spell run in a daemon begins a durable workflow run (the ``workflow.before_run`` hook),
the daemon publishes a *lease* for it on ``llmspell.takeover.<id>``, a work item every daemon
pulls from one durable consumer. Whichever daemon gets the lease looks the run up in the
workflow store:

- finished (completed or failed): the lease is done;
- running here: the daemon holds the lease (``in_progress`` while it runs), and lets it go
  when the run has finished;
- running in another process: the lease goes back, to be looked at again an ack wait later;
- stranded (its process is gone) or interrupted (its daemon shut down): the daemon runs the
  run's spell again with its parameters; ``wf:run(input, {id = ...})`` finds the checkpoints
  and continues after the last completed step, so completed steps are not run again.

A daemon killed with ``-9`` while holding a lease cannot let it go: JetStream delivers it to a
live daemon after the ack wait, which takes the run over. The lease cannot carry the run's
checkpoints: **daemons that share work must share the state database** (the same ``--state``
file, so one machine, or the workflow store is not shared). Runs begun by a queued run
(:mod:`._queued`) get no lease: the queued run is itself a work item, delivered again if its
daemon dies. At start, a joined daemon publishes a lease for every stranded run in its state
database (JetStream drops the copies other daemons publish for the same dead process).
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from typing import TYPE_CHECKING, Any

import anyio

from ..workflows import COMPLETED, FAILED, INTERRUPTED, RUNNING, STRANDED
from ._nats import TAKEOVER_SUBJECT
from ._work import DONE, Verdict, again

if TYPE_CHECKING:
    import actors

    from ._daemon import Daemon

_log = logging.getLogger("llmspell.serve")
_TOKEN = re.compile(r"[A-Za-z0-9_-]{1,64}")
POLL, POLL_MAX = 0.25, 2.0
"""Seconds between looks at a held run in the workflow store: the first, and at most (the
wait doubles while the run goes on: a long run costs a look every two seconds)."""
LEASE_TIMEOUT = 2.0
"""Seconds a workflow run's start waits for its lease to be stored (then goes on without)."""
MAX_UNKNOWN = 10
"""Deliveries of a lease that no daemon could act on (the run is in no store it reads, or its
spell is hosted by none) before the lease is dropped (and the run left as it is)."""


def subject(run_id: str) -> str:
    token = run_id if _TOKEN.fullmatch(run_id) else hashlib.sha256(run_id.encode()).hexdigest()
    return f"{TAKEOVER_SUBJECT}.{token}"


async def lease(daemon: Daemon, run_id: str, spell: str, owner: str) -> None:
    """Publish the lease of workflow run ``run_id``, owned now by ``owner``."""
    assert daemon.nats is not None
    body = json.dumps({"workflow_run": run_id, "spell": spell, "owner": owner}).encode()
    msg_id = f"takeover:{run_id}:{owner}"
    await daemon.nats.js.publish(subject(run_id), body, headers={"Nats-Msg-Id": msg_id})


def watch(daemon: Daemon) -> actors.HookRegistration:
    """Lease every durable workflow run a spell run of this daemon begins, before it begins
    (a ``workflow.before_run`` hook: a daemon killed right after the start leaves a lease)."""

    async def before_run(value: Any, ctx: actors.HookContext) -> None:
        data = ctx.data
        origin = daemon.local_runs.get(str(data.get("runId")))
        if origin is None or origin in ("queued", "takeover") or "id" not in data:
            return  # a queued run is a work item already; a takeover holds its lease
        try:
            with anyio.fail_after(LEASE_TIMEOUT):
                await lease(daemon, str(data["id"]), str(data.get("spell")), daemon.owner)
        except Exception as exc:  # NATS away: the run goes on, without a lease
            _log.warning("workflow run %s: no lease published: %s", data["id"], exc)

    hooks = daemon.runtime.system.hooks
    return hooks.register("workflow.before_run", before_run, name="takeover lease")


async def lease_stranded(daemon: Daemon) -> int:
    """At start: a lease for every stranded or interrupted run in the state database."""
    assert daemon.workflows is not None
    records = await daemon.workflows.incomplete()
    for record in records:
        await lease(daemon, record.id, record.spell, record.owner)
    if records:
        _log.info("%d unfinished workflow runs offered for takeover", len(records))
    return len(records)


async def hold(daemon: Daemon, msg: Any) -> Verdict:
    """The lease handler (see the module docstring)."""
    daemon.counters.leases_held += 1
    try:
        return await _hold(daemon, msg)
    finally:
        daemon.counters.leases_held -= 1


async def _hold(daemon: Daemon, msg: Any) -> Verdict:
    data = json.loads(msg.data)
    run_id = str(data["workflow_run"])
    store = daemon.workflows
    assert store is not None
    poll = POLL
    while True:
        record = await store.get(run_id)
        if record is None:
            if msg.metadata.num_delivered >= MAX_UNKNOWN:
                _log.error("workflow run %s is in no state database that took it", run_id)
                return DONE
            return again(1.0)  # daemons that share work share --state: another knows it
        if record.status in (COMPLETED, FAILED):
            return DONE
        if (record.status == RUNNING and record.owner == daemon.owner) or run_id in daemon.taking:
            await anyio.sleep(poll)  # ours: hold the lease while it runs
            poll = min(poll * 2, POLL_MAX)
            continue
        if record.status == RUNNING:
            return again(daemon.settings.nats_ack_wait)  # another process runs it
        if daemon.draining or record.status not in (STRANDED, INTERRUPTED):
            return again()
        entry = daemon.catalog.entries.get(record.spell)
        if entry is None or entry.version is None:
            if msg.metadata.num_delivered >= MAX_UNKNOWN:
                _log.warning("workflow run %s stays %s: no daemon that took it hosts spell %s",
                             run_id, record.status, record.spell)  # fmt: skip
                return DONE
            return again(1.0)  # another daemon may host it
        _log.info("taking over workflow run %s (spell %s, was %s)", run_id, record.spell,
                  record.owner)  # fmt: skip
        daemon.taking.add(run_id)
        daemon.counters.workflows_taken_over += 1
        try:
            result = await daemon.execute(
                entry.version, params=dict(record.params or {}), origin="takeover"
            )
        finally:
            daemon.taking.discard(run_id)
        after = await store.get(run_id)
        if after is not None and after.status in (STRANDED, INTERRUPTED) and not daemon.draining:
            reason = (
                f"not resumed: spell {record.spell} ran again ({result.status}) but did not "
                "resume this run; give wf:run a stable id (wf:run(input, {id = ...}))"
            )
            await store.finish(run_id, FAILED, None, reason)
            _log.error("workflow run %s: %s", run_id, reason)
