"""The values that cross the provider seam: requests, responses, tool calls, retry policy.

Loaded by the first call (or :class:`RetryPolicy` read), not with the package: five dataclasses
cost every start-up some 15M instructions to create otherwise."""

from __future__ import annotations

import dataclasses
from typing import Any


@dataclasses.dataclass
class LLMRequest:
    """One chat completion request.

    Attributes:
        model: a litellm model name (``"openai/gpt-4o-mini"``, ``"offline/llmspell"``); an empty
            string means the provider's default model.
        messages: OpenAI-style chat messages (``{"role": ..., "content": ...}``).
        temperature: sampling temperature, or None for the model's default.
        max_tokens: cap on generated tokens, or None.
        tools: tools offered to the model, in OpenAI function-tool format
            (``{"type": "function", "function": {"name", "description", "parameters"}}``).
        schema: a JSON Schema the answer must follow (sent as ``response_format`` json_schema).
        api_base: the endpoint, e.g. ``"http://127.0.0.1:8000/v1"``; overrides the provider's.
        api_key: the key; overrides the provider's and the environment's.
        timeout: seconds for the whole call (per attempt); overrides the provider's.
        extra: further keyword arguments passed through to ``litellm.acompletion``.
    """

    model: str
    messages: list[dict[str, Any]]
    temperature: float | None = None
    max_tokens: int | None = None
    tools: list[dict[str, Any]] | None = None
    schema: dict[str, Any] | None = None
    api_base: str | None = None
    api_key: str | None = None
    timeout: float | None = None
    extra: dict[str, Any] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class ToolCall:
    """A tool call the model asked for.

    Attributes:
        id: the call's id, to be echoed in the ``tool`` message carrying its result.
        name: the tool's name.
        arguments: the parsed JSON arguments, or None when they are not a JSON object.
        raw_arguments: the arguments exactly as the model sent them.
        error: why parsing failed (None when ``arguments`` is set); send it back to the model.
    """

    id: str
    name: str
    arguments: dict[str, Any] | None
    raw_arguments: str
    error: str | None = None

    def to_message(self) -> dict[str, Any]:
        """This call in OpenAI format, for the assistant message of a conversation."""
        return {
            "id": self.id,
            "type": "function",
            "function": {"name": self.name, "arguments": self.raw_arguments},
        }


@dataclasses.dataclass(frozen=True)
class Usage:
    """Token counts of one call."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0

    def as_dict(self) -> dict[str, int]:
        # Not dataclasses.asdict, which deep-copies: this is on every call's path.
        return {name: getattr(self, name) for name in _USAGE_FIELDS}


_USAGE_FIELDS = tuple(field.name for field in dataclasses.fields(Usage))


@dataclasses.dataclass
class LLMResponse:
    """The answer to an :class:`LLMRequest`.

    Attributes:
        content: the assistant's text (None when it only called tools).
        role: ``"assistant"``.
        model: the model that answered, as it was asked for (after fallbacks, the fallback).
        tool_calls: tool calls the model asked for, in order.
        usage: token counts (reported by the provider, else counted locally).
        finish_reason: ``"stop"``, ``"tool_calls"``, ``"length"``... or None.
        cost: USD from litellm's local price map, 0.0 when the model is not priced.
        duration: seconds, from the first attempt to the answer.
        attempts: how many calls were made, retries and fallbacks included.
    """

    content: str | None
    role: str
    model: str
    tool_calls: list[ToolCall]
    usage: Usage
    finish_reason: str | None
    cost: float = 0.0
    duration: float = 0.0
    attempts: int = 1

    def to_script(self) -> dict[str, Any]:
        """The response as the script API shows it (plain dicts and lists)."""
        return {
            "content": self.content,
            "role": self.role,
            "model": self.model,
            "tool_calls": [
                {"id": call.id, "name": call.name, "arguments": call.arguments}
                for call in self.tool_calls
            ],
            "usage": self.usage.as_dict(),
            "finish_reason": self.finish_reason,
            "cost": self.cost,
        }

    def to_message(self) -> dict[str, Any]:
        """The assistant message to append to the conversation (for the agent loop)."""
        message: dict[str, Any] = {"role": self.role, "content": self.content}
        if self.tool_calls:
            message["tool_calls"] = [call.to_message() for call in self.tool_calls]
        return message


RETRYABLE = frozenset({"rate_limit", "server", "connection", "timeout"})
"""Failure kinds retried by default."""


@dataclasses.dataclass(frozen=True)
class RetryPolicy:
    """How failed calls are retried.

    The n-th retry waits ``min(max_backoff, backoff * 2**(n-1))``, scaled by a random factor in
    [0.5, 1] (jitter); a ``Retry-After`` header from the server raises the wait (still capped by
    ``max_backoff``).

    Attributes:
        attempts: calls per model, first try included (1 disables retries).
        backoff: seconds before the first retry.
        max_backoff: cap on any single wait.
        retry_on: failure kinds to retry: ``"rate_limit"`` (429), ``"server"`` (5xx),
            ``"connection"`` and ``"timeout"``. Others (bad request, auth, not found) fail at once.
    """

    attempts: int = 3
    backoff: float = 0.5
    max_backoff: float = 8.0
    retry_on: frozenset[str] = RETRYABLE
