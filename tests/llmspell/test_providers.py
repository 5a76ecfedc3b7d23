"""Provider calls through litellm's real HTTP client against the local OpenAI-compatible server."""

from __future__ import annotations

import socket
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import anyio
import pytest

from llmspell._exceptions import ProviderError
from llmspell.providers import LLMRequest, Provider, RetryPolicy
from llmspell.testing import OpenAIServer, deny_network

pytestmark = pytest.mark.anyio

FAST = RetryPolicy(attempts=3, backoff=0.001, max_backoff=0.01)
HELLO = [{"role": "user", "content": "Say hello"}]
CALC_TOOL = {
    "type": "function",
    "function": {
        "name": "calc",
        "description": "Evaluate arithmetic",
        "parameters": {
            "type": "object",
            "properties": {"expr": {"type": "string"}},
            "required": ["expr"],
        },
    },
}


@pytest.fixture(autouse=True)
def no_network() -> Iterator[None]:
    """Every test here fails if anything connects beyond 127.0.0.1."""
    with deny_network() as refused:
        yield
    assert not refused


@pytest.fixture
async def server() -> AsyncIterator[OpenAIServer]:
    async with OpenAIServer() as server:
        yield server


@pytest.fixture
def provider(server: OpenAIServer) -> Provider:
    return Provider(default_model="openai/test-model", api_base=server.base_url, retry=FAST)


def request(model: str = "", **fields: Any) -> LLMRequest:
    return LLMRequest(model, fields.pop("messages", HELLO), **fields)


async def test_text_reply_with_usage_and_request_parameters(
    server: OpenAIServer, provider: Provider
) -> None:
    server.reply(
        "Hello, world!", usage={"prompt_tokens": 7, "completion_tokens": 3, "total_tokens": 10}
    )
    response = await provider.complete(request(temperature=0.2, max_tokens=50))
    assert response.content == "Hello, world!"
    assert (response.role, response.model, response.finish_reason) == (
        "assistant",
        "openai/test-model",
        "stop",
    )
    assert (response.usage.prompt_tokens, response.usage.total_tokens) == (7, 10)
    assert response.tool_calls == [] and response.attempts == 1 and response.duration > 0
    sent = server.requests[0]
    assert sent["model"] == "test-model" and sent["messages"] == HELLO
    assert (sent["temperature"], sent["max_tokens"]) == (0.2, 50)


async def test_to_script_has_the_design_shape(server: OpenAIServer, provider: Provider) -> None:
    server.tool_calls({"name": "calc", "arguments": {"expr": "2+2"}}, content="Let me compute.")
    script = (await provider.complete(request(tools=[CALC_TOOL]))).to_script()
    assert set(script) == {
        "content",
        "role",
        "model",
        "tool_calls",
        "usage",
        "finish_reason",
        "cost",
    }
    assert script["tool_calls"] == [{"id": "call_1", "name": "calc", "arguments": {"expr": "2+2"}}]
    assert set(script["usage"]) == {"prompt_tokens", "completion_tokens", "total_tokens"}
    assert script["finish_reason"] == "tool_calls" and script["content"] == "Let me compute."


async def test_stream_calls_back_in_order_and_reports_usage(
    server: OpenAIServer, provider: Provider
) -> None:
    server.reply(
        "one two three four five",
        usage={"prompt_tokens": 4, "completion_tokens": 5, "total_tokens": 9},
    )
    chunks: list[str] = []

    async def on_chunk(text: str) -> None:
        chunks.append(text)

    response = await provider.stream(request(), on_chunk)
    assert len(chunks) >= 3 and "".join(chunks) == "one two three four five"
    assert response.content == "one two three four five"
    assert response.usage.total_tokens == 9 and response.finish_reason == "stop"
    assert server.requests[0]["stream"] is True
    assert server.requests[0]["stream_options"] == {"include_usage": True}


async def test_stream_without_server_usage_counts_tokens_locally(
    server: OpenAIServer, provider: Provider
) -> None:
    server.reply("a reply of several words", include_usage=False)

    async def ignore(text: str) -> None:
        pass

    response = await provider.stream(request(), ignore)
    assert response.usage.prompt_tokens > 0 and response.usage.completion_tokens > 0
    assert (
        response.usage.total_tokens
        == response.usage.prompt_tokens + response.usage.completion_tokens
    )


@pytest.mark.parametrize("streaming", [False, True])
async def test_several_tool_calls_in_one_turn(
    server: OpenAIServer, provider: Provider, streaming: bool
) -> None:
    server.tool_calls(
        {"name": "calc", "arguments": {"expr": "2+2"}},
        {"name": "calc", "arguments": {"expr": "3*3"}, "id": "call_b"},
        {"name": "lookup", "arguments": {"query": 'a "quoted" word', "limit": 2}},
    )
    if streaming:
        chunks: list[str] = []

        async def on_chunk(text: str) -> None:
            chunks.append(text)

        response = await provider.stream(request(tools=[CALC_TOOL]), on_chunk)
        assert chunks == []
    else:
        response = await provider.complete(request(tools=[CALC_TOOL]))
    assert [(c.id, c.name, c.arguments) for c in response.tool_calls] == [
        ("call_1", "calc", {"expr": "2+2"}),
        ("call_b", "calc", {"expr": "3*3"}),
        ("call_3", "lookup", {"query": 'a "quoted" word', "limit": 2}),
    ]
    assert all(call.error is None for call in response.tool_calls)
    assert response.finish_reason == "tool_calls" and response.content is None
    assert server.requests[0]["tools"] == [CALC_TOOL]


@pytest.mark.parametrize("streaming", [False, True])
async def test_malformed_tool_arguments_are_kept_with_an_error(
    server: OpenAIServer, provider: Provider, streaming: bool
) -> None:
    server.tool_calls(
        {"name": "calc", "arguments": '{"expr": "2+'}, {"name": "calc", "arguments": "[1]"}
    )

    async def ignore(text: str) -> None:
        pass

    call = provider.stream(request(), ignore) if streaming else provider.complete(request())
    broken, not_object = (await call).tool_calls
    assert broken.arguments is None and broken.raw_arguments == '{"expr": "2+'
    assert broken.error is not None and "not valid JSON" in broken.error
    assert not_object.arguments is None and not_object.error == "arguments are not a JSON object"


async def test_schema_is_sent_as_json_schema_response_format(
    server: OpenAIServer, provider: Provider
) -> None:
    schema = {"title": "City facts", "type": "object", "properties": {"name": {"type": "string"}}}
    server.reply('{"name": "Paris"}')
    response = await provider.complete(request(schema=schema))
    assert response.content == '{"name": "Paris"}'
    assert server.requests[0]["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "City_facts", "schema": schema},
    }


async def test_rate_limit_is_retried_until_success(
    server: OpenAIServer, provider: Provider
) -> None:
    server.error(429, "slow down", times=2, retry_after=0)
    response = await provider.complete(request())
    assert response.content == "Hello from the test server."
    assert len(server.requests) == 3 and response.attempts == 3


async def test_retry_after_header_sets_the_wait(server: OpenAIServer) -> None:
    server.error(429, retry_after=0.2)
    policy = RetryPolicy(attempts=2, backoff=0.001, max_backoff=5.0)
    provider = Provider(default_model="openai/m", api_base=server.base_url, retry=policy)
    started = time.perf_counter()
    await provider.complete(request())
    assert time.perf_counter() - started >= 0.2


async def test_server_errors_exhaust_the_attempts(server: OpenAIServer, provider: Provider) -> None:
    server.error(500, "the server broke", times=5)
    with pytest.raises(ProviderError) as caught:
        await provider.complete(request())
    assert len(server.requests) == 3
    error = caught.value
    assert error.model == "openai/test-model"
    assert error.cause.startswith(f"HTTP 500 from {server.base_url}: the server broke")
    assert "3 attempts" in error.cause and "openai/test-model" in str(error)


@pytest.mark.parametrize(
    ("status", "word"), [(400, "HTTP 400"), (401, "HTTP 401"), (404, "HTTP 404")]
)
async def test_client_errors_are_not_retried(
    server: OpenAIServer, provider: Provider, status: int, word: str
) -> None:
    server.error(status, "you did it wrong", times=3)
    with pytest.raises(ProviderError, match=word) as caught:
        await provider.complete(request())
    assert len(server.requests) == 1 and "you did it wrong" in caught.value.cause


async def test_a_refused_key_fails_at_once_and_names_the_variable_to_set(
    server: OpenAIServer, provider: Provider, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The server answers 401 and no OPENAI_API_KEY is set: one request, no retry, and the
    error says which variable to set."""
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    server.error(401, "Incorrect API key provided", times=3)
    with pytest.raises(ProviderError) as caught:
        await provider.complete(request())
    assert len(server.requests) == 1
    assert caught.value.cause.startswith("authentication failed, set OPENAI_API_KEY: HTTP 401")
    assert "Incorrect API key provided" in caught.value.cause


async def test_a_refused_key_from_the_environment_is_named(
    server: OpenAIServer, provider: Provider, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-wrong")
    server.error(401, "invalid key", times=3)
    with pytest.raises(ProviderError, match="the key in OPENAI_API_KEY was refused"):
        await provider.complete(request())
    assert len(server.requests) == 1


async def test_a_missing_key_fails_at_once_before_any_request(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """No key for a hosted provider: litellm fails before connecting (it reports this as an
    HTTP 500 for OpenAI); that is an authentication error, not retried, naming the variable."""
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    monkeypatch.delenv("OPENAI_API_BASE", raising=False)
    slow = RetryPolicy(attempts=3, backoff=30.0, max_backoff=30.0)  # a retry would hang here
    provider = Provider(default_model="openai/gpt-4o-mini", retry=slow)
    with anyio.fail_after(20), pytest.raises(ProviderError) as caught:
        await provider.complete(request())
    assert caught.value.cause.startswith("authentication failed, set OPENAI_API_KEY")
    assert "attempts" not in caught.value.cause and "HTTP 500" not in caught.value.cause


async def test_slow_reply_times_out(server: OpenAIServer) -> None:
    server.reply("too late", delay=30)
    server.reply("too late", delay=30)
    policy = RetryPolicy(attempts=2, backoff=0.001)
    provider = Provider(
        default_model="openai/m", api_base=server.base_url, retry=policy, timeout=0.2
    )
    started = time.perf_counter()
    with pytest.raises(ProviderError, match=r"timed out after 0\.2s") as caught:
        await provider.complete(request())
    assert time.perf_counter() - started < 5
    assert len(server.requests) == 2 and "2 attempts" in caught.value.cause


async def test_request_timeout_overrides_and_applies_to_streams(server: OpenAIServer) -> None:
    server.reply("too late", delay=30)
    provider = Provider(
        default_model="openai/m", api_base=server.base_url, retry=RetryPolicy(attempts=1)
    )

    async def ignore(text: str) -> None:
        pass

    with pytest.raises(ProviderError, match=r"timed out after 0\.1s"):
        await provider.stream(request(timeout=0.1), ignore)


async def test_connection_refused_names_the_endpoint() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        base = f"http://127.0.0.1:{probe.getsockname()[1]}/v1"
    provider = Provider(default_model="openai/m", api_base=base, retry=FAST)
    with pytest.raises(ProviderError, match=f"cannot connect to {base}") as caught:
        await provider.complete(request())
    assert "3 attempts" in caught.value.cause


async def test_fallback_model_answers_after_the_primary_fails(server: OpenAIServer) -> None:
    server.error(503, "overloaded", times=2)
    policy = RetryPolicy(attempts=2, backoff=0.001)
    provider = Provider(
        default_model="openai/primary",
        api_base=server.base_url,
        retry=policy,
        fallbacks=["openai/backup"],
    )
    response = await provider.complete(request())
    assert [body["model"] for body in server.requests] == ["primary", "primary", "backup"]
    assert response.model == "openai/backup" and response.attempts == 3


async def test_failed_fallbacks_report_both_models(server: OpenAIServer) -> None:
    server.error(500, "primary broke", times=1)
    server.error(500, "backup broke", times=1)
    provider = Provider(
        default_model="openai/primary",
        api_base=server.base_url,
        retry=RetryPolicy(attempts=1),
        fallbacks=["openai/backup"],
    )
    with pytest.raises(ProviderError) as caught:
        await provider.complete(request())
    assert caught.value.model == "openai/backup"
    assert "backup broke" in caught.value.cause and "'openai/primary' failed" in caught.value.cause


async def test_offline_model_as_fallback(server: OpenAIServer) -> None:
    server.error(500, times=1)
    provider = Provider(
        default_model="openai/m",
        api_base=server.base_url,
        retry=RetryPolicy(attempts=1),
        fallbacks=["offline/llmspell"],
    )
    assert not provider.offline_in_use
    response = await provider.complete(request())
    assert response.model == "offline/llmspell" and (response.content or "").startswith("[offline")
    assert provider.offline_in_use


async def test_stream_is_retried_before_any_chunk(server: OpenAIServer, provider: Provider) -> None:
    server.error(500, times=1)
    server.reply("finally here")
    chunks: list[str] = []

    async def on_chunk(text: str) -> None:
        chunks.append(text)

    response = await provider.stream(request(), on_chunk)
    assert "".join(chunks) == "finally here" == response.content and response.attempts == 2


async def test_chunk_callback_error_propagates_unchanged(
    server: OpenAIServer, provider: Provider
) -> None:
    server.reply("one two three four")

    async def explode(text: str) -> None:
        raise KeyError("from the script")

    with pytest.raises(KeyError, match="from the script"):
        await provider.stream(request(), explode)
    assert len(server.requests) == 1


async def test_cancelling_the_caller_cancels_the_http_call(
    server: OpenAIServer, provider: Provider
) -> None:
    server.reply("never", delay=60)
    async with anyio.create_task_group() as group:
        group.start_soon(provider.complete, request())
        await server.wait_requests(1)
        started = time.perf_counter()
        group.cancel_scope.cancel()
    assert time.perf_counter() - started < 1.0
    with anyio.fail_after(5):
        await server.wait_disconnect()
    assert server.disconnects == 1


async def test_cost_comes_from_the_local_price_map(server: OpenAIServer) -> None:
    import litellm

    provider = Provider(default_model="openai/gpt-4o-mini", api_base=server.base_url, retry=FAST)
    server.reply(
        "priced", usage={"prompt_tokens": 1000, "completion_tokens": 100, "total_tokens": 1100}
    )
    response = await provider.complete(request())
    prices = litellm.model_cost["gpt-4o-mini"]
    expected = 1000 * prices["input_cost_per_token"] + 100 * prices["output_cost_per_token"]
    assert response.cost == pytest.approx(expected) and response.cost > 0


async def test_unpriced_model_costs_zero(server: OpenAIServer, provider: Provider) -> None:
    assert (await provider.complete(request())).cost == 0.0


async def test_extra_is_passed_through(server: OpenAIServer, provider: Provider) -> None:
    await provider.complete(request(extra={"stop": ["END"], "seed": 7}))
    assert (server.requests[0]["stop"], server.requests[0]["seed"]) == (["END"], 7)


async def test_request_endpoint_overrides_the_providers(server: OpenAIServer) -> None:
    provider = Provider(default_model="openai/m", api_base="http://127.0.0.1:9/v1", retry=FAST)
    response = await provider.complete(request(api_base=server.base_url, api_key="sk-test"))
    assert response.content == "Hello from the test server."


async def test_concurrent_calls_overlap(server: OpenAIServer, provider: Provider) -> None:
    server.latency = 0.3
    results: list[str | None] = []

    async def one() -> None:
        results.append((await provider.complete(request())).content)

    started = time.perf_counter()
    async with anyio.create_task_group() as group:
        for _ in range(5):
            group.start_soon(one)
    assert time.perf_counter() - started < 1.2 and len(results) == 5
