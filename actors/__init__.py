"""actors: a small actor runtime with supervision, an event bus and hooks, on anyio.

Runs on asyncio and trio. Depends on anyio and the standard library only; the optional
``actors.nats`` (the bus on NATS JetStream, asyncio only) needs the ``nats`` extra (nats-py).
"""

from __future__ import annotations

import importlib as _importlib
import logging as _logging
import typing as _typing

from ._exceptions import ActorDeadError as ActorDeadError
from ._exceptions import ActorError as ActorError
from ._exceptions import AskTimeoutError as AskTimeoutError
from ._exceptions import EventLogError as EventLogError
from ._exceptions import HookCancelledError as HookCancelledError
from ._exceptions import MailboxFullError as MailboxFullError
from ._exceptions import NameTakenError as NameTakenError
from ._exceptions import SupervisorError as SupervisorError
from ._exceptions import SystemClosedError as SystemClosedError
from ._exceptions import WouldBlock as WouldBlock

# -- bus, event log and hooks (actors/_topics.py, _bus.py, _eventlog.py, _hooks.py, ...) --
# isort: split
from ._backend import BusBackend as BusBackend
from ._backend import BusConsumer as BusConsumer
from ._backend import Delivery as Delivery
from ._bus import EventBus as EventBus
from ._hooks import Cancel as Cancel
from ._hooks import HookContext as HookContext
from ._hooks import HookRegistration as HookRegistration
from ._hooks import HookRegistry as HookRegistry
from ._hooks import Replace as Replace
from ._subscription import Event as Event
from ._subscription import Subscription as Subscription

# -- actors, supervision, system (actors/_actor.py, _ref.py, _supervisor.py, _system.py, ...) --
# isort: split
from ._actor import Actor as Actor
from ._actor import ActorContext as ActorContext
from ._actor import Terminated as Terminated
from ._cell import RestartType as RestartType
from ._envelope import Envelope as Envelope
from ._envelope import current_envelope as current_envelope
from ._mailbox import Overflow as Overflow
from ._ref import ActorRef as ActorRef
from ._registry import Registry as Registry
from ._supervisor import Strategy as Strategy
from ._supervisor import SupervisorRef as SupervisorRef
from ._system import ActorSystem as ActorSystem
from ._system import open_system as open_system

if _typing.TYPE_CHECKING:
    from ._eventlog import EventLog as EventLog
    from ._eventlog import LogRecord as LogRecord
    from ._eventlog import MemoryEventLog as MemoryEventLog
    from ._records import ActorStatistics as ActorStatistics
    from ._records import BusStatistics as BusStatistics
    from ._records import DeadLetter as DeadLetter
    from ._records import HandlerStatistics as HandlerStatistics
    from ._records import HookStatistics as HookStatistics
    from ._records import SubscriptionStatistics as SubscriptionStatistics
    from ._records import SystemStatistics as SystemStatistics
    from ._sqlitelog import SqliteEventLog as SqliteEventLog
    from ._threaded import BlockingActorRef as BlockingActorRef
    from ._threaded import BlockingBus as BlockingBus
    from ._threaded import BlockingHooks as BlockingHooks
    from ._threaded import BlockingSupervisorRef as BlockingSupervisorRef
    from ._threaded import BlockingSystem as BlockingSystem
    from ._threaded import start_in_thread as start_in_thread

_LAZY = {
    "ActorStatistics": "_records",
    "BusStatistics": "_records",
    "DeadLetter": "_records",
    "HandlerStatistics": "_records",
    "HookStatistics": "_records",
    "SubscriptionStatistics": "_records",
    "SystemStatistics": "_records",
    "EventLog": "_eventlog",
    "LogRecord": "_eventlog",
    "MemoryEventLog": "_eventlog",
    "SqliteEventLog": "_sqlitelog",
    "BlockingActorRef": "_threaded",
    "BlockingBus": "_threaded",
    "BlockingHooks": "_threaded",
    "BlockingSupervisorRef": "_threaded",
    "BlockingSystem": "_threaded",
    "start_in_thread": "_threaded",
}
"""Loaded on first use: the statistics records (frozen dataclasses, costly to create), the event
logs and the blocking facade for threaded code cost every importer (each ``llmspell run``, whose
bus keeps no log) the records' creation, the logs' modules, sqlite3 and anyio's thread portal
otherwise."""


def __getattr__(name: str) -> _typing.Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(_importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})


_logging.getLogger(__name__).addHandler(_logging.NullHandler())
