"""The names of the runtime's events and hook points."""

from __future__ import annotations

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
