"""A daemon joined to others by NATS: the work it takes from the shared stream.

:func:`share_work` runs for the daemon's life (from after its spells have loaded): it pulls
queued runs (:mod:`._queued`) and workflow leases (:mod:`._takeover`) and leases the durable
workflow runs that begin here. When the daemon starts draining it stops taking work; what it
has in hand finishes within the grace period (or is given back to the others).
"""

from __future__ import annotations

import functools

import anyio
from anyio.abc import TaskStatus

from ._daemon import Daemon
from ._nats import RUNS_SUBJECT, TAKEOVER_SUBJECT
from ._queued import take
from ._takeover import hold, lease_stranded, watch
from ._work import Consumer, take_work

RUNS_CONSUMER = "llmspell-runs"
TAKEOVER_CONSUMER = "llmspell-takeover"
MAX_LEASES = 10_000
"""Workflow leases one daemon holds at once (holding one costs a look at the store every
two seconds)."""


async def share_work(daemon: Daemon, *, task_status: TaskStatus[None]) -> None:
    link = daemon.nats
    assert link is not None
    settings = daemon.settings
    runs = Consumer(
        RUNS_CONSUMER,
        f"{RUNS_SUBJECT}.>",
        settings.queue_concurrency,
        functools.partial(take, daemon),
    )
    leases = Consumer(
        TAKEOVER_CONSUMER, f"{TAKEOVER_SUBJECT}.>", MAX_LEASES, functools.partial(hold, daemon)
    )
    registration = watch(daemon)
    with anyio.CancelScope() as taking:
        forget = daemon.on_close(taking.cancel)  # draining: take no more work
        try:
            async with anyio.create_task_group() as tg:
                ack_wait = settings.nats_ack_wait
                await tg.start(take_work, link, runs, ack_wait, daemon.start_soon)
                await tg.start(take_work, link, leases, ack_wait, daemon.start_soon)
                if settings.resume_workflows:
                    await lease_stranded(daemon)
                task_status.started()
        finally:
            forget()
            registration.cancel()
