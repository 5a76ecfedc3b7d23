"""The catalogue: every hook point and event topic llmspell runs or publishes, declared once.

An *operation* is something a spell makes happen that others may watch or change: a spell run,
an LLM call, a tool call, an agent run (workflow steps and state writes use the same path). Each
kind of operation is an :class:`OpKind`: the hook points it passes (``before`` may modify the
input, cancel, or replace the whole operation with a result; ``after`` may modify or replace the
result), the events it publishes, and the names scripts use for its hooks. The one instrumented
path (:func:`llmspell._ops.instrumented`) reads these declarations; nothing else spells out a
point or topic.

Event payloads and hook data use one key style, the one scripts see: ``camelCase``
(``runId``, ``callId``, ``toolName``, ``finishReason``). Every operation event carries the run
id and a ``callId`` that pairs it with the other events of the same call (``llm.request`` with
its ``llm.response``), even when calls run in parallel. Durations are in seconds.
"""

from __future__ import annotations

from typing import Any, ClassVar, dataclass_transform

__all__ = [
    "AGENT",
    "KINDS",
    "LLM",
    "SCRIPT_HOOKS",
    "SPELL",
    "STATE_WRITE",
    "TOOL",
    "WORKFLOW",
    "WORKFLOW_STEP",
    "HookPoint",
    "OpKind",
    "Payload",
    "Topic",
]


class HookPoint:
    """The hook points llmspell runs. Handlers: ``system.hooks.register(point, fn)``."""

    LLM_BEFORE_GENERATE = "llm.before_generate"
    LLM_AFTER_GENERATE = "llm.after_generate"
    TOOL_BEFORE_CALL = "tool.before_call"
    TOOL_AFTER_CALL = "tool.after_call"
    AGENT_BEFORE_RUN = "agent.before_run"
    AGENT_AFTER_RUN = "agent.after_run"
    WORKFLOW_BEFORE_STEP = "workflow.before_step"
    WORKFLOW_AFTER_STEP = "workflow.after_step"
    SPELL_BEFORE_RUN = "spell.before_run"
    SPELL_AFTER_RUN = "spell.after_run"
    STATE_BEFORE_WRITE = "state.before_write"
    STATE_AFTER_WRITE = "state.after_write"
    WORKFLOW_BEFORE_RUN = "workflow.before_run"
    WORKFLOW_AFTER_RUN = "workflow.after_run"


class Topic:
    """The event topics llmspell publishes (payload fields: see each :class:`OpKind`)."""

    SPELL_STARTED = "spell.started"
    SPELL_FINISHED = "spell.finished"
    SPELL_FAILED = "spell.failed"
    LLM_REQUEST = "llm.request"
    LLM_RESPONSE = "llm.response"
    LLM_ERROR = "llm.error"
    TOOL_EXECUTED = "tool.executed"
    AGENT_STARTED = "agent.started"
    AGENT_FINISHED = "agent.finished"
    WORKFLOW_STARTED = "workflow.started"
    WORKFLOW_FINISHED = "workflow.finished"
    WORKFLOW_STEP_STARTED = "workflow.step.started"
    WORKFLOW_STEP_FINISHED = "workflow.step.finished"
    STATE_CHANGED = "state.changed"


def _camel(name: str) -> str:
    first, *rest = name.split("_")
    return first + "".join(part.title() for part in rest)


@dataclass_transform(frozen_default=True)
class _Record:
    """A frozen record: fields declared as annotations, like a frozen dataclass (equality, hash
    and repr by value; assigning a field raises), built without dataclasses' code generation,
    which costs ~0.6 ms per class at import, on every ``llmspell run``'s start-up."""

    _fields: ClassVar[tuple[str, ...]] = ()
    _keys: ClassVar[tuple[tuple[str, str], ...]] = ()
    _defaults: ClassVar[dict[str, Any]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        fields: list[str] = []
        for klass in reversed(cls.__mro__):
            for name, annotation in vars(klass).get("__annotations__", {}).items():
                if not str(annotation).startswith("ClassVar") and name not in fields:
                    fields.append(name)
        cls._fields = tuple(fields)
        cls._keys = tuple((name, _camel(name)) for name in fields)
        cls._defaults = {name: getattr(cls, name) for name in fields if hasattr(cls, name)}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        fields = self._fields
        if not kwargs and len(args) == len(fields):  # every field, in order: the hot path
            object.__setattr__(self, "__dict__", dict(zip(fields, args, strict=True)))
            return
        if len(args) > len(fields):
            raise TypeError(f"{type(self).__name__} takes {len(fields)} fields, got {len(args)}")
        values = dict(zip(fields, args, strict=False))
        for name, value in kwargs.items():
            if name not in fields or name in values:
                raise TypeError(f"{type(self).__name__}: unexpected or repeated field {name!r}")
            values[name] = value
        for name, default in self._defaults.items():
            values.setdefault(name, default)
        missing = [name for name in fields if name not in values]
        if missing:
            raise TypeError(f"{type(self).__name__}: missing {', '.join(missing)}")
        object.__setattr__(self, "__dict__", {name: values[name] for name in fields})

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"{type(self).__name__} is frozen: cannot assign {name!r}")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"{type(self).__name__} is frozen: cannot delete {name!r}")

    def _values(self) -> tuple[Any, ...]:
        return tuple(self.__dict__[name] for name in self._fields)

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        assert isinstance(other, _Record)
        return self._values() == other._values()

    def __hash__(self) -> int:
        return hash((self.__class__, self._values()))

    def __repr__(self) -> str:
        shown = ", ".join(f"{name}={value!r}" for name, value in self.__dict__.items())
        return f"{type(self).__name__}({shown})"


class Payload(_Record):
    """An operation event: the typed form of what subscribers receive as a table.

    Subclasses name their topic and add fields; :meth:`as_dict` gives the payload in the script
    key style (``run_id`` → ``runId``). Every payload carries the run, the spell and the call id.
    """

    topic: ClassVar[str]

    run_id: str
    spell: str
    call_id: str

    def as_dict(self) -> dict[str, Any]:
        """The payload as published: ``{runId, spell, callId, ...}``."""
        values = self.__dict__
        return {key: values[attr] for attr, key in self._keys}


class SpellStarted(Payload):
    topic = Topic.SPELL_STARTED
    engine: str


class SpellFinished(Payload):
    topic = Topic.SPELL_FINISHED
    status: str
    duration: float
    usage: dict[str, Any]


class SpellFailed(Payload):
    topic = Topic.SPELL_FAILED
    error: str
    error_type: str
    duration: float


class LlmRequest(Payload):
    topic = Topic.LLM_REQUEST
    model: str
    agent: str | None
    messages: int


class LlmResponse(Payload):
    topic = Topic.LLM_RESPONSE
    model: str
    agent: str | None
    usage: dict[str, int]
    cost: float
    duration: float
    finish_reason: str | None


class LlmError(Payload):
    topic = Topic.LLM_ERROR
    model: str
    agent: str | None
    error: str
    duration: float


class ToolExecuted(Payload):
    topic = Topic.TOOL_EXECUTED
    tool_name: str
    caller: str | None
    duration: float
    success: bool
    error: str | None


class AgentStarted(Payload):
    topic = Topic.AGENT_STARTED
    agent_id: str
    name: str


class AgentFinished(Payload):
    topic = Topic.AGENT_FINISHED
    agent_id: str
    name: str
    steps: int
    duration: float
    success: bool
    error: str | None


class WorkflowStarted(Payload):
    topic = Topic.WORKFLOW_STARTED
    workflow: str
    id: str
    resumed: bool


class WorkflowFinished(Payload):
    topic = Topic.WORKFLOW_FINISHED
    workflow: str
    id: str
    status: str
    duration: float
    error: str | None


class WorkflowStepStarted(Payload):
    topic = Topic.WORKFLOW_STEP_STARTED
    workflow: str
    step: str
    id: str
    position: str


class WorkflowStepFinished(Payload):
    topic = Topic.WORKFLOW_STEP_FINISHED
    workflow: str
    step: str
    id: str
    position: str
    duration: float
    success: bool
    error: str | None
    attempts: int


class StateChanged(Payload):
    topic = Topic.STATE_CHANGED
    scope: str
    path: str


class OpKind(_Record):
    """One kind of operation, as the instrumented path runs it (a frozen record: as a frozen
    dataclass its nine fields' generated methods cost every start-up some 5M instructions).

    Attributes:
        name: the kind (``"llm"``, ``"tool"`` ...); observers key spans and metrics on it.
        before: the hook point run on the input before the operation.
        after: the hook point run on the result.
        events: the payload types it publishes (the operation builds them; observers and the
            documentation read them here).
        script_before: the key a script's ``hooks.register{...}`` uses for ``before``.
        script_after: the same for ``after``.
        before_args: hook-data entries a script's ``before`` handler receives, in order,
            between its ``ctx`` and the value (``beforeToolCall(ctx, tool, input)``).
        after_args: the same for ``after`` (``afterToolCall(ctx, tool, input, output)``).
        input_key: the hook-data entry holding the input when the ``after`` hooks run.
    """

    name: str
    before: str
    after: str
    events: tuple[type[Payload], ...]
    script_before: str | None = None
    script_after: str | None = None
    before_args: tuple[str, ...] = ()
    after_args: tuple[str, ...] = ()
    input_key: str = "input"

    @property
    def topics(self) -> tuple[str, ...]:
        """Every topic this kind publishes."""
        return tuple(event.topic for event in self.events)


SPELL = OpKind(
    "spell",
    HookPoint.SPELL_BEFORE_RUN,
    HookPoint.SPELL_AFTER_RUN,
    (SpellStarted, SpellFinished, SpellFailed),
)
LLM = OpKind(
    "llm",
    HookPoint.LLM_BEFORE_GENERATE,
    HookPoint.LLM_AFTER_GENERATE,
    (LlmRequest, LlmResponse, LlmError),
    script_before="beforeGenerate",
    script_after="afterGenerate",
    after_args=("request",),
    input_key="request",
)
TOOL = OpKind(
    "tool",
    HookPoint.TOOL_BEFORE_CALL,
    HookPoint.TOOL_AFTER_CALL,
    (ToolExecuted,),
    script_before="beforeToolCall",
    script_after="afterToolCall",
    before_args=("tool",),
    after_args=("tool", "input"),
)
AGENT = OpKind(
    "agent",
    HookPoint.AGENT_BEFORE_RUN,
    HookPoint.AGENT_AFTER_RUN,
    (AgentStarted, AgentFinished),
    script_before="beforeAgentRun",
    script_after="afterAgentRun",
    before_args=("agent",),
    after_args=("agent", "input"),
)
WORKFLOW = OpKind(
    "workflow",
    HookPoint.WORKFLOW_BEFORE_RUN,
    HookPoint.WORKFLOW_AFTER_RUN,
    (WorkflowStarted, WorkflowFinished),
)
WORKFLOW_STEP = OpKind(
    "workflow_step",
    HookPoint.WORKFLOW_BEFORE_STEP,
    HookPoint.WORKFLOW_AFTER_STEP,
    (WorkflowStepStarted, WorkflowStepFinished),
    script_before="beforeStep",
    script_after="afterStep",
    before_args=("workflow", "step"),
    after_args=("workflow", "step"),
)
STATE_WRITE = OpKind(
    "state_write",
    HookPoint.STATE_BEFORE_WRITE,
    HookPoint.STATE_AFTER_WRITE,
    (StateChanged,),
)

KINDS: tuple[OpKind, ...] = (SPELL, LLM, TOOL, AGENT, WORKFLOW, WORKFLOW_STEP, STATE_WRITE)

SCRIPT_HOOKS: dict[str, tuple[str, tuple[str, ...]]] = {
    key: (point, args)
    for kind in KINDS
    for key, point, args in (
        (kind.script_before, kind.before, kind.before_args),
        (kind.script_after, kind.after, kind.after_args),
    )
    if key is not None
}
"""Script hook key (``beforeGenerate``) → (hook point, hook-data entries before the value)."""

HOOK_CONTEXT_KEYS = (
    "spell", "runId", "callId", "model", "tool", "agent", "workflow", "step", "scope", "path",
)  # fmt: skip
"""The hook-data entries a script handler's ``ctx`` shows (besides ``point``)."""
