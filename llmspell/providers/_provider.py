"""The provider: litellm calls with retries, timeouts and fallbacks, as plain dataclasses."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from contextlib import aclosing
from typing import TYPE_CHECKING, Any

import anyio

from .._exceptions import ParameterError, ProviderError
from . import _litellm
from ._models import is_offline_model, resolve_default_model

if TYPE_CHECKING:
    from ._errors import Failure
    from ._types import LLMRequest, LLMResponse, RetryPolicy, ToolCall

ChunkCallback = Callable[[str], Awaitable[None]]


class _StreamState:
    """What a streaming call has done so far: retried only while nothing was delivered."""

    __slots__ = ("callback_error", "delivered")

    def __init__(self) -> None:
        self.delivered = False
        self.callback_error: BaseException | None = None


_NOT_STREAMED = _StreamState()
"""The state of every call that is not streamed (nothing ever changes it)."""


class Provider:
    """LLM calls through litellm: one per runtime.

    Each call is tried up to ``retry.attempts`` times on retryable failures (rate limits, server
    errors, connection errors, timeouts), then on each fallback model in turn. When everything
    failed, :class:`ProviderError` names the last model and the cause. Cancelling the calling
    task cancels the HTTP request in flight.

    Args:
        default_model: the model for requests that name none (else :func:`resolve_default_model`).
        retry: the retry policy.
        timeout: seconds per attempt (a request's ``timeout`` overrides it).
        fallbacks: models to try, in order, after the requested model failed.
        api_base: endpoint for every request that gives none.
        api_key: key for every request that gives none.
    """

    def __init__(
        self,
        *,
        default_model: str | None = None,
        retry: RetryPolicy | None = None,
        timeout: float = 120.0,
        fallbacks: Sequence[str] = (),
        api_base: str | None = None,
        api_key: str | None = None,
    ) -> None:
        self.default_model = default_model or resolve_default_model(None)
        self._retry = retry
        self.timeout = timeout
        self.fallbacks = list(fallbacks)
        self.api_base = api_base
        self.api_key = api_key
        self._offline_answered = False

    @property
    def retry(self) -> RetryPolicy:
        """The retry policy (the default one is made when first read: the provider's value
        types are loaded by the first call, not with every run)."""
        if self._retry is None:
            from ._types import RetryPolicy

            self._retry = RetryPolicy()
        return self._retry

    @retry.setter
    def retry(self, policy: RetryPolicy) -> None:
        self._retry = policy

    @property
    def offline_in_use(self) -> bool:
        """Whether the offline model is the default or has answered a call."""
        return self._offline_answered or is_offline_model(self.default_model)

    async def prepare(self) -> None:
        """Import litellm now, in a worker thread (the first call does it otherwise).

        The import takes seconds; a CLI or daemon may start it early, concurrently with other
        start-up work.
        """
        await _litellm.load_async()

    def complete(self, request: LLMRequest) -> Coroutine[Any, Any, LLMResponse]:
        """Send ``request`` and return the model's answer (``await provider.complete(r)``).

        (A plain method returning the call's coroutine: a coroutine of its own here would
        only forward, and with a thousand calls waiting each layer is a thousand more objects
        for the cyclic GC to scan.)

        Raises:
            ProviderError: every attempt on every model failed, or a failure is not retryable.
            ParameterError: the request has no messages.
        """
        return self._run(request, None, "llm.complete")

    async def stream(self, request: LLMRequest, on_chunk: ChunkCallback) -> LLMResponse:
        """Send ``request`` streaming: ``await on_chunk(text)`` per text delta, in order.

        Returns the assembled answer: content, tool calls (streamed ones included), usage as the
        server reports it (else counted locally) and cost. A failed attempt is retried only
        while no chunk was delivered; an exception from ``on_chunk`` ends the call and
        propagates unchanged. The timeout covers the whole stream, callbacks included.

        Raises:
            ProviderError: as for :meth:`complete`.
        """
        return await self._run(request, on_chunk, "llm.stream")

    def models(self, *, provider: str | None = None) -> list[dict[str, Any]]:
        """Known chat models from litellm's local price map, the offline model first.

        Args:
            provider: keep only this litellm provider (``"openai"``, ``"anthropic"``...).

        Returns:
            Dicts with ``name``, ``provider``, ``context_window`` (tokens or None),
            ``input_cost_per_token``, ``output_cost_per_token`` (USD) and ``supports_tools``.
        """
        return _litellm.known_models(provider)

    async def _run(
        self, request: LLMRequest, on_chunk: ChunkCallback | None, function: str
    ) -> LLMResponse:
        if not request.messages:
            raise ParameterError(function, "messages", "must not be empty")
        primary = request.model or self.default_model
        timeout = request.timeout or self.timeout
        started = time.perf_counter()
        attempts = 0
        first: tuple[str, Failure] | None = None
        failure: Failure | None = None
        model = primary
        state = _NOT_STREAMED if on_chunk is None else _StreamState()
        models = dict.fromkeys([primary, *self.fallbacks]) if self.fallbacks else (primary,)
        for model in models:
            for attempt in range(max(1, self.retry.attempts)):
                if attempt:
                    await anyio.sleep(self._backoff(attempt, failure))
                attempts += 1
                try:
                    response = await self._attempt(request, model, timeout, on_chunk, state)
                except Exception as exc:
                    if exc is state.callback_error:
                        raise
                    base = request.api_base or self.api_base
                    from ._errors import classify  # loaded by the first failure

                    failure = classify(exc, api_base=base, timeout=timeout)
                    if failure.kind == "auth":  # never retried: say which key to set
                        hint = _litellm.key_hint(
                            model, key_given=bool(request.api_key or self.api_key)
                        )
                        cause = f"authentication failed, {hint}: {failure.cause}"
                        failure = dataclasses.replace(failure, cause=cause)
                    if state.delivered or failure.kind not in self.retry.retry_on:
                        break
                    continue
                response.duration = time.perf_counter() - started
                response.attempts = attempts
                self._offline_answered |= is_offline_model(model)
                return response
            assert failure is not None
            first = first or (model, failure)
            if state.delivered or failure.kind == "bad_request":
                break
        assert failure is not None and first is not None
        raise ProviderError(model, self._cause(failure, attempts, model, first))

    def _backoff(self, attempt: int, failure: Failure | None) -> float:
        policy = self.retry
        delay = min(policy.max_backoff, policy.backoff * 2.0 ** (attempt - 1))
        import random  # loaded by the first retry

        delay *= random.uniform(0.5, 1.0)
        if failure is not None and failure.retry_after is not None:
            delay = max(delay, min(failure.retry_after, policy.max_backoff))
        return delay

    @staticmethod
    def _cause(failure: Failure, attempts: int, model: str, first: tuple[str, Failure]) -> str:
        cause = failure.cause
        if attempts > 1:
            cause += f" ({attempts} attempts)"
        if first[0] != model:
            cause += f"; fallback after {first[0]!r} failed: {first[1].cause}"
        return cause

    async def _attempt(
        self,
        request: LLMRequest,
        model: str,
        deadline: float,
        on_chunk: ChunkCallback | None,
        state: _StreamState,
    ) -> LLMResponse:
        if is_offline_model(model):  # in-process, and without importing litellm
            from . import _offline  # loaded by the first offline call

            with anyio.CancelScope(deadline=anyio.current_time() + deadline):
                return await _offline.answer(request, model, _delivering(on_chunk, state))
            raise TimeoutError
        litellm = await _litellm.load_async()
        kwargs = _litellm.completion_kwargs(
            request,
            model,
            api_base=request.api_base or self.api_base,
            api_key=request.api_key or self.api_key,
            timeout=deadline,
        )
        # A scope with a deadline, as anyio.fail_after is, without its two generator-based
        # context managers (a measurable part of a call's own cost).
        with anyio.CancelScope(deadline=anyio.current_time() + deadline):
            if on_chunk is None:
                raw = await litellm.acompletion(**kwargs)
                return _response(model, raw, request.messages)
            kwargs["stream"] = True
            kwargs.setdefault("stream_options", {"include_usage": True})
            stream = await litellm.acompletion(**kwargs)
            async with aclosing(stream):
                return await _assemble(model, stream, request.messages, on_chunk, state)
        raise TimeoutError  # only the deadline, not an outer cancellation, ends up here


def _delivering(on_chunk: ChunkCallback | None, state: _StreamState) -> ChunkCallback | None:
    """``on_chunk``, noting in ``state`` that text went out (no retry after that) and which
    exception the callback raised (it propagates unchanged, never classified)."""
    if on_chunk is None:
        return None

    async def deliver(text: str) -> None:
        state.delivered = True
        try:
            await on_chunk(text)
        except Exception as exc:
            state.callback_error = exc
            raise

    return deliver


def _response(model: str, raw: Any, messages: list[dict[str, Any]]) -> LLMResponse:
    from ._types import LLMResponse

    choice = raw.choices[0]
    message = choice.message
    calls = _litellm.tool_calls_of(message)
    content = message.content
    usage = _litellm.usage_of(getattr(raw, "usage", None))
    if usage is None:
        usage = _litellm.count_usage(model, messages, content or "", calls)
    return LLMResponse(
        content=content,
        role=message.role or "assistant",
        model=model,
        tool_calls=calls,
        usage=usage,
        finish_reason=choice.finish_reason,
        cost=_litellm.cost_of(model, usage),
    )


async def _assemble(
    model: str,
    stream: Any,
    messages: list[dict[str, Any]],
    on_chunk: ChunkCallback,
    state: _StreamState,
) -> LLMResponse:
    from ._types import LLMResponse

    deliver = _delivering(on_chunk, state)
    assert deliver is not None
    text: list[str] = []
    calls: dict[int, dict[str, Any]] = {}
    usage = None
    finish: str | None = None
    async for chunk in stream:
        usage = _litellm.usage_of(getattr(chunk, "usage", None)) or usage
        for choice in chunk.choices or ():
            finish = choice.finish_reason or finish
            delta = choice.delta
            for piece in getattr(delta, "tool_calls", None) or ():
                entry = calls.setdefault(piece.index or 0, {"id": "", "name": "", "args": []})
                entry["id"] = entry["id"] or piece.id or ""
                entry["name"] = entry["name"] or (piece.function.name or "")
                entry["args"].append(piece.function.arguments or "")
            if delta.content:
                text.append(delta.content)
                await deliver(delta.content)
    tool_calls: list[ToolCall] = [
        _litellm.parse_tool_call(e["id"] or f"call_{i + 1}", e["name"], "".join(e["args"]))
        for i, e in sorted(calls.items())
    ]
    content = "".join(text) if text or not tool_calls else None
    if usage is None:
        usage = _litellm.count_usage(model, messages, content or "", tool_calls)
    return LLMResponse(
        content=content,
        role="assistant",
        model=model,
        tool_calls=tool_calls,
        usage=usage,
        finish_reason=finish or ("tool_calls" if tool_calls else "stop"),
        cost=_litellm.cost_of(model, usage),
    )
