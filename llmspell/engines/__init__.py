"""Script engines behind one seam; chosen by file extension."""

from __future__ import annotations

from ._base import Api as Api
from ._base import ApiFunction as ApiFunction
from ._base import CallTracker as CallTracker
from ._base import Engine as Engine
from ._base import HostObject as HostObject
from ._base import InstanceStatistics as InstanceStatistics
from ._base import Limits as Limits
from ._base import Namespace as Namespace
from ._base import ScriptFunction as ScriptFunction
from ._base import ScriptInstance as ScriptInstance
from ._base import ScriptValue as ScriptValue
from ._base import eager_api as eager_api
from ._base import is_eager_api as is_eager_api
from ._base import is_sync_api as is_sync_api
from ._base import limit_exceeded as limit_exceeded
from ._base import sync_api as sync_api
from ._base import takes_context as takes_context
from ._base import with_context as with_context
from ._facts import GlobalRead as GlobalRead
from ._facts import MemberUse as MemberUse
from ._facts import PendingUse as PendingUse
from ._facts import SourceFacts as SourceFacts
from ._registry import engine_for as engine_for
from ._registry import engines as engines
from ._registry import extensions as extensions
