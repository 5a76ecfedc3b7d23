"""LLM providers: litellm behind a small API, plus the built-in offline model.

Importing this package does not import litellm (it takes seconds); the first call does.

    provider = Provider(default_model="openai/gpt-4o-mini", fallbacks=["offline/llmspell"])
    response = await provider.complete(LLMRequest("", [{"role": "user", "content": "Hi"}]))
    print(response.content, response.usage.total_tokens, response.cost)
"""

from __future__ import annotations

from ._litellm import load as load_litellm
from ._provider import ChunkCallback as ChunkCallback
from ._provider import Provider as Provider
from ._scripted import ERROR_KINDS as ERROR_KINDS
from ._scripted import RECORD_ENV as RECORD_ENV
from ._scripted import SCRIPT_ENV as SCRIPT_ENV
from ._scripted import ReplyQueue as ReplyQueue
from ._scripted import install as install_replies
from ._scripted import uninstall as uninstall_replies
from ._types import MODEL_ENV as MODEL_ENV
from ._types import OFFLINE_MODEL as OFFLINE_MODEL
from ._types import LLMRequest as LLMRequest
from ._types import LLMResponse as LLMResponse
from ._types import RetryPolicy as RetryPolicy
from ._types import ToolCall as ToolCall
from ._types import Usage as Usage
from ._types import is_offline_model as is_offline_model
from ._types import resolve_default_model as resolve_default_model

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
