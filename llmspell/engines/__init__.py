"""Script engines behind one seam; chosen by file extension."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_names
from ._base import Api as Api
from ._base import ApiFunction as ApiFunction
from ._base import CallTracker as CallTracker
from ._base import Engine as Engine
from ._base import HostObject as HostObject
from ._base import Limits as Limits
from ._base import Namespace as Namespace
from ._base import ScriptFunction as ScriptFunction
from ._base import ScriptInstance as ScriptInstance
from ._base import ScriptValue as ScriptValue
from ._base import Suspended as Suspended
from ._base import eager_api as eager_api
from ._base import is_eager_api as is_eager_api
from ._base import is_sync_api as is_sync_api
from ._base import limit_exceeded as limit_exceeded
from ._base import sync_api as sync_api
from ._base import takes_context as takes_context
from ._base import with_context as with_context
from ._registry import engine_for as engine_for
from ._registry import engines as engines
from ._registry import extensions as extensions

if TYPE_CHECKING:
    from ._facts import GlobalRead as GlobalRead
    from ._facts import MemberUse as MemberUse
    from ._facts import PendingUse as PendingUse
    from ._facts import SourceFacts as SourceFacts
    from ._statistics import InstanceStatistics as InstanceStatistics

_LAZY = {
    "GlobalRead": "_facts",
    "MemberUse": "_facts",
    "PendingUse": "_facts",
    "SourceFacts": "_facts",
    "InstanceStatistics": "_statistics",
}
"""Loaded on first use: what ``llmspell check`` reads (the facts) and what ``statistics()``
returns are classes a run would otherwise create at every start-up for nothing."""


__getattr__, __dir__ = lazy_names(__name__, globals(), _LAZY)
