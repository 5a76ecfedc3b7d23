"""The providers' public surface: lazy import, default model, model list, value shapes."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import aiohttp
import jsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import llmspell.providers as providers
import llmspell.testing as testing
from llmspell.providers import (
    OFFLINE_MODEL,
    LLMResponse,
    Provider,
    RetryPolicy,
    ToolCall,
    Usage,
    resolve_default_model,
)
from llmspell.providers._offline_reply import value_for
from llmspell.testing import NetworkAccessDenied, OpenAIServer, deny_network


@pytest.fixture(autouse=True)
def no_network() -> Iterator[None]:
    with deny_network():
        yield


def test_public_names_are_pinned() -> None:
    assert sorted(providers.__all__) == sorted(
        [
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
    )
    assert sorted(testing.__all__) == sorted(
        [
            "ERROR_KINDS",
            "RECORD_ENV",
            "SCRIPT_ENV",
            "NetworkAccessDenied",
            "OfflineScript",
            "OpenAIServer",
            "ServerReply",
            "deny_network",
        ]
    )


def test_importing_providers_and_testing_does_not_import_litellm() -> None:
    code = "import sys, llmspell.providers, llmspell.testing; print('litellm' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "False"


def test_default_model_precedence(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LLMSPELL_MODEL", raising=False)
    assert resolve_default_model(None) == OFFLINE_MODEL
    assert resolve_default_model(None, config_model="ollama/llama3") == "ollama/llama3"
    monkeypatch.setenv("LLMSPELL_MODEL", "openai/gpt-4o-mini")
    assert resolve_default_model(None, config_model="ollama/llama3") == "openai/gpt-4o-mini"
    assert (
        resolve_default_model("anthropic/claude-3-5-haiku-latest")
        == "anthropic/claude-3-5-haiku-latest"
    )
    monkeypatch.setenv("LLMSPELL_MODEL", "  ")
    assert resolve_default_model("") == OFFLINE_MODEL
    assert Provider().default_model == OFFLINE_MODEL


def test_models_come_from_the_local_price_map() -> None:
    models = Provider().models()
    assert models[0]["name"] == OFFLINE_MODEL and len(models) > 100
    by_name = {model["name"]: model for model in models}
    mini = by_name["gpt-4o-mini"]
    assert mini["provider"] == "openai" and mini["context_window"] == 128000
    assert mini["input_cost_per_token"] > 0 and mini["supports_tools"] is True
    openai_only = Provider().models(provider="openai")
    assert openai_only and {model["provider"] for model in openai_only} == {"openai"}


def test_response_shapes() -> None:
    call = ToolCall("call_1", "calc", {"expr": "1+1"}, '{"expr": "1+1"}')
    response = LLMResponse(None, "assistant", "m", [call], Usage(1, 2, 3), "tool_calls", 0.5)
    assert response.to_message() == {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {
                "id": "call_1",
                "type": "function",
                "function": {"name": "calc", "arguments": '{"expr": "1+1"}'},
            }
        ],
    }
    assert response.to_script()["usage"] == {
        "prompt_tokens": 1,
        "completion_tokens": 2,
        "total_tokens": 3,
    }


def test_backoff_doubles_with_jitter_and_is_capped() -> None:
    provider = Provider(retry=RetryPolicy(attempts=6, backoff=1.0, max_backoff=4.0))
    waits = [provider._backoff(attempt, None) for attempt in (1, 2, 3, 4)]
    assert (
        0.5 <= waits[0] <= 1.0
        and 1.0 <= waits[1] <= 2.0
        and 2.0 <= waits[2] <= 4.0
        and waits[3] <= 4.0
    )


def test_network_guard_refuses_remote_hosts() -> None:
    import socket

    with pytest.raises(NetworkAccessDenied):
        socket.getaddrinfo("example.com", 443)
    with socket.socket() as sock, pytest.raises(NetworkAccessDenied):
        sock.connect(("192.0.2.1", 80))


@pytest.mark.anyio
async def test_server_speaks_openai_sse() -> None:
    async with OpenAIServer(chunk_words=1) as server, aiohttp.ClientSession() as session:
        server.tool_calls({"name": "calc", "arguments": {"x": 1}}, content="a b")
        body = {
            "model": "m",
            "messages": [],
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        async with session.post(f"{server.base_url}/chat/completions", json=body) as reply:
            assert reply.headers["Content-Type"].startswith("text/event-stream")
            lines = [line for line in (await reply.text()).splitlines() if line]
        async with session.get(f"{server.base_url}/models") as reply:
            assert {"id": "m", "object": "model", "owned_by": "llmspell"} in (await reply.json())[
                "data"
            ]
    assert lines[-1] == "data: [DONE]"
    chunks = [json.loads(line.removeprefix("data: ")) for line in lines[:-1]]
    deltas = [c["choices"][0]["delta"] for c in chunks if c["choices"]]
    assert [d.get("content") for d in deltas[:3]] == ["", "a ", "b"]
    assert deltas[3]["tool_calls"][0]["function"] == {"name": "calc", "arguments": ""}
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["total_tokens"] > 0


_leaf = st.sampled_from(
    [
        {"type": "string"},
        {"type": "string", "minLength": 5, "maxLength": 8},
        {"type": "integer", "minimum": 10},
        {"type": "number", "maximum": -1},
        {"type": "boolean"},
        {"type": "null"},
        {"enum": ["a", 2]},
        {"type": ["string", "null"]},
    ]
)
_schemas = st.recursive(
    _leaf,
    lambda inner: st.one_of(
        st.builds(
            lambda items, n: {"type": "array", "items": items, "minItems": n},
            inner,
            st.integers(0, 3),
        ),
        st.dictionaries(st.from_regex(r"[a-z]{1,6}", fullmatch=True), inner, max_size=4).map(
            lambda props: {"type": "object", "properties": props, "required": sorted(props)}
        ),
        st.lists(inner, min_size=1, max_size=3).map(lambda options: {"anyOf": options}),
    ),
    max_leaves=12,
)


@settings(max_examples=200, deadline=None)
@given(schema=_schemas, prompt=st.text(max_size=60))
def test_schema_values_always_validate(schema: dict[str, Any], prompt: str) -> None:
    value = value_for(schema, prompt)
    jsonschema.validate(value, schema)
    assert value_for(schema, prompt) == value
