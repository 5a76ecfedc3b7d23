"""Frozen snapshots of the runtime's counters, and the names of its events and hook points."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from ._envelope import Message

if TYPE_CHECKING:
    from ._ref import ActorRef

# Events the runtime publishes on ``system.bus`` (payload fields in the comments).
EVENT_STARTED = "actor.started"  # {"actor"}: first start (restarts publish actor.restarted)
EVENT_STOPPED = "actor.stopped"  # {"actor", "reason"}: stopped for good
EVENT_FAILED = "actor.failed"  # {"actor", "error"}: an instance crashed
EVENT_RESTARTED = "actor.restarted"  # {"actor", "error", "restarts"}
EVENT_ESCALATED = "actor.escalated"  # {"actor", "error"}: the root supervisor gave up on it
EVENT_DEAD_LETTER = "actor.dead_letter"  # {"actor", "message"}
EVENT_HOOK_FAILED = "hook.handler_failed"  # {"point", "error", "handler"}

# Hook points the runtime runs (only when a handler is registered; never per message).
HOOK_BEFORE_START = "actor.before_start"  # value: the ActorRef; cancel to refuse the start
HOOK_AFTER_STOP = "actor.after_stop"  # value: the ActorRef, after on_stop
HOOK_ON_FAILURE = "actor.on_failure"  # value: the exception, before on_failure


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
