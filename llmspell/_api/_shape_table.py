"""The types of the script API, for the editor types: the table (see :mod:`._shapes` for
the model and why the table exists). A test checks it against the real API name for name."""

from __future__ import annotations

from collections.abc import Mapping

# (re-exported: llmspell._types reads the model through this module)
from ._shapes import ANY as ANY
from ._shapes import BOOLEAN as BOOLEAN
from ._shapes import INTEGER as INTEGER
from ._shapes import NIL as NIL
from ._shapes import NUMBER as NUMBER
from ._shapes import STRING as STRING
from ._shapes import TABLE as TABLE
from ._shapes import Field as Field
from ._shapes import Function as Function
from ._shapes import NamespaceShape as NamespaceShape
from ._shapes import Param as Param
from ._shapes import Shape as Shape
from ._shapes import Type as Type
from ._shapes import f as f
from ._shapes import fn as fn
from ._shapes import list_of as list_of
from ._shapes import literal as literal
from ._shapes import map_of as map_of
from ._shapes import p as p
from ._shapes import ref as ref
from ._shapes import union as union


def _opt(name: str, type_: Type, doc: str = "") -> Field:
    return Field(name, type_, True, doc)


def _req(name: str, type_: Type, doc: str = "") -> Field:
    return Field(name, type_, False, doc)


HOOK_CTX = p("ctx", TABLE)
STEP_FN = fn(ANY, p("input", ANY), p("outputs", TABLE))

SHAPES: tuple[Shape, ...] = (
    Shape(
        "Message",
        "One message of a conversation (OpenAI's format).",
        (
            _req("role", STRING),
            _req("content", ANY),
            _opt("tool_calls", list_of(ANY), "an assistant's tool calls"),
            _opt("tool_call_id", STRING, "which call a tool message answers"),
            _opt("name", STRING),
        ),
    ),
    Shape(
        "Usage",
        "Tokens an LLM call used.",
        (
            _req("prompt_tokens", INTEGER),
            _req("completion_tokens", INTEGER),
            _req("total_tokens", INTEGER),
        ),
    ),
    Shape(
        "LlmRequest",
        "A request to a model (a prompt string works too).",
        (
            _opt("model", STRING, "e.g. openai/gpt-4o-mini; default: the run's model"),
            _opt("messages", list_of(ref("Message"))),
            _opt("prompt", STRING, "a user message after the others"),
            _opt("system", STRING, "a system message before the others"),
            _opt("temperature", NUMBER),
            _opt("max_tokens", INTEGER),
            _opt("tools", list_of(ANY), "tool names (or agents) the model may call"),
            _opt("schema", TABLE, "a JSON Schema the answer must follow (see `object`)"),
            _opt("api_base", STRING),
            _opt("timeout", NUMBER, "seconds"),
        ),
    ),
    Shape(
        "LlmResponse",
        "A model's answer.",
        (
            _req("content", STRING),
            _req("role", STRING),
            _req("model", STRING),
            _req("tool_calls", list_of(ANY)),
            _req("usage", ref("Usage")),
            _req("finish_reason", STRING),
            _req("cost", NUMBER, "USD"),
            _opt("object", ANY, "the decoded answer when the request had a schema"),
        ),
    ),
    Shape(
        "ModelInfo",
        "A known model.",
        (
            _req("name", STRING),
            _opt("provider", STRING),
            _opt("context_window", INTEGER),
            _opt("input_cost_per_token", NUMBER),
            _opt("output_cost_per_token", NUMBER),
        ),
    ),
    Shape(
        "SubscribeOptions",
        "How a handler subscribes.",
        (
            _opt(
                "queue",
                STRING,
                "share the events: among all handlers with this queue name, in any process, "
                "each event goes to one",
            ),
        ),
    ),
    Shape(
        "AgentConfig",
        "How an agent is set up.",
        (
            _opt("name", STRING),
            _opt("model", STRING),
            _opt("system", STRING),
            _opt("tools", list_of(union(STRING, ref("Agent"))), "tool names or agents"),
            _opt("max_steps", INTEGER),
            _opt("temperature", NUMBER),
            _opt("schema", TABLE),
            _opt("memory", BOOLEAN, "keep the conversation in state (scope agent:<name>)"),
        ),
    ),
    Shape(
        "Agent",
        "An agent: loops model → tool calls → model until it answers.",
        (_req("name", STRING), _req("model", STRING)),
        {
            "run": f(
                "Run the agent on an input; the final text (or object, with a schema).",
                ANY,
                p("input", ANY),
            ),
            "reset": f("Forget the conversation.", NIL),
            "history": f("The conversation so far.", list_of(ref("Message"))),
        },
        host="agent",
    ),
    Shape(
        "ToolSpec",
        "A tool a spell registers.",
        (
            _req("name", STRING),
            _opt("description", STRING),
            _opt(
                "parameters",
                TABLE,
                "JSON Schema, or the {name = {type=..., required=...}} shorthand",
            ),
            _req("handler", fn(ANY, p("args", TABLE)), "gets one table of named arguments"),
        ),
    ),
    Shape(
        "ToolInfo",
        "A tool as tools.list() describes it.",
        (
            _req("name", STRING),
            _req("description", STRING),
            _req("parameters", TABLE),
            _opt("permission", STRING),
            _opt("source", STRING),
        ),
    ),
    Shape(
        "State",
        "A state scope: JSON values under dot paths, persistent by default.",
        (_req("scope", STRING),),
        {
            "get": f("The value at a dot path, or nil.", ANY, p("path", STRING)),
            "set": f(
                "Set the value at a dot path (nil deletes).",
                NIL,
                p("path", STRING),
                p("value", ANY),
            ),
            "delete": f("Delete the value at a dot path.", NIL, p("path", STRING)),
            "keys": f(
                "Sorted top-level keys, optionally by prefix.",
                list_of(STRING),
                p("prefix", STRING, optional=True),
            ),
            "update": f(
                "Atomically replace the value with fn(current); returns the new value.",
                ANY,
                p("path", STRING),
                p("fn", fn(ANY, p("current", ANY))),
            ),
        },
        host="state",
    ),
    Shape(
        "StoreOptions",
        "A separate store.",
        (
            _opt("persistence", union(literal("memory"), literal("sqlite"), literal("file"))),
            _opt("path", STRING),
        ),
    ),
    Shape(
        "Store",
        "A separate store (state.create): the state calls plus transform and merge.",
        (),
        {
            "transform": f(
                "A new memory store: {type='filter'|'flatten'|'sanitize', keys=?}.",
                ref("Store"),
                p("spec", TABLE),
            ),
            "merge": f(
                "A new memory store merging another: {strategy=?, conflictResolution=?}.",
                ref("Store"),
                p("other", ref("Store")),
                p("options", TABLE, optional=True),
            ),
        },
        base="State",
        host="store",
    ),
    Shape(
        "WorkflowSpec",
        "How a workflow is set up.",
        (
            _req("name", STRING),
            _opt(
                "type",
                union(*(literal(t) for t in ("sequential", "parallel", "conditional", "loop"))),
            ),
            _opt("max_concurrency", INTEGER),
            _opt("fail_fast", BOOLEAN),
            _opt("max_iterations", INTEGER),
            _opt("until", fn(BOOLEAN, p("output", ANY), p("i", INTEGER))),
            _opt("steps", list_of(ref("StepSpec"))),
        ),
    ),
    Shape(
        "StepSpec",
        "A workflow step: an agent with a prompt, a tool, a function or a workflow.",
        (
            _req("name", STRING),
            _opt("agent", ref("Agent")),
            _opt("prompt", STRING, "{{key}} and {{step.output}} templates"),
            _opt("tool", STRING),
            _opt("params", TABLE),
            _opt("fn", STEP_FN),
            _opt("workflow", ref("Workflow")),
            _opt("condition", fn(BOOLEAN, p("input", ANY), p("outputs", TABLE))),
            _opt("then", ANY),
            _opt("else", ANY),
            _opt("retry", TABLE),
            _opt("timeout", NUMBER),
            _opt("on_error", union(literal("fail"), literal("continue"))),
        ),
    ),
    Shape(
        "WorkflowResult",
        "What wf:run returns.",
        (
            _req("id", STRING),
            _req("status", STRING),
            _req("output", ANY),
            _req("outputs", TABLE),
            _opt("error", STRING),
            _opt("errors", TABLE),
            _opt("iterations", INTEGER),
        ),
    ),
    Shape(
        "Workflow",
        "A workflow: steps run in order, in parallel, by condition or in a loop; durable.",
        (_req("name", STRING), _req("type", STRING)),
        {
            "addStep": f(
                "Add a step; returns the workflow.",
                ref("Workflow"),
                p("step", ref("StepSpec")),
                direct=True,
            ),
            "run": f(
                "Run (or resume, with {id=...}) the workflow.",
                ref("WorkflowResult"),
                p("input", ANY, optional=True),
                p("opts", TABLE, optional=True),
            ),
        },
        host="workflow",
    ),
    Shape(
        "HookHandlers",
        "Hook handlers by name; return a value to modify, raise an error to cancel.",
        (
            _opt("beforeGenerate", fn(ANY, HOOK_CTX, p("req", ANY))),
            _opt("afterGenerate", fn(ANY, HOOK_CTX, p("req", ANY), p("resp", ANY))),
            _opt("beforeToolCall", fn(ANY, HOOK_CTX, p("tool", STRING), p("input", ANY))),
            _opt(
                "afterToolCall",
                fn(ANY, HOOK_CTX, p("tool", STRING), p("input", ANY), p("output", ANY)),
            ),
            _opt("beforeAgentRun", fn(ANY, HOOK_CTX, p("agent", STRING), p("input", ANY))),
            _opt(
                "afterAgentRun",
                fn(ANY, HOOK_CTX, p("agent", STRING), p("input", ANY), p("output", ANY)),
            ),
            _opt(
                "beforeStep",
                fn(ANY, HOOK_CTX, p("workflow", STRING), p("step", STRING), p("input", ANY)),
            ),
            _opt(
                "afterStep",
                fn(ANY, HOOK_CTX, p("workflow", STRING), p("step", STRING), p("output", ANY)),
            ),
        ),
    ),
    Shape(
        "HookOptions",
        "Options of hooks.register.",
        (_opt("priority", INTEGER, "higher runs first"),),
    ),
    Shape(
        "Replacement", "A result that replaces an operation (hooks.replace).", host="replacement"
    ),
)

_LOG = f(
    "Log a message with optional fields.",
    NIL,
    p("message", STRING),
    p("fields", TABLE, optional=True),
)
_HANDLER = fn(ANY, p("event", ANY), p("topic", STRING))
_LABELS = map_of(STRING)

NAMESPACES: Mapping[str, NamespaceShape] = {
    "log": NamespaceShape(
        "Log lines (stderr under llmspell run).",
        {"debug": _LOG, "info": _LOG, "warn": _LOG, "error": _LOG, "warning": _LOG},
    ),
    "json": NamespaceShape(
        "JSON text.",
        {
            "encode": f(
                "Encode a value as JSON text.",
                STRING,
                p("value", ANY),
                p("pretty", BOOLEAN, optional=True),
            ),
            "decode": f("Decode JSON text.", ANY, p("text", STRING)),
        },
    ),
    "events": NamespaceShape(
        "The event bus (NATS-style topics: * one token, > the rest).",
        {
            "on": f(
                "Call handler(event, topic) for every event matching pattern; returns its id.",
                STRING,
                p("pattern", STRING),
                p("handler", _HANDLER),
                p("options", ref("SubscribeOptions"), optional=True),
            ),
            "once": f(
                "Like on, for the first matching event only.",
                STRING,
                p("pattern", STRING),
                p("handler", _HANDLER),
                p("options", ref("SubscribeOptions"), optional=True),
            ),
            "off": f("Remove a handler by id.", BOOLEAN, p("id", STRING)),
            "emit": f(
                "Publish an event.", NIL, p("topic", STRING), p("payload", ANY, optional=True)
            ),
            "wait": f(
                "Wait for the next matching event; its payload.",
                ANY,
                p("pattern", STRING),
                p("timeout", NUMBER, optional=True),
            ),
        },
    ),
    "hooks": NamespaceShape(
        "Hooks around the spell's LLM calls, tool calls, agent runs and workflow steps.",
        {
            "register": Function(
                (
                    p("handlers", ref("HookHandlers")),
                    p("options", ref("HookOptions"), optional=True),
                ),
                STRING,
                "Register handlers; returns an id for unregister.",
                overloads=(
                    (
                        p("point", STRING),
                        p("handler", fn(ANY, HOOK_CTX, p("value", ANY))),
                        p("options", ref("HookOptions"), optional=True),
                    ),
                ),
            ),
            "unregister": f("Remove handlers by id.", BOOLEAN, p("id", STRING)),
            "replace": f(
                "In a before handler: skip the operation, use this result.",
                ref("Replacement"),
                p("result", ANY),
            ),
        },
    ),
    "llm": NamespaceShape(
        "Language models.",
        {
            "complete": f(
                "Ask a model.", ref("LlmResponse"), p("request", union(STRING, ref("LlmRequest")))
            ),
            "stream": f(
                "Ask a model, calling on_chunk(text) per piece; the whole response.",
                ref("LlmResponse"),
                p("request", union(STRING, ref("LlmRequest"))),
                p("on_chunk", fn(ANY, p("text", STRING))),
            ),
            "agent": f("Create an agent.", ref("Agent"), p("config", ref("AgentConfig"))),
            "models": f(
                "Known models, with context window and price.",
                list_of(ref("ModelInfo")),
                p("provider", STRING, optional=True),
            ),
        },
    ),
    "tools": NamespaceShape(
        "Tools: built-in ones and those spells register.",
        {
            "register": f(
                "Register a tool for this run; returns its name.",
                STRING,
                p("spec", ref("ToolSpec")),
            ),
            "call": f(
                "Call a tool by name with named arguments.",
                ANY,
                p("name", STRING),
                p("args", TABLE, optional=True),
            ),
            "list": f("The tools this run may call.", list_of(ref("ToolInfo"))),
        },
        dynamic=Function((p("args", ANY, variadic=True),), ANY, "tools.<name>(...): call a tool"),
    ),
    "state": NamespaceShape(
        "State of the spell's own scope (spell:<name>); persistent.",
        {
            **next(s for s in SHAPES if s.name == "State").methods,
            "scope": f("Another scope, by name (user:42).", ref("State"), p("name", STRING)),
            "create": f(
                "A separate store.", ref("Store"), p("options", ref("StoreOptions"), optional=True)
            ),
        },
        values={"global": ref("State")},
    ),
    "workflow": NamespaceShape(
        "Workflows.",
        {"create": f("Create a workflow.", ref("Workflow"), p("spec", ref("WorkflowSpec")))},
    ),
    "metrics": NamespaceShape(
        "The spell's own Prometheus metrics (llmspell_spell_<name>).",
        {
            "inc": f(
                "Add one to a counter.", NIL, p("name", STRING), p("labels", _LABELS, optional=True)
            ),
            "observe": f(
                "Observe a value in a histogram.",
                NIL,
                p("name", STRING),
                p("value", NUMBER),
                p("labels", _LABELS, optional=True),
            ),
            "set": f(
                "Set a gauge.",
                NIL,
                p("name", STRING),
                p("value", NUMBER),
                p("labels", _LABELS, optional=True),
            ),
            "record": f(
                "Record several fields at once.", NIL, p("name", STRING), p("fields", TABLE)
            ),
        },
    ),
}

ALIASES: Mapping[str, str] = {"logger": "log"}
"""Global names that are the same namespace as another."""

FUNCTIONS: Mapping[str, Function] = {
    "sleep": f("Sleep cooperatively.", NIL, p("seconds", NUMBER)),
    "parallel": f(
        "Run functions concurrently; their results in order.",
        list_of(ANY),
        p("fns", fn(ANY), variadic=True),
    ),
}

VALUES: Mapping[str, Type] = {"params": map_of(ANY)}
"""Global values: the spell's parameters (``-p key=value``)."""

ENGINE_GLOBALS = ("print", "console")
"""Globals every engine adds itself (not API functions): ``print(...)`` and, in JS,
``console.log/info/warn/error/debug(...)``."""
