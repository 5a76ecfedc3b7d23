"""llmspell: run spells — Lua or JavaScript programs that drive LLMs, agents, tools and events.

Python entry points::

    async with llmspell.open_runtime() as runtime:
        result = await runtime.run("spells/hello.lua", params={"name": "Ada"})
"""

from __future__ import annotations

import logging as _logging
from typing import TYPE_CHECKING

__version__ = "0.1.0"

from ._exceptions import ConfigError as ConfigError
from ._exceptions import IncompleteInput as IncompleteInput
from ._exceptions import LimitExceeded as LimitExceeded
from ._exceptions import ParameterError as ParameterError
from ._exceptions import ProviderError as ProviderError
from ._exceptions import SpellClosedError as SpellClosedError
from ._exceptions import SpellError as SpellError
from ._exceptions import SpellInterrupted as SpellInterrupted
from ._exceptions import SpellRuntimeError as SpellRuntimeError
from ._exceptions import SpellSyntaxError as SpellSyntaxError
from ._exceptions import ToolError as ToolError

_logging.getLogger(__name__).addHandler(_logging.NullHandler())

if TYPE_CHECKING:  # loaded lazily below; spelled out for type checkers
    from ._config import Config as Config
    from ._config import load_config as load_config
    from ._ops import KINDS as KINDS
    from ._ops import Attachable as Attachable
    from ._ops import Call as Call
    from ._ops import HookPoint as HookPoint
    from ._ops import MetricError as MetricError
    from ._ops import Observer as Observer
    from ._ops import OpKind as OpKind
    from ._ops import Payload as Payload
    from ._ops import RunContext as RunContext
    from ._ops import SpellMetrics as SpellMetrics
    from ._ops import Topic as Topic
    from ._runtime import RunResult as RunResult
    from ._runtime import Runtime as Runtime
    from ._runtime import Session as Session
    from ._runtime import SpellSource as SpellSource
    from ._runtime import open_runtime as open_runtime
    from .engines import Limits as Limits

# The instrumentation surface (what observers and hook authors name): loaded on first use.
_OPS = (
    "HookPoint",
    "Topic",
    "OpKind",
    "Call",
    "Observer",
    "Attachable",
    "Payload",
    "RunContext",
    "KINDS",
    "SpellMetrics",
    "MetricError",
)


def __getattr__(name: str) -> object:
    # The runtime pulls in the actor system and engines; keep `import llmspell` (and so
    # `llmspell --help`) light by loading it on first use.
    if name in ("open_runtime", "Runtime", "RunResult", "Session", "SpellSource"):
        from . import _runtime

        return getattr(_runtime, name)
    if name in ("load_config", "Config"):
        from . import _config

        return getattr(_config, name)
    if name == "Limits":
        from .engines import Limits

        return Limits
    if name in _OPS:
        from . import _ops

        return getattr(_ops, name)
    raise AttributeError(f"module 'llmspell' has no attribute {name!r}")
