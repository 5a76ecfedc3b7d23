"""The operations layer: a typed run context and one instrumented path for every operation.

Layers, top-down: CLI → runtime → ``_api`` (validates a script's arguments, converts values) →
``_ops`` (runs operations: spell runs, LLM calls, tool calls, agent runs; later workflow steps
and state writes) → engines, providers, tools → ``actors``. ``_ops`` never imports ``_api``.

* :class:`RunContext` — what one run owns and is charged with.
* :func:`instrumented` — before-hook → operation → after-hook → event, with call ids, timing
  and trace headers, for every :class:`Operation`.
* The catalogue (:class:`HookPoint`, :class:`Topic`, :class:`OpKind`, the payload types) —
  every hook point and event topic, declared once.
* :class:`Operations` — what a runtime's runs share, and the operations themselves.
"""

from typing import TYPE_CHECKING

from .._lazy import lazy_names
from ._catalogue import HOOK_CONTEXT_KEYS as HOOK_CONTEXT_KEYS
from ._catalogue import KINDS as KINDS
from ._catalogue import SCRIPT_HOOKS as SCRIPT_HOOKS
from ._catalogue import HookPoint as HookPoint
from ._catalogue import OpKind as OpKind
from ._catalogue import Payload as Payload
from ._catalogue import Topic as Topic
from ._context import LogSink as LogSink
from ._context import RunContext as RunContext
from ._context import Usage as Usage
from ._instrument import Call as Call
from ._instrument import Operation as Operation
from ._instrument import instrumented as instrumented
from ._measure import MAX_DEPTH as MAX_DEPTH
from ._measure import ValueTooBig as ValueTooBig
from ._measure import charge as charge
from ._measure import measure as measure
from ._metrics import Labels as Labels
from ._metrics import MetricError as MetricError
from ._metrics import SpellMetrics as SpellMetrics
from ._operations import Operations as Operations
from ._session import Session as Session
from ._session import SessionLink as SessionLink
from ._spell import OutputMeter as OutputMeter
from ._spell import RunRequest as RunRequest
from ._spell import RunResult as RunResult
from ._spell import SpellRun as SpellRun
from ._spell import SpellSource as SpellSource
from ._trace import NO_HEADERS as NO_HEADERS
from ._trace import Attachable as Attachable
from ._trace import Observer as Observer
from ._trace import current_headers as current_headers

if TYPE_CHECKING:
    from ._agent import MAX_REPAIRS as MAX_REPAIRS
    from ._agent import AgentConfig as AgentConfig
    from ._agent import AgentHandle as AgentHandle
    from ._agent import text_of as text_of
    from ._workflow import Step as Step
    from ._workflow import Workflow as Workflow
    from ._workflow import WorkflowError as WorkflowError

_LAZY = {
    "MAX_REPAIRS": "_agent",
    "AgentConfig": "_agent",
    "AgentHandle": "_agent",
    "text_of": "_agent",
    "Step": "_workflow",
    "Workflow": "_workflow",
    "WorkflowError": "_workflow",
}
"""Agents and workflows load on first use: most runs need neither, and every ``llmspell run``
would pay for importing them (their dataclasses, the workflow store)."""


__getattr__, __dir__ = lazy_names(__name__, globals(), _LAZY)
