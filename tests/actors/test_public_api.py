"""The public surface of ``actors`` is pinned: changing it is a deliberate act."""

from __future__ import annotations

import types

import actors

PUBLIC = {
    # runtime
    "Actor",
    "ActorContext",
    "ActorRef",
    "SupervisorRef",
    "ActorSystem",
    "open_system",
    "Envelope",
    "current_envelope",
    "Registry",
    "Terminated",
    "DeadLetter",
    "RestartType",
    "Strategy",
    "Overflow",
    "ActorStatistics",
    "SystemStatistics",
    "start_in_thread",
    "BlockingSystem",
    "BlockingActorRef",
    "BlockingSupervisorRef",
    "BlockingBus",
    "BlockingHooks",
    # bus and hooks
    "EventBus",
    "Event",
    "Subscription",
    "BusStatistics",
    "BusBackend",
    "BusConsumer",
    "Delivery",
    "SubscriptionStatistics",
    "EventLog",
    "LogRecord",
    "MemoryEventLog",
    "SqliteEventLog",
    "HookRegistry",
    "HookRegistration",
    "HookContext",
    "HookStatistics",
    "HandlerStatistics",
    "Cancel",
    "Replace",
    # errors
    "ActorError",
    "ActorDeadError",
    "AskTimeoutError",
    "MailboxFullError",
    "NameTakenError",
    "SupervisorError",
    "SystemClosedError",
    "EventLogError",
    "HookCancelledError",
    "WouldBlock",
}


def test_public_names_are_exactly_the_documented_ones() -> None:
    exported = {
        name
        for name, value in vars(actors).items()
        if not name.startswith("_") and not isinstance(value, types.ModuleType)
    }
    exported -= {"annotations"}
    exported |= set(actors._LAZY)  # loaded on first use (actors.__getattr__)
    assert exported == PUBLIC
    assert all(getattr(actors, name) is not None for name in actors._LAZY)
    assert PUBLIC <= set(dir(actors))
