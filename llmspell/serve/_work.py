"""Taking shared work from JetStream: a durable pull consumer, pulled only when there is room.

Every daemon pulls from the same durable consumer, so among them each message goes to one, and
only a daemon with a free slot asks for the next: whichever daemon is free takes the work. While
a handler works on a message the daemon tells JetStream so (``in_progress``) three times per
ack wait, so a long run is not handed to another daemon; the handler's verdict then settles it:

- :data:`DONE`: acknowledged, the message is gone;
- :data:`AGAIN` (with a delay): given back, JetStream delivers it again, here or elsewhere;
- a handler that raises: logged, given back after a second.

A daemon killed with a message in hand cannot settle it: after the ack wait JetStream delivers
it to another (``NumDelivered`` says how often it was delivered). A daemon shutting down gives
back what its handlers have not finished.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import anyio

if TYPE_CHECKING:
    from anyio.abc import TaskStatus

    from ._nats import NatsLink

_log = logging.getLogger("llmspell.serve")


@dataclasses.dataclass(frozen=True)
class Verdict:
    """What to do with a message once its handler returns: ``done``, or ``again`` after
    ``delay`` seconds."""

    done: bool
    delay: float = 0.0


DONE = Verdict(True)


def again(delay: float = 0.0) -> Verdict:
    """Give the message back, to be delivered again after ``delay`` seconds."""
    return Verdict(False, delay)


Handler = Callable[[Any], Awaitable[Verdict]]


@dataclasses.dataclass
class Consumer:
    """One durable consumer of the work stream, pulled by every daemon.

    Attributes:
        durable: the consumer's name (the same in every daemon).
        subject: the subjects it takes (``spells.run.>``).
        capacity: messages this daemon works on at once.
        handler: works on one message; returns its :class:`Verdict`.
    """

    durable: str
    subject: str
    capacity: int
    handler: Handler


async def take_work(
    link: NatsLink,
    consumer: Consumer,
    ack_wait: float,
    spawn: Callable[..., None],
    *,
    task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED,
) -> None:
    """Pull messages for ``consumer`` until cancelled; each is worked on in a task that
    ``spawn(fn, *args)`` starts (the daemon's task group: cancelling this loop stops the taking,
    not the work in hand; cancelled work is given back)."""
    from nats.errors import TimeoutError as FetchTimeout
    from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

    from ._nats import STREAM

    config = ConsumerConfig(
        durable_name=consumer.durable,
        filter_subject=consumer.subject,
        ack_policy=AckPolicy.EXPLICIT,
        deliver_policy=DeliverPolicy.ALL,
        ack_wait=ack_wait,
        max_ack_pending=-1,
    )
    sub = await link.js.pull_subscribe(
        consumer.subject, durable=consumer.durable, stream=STREAM, config=config
    )
    slots = anyio.Semaphore(consumer.capacity)
    task_status.started()
    try:
        while True:
            await slots.acquire()
            try:
                messages = await sub.fetch(1, timeout=5)
            except FetchTimeout:  # nothing to do for now
                slots.release()
                continue
            except Exception as exc:  # disconnected: nats-py reconnects, we wait
                slots.release()
                _log.debug("%s: fetch failed (%s); retrying", consumer.durable, exc)
                await anyio.sleep(1.0)
                continue
            for msg in messages:
                spawn(_work_on, msg, consumer, ack_wait, slots)
    finally:
        with anyio.CancelScope(shield=True), anyio.move_on_after(2):
            await sub.unsubscribe()


async def _work_on(msg: Any, consumer: Consumer, ack_wait: float, slots: anyio.Semaphore) -> None:
    verdict = again(1.0)
    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(_keep_alive, msg, ack_wait)
            try:
                verdict = await consumer.handler(msg)
            except Exception:
                _log.exception("%s: %s failed; giving it back", consumer.durable, msg.subject)
            tg.cancel_scope.cancel()
    finally:
        slots.release()
        with anyio.CancelScope(shield=True), anyio.move_on_after(2):
            try:
                if verdict.done:
                    await msg.ack()
                else:
                    await msg.nak(delay=verdict.delay or None)
            except Exception as exc:  # the connection is down: it is delivered again anyway
                _log.warning("%s: could not settle %s: %s", consumer.durable, msg.subject, exc)


async def _keep_alive(msg: Any, ack_wait: float) -> None:
    while True:
        await anyio.sleep(ack_wait / 3)
        try:
            await msg.in_progress()
        except Exception as exc:  # reconnecting; the next tick tries again
            _log.debug("in_progress for %s failed: %s", msg.subject, exc)
