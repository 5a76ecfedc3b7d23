"""The offline model as a litellm custom provider (``offline/...``).

Offline calls take the same path as real ones (``litellm.acompletion``, streaming, usage, tool
calls, exception mapping): only the last hop differs. Imported by :mod:`._litellm` after litellm.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import anyio
from litellm.exceptions import APIConnectionError, Timeout
from litellm.llms.custom_llm import CustomLLM, CustomLLMError
from litellm.types.utils import GenericStreamingChunk, ModelResponse

from . import _scripted
from ._offline_reply import OfflineReply, respond, text_of

_TOKEN = re.compile(r"\w+|[^\w\s]")
_CHUNK = re.compile(r"\S+\s*")
_CHUNK_WORDS = 3


def count_tokens(text: str) -> int:
    """The offline model's token count: words and punctuation marks."""
    return len(_TOKEN.findall(text))


class OfflineLLM(CustomLLM):
    """The ``offline`` provider: scripted replies first, else deterministic ones."""

    async def acompletion(
        self, model: str, messages: list[dict[str, Any]], *args: Any, **kwargs: Any
    ) -> ModelResponse:
        params = kwargs.get("optional_params") or {}
        reply = await self._reply(model, messages, params, stream=False)
        message: dict[str, Any] = {"role": "assistant", "content": reply.content}
        if reply.tool_calls:
            message["tool_calls"] = [
                {"id": i, "type": "function", "function": {"name": n, "arguments": a}}
                for i, n, a in reply.tool_calls
            ]
        return ModelResponse(
            id=f"offline-{uuid.uuid4().hex[:12]}",
            created=int(time.time()),
            model=model,
            choices=[{"index": 0, "message": message, "finish_reason": _finish(reply)}],
            usage=_usage(messages, reply),
        )

    async def astreaming(  # type: ignore[override]
        self, model: str, messages: list[dict[str, Any]], *args: Any, **kwargs: Any
    ) -> AsyncIterator[GenericStreamingChunk]:
        params = kwargs.get("optional_params") or {}
        reply = await self._reply(model, messages, params, stream=True)
        words = _CHUNK.findall(reply.content or "")
        for start in range(0, len(words), _CHUNK_WORDS):
            yield _chunk("".join(words[start : start + _CHUNK_WORDS]))
        for index, (call_id, name, arguments) in enumerate(reply.tool_calls):
            half = len(arguments) // 2
            head = {"id": call_id, "type": "function", "index": index}
            yield _chunk(tool={**head, "function": {"name": name, "arguments": arguments[:half]}})
            tail = {"id": None, "type": "function", "index": index}
            yield _chunk(tool={**tail, "function": {"name": None, "arguments": arguments[half:]}})
        final = _chunk(finish=_finish(reply))
        final["usage"] = _usage(messages, reply)  # type: ignore[typeddict-item]
        yield final

    async def _reply(
        self, model: str, messages: list[dict[str, Any]], params: dict[str, Any], *, stream: bool
    ) -> OfflineReply:
        queue = _scripted.active_queue()
        scripted = None
        if queue is not None:
            request = {"model": f"offline/{model}", "messages": messages, "stream": stream}
            request.update((k, v) for k, v in params.items() if k not in ("stream_options",))
            scripted = queue.next_reply(request)
        if scripted is None:
            tools, response_format = params.get("tools"), params.get("response_format")
            return respond(messages, tools, response_format, params.get("tool_choice"))
        if scripted.delay:
            await anyio.sleep(scripted.delay)
        if scripted.error is not None:
            raise _error(model, scripted)
        previous = sum(len(m.get("tool_calls") or []) for m in messages)
        calls = tuple(
            (f"call_{previous + i + 1}", name, arguments)
            for i, (name, arguments) in enumerate(scripted.tool_calls)
        )
        return OfflineReply(scripted.content, calls)


def _error(model: str, scripted: _scripted.ScriptedReply) -> Exception:
    message = scripted.message or f"scripted {scripted.error.replace('_', ' ')}"  # type: ignore[union-attr]
    if scripted.error == "timeout":
        return Timeout(message=message, model=model, llm_provider="offline")
    if scripted.error == "connection":
        return APIConnectionError(message=message, model=model, llm_provider="offline")
    status = _scripted.ERROR_KINDS.get(scripted.error or "", None)
    if status is None:
        status = int(scripted.error or 500) if (scripted.error or "").isdigit() else 500
    return CustomLLMError(status_code=status, message=message)  # type: ignore[no-untyped-call]


def _finish(reply: OfflineReply) -> str:
    return "tool_calls" if reply.tool_calls else "stop"


def _usage(messages: list[dict[str, Any]], reply: OfflineReply) -> dict[str, int]:
    prompt = 0
    for message in messages:
        prompt += count_tokens(text_of(message.get("content")))
        for call in message.get("tool_calls") or []:
            function = call.get("function") or {}
            prompt += count_tokens(f"{function.get('name', '')} {function.get('arguments', '')}")
    completion = count_tokens(reply.content or "")
    completion += sum(count_tokens(f"{name} {args}") for _, name, args in reply.tool_calls)
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


def _chunk(
    text: str = "", *, tool: dict[str, Any] | None = None, finish: str = ""
) -> GenericStreamingChunk:
    return {
        "text": text,
        "tool_use": tool,  # type: ignore[typeddict-item]
        "is_finished": bool(finish),
        "finish_reason": finish,
        "usage": None,
        "index": 0,
    }
