"""Frozen snapshots of the runtime's counters: what each ``statistics()`` returns.

Loaded on the first ``statistics()`` call (or dead letter), not with the package: a frozen
slotted dataclass costs some 4M instructions to create, and a run that never reads its counters
(each ``llmspell run``) would pay that for every class here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from ._envelope import Message

if TYPE_CHECKING:
    from ._ref import ActorRef


@dataclass(frozen=True, slots=True)
class ActorStatistics:
    """Counters of one actor (or supervisor).

    Attributes:
        name: the actor's name.
        alive: ``False`` once stopped for good.
        mailbox_depth: messages waiting in the mailbox.
        mailbox_size: the mailbox capacity.
        processed: messages handled to completion (asks whose handler raised included;
            a message that crashed the actor counts in ``failed`` only).
        failed: messages whose handler raised (asks included), plus failed starts.
        restarts: times a new instance replaced a previous one.
        dropped: messages dropped by the overflow policy.
    """

    name: str
    alive: bool
    mailbox_depth: int
    mailbox_size: int
    processed: int
    failed: int
    restarts: int
    dropped: int


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A message that could not be delivered because its recipient had stopped.

    Attributes:
        recipient: the stopped actor's name.
        message: the message.
        sender: its sender, if known.
    """

    recipient: str
    message: Message
    sender: ActorRef | None


@dataclass(frozen=True, slots=True)
class SystemStatistics:
    """Counters of a whole actor system.

    Attributes:
        actors: actors alive (supervisors excluded).
        supervisors: supervisors alive (the root excluded).
        processed: messages handled by actors alive now.
        restarts: restarts of actors alive now.
        dead_letters: messages sent to stopped actors, since the start.
        recent_dead_letters: the latest dead letters, oldest first (a bounded list).
    """

    actors: int
    supervisors: int
    processed: int
    restarts: int
    dead_letters: int
    recent_dead_letters: tuple[DeadLetter, ...]


@dataclass(frozen=True, slots=True)
class SubscriptionStatistics:
    """Counters of one subscription.

    Attributes:
        pattern: the subscribed pattern.
        name: the subscription's name.
        queued: events waiting in its queue.
        delivered: events its handler accepted.
        dropped: events lost to its overflow policy or its disconnection.
        failed: events its handler raised on.
    """

    pattern: str
    name: str
    queued: int
    delivered: int
    dropped: int
    failed: int


@dataclass(frozen=True, slots=True)
class BusStatistics:
    """Counters of a bus since it was created (cancelled subscriptions included).

    Attributes:
        published: calls to publish (including the bus's own events).
        delivered: deliveries accepted by handlers.
        dropped: deliveries lost to overflow policies or disconnections.
        failed: deliveries whose handler raised.
        subscriptions: the live subscriptions.
        logged: events committed to the event log.
        log_commits: transactions that committed them (fewer than ``logged`` when concurrent
            publishes shared a commit).
        log_failed: events whose commit failed (their publishers got the error).
        dead_lettered: events moved to the dead-letter topic after ``max_deliver`` failed
            deliveries (a bus with a backend).
        publish_failed: ``publish_nowait`` events the backend could not take (logged).
    """

    published: int
    delivered: int
    dropped: int
    failed: int
    subscriptions: tuple[SubscriptionStatistics, ...]
    logged: int = 0
    log_commits: int = 0
    log_failed: int = 0
    dead_lettered: int = 0
    publish_failed: int = 0


@dataclass(frozen=True, slots=True)
class HandlerStatistics:
    """Counters of one registered handler."""

    point: str
    name: str
    priority: int
    calls: int
    failed: int


@dataclass(frozen=True, slots=True)
class HookStatistics:
    """Counters of a registry.

    Attributes:
        runs: runs of points that had handlers (runs of empty points are not counted).
        cancelled: runs that raised ``HookCancelledError``.
        replaced: runs that returned a :class:`Replace`.
        failed: handler errors (isolated or fail-closed).
        handlers: the registered handlers, by point, in run order.
    """

    runs: int
    cancelled: int
    replaced: int
    failed: int
    handlers: tuple[HandlerStatistics, ...]
