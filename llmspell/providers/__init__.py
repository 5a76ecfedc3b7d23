"""LLM providers: litellm behind a small API, plus the built-in offline model.

Importing this package does not import litellm (it takes seconds); the first call does.

    provider = Provider(default_model="openai/gpt-4o-mini", fallbacks=["offline/llmspell"])
    response = await provider.complete(LLMRequest("", [{"role": "user", "content": "Hi"}]))
    print(response.content, response.usage.total_tokens, response.cost)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_names
from ._litellm import load as load_litellm
from ._models import MODEL_ENV as MODEL_ENV
from ._models import OFFLINE_MODEL as OFFLINE_MODEL
from ._models import is_offline_model as is_offline_model
from ._models import resolve_default_model as resolve_default_model
from ._provider import ChunkCallback as ChunkCallback
from ._provider import Provider as Provider

if TYPE_CHECKING:
    from ._scripted import ERROR_KINDS as ERROR_KINDS
    from ._scripted import RECORD_ENV as RECORD_ENV
    from ._scripted import SCRIPT_ENV as SCRIPT_ENV
    from ._scripted import ReplyQueue as ReplyQueue
    from ._scripted import install as install_replies
    from ._scripted import uninstall as uninstall_replies
    from ._types import LLMRequest as LLMRequest
    from ._types import LLMResponse as LLMResponse
    from ._types import RetryPolicy as RetryPolicy
    from ._types import ToolCall as ToolCall
    from ._types import Usage as Usage

_LAZY = {
    "ERROR_KINDS": ("_scripted", "ERROR_KINDS"),
    "RECORD_ENV": ("_scripted", "RECORD_ENV"),
    "SCRIPT_ENV": ("_scripted", "SCRIPT_ENV"),
    "ReplyQueue": ("_scripted", "ReplyQueue"),
    "install_replies": ("_scripted", "install"),
    "uninstall_replies": ("_scripted", "uninstall"),
    "LLMRequest": ("_types", "LLMRequest"),
    "LLMResponse": ("_types", "LLMResponse"),
    "RetryPolicy": ("_types", "RetryPolicy"),
    "ToolCall": ("_types", "ToolCall"),
    "Usage": ("_types", "Usage"),
}
"""Loaded on first use: the value types and the scripted replies are dataclasses that a run
without an LLM call (``llmspell run spells/hello.lua``) would create at start-up for nothing."""


__getattr__, __dir__ = lazy_names(__name__, globals(), _LAZY)


__all__ = [
    "ERROR_KINDS",
    "MODEL_ENV",
    "OFFLINE_MODEL",
    "RECORD_ENV",
    "SCRIPT_ENV",
    "ChunkCallback",
    "LLMRequest",
    "LLMResponse",
    "Provider",
    "ReplyQueue",
    "RetryPolicy",
    "ToolCall",
    "Usage",
    "install_replies",
    "is_offline_model",
    "load_litellm",
    "resolve_default_model",
    "uninstall_replies",
]
