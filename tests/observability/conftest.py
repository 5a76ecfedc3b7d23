"""Shared helpers: a runtime with an observer, an instant priced model, span lookups."""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import pytest

import observability
from llmspell import open_runtime
from llmspell.providers import LLMRequest, LLMResponse, Provider, ToolCall, Usage

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

BOTH = pytest.mark.parametrize("ext", ["lua", "js", "tengo"])


@pytest.fixture
def anyio_backend() -> str:
    """Spell runtimes run on asyncio (litellm is asyncio-only); see test_actor_metrics for trio."""
    return "asyncio"


class InstantModel(Provider):
    """Stands in for an LLM server: answers at once, with fixed usage and a price.

    Replies queued with :meth:`then` (text, or ``(tool, arguments)`` pairs) come first; after
    them every call answers ``"done"``.
    """

    def __init__(self, model: str = "openai/gpt-4o-mini", cost: float = 0.25) -> None:
        super().__init__(default_model=model)
        self.cost = cost
        self.queue: list[str | list[tuple[str, dict[str, Any]]]] = []

    def then(self, *replies: str | list[tuple[str, dict[str, Any]]]) -> InstantModel:
        self.queue.extend(replies)
        return self

    async def complete(self, request: LLMRequest) -> LLMResponse:
        reply = self.queue.pop(0) if self.queue else "done"
        if isinstance(reply, str):
            return LLMResponse(
                reply, "assistant", request.model, [], Usage(7, 3, 10), "stop", self.cost
            )
        calls = [
            ToolCall(f"call-{i}", name, args, json.dumps(args))
            for i, (name, args) in enumerate(reply)
        ]
        return LLMResponse(
            None, "assistant", request.model, calls, Usage(7, 3, 10), "tool_calls", self.cost
        )


@asynccontextmanager
async def observed(
    obs: observability.Observability, provider: Provider | None = None, **kw: Any
) -> AsyncIterator[Any]:
    async with open_runtime(provider=provider or InstantModel(), observability=obs, **kw) as rt:
        yield rt


def by_name(spans: Sequence[observability.SpanRecord], name: str) -> list[observability.SpanRecord]:
    return [s for s in spans if s.name == name]


def one(spans: Sequence[observability.SpanRecord], name: str) -> observability.SpanRecord:
    found = by_name(spans, name)
    assert len(found) == 1, (name, [s.name for s in spans])
    return found[0]
