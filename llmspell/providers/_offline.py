"""The offline model (``offline/...``), answered in-process without litellm.

A spell on the offline model must start as fast as one that makes no call, so this path never
imports litellm (seconds of start-up). It still behaves like a provider behind
:class:`~llmspell.providers.Provider`: the same request (scripted replies see the parameters a
litellm call would carry), the same :class:`LLMResponse` (tool calls parsed the same way, usage
counted with the offline tokenizer, cost 0), streaming in chunks, and scripted failures raised
as exceptions :func:`~llmspell.providers._errors.classify` sorts like a provider's (HTTP status,
timeout, connection), so retries and fallbacks apply unchanged.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any

import anyio

from . import _scripted
from ._litellm import completion_kwargs, parse_tool_call
from ._offline_reply import OfflineReply, respond, text_of
from ._types import LLMRequest, LLMResponse, Usage

_TOKEN = re.compile(r"\w+|[^\w\s]")
_CHUNK = re.compile(r"\S+\s*")
_CHUNK_WORDS = 3
# What a provider call carries besides its parameters: not shown to scripted replies.
_TRANSPORT = frozenset({"model", "messages", "timeout", "max_retries", "api_base", "api_key"})


class OfflineStatusError(Exception):
    """A scripted failure with the HTTP status a provider would have answered.

    Attributes:
        status_code: the HTTP status (what :func:`classify` reads).
    """

    def __init__(self, status_code: int, message: str) -> None:
        super().__init__(message)
        self.status_code = status_code


class OfflineConnectionError(ConnectionError):
    """A scripted connection failure."""


def count_tokens(text: str) -> int:
    """The offline model's token count: words and punctuation marks."""
    return len(_TOKEN.findall(text))


async def answer(
    request: LLMRequest, model: str, on_chunk: Callable[[str], Awaitable[None]] | None
) -> LLMResponse:
    """Answer ``request`` as the offline model ``model``: scripted replies first, else the
    deterministic ones; with ``on_chunk``, the text is delivered in chunks of a few words."""
    params = {
        k: v
        for k, v in completion_kwargs(
            request, model, api_base=None, api_key=None, timeout=0
        ).items()
        if k not in _TRANSPORT
    }
    reply = await _reply(model, request.messages, params, stream=on_chunk is not None)
    if on_chunk is not None:
        words = _CHUNK.findall(reply.content or "")
        for start in range(0, len(words), _CHUNK_WORDS):
            await on_chunk("".join(words[start : start + _CHUNK_WORDS]))
    usage = _usage(request.messages, reply)
    return LLMResponse(
        content=reply.content,
        role="assistant",
        model=model,
        tool_calls=[parse_tool_call(i, n, a) for i, n, a in reply.tool_calls],
        usage=usage,
        finish_reason="tool_calls" if reply.tool_calls else "stop",
        cost=0.0,
    )


async def _reply(
    model: str, messages: list[dict[str, Any]], params: dict[str, Any], *, stream: bool
) -> OfflineReply:
    queue = _scripted.active_queue()
    scripted = None
    if queue is not None:
        scripted = queue.next_reply(
            {"model": model, "messages": messages, "stream": stream, **params}
        )
    if scripted is None:
        tools, response_format = params.get("tools"), params.get("response_format")
        return respond(messages, tools, response_format, params.get("tool_choice"))
    if scripted.delay:
        await anyio.sleep(scripted.delay)
    if scripted.error is not None:
        raise _error(scripted)
    previous = sum(len(m.get("tool_calls") or []) for m in messages)
    calls = tuple(
        (f"call_{previous + i + 1}", name, arguments)
        for i, (name, arguments) in enumerate(scripted.tool_calls)
    )
    return OfflineReply(scripted.content, calls)


def _error(scripted: _scripted.ScriptedReply) -> Exception:
    kind = scripted.error or ""
    message = scripted.message or f"scripted {kind.replace('_', ' ')}"
    if kind == "timeout":
        return TimeoutError(message)
    if kind == "connection":
        return OfflineConnectionError(message)
    status = _scripted.ERROR_KINDS.get(kind) or (int(kind) if kind.isdigit() else 500)
    return OfflineStatusError(status, message)


def _usage(messages: list[dict[str, Any]], reply: OfflineReply) -> Usage:
    prompt = 0
    for message in messages:
        prompt += count_tokens(text_of(message.get("content")))
        for call in message.get("tool_calls") or []:
            function = call.get("function") or {}
            prompt += count_tokens(f"{function.get('name', '')} {function.get('arguments', '')}")
    completion = count_tokens(reply.content or "")
    completion += sum(count_tokens(f"{name} {args}") for _, name, args in reply.tool_calls)
    return Usage(prompt, completion, prompt + completion)
