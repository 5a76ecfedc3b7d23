"""Every metric and span name llmspell exposes, declared once.

Metrics follow the Prometheus conventions: a ``llmspell_`` prefix, base units in the name
(``_seconds``), counters ending in ``_total``. The GenAI semantic conventions of OpenTelemetry
(status: development, so they live here and only here) name the spans and their attributes; the
LLM metrics are their Prometheus equivalents: ``llmspell_llm_request_duration_seconds`` is
``gen_ai.client.operation.duration`` (same doubling buckets, extended to 300 s), and
``llmspell_llm_tokens_total`` by ``type`` sums ``gen_ai.client.token.usage`` by
``gen_ai.token.type``.

The script API's own metrics (``metrics.inc`` ...) are ``llmspell_spell_<name>``: that prefix
belongs to spells, and no metric declared here uses it.
"""

from __future__ import annotations

import dataclasses
from typing import Literal

Kind = Literal["counter", "gauge", "histogram"]

DURATION_BUCKETS = (
    0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92,
    163.84, 300.0,
)  # fmt: skip
"""Seconds: the GenAI operation-duration buckets (doubling from 10 ms), on to 5 minutes."""
RUN_BUCKETS = (*DURATION_BUCKETS, 600.0, 1800.0, 3600.0)
"""Seconds, for whole spell runs (which may last as long as their ``--timeout``)."""
FAST_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, *DURATION_BUCKETS)
"""Seconds, for tool calls and workflow steps, which are often sub-millisecond."""
SPELL_BUCKETS = (
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0,
    500.0, 1000.0, 2500.0, 5000.0, 10000.0,
)  # fmt: skip
"""For ``metrics.observe`` and ``metrics.record``: unit-free, wide enough for seconds or counts."""


@dataclasses.dataclass(frozen=True)
class MetricSpec:
    """One metric family.

    Attributes:
        name: the family name as exposed (counters with their ``_total``).
        kind: ``"counter"``, ``"gauge"`` or ``"histogram"``.
        help: the HELP text.
        labels: the label names, in order.
        buckets: upper bounds of a histogram's buckets (``+Inf`` implied).
    """

    name: str
    kind: Kind
    help: str
    labels: tuple[str, ...] = ()
    buckets: tuple[float, ...] = ()

    @property
    def samples(self) -> tuple[str, ...]:
        """The sample names Prometheus stores for this family (what queries name)."""
        if self.kind == "histogram":
            return (f"{self.name}_bucket", f"{self.name}_sum", f"{self.name}_count")
        return (self.name,)


def _counter(name: str, help: str, *labels: str) -> MetricSpec:
    return MetricSpec(name, "counter", help, labels)


def _gauge(name: str, help: str, *labels: str) -> MetricSpec:
    return MetricSpec(name, "gauge", help, labels)


def _histogram(name: str, help: str, buckets: tuple[float, ...], *labels: str) -> MetricSpec:
    return MetricSpec(name, "histogram", help, labels, buckets)


# -- operations (recorded by the observer at the end of each operation) -------------------------

RUNS = _counter(
    "llmspell_runs_total", "Spell runs by outcome (ok, error, stopped).", "spell", "outcome"
)
RUN_DURATION = _histogram(
    "llmspell_run_duration_seconds", "Duration of spell runs.", RUN_BUCKETS, "spell"
)
LLM_REQUESTS = _counter(
    "llmspell_llm_requests_total",
    "LLM calls by model and outcome (ok, error, replaced: a hook answered).",
    "model",
    "outcome",
)
LLM_DURATION = _histogram(
    "llmspell_llm_request_duration_seconds",
    "Duration of LLM calls, retries included (gen_ai.client.operation.duration).",
    DURATION_BUCKETS,
    "model",
)
LLM_TOKENS = _counter(
    "llmspell_llm_tokens_total",
    "Tokens of LLM calls by model and type (input, output).",
    "model",
    "type",
)
LLM_COST = _counter("llmspell_llm_cost_usd_total", "Cost of LLM calls in US dollars.", "model")
TOOL_CALLS = _counter(
    "llmspell_tool_calls_total", "Tool calls by tool and outcome.", "tool", "outcome"
)
TOOL_DURATION = _histogram(
    "llmspell_tool_call_duration_seconds", "Duration of tool calls.", FAST_BUCKETS, "tool"
)
AGENT_RUNS = _counter(
    "llmspell_agent_runs_total", "Agent runs by agent and outcome.", "agent", "outcome"
)
AGENT_DURATION = _histogram(
    "llmspell_agent_run_duration_seconds", "Duration of agent runs.", RUN_BUCKETS, "agent"
)
WORKFLOW_STEPS = _counter(
    "llmspell_workflow_steps_total",
    "Workflow steps by workflow, step and outcome.",
    "workflow",
    "step",
    "outcome",
)
WORKFLOW_STEP_DURATION = _histogram(
    "llmspell_workflow_step_duration_seconds",
    "Duration of workflow steps.",
    FAST_BUCKETS,
    "workflow",
    "step",
)
STATE_WRITES = _counter("llmspell_state_writes_total", "State writes by outcome.", "outcome")
HTTP_REQUESTS = _counter(
    "llmspell_http_requests_total",
    "Daemon HTTP requests by route, method and status code.",
    "route",
    "method",
    "status",
)
HTTP_DURATION = _histogram(
    "llmspell_http_request_duration_seconds",
    "Duration of daemon HTTP requests.",
    FAST_BUCKETS,
    "route",
    "method",
)
SPANS_DROPPED = _counter(
    "llmspell_trace_spans_dropped_total", "Spans dropped because the export queue was full."
)

# -- the actor runtime (read from its statistics at scrape time) --------------------------------

ACTOR_MESSAGES = _counter("llmspell_actor_messages_total", "Messages actors handled.")
ACTOR_FAILURES = _counter("llmspell_actor_message_failures_total", "Messages whose handler raised.")
ACTOR_DROPPED = _counter(
    "llmspell_actor_messages_dropped_total", "Messages dropped by mailbox overflow policies."
)
ACTOR_RESTARTS = _counter(
    "llmspell_actor_restarts_total",
    "Actor restarts by group (the actor's name up to its first ':' or '#').",
    "group",
)
DEAD_LETTERS = _counter(
    "llmspell_actor_dead_letters_total", "Messages sent to actors that had stopped."
)
ACTORS = _gauge("llmspell_actors", "Live actors by group (supervisors excluded).", "group")
MAILBOX_DEPTH = _gauge(
    "llmspell_actor_mailbox_depth", "Messages waiting in the mailboxes of live actors.", "group"
)
BUS_PUBLISHED = _counter("llmspell_bus_events_published_total", "Events published on the bus.")
BUS_DELIVERED = _counter(
    "llmspell_bus_events_delivered_total", "Event deliveries subscribers accepted."
)
BUS_DROPPED = _counter(
    "llmspell_bus_events_dropped_total", "Event deliveries lost to overflow or disconnection."
)
BUS_FAILURES = _counter(
    "llmspell_bus_handler_failures_total", "Event deliveries whose handler raised."
)
BUS_SUBSCRIPTIONS = _gauge("llmspell_bus_subscriptions", "Live bus subscriptions.")
BUS_QUEUED = _gauge("llmspell_bus_queued_events", "Events waiting in subscribers' queues.")

OPERATION_METRICS = (
    RUNS,
    RUN_DURATION,
    LLM_REQUESTS,
    LLM_DURATION,
    LLM_TOKENS,
    LLM_COST,
    TOOL_CALLS,
    TOOL_DURATION,
    AGENT_RUNS,
    AGENT_DURATION,
    WORKFLOW_STEPS,
    WORKFLOW_STEP_DURATION,
    STATE_WRITES,
    HTTP_REQUESTS,
    HTTP_DURATION,
)
RUNTIME_METRICS = (
    ACTOR_MESSAGES,
    ACTOR_FAILURES,
    ACTOR_DROPPED,
    ACTOR_RESTARTS,
    DEAD_LETTERS,
    ACTORS,
    MAILBOX_DEPTH,
    BUS_PUBLISHED,
    BUS_DELIVERED,
    BUS_DROPPED,
    BUS_FAILURES,
    BUS_SUBSCRIPTIONS,
    BUS_QUEUED,
)
METRICS: tuple[MetricSpec, ...] = (*OPERATION_METRICS, SPANS_DROPPED, *RUNTIME_METRICS)
"""Every metric llmspell declares (spells' own ``llmspell_spell_*`` metrics aside)."""

SPELL_METRIC_PREFIX = "llmspell_spell_"
SPELL_LABEL = "spell"
OUTCOME_OK, OUTCOME_ERROR, OUTCOME_REPLACED = "ok", "error", "replaced"
OTHER = "_other"
"""The label value a family uses past its cap of label sets (see ``SERIES_CAP``)."""
SERIES_CAP = 1000
"""Label sets one declared family keeps; further ones are counted under ``_other``."""


# -- spans: OpenTelemetry GenAI semantic conventions -------------------------------------------

OPERATION = "gen_ai.operation.name"
PROVIDER = "gen_ai.provider.name"
REQUEST_MODEL = "gen_ai.request.model"
RESPONSE_MODEL = "gen_ai.response.model"
TEMPERATURE = "gen_ai.request.temperature"
MAX_TOKENS = "gen_ai.request.max_tokens"
INPUT_TOKENS = "gen_ai.usage.input_tokens"
OUTPUT_TOKENS = "gen_ai.usage.output_tokens"
FINISH_REASONS = "gen_ai.response.finish_reasons"
INPUT_MESSAGES = "gen_ai.input.messages"
OUTPUT_MESSAGES = "gen_ai.output.messages"
AGENT_NAME = "gen_ai.agent.name"
AGENT_ID = "gen_ai.agent.id"
TOOL_NAME = "gen_ai.tool.name"
TOOL_TYPE = "gen_ai.tool.type"
TOOL_ARGUMENTS = "gen_ai.tool.call.arguments"
TOOL_RESULT = "gen_ai.tool.call.result"
ERROR_TYPE = "error.type"
CHAT, INVOKE_AGENT, EXECUTE_TOOL = "chat", "invoke_agent", "execute_tool"
RUN_SPELL, EXECUTE_STEP = "run_spell", "execute_step"
"""llmspell's operation names where GenAI has none: span ``run_spell hello``."""
UNTRACED_KINDS = frozenset({"state_write"})
"""Operation kinds that get metrics but no span (too frequent to be worth ~5 µs each)."""

# llmspell's own attributes (no convention covers them)
COST = "llmspell.cost_usd"
CALL_ID = "llmspell.call.id"
RUN_ID = "llmspell.run.id"
SPELL = "llmspell.spell"
OUTCOME = "llmspell.outcome"
STEPS = "llmspell.agent.steps"
REPLACED = "llmspell.replaced"
CALLER = "llmspell.tool.caller"
WORKFLOW = "llmspell.workflow.name"
STEP = "llmspell.workflow.step"
LLM_CALLS = "llmspell.usage.llm_calls"
USAGE_INPUT = "llmspell.usage.input_tokens"
USAGE_OUTPUT = "llmspell.usage.output_tokens"
"""A run's totals (not ``gen_ai.usage.*``, which backends sum over the LLM spans)."""

CAPTURE_CONTENT_ENV = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"
"""``true``: spans carry prompts, completions, tool arguments and results (off by default)."""

PROVIDERS = {
    "openai": "openai",
    "text-completion-openai": "openai",
    "anthropic": "anthropic",
    "azure": "azure.ai.openai",
    "azure_ai": "azure.ai.inference",
    "bedrock": "aws.bedrock",
    "vertex_ai": "gcp.vertex_ai",
    "gemini": "gcp.gemini",
    "mistral": "mistral_ai",
    "groq": "groq",
    "cohere": "cohere",
    "deepseek": "deepseek",
    "perplexity": "perplexity",
    "xai": "x_ai",
    "watsonx": "ibm.watsonx.ai",
    "offline": "llmspell.offline",
}
"""litellm's provider prefix → ``gen_ai.provider.name`` (others keep their prefix)."""
