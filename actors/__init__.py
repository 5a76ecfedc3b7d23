"""actors: a small actor runtime with supervision, an event bus and hooks, on anyio.

Runs on asyncio and trio. Depends on anyio and the standard library only.
"""

from __future__ import annotations

import logging as _logging

from ._exceptions import ActorDeadError as ActorDeadError
from ._exceptions import ActorError as ActorError
from ._exceptions import AskTimeoutError as AskTimeoutError
from ._exceptions import HookCancelledError as HookCancelledError
from ._exceptions import MailboxFullError as MailboxFullError
from ._exceptions import NameTakenError as NameTakenError
from ._exceptions import SupervisorError as SupervisorError
from ._exceptions import SystemClosedError as SystemClosedError
from ._exceptions import WouldBlock as WouldBlock

# -- bus and hooks (actors/_topics.py, _bus.py, _hooks.py) --
# isort: split
from ._bus import BusStatistics as BusStatistics
from ._bus import EventBus as EventBus
from ._hooks import Cancel as Cancel
from ._hooks import HandlerStatistics as HandlerStatistics
from ._hooks import HookContext as HookContext
from ._hooks import HookPoint as HookPoint
from ._hooks import HookRegistration as HookRegistration
from ._hooks import HookRegistry as HookRegistry
from ._hooks import HookStatistics as HookStatistics
from ._hooks import Replace as Replace
from ._subscription import Event as Event
from ._subscription import Subscription as Subscription
from ._subscription import SubscriptionStatistics as SubscriptionStatistics

# -- actors, supervision, system (actors/_actor.py, _ref.py, _supervisor.py, _system.py, ...) --

_logging.getLogger(__name__).addHandler(_logging.NullHandler())
