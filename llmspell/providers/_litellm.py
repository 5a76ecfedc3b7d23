"""The litellm side of the seam: lazy import, request arguments, response conversion.

litellm takes 2-3 s to import and fetches its price map from the network unless told not to,
so it is imported on the first call only, with ``LITELLM_LOCAL_MODEL_COST_MAP`` set first.
"""

from __future__ import annotations

import json
import os
import re
import threading
from types import ModuleType
from typing import TYPE_CHECKING, Any

import anyio

from ._models import is_offline_model

if TYPE_CHECKING:
    from ._types import LLMRequest, ToolCall, Usage

_lock = threading.Lock()
_litellm: ModuleType | None = None
_NAME = r"[^a-zA-Z0-9_-]"  # compiled (and cached) by re on first use, not at start-up
_LOCAL_KEY = "sk-no-key-required"


def loaded() -> bool:
    """Whether litellm is imported already."""
    return _litellm is not None


async def load_async() -> ModuleType:
    """:func:`load` in a worker thread the first time, so the event loop keeps running."""
    if _litellm is not None:
        return _litellm
    return await anyio.to_thread.run_sync(load)


def load() -> ModuleType:
    """Import litellm (once), offline-safe and quiet. The offline model never needs it."""
    global _litellm
    if _litellm is not None:
        return _litellm
    with _lock:
        if _litellm is None:
            os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
            import litellm

            litellm.suppress_debug_info = True
            _litellm = litellm
    return _litellm


def completion_kwargs(
    request: LLMRequest, model: str, *, api_base: str | None, api_key: str | None, timeout: float
) -> dict[str, Any]:
    """The keyword arguments of ``litellm.acompletion`` for ``request`` sent to ``model``."""
    kwargs: dict[str, Any] = {
        "model": model,
        "messages": request.messages,
        "timeout": timeout,
        "max_retries": 0,
    }
    if request.temperature is not None:
        kwargs["temperature"] = request.temperature
    if request.max_tokens is not None:
        kwargs["max_tokens"] = request.max_tokens
    if request.tools:
        kwargs["tools"] = request.tools
    if request.schema is not None:
        name = re.sub(_NAME, "_", str(request.schema.get("title") or "response"))[:64]
        kwargs["response_format"] = {
            "type": "json_schema",
            "json_schema": {"name": name, "schema": request.schema},
        }
    if not is_offline_model(model):
        if api_base:
            kwargs["api_base"] = api_base
            if not api_key and model.startswith("openai/") and not os.environ.get("OPENAI_API_KEY"):
                api_key = _LOCAL_KEY  # local OpenAI-compatible servers rarely check keys
        if api_key:
            kwargs["api_key"] = api_key
    kwargs.update(request.extra)
    return kwargs


def key_hint(model: str, *, key_given: bool) -> str:
    """What to do after ``model`` refused the call for authentication: which variable to set.

    litellm reads each provider's key from its own variable (``OPENAI_API_KEY``,
    ``ANTHROPIC_API_KEY``...); the hint names the one this model needs.
    """
    if key_given:
        return "the api_key given was refused"
    if is_offline_model(model):
        return "a scripted failure (the offline model needs no key)"
    litellm = load()
    try:
        missing = list(litellm.validate_environment(model=model).get("missing_keys") or [])
        provider = str(litellm.get_llm_provider(model=model)[1])
    except Exception:  # an unknown provider: say what we can
        missing, provider = [], model.partition("/")[0]
    if missing:
        return "set " + " and ".join(missing)
    variable = f"{provider.upper()}_API_KEY"
    if os.environ.get(variable):
        return f"the key in {variable} was refused"
    return f"check the API key of provider {provider!r}"


def parse_tool_call(call_id: str, name: str, raw: str) -> ToolCall:
    """A :class:`ToolCall`; arguments that are not a JSON object are kept with an error."""
    from ._types import ToolCall  # (loaded with the first call, like litellm)

    if not raw.strip():
        return ToolCall(call_id, name, {}, raw)
    try:
        value = json.loads(raw)
    except ValueError as exc:
        return ToolCall(call_id, name, None, raw, f"arguments are not valid JSON: {exc}")
    if not isinstance(value, dict):
        return ToolCall(call_id, name, None, raw, "arguments are not a JSON object")
    return ToolCall(call_id, name, value, raw)


def tool_calls_of(message: Any) -> list[ToolCall]:
    """The tool calls of a litellm response message."""
    calls = []
    for index, call in enumerate(getattr(message, "tool_calls", None) or []):
        function = call.function
        call_id = call.id or f"call_{index + 1}"
        calls.append(parse_tool_call(call_id, function.name or "", function.arguments or ""))
    return calls


def usage_of(raw: Any) -> Usage | None:
    """A :class:`Usage` from litellm's usage object, or None when absent or empty."""
    from ._types import Usage

    if raw is None:
        return None
    prompt = int(getattr(raw, "prompt_tokens", 0) or 0)
    completion = int(getattr(raw, "completion_tokens", 0) or 0)
    total = int(getattr(raw, "total_tokens", 0) or 0) or prompt + completion
    if not total:
        return None
    return Usage(prompt, completion, total)


def count_usage(
    model: str, messages: list[dict[str, Any]], content: str, calls: list[ToolCall]
) -> Usage:
    """Count tokens locally (when a stream carried no usage)."""
    from ._types import Usage

    litellm = load()
    completion_text = content + "".join(c.name + c.raw_arguments for c in calls)
    try:
        prompt = int(litellm.token_counter(model=model, messages=messages))
        completion = int(litellm.token_counter(model=model, text=completion_text))
    except Exception:  # counting is best effort
        prompt = sum(len(json.dumps(m.get("content") or "").split()) for m in messages)
        completion = len(completion_text.split())
    return Usage(prompt, completion, prompt + completion)


_unpriced: set[str] = set()


def cost_of(model: str, usage: Usage) -> float:
    """USD for ``usage`` on ``model`` from litellm's local price map; 0.0 when unpriced."""
    if is_offline_model(model) or model in _unpriced:
        return 0.0
    litellm = load()
    try:
        prompt, completion = litellm.cost_per_token(
            model=model,
            prompt_tokens=usage.prompt_tokens,
            completion_tokens=usage.completion_tokens,
        )
    except Exception:  # a model missing from the price map costs "unknown"
        _unpriced.add(model)
        return 0.0
    return float(prompt) + float(completion)


def known_models(provider: str | None = None) -> list[dict[str, Any]]:
    """Chat models from litellm's local price map (see :meth:`Provider.models`)."""
    litellm = load()
    models = []
    if provider in (None, "offline"):
        models.append(_model_entry("offline/llmspell", "offline", 32768, 0.0, 0.0, True))
    for name, info in litellm.model_cost.items():
        if not isinstance(info, dict) or info.get("mode") != "chat":
            continue
        owner = str(info.get("litellm_provider", ""))
        if provider is not None and owner != provider:
            continue
        window = info.get("max_input_tokens") or info.get("max_tokens")
        models.append(
            _model_entry(
                name,
                owner,
                int(window) if isinstance(window, int | float) else None,
                float(info.get("input_cost_per_token") or 0.0),
                float(info.get("output_cost_per_token") or 0.0),
                bool(info.get("supports_function_calling")),
            )
        )
    return models


def _model_entry(
    name: str, provider: str, window: int | None, cost_in: float, cost_out: float, tools: bool
) -> dict[str, Any]:
    return {
        "name": name,
        "provider": provider,
        "context_window": window,
        "input_cost_per_token": cost_in,
        "output_cost_per_token": cost_out,
        "supports_tools": tools,
    }
