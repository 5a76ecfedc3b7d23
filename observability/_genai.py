"""What each operation's span is called and carries: the GenAI semantic conventions.

An LLM call is ``chat {model}`` (kind CLIENT) with ``gen_ai.operation.name``,
``gen_ai.provider.name``, the request and response models, the token usage and finish reasons,
and temperature and max tokens when the request set them; an agent run ``invoke_agent {name}``;
a tool call ``execute_tool {name}``; a spell run ``run_spell {spell}`` (the root); a workflow
step ``execute_step {step}``. Prompts, completions, tool arguments and results are added only
when ``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=true``. A failed operation gets
``error.type`` and the error's message (its span's status is ERROR).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from typing import Any

import llmspell

from . import _catalogue as names

Attributes = dict[str, Any]
Describe = Callable[["llmspell.Call", bool], tuple[str, Attributes]]
Description = tuple[str, str, Attributes, str | None, str | None]
"""A span's name, kind, attributes, error message and error type."""

_GUESSES = (
    (("gpt-", "o1", "o3", "o4", "chatgpt", "text-"), "openai"),
    (("claude",), "anthropic"),
    (("gemini",), "gcp.gemini"),
)


@functools.lru_cache(maxsize=1024)
def split_model(model: str) -> tuple[str, str]:
    """``(gen_ai.provider.name, model name)`` from a litellm model name.

    ``openai/gpt-4o-mini`` → ``("openai", "gpt-4o-mini")``; ``ollama/llama3`` →
    ``("ollama", "llama3")``; a bare ``gpt-4o`` is litellm's OpenAI.
    """
    prefix, slash, rest = model.partition("/")
    if slash:
        return names.PROVIDERS.get(prefix, prefix), rest
    for starts, provider in _GUESSES:
        if model.startswith(starts):
            return provider, model
    return "unknown", model


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str)


def _parts(message: dict[str, Any]) -> dict[str, Any]:
    """An OpenAI-style chat message in the GenAI ``gen_ai.*.messages`` shape."""
    parts: list[dict[str, Any]] = []
    content = message.get("content")
    if content:
        parts.append({"type": "text", "content": content})
    for call in message.get("tool_calls") or []:
        function = call.get("function") or {}
        parts.append(
            {
                "type": "tool_call",
                "id": call.get("id"),
                "name": function.get("name", call.get("name")),
                "arguments": function.get("arguments", call.get("arguments")),
            }
        )
    if message.get("role") == "tool":
        response = {"type": "tool_call_response", "id": message.get("tool_call_id")}
        parts = [{**response, "response": content}]
    return {"role": message.get("role"), "parts": parts}


def _llm(call: llmspell.Call, capture: bool) -> tuple[str, Attributes]:
    request = call.input if isinstance(call.input, dict) else {}
    provider, model = split_model(str(request.get("model") or call.data.get("model") or ""))
    attributes: dict[str, Any] = {
        names.OPERATION: names.CHAT,
        names.PROVIDER: provider,
        names.REQUEST_MODEL: model,
        names.CALL_ID: call.call_id,
    }
    temperature = request.get("temperature")
    if temperature is not None:
        attributes[names.TEMPERATURE] = float(temperature)
    max_tokens = request.get("max_tokens")
    if max_tokens is not None:
        attributes[names.MAX_TOKENS] = int(max_tokens)
    agent = call.data.get("agent")
    if agent:
        attributes[names.AGENT_NAME] = agent
    response = call.facts.get("response")
    if response is not None:
        usage = response.usage
        attributes[names.RESPONSE_MODEL] = split_model(response.model)[1]
        attributes[names.INPUT_TOKENS] = usage.prompt_tokens
        attributes[names.OUTPUT_TOKENS] = usage.completion_tokens
        attributes[names.COST] = response.cost
        if response.finish_reason:
            attributes[names.FINISH_REASONS] = (response.finish_reason,)
        if capture:
            output = _parts(response.to_message())
            output["finish_reason"] = response.finish_reason
            attributes[names.OUTPUT_MESSAGES] = _json([output])
    if call.replaced:
        attributes[names.REPLACED] = True
    if capture and request.get("messages"):
        attributes[names.INPUT_MESSAGES] = _json([_parts(m) for m in request["messages"]])
    return f"{names.CHAT} {model}", attributes


def _tool(call: llmspell.Call, capture: bool) -> tuple[str, Attributes]:
    tool = str(call.data.get("tool") or "")
    attributes: dict[str, Any] = {
        names.OPERATION: names.EXECUTE_TOOL,
        names.TOOL_NAME: tool,
        names.TOOL_TYPE: "function",
        names.CALL_ID: call.call_id,
    }
    caller = call.data.get("caller")
    if caller:
        attributes[names.CALLER] = caller
    if call.replaced:
        attributes[names.REPLACED] = True
    if capture:
        attributes[names.TOOL_ARGUMENTS] = _json(call.input)
        attributes[names.TOOL_RESULT] = _json(call.result)
    return f"{names.EXECUTE_TOOL} {tool}", attributes


def _agent(call: llmspell.Call, capture: bool) -> tuple[str, Attributes]:
    agent = str(call.data.get("agent") or "")
    attributes: dict[str, Any] = {
        names.OPERATION: names.INVOKE_AGENT,
        names.AGENT_NAME: agent,
        names.AGENT_ID: f"{call.ctx.run_id}:{agent}",
        names.CALL_ID: call.call_id,
    }
    steps = call.facts.get("steps")
    if steps is not None:
        attributes[names.STEPS] = steps
    if call.replaced:
        attributes[names.REPLACED] = True
    if capture:
        user = {"role": "user", "parts": [{"type": "text", "content": _text(call.input)}]}
        answer = {"role": "assistant", "parts": [{"type": "text", "content": _text(call.result)}]}
        attributes[names.INPUT_MESSAGES] = _json([user])
        attributes[names.OUTPUT_MESSAGES] = _json([answer])
    return f"{names.INVOKE_AGENT} {agent}", attributes


def _text(value: Any) -> str:
    return value if isinstance(value, str) else _json(value)


def _spell(call: llmspell.Call, capture: bool) -> tuple[str, Attributes]:
    ctx = call.ctx
    attributes: dict[str, Any] = {
        names.SPELL: ctx.spell,
        names.RUN_ID: ctx.run_id,
        names.CALL_ID: call.call_id,
    }
    result = call.result
    if result is not None:
        attributes[names.OUTCOME] = result.status
        usage = result.usage
        if usage.get("calls"):
            attributes[names.LLM_CALLS] = usage["calls"]
            attributes[names.USAGE_INPUT] = usage.get("prompt_tokens", 0)
            attributes[names.USAGE_OUTPUT] = usage.get("completion_tokens", 0)
            attributes[names.COST] = usage.get("cost", 0.0)
    return f"{names.RUN_SPELL} {ctx.spell}", attributes


def _workflow_step(call: llmspell.Call, capture: bool) -> tuple[str, Attributes]:
    step = str(call.data.get("step") or "")
    return f"{names.EXECUTE_STEP} {step}", {
        names.WORKFLOW: str(call.data.get("workflow") or ""),
        names.STEP: step,
        names.CALL_ID: call.call_id,
    }


def _other(call: llmspell.Call, capture: bool) -> tuple[str, Attributes]:
    return call.kind.name, {names.CALL_ID: call.call_id}


_DESCRIBE: dict[str, Describe] = {
    "llm": _llm,
    "tool": _tool,
    "agent": _agent,
    "spell": _spell,
    "workflow_step": _workflow_step,
}


def failure_of(error: BaseException) -> tuple[str, str]:
    """``(error type, message)``: what a failed span keeps of its error."""
    return type(error).__name__, str(error) or type(error).__name__


def describe(call: llmspell.Call, failure: tuple[str, str] | None, capture: bool) -> Description:
    """The span of the finished ``call``: name, kind, attributes, error message and type.

    ``failure`` is :func:`failure_of` the error the call raised; a spell run whose result is
    an error fails too.
    """
    name, attributes = _DESCRIBE.get(call.kind.name, _other)(call, capture)
    kind = "client" if call.kind.name == "llm" else "internal"
    if failure is None and call.kind.name == "spell":
        result = call.result
        if result is not None and result.status == "error":
            failure = (result.error_type or "SpellError", result.error or "error")
    if failure is None:
        return name, kind, attributes, None, None
    attributes[names.ERROR_TYPE] = failure[0]
    return name, kind, attributes, failure[1], failure[0]
