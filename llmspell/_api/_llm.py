"""``llm``: ``complete``, ``stream``, ``agent`` and ``models``.

A request is a prompt string or ``{model?, messages?, prompt?, system?, temperature?,
max_tokens?, tools?, schema?}``. Every call passes the ``llm.before_generate`` and
``llm.after_generate`` hooks and publishes ``llm.request``/``llm.response`` (see
:mod:`llmspell._ops`).
"""

from __future__ import annotations

from typing import Any

from .._exceptions import ParameterError
from .._ops import RunContext
from ..engines import Namespace, ScriptFunction, ScriptValue, sync_api, with_context
from ._agent import create_agent
from ._values import is_number, to_script

_ROLES = ("system", "user", "assistant", "tool")
_REQUEST_KEYS = {
    "model",
    "messages",
    "prompt",
    "system",
    "temperature",
    "max_tokens",
    "tools",
    "schema",
    "api_base",
    "timeout",
}


def normalize_request(function: str, req: Any) -> dict[str, Any]:
    """Check a script's request and return it in the one shape hooks and providers see.

    The result always has ``messages`` (system prompt first, ``prompt`` last) and only the keys
    the caller gave besides.
    """
    if isinstance(req, str):
        req = {"prompt": req}
    if not isinstance(req, dict):
        raise ParameterError(function, "request", "must be a prompt string or a table")
    for key in req:
        if key not in _REQUEST_KEYS:
            raise ParameterError(
                function,
                str(key),
                f"is not a request field (known: {', '.join(sorted(_REQUEST_KEYS))})",
            )
    messages = req.get("messages") or []
    if not isinstance(messages, list):
        raise ParameterError(function, "messages", "must be a list of {role, content}")
    out: list[dict[str, Any]] = []
    for i, message in enumerate(messages, 1):
        if not isinstance(message, dict) or message.get("role") not in _ROLES:
            raise ParameterError(
                function, f"messages[{i}]", f"must be {{role, content}} with role one of {_ROLES}"
            )
        content = message.get("content")
        if content is not None and not isinstance(content, str):
            raise ParameterError(function, f"messages[{i}].content", "must be a string")
        out.append(dict(message))
    system = req.get("system")
    if system is not None:
        if not isinstance(system, str):
            raise ParameterError(function, "system", "must be a string")
        out.insert(0, {"role": "system", "content": system})
    prompt = req.get("prompt")
    if prompt is not None:
        if not isinstance(prompt, str):
            raise ParameterError(function, "prompt", "must be a string")
        out.append({"role": "user", "content": prompt})
    if not out:
        raise ParameterError(function, "messages", "is required (or give a prompt)")
    result: dict[str, Any] = {"messages": out}
    model = req.get("model")
    if model is not None:
        if not isinstance(model, str) or not model:
            raise ParameterError(
                function, "model", "must be a model name like 'openai/gpt-4o-mini'"
            )
        result["model"] = model
    temperature = req.get("temperature")
    if temperature is not None:
        if not is_number(temperature) or not 0 <= temperature <= 2:
            raise ParameterError(function, "temperature", "must be a number from 0 to 2")
        result["temperature"] = float(temperature)
    max_tokens = req.get("max_tokens")
    if max_tokens is not None:
        if not is_number(max_tokens) or max_tokens < 1:
            raise ParameterError(function, "max_tokens", "must be a positive integer")
        result["max_tokens"] = int(max_tokens)
    tools = req.get("tools")
    if tools:
        if not isinstance(tools, list) or not all(isinstance(t, str) for t in tools):
            raise ParameterError(function, "tools", "must be a list of tool names")
        result["tools"] = list(tools)
    schema = req.get("schema")
    if schema:
        if not isinstance(schema, dict):
            raise ParameterError(function, "schema", "must be a JSON Schema table")
        result["schema"] = schema
    if req.get("api_base") is not None:
        result["api_base"] = str(req["api_base"])
    timeout = req.get("timeout")
    if timeout is not None:
        if not is_number(timeout) or timeout <= 0:
            raise ParameterError(function, "timeout", "must be a positive number of seconds")
        result["timeout"] = float(timeout)
    return result


def llm_namespace() -> Namespace:
    """Build ``llm.complete/stream/agent/models`` (each takes the run's context first)."""

    @with_context
    async def complete(ctx: RunContext, request: Any = None) -> ScriptValue:
        normalized = normalize_request("llm.complete", request)
        return to_script(await ctx.ops.generate(ctx, normalized))

    @with_context
    async def stream(ctx: RunContext, request: Any = None, on_chunk: Any = None) -> ScriptValue:
        normalized = normalize_request("llm.stream", request)
        if not isinstance(on_chunk, ScriptFunction):
            raise ParameterError("llm.stream", "on_chunk", "must be a function(text)")
        return to_script(await ctx.ops.generate(ctx, normalized, on_chunk=on_chunk))

    @sync_api
    @with_context
    async def agent(ctx: RunContext, config: Any = None) -> ScriptValue:
        return create_agent(ctx, config)

    @with_context
    async def models(ctx: RunContext, provider: Any = None) -> ScriptValue:
        if provider is not None and not isinstance(provider, str):
            raise ParameterError("llm.models", "provider", "must be a provider name like 'openai'")
        return to_script(ctx.ops.provider.models(provider=provider))

    return Namespace({"complete": complete, "stream": stream, "agent": agent, "models": models})
