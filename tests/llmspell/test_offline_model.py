"""The offline model: deterministic replies, the tool loop, schemas, streaming, scripted replies."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from llmspell._exceptions import ProviderError
from llmspell.providers import OFFLINE_MODEL, LLMRequest, Provider, RetryPolicy
from llmspell.testing import RECORD_ENV, SCRIPT_ENV, OfflineScript, deny_network

pytestmark = pytest.mark.anyio

FAST = RetryPolicy(attempts=3, backoff=0.001, max_backoff=0.01)


def tool(
    name: str, description: str, properties: dict[str, Any], required: list[str]
) -> dict[str, Any]:
    parameters = {"type": "object", "properties": properties, "required": required}
    return {
        "type": "function",
        "function": {"name": name, "description": description, "parameters": parameters},
    }


WEATHER = tool("get_weather", "Current weather for a city", {"city": {"type": "string"}}, ["city"])
CALC = tool(
    "calculator",
    "Evaluate an arithmetic expression",
    {"expression": {"type": "string"}},
    ["expression"],
)
SEARCH = tool(
    "search_notes",
    "Search the notes",
    {
        "query": {"type": "string"},
        "limit": {"type": "integer", "minimum": 1},
        "exact": {"type": "boolean"},
        "order": {"type": "string", "enum": ["newest", "oldest"]},
    },
    ["query", "limit", "exact", "order"],
)


@pytest.fixture(autouse=True)
def no_network() -> Iterator[None]:
    with deny_network() as refused:
        yield
    assert not refused


@pytest.fixture
def provider() -> Provider:
    return Provider(retry=FAST)


def user(text: str, system: str | None = None) -> list[dict[str, Any]]:
    messages = [{"role": "system", "content": system}] if system else []
    return [*messages, {"role": "user", "content": text}]


async def ask(provider: Provider, messages: list[dict[str, Any]], **fields: Any) -> Any:
    return await provider.complete(LLMRequest("", messages, **fields))


async def test_offline_is_the_default_and_echoes_the_prompt(
    provider: Provider, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("LLMSPELL_MODEL", raising=False)
    provider = Provider(retry=FAST)
    assert provider.default_model == OFFLINE_MODEL and provider.offline_in_use
    response = await ask(
        provider, user("Explain quantum tunnelling", system="You are a physicist.")
    )
    assert response.content == (
        "[offline model] You said: Explain quantum tunnelling (system prompt: You are a physicist.)"
    )
    assert (
        response.model == OFFLINE_MODEL
        and response.cost == 0.0
        and response.finish_reason == "stop"
    )
    assert response.usage.prompt_tokens > 0 and response.usage.completion_tokens > 0
    assert (
        response.usage.total_tokens
        == response.usage.prompt_tokens + response.usage.completion_tokens
    )


async def test_replies_are_deterministic_and_truncate_long_prompts(provider: Provider) -> None:
    prompt = "word " * 100
    first = await ask(provider, user(prompt))
    second = await ask(provider, user(prompt))
    assert first.content == second.content and first.usage == second.usage
    assert first.content == "[offline model] You said: " + prompt[:200]


async def test_tool_loop_calls_the_best_matching_tool_then_summarises(provider: Provider) -> None:
    messages = user("What is the weather in 'Lisbon' today?")
    response = await ask(provider, messages, tools=[CALC, WEATHER])
    [call] = response.tool_calls
    assert (call.name, call.arguments, call.error) == ("get_weather", {"city": "Lisbon"}, None)
    assert response.content is None and response.finish_reason == "tool_calls"
    messages += [
        response.to_message(),
        {"role": "tool", "tool_call_id": call.id, "content": "sunny, 24C"},
    ]
    final = await ask(provider, messages, tools=[CALC, WEATHER])
    assert (
        final.tool_calls == []
        and final.content == "[offline model] Tool results: get_weather: sunny, 24C"
    )


async def test_tool_arguments_are_filled_from_the_prompt(provider: Provider) -> None:
    calc = await ask(provider, user("Please calculate 12 * (3 + 4) for me"), tools=[WEATHER, CALC])
    assert calc.tool_calls[0].name == "calculator"
    assert calc.tool_calls[0].arguments == {"expression": "12 * (3 + 4)"}
    notes = await ask(
        provider, user('search my notes for "budget plan", top 5'), tools=[CALC, SEARCH]
    )
    assert notes.tool_calls[0].arguments == {
        "query": "budget plan",
        "limit": 5,
        "exact": False,
        "order": "newest",
    }


@pytest.mark.parametrize(
    ("prompt", "city"),
    [
        ("What is the weather in Lisbon?", "Lisbon"),
        ("weather for New York please", "New York"),
        ("How warm is it in Oslo today?", "Oslo"),
        ("what's the current weather in cairo", "cairo"),
    ],
)
async def test_a_tool_argument_is_what_the_prompt_says_beyond_the_tool(
    provider: Provider, prompt: str, city: str
) -> None:
    """Not the whole prompt: the words the tool's declaration does not already use."""
    weather = tool(
        "weather",
        "Current temperature in a city, in Celsius",
        {"city": {"type": "string", "description": "city name"}},
        ["city"],
    )
    response = await ask(provider, user(prompt), tools=[weather, CALC])
    assert [(c.name, c.arguments) for c in response.tool_calls] == [("weather", {"city": city})]


async def test_schema_strings_and_numbers_come_from_the_prompt_in_order(
    provider: Provider,
) -> None:
    schema = {
        "type": "object",
        "properties": {
            "name": {"type": "string"},
            "age": {"type": "integer"},
            "occupation": {"type": "string"},
        },
        "required": ["name", "age", "occupation"],
    }
    response = await ask(provider, user("Ada Lovelace, 36, mathematician"), schema=schema)
    assert json.loads(response.content) == {
        "name": "Ada Lovelace",
        "age": 36,
        "occupation": "mathematician",
    }


async def test_without_overlap_the_first_tool_is_called_with_the_prompt(provider: Provider) -> None:
    response = await ask(provider, user("zzz qqq"), tools=[WEATHER, CALC])
    assert (response.tool_calls[0].name, response.tool_calls[0].arguments) == (
        "get_weather",
        {"city": "zzz qqq"},
    )


async def test_tool_call_ids_stay_unique_across_turns(provider: Provider) -> None:
    messages = user("weather in Oslo")
    first = await ask(provider, messages, tools=[WEATHER])
    messages += [
        first.to_message(),
        {"role": "tool", "tool_call_id": first.tool_calls[0].id, "content": "rain"},
    ]
    messages += [
        {"role": "assistant", "content": "It rains."},
        {"role": "user", "content": "and in Rome?"},
    ]
    second = await ask(provider, messages, tools=[WEATHER])
    assert second.tool_calls[0].id != first.tool_calls[0].id


SCHEMAS = [
    {
        "type": "object",
        "properties": {
            "title": {"type": "string", "minLength": 3, "maxLength": 40},
            "score": {"type": "number", "minimum": 0, "maximum": 1},
            "tags": {"type": "array", "items": {"type": "string"}, "minItems": 2},
            "status": {"enum": ["draft", "final"]},
            "done": {"type": "boolean"},
            "meta": {
                "type": "object",
                "properties": {"count": {"type": "integer"}},
                "required": ["count"],
            },
            "note": {"type": ["null", "string"]},
        },
        "required": ["title", "score", "tags", "status", "done", "meta", "note"],
        "additionalProperties": False,
    },
    {
        "type": "array",
        "items": {"$ref": "#/$defs/point"},
        "$defs": {
            "point": {
                "type": "object",
                "properties": {"x": {"type": "integer"}, "y": {"type": "integer"}},
                "required": ["x", "y"],
            }
        },
    },
    {"anyOf": [{"type": "integer"}, {"type": "string"}]},
    {"type": "object", "properties": {"answer": {"const": 42}}, "required": ["answer"]},
]


@pytest.mark.parametrize("schema", SCHEMAS)
async def test_schema_replies_validate(provider: Provider, schema: dict[str, Any]) -> None:
    response = await ask(provider, user("List 3 points near 7 and 9, briefly"), schema=schema)
    jsonschema.validate(json.loads(response.content), schema)


async def test_schema_reply_uses_the_prompt(provider: Provider) -> None:
    schema = {
        "type": "object",
        "properties": {"summary": {"type": "string"}, "n": {"type": "integer"}},
    }
    response = await ask(provider, user("Summarise 3 reasons to learn Lua"), schema=schema)
    assert json.loads(response.content) == {"summary": "Summarise 3 reasons to learn Lua", "n": 3}


async def test_streaming_text_comes_in_several_chunks(provider: Provider) -> None:
    chunks: list[str] = []

    async def on_chunk(text: str) -> None:
        chunks.append(text)

    response = await provider.stream(
        LLMRequest("", user("Tell me a long story about dragons")), on_chunk
    )
    assert len(chunks) >= 3 and "".join(chunks) == response.content
    assert response.content == "[offline model] You said: Tell me a long story about dragons"
    complete = await ask(provider, user("Tell me a long story about dragons"))
    assert response.usage == complete.usage


async def test_streaming_tool_calls_are_assembled(provider: Provider) -> None:
    async def ignore(text: str) -> None:
        pass

    request = LLMRequest("", user("weather in 'New York'"), tools=[WEATHER, CALC])
    response = await provider.stream(request, ignore)
    assert [(c.name, c.arguments) for c in response.tool_calls] == [
        ("get_weather", {"city": "New York"})
    ]


async def test_scripted_replies_come_first_and_requests_are_recorded(provider: Provider) -> None:
    script = OfflineScript()
    script.reply("scripted hello")
    script.tool_calls(("calc", {"expr": "2+2"}), ("calc", '{"expr": '), content="two calls")
    with script:
        first = await ask(provider, user("hi"), temperature=0.5)
        second = await ask(provider, user("compute"), tools=[CALC])
        third = await ask(provider, user("again"))
    assert first.content == "scripted hello"
    assert second.content == "two calls"
    good, bad = second.tool_calls
    assert (good.name, good.arguments) == ("calc", {"expr": "2+2"})
    assert bad.arguments is None and bad.raw_arguments == '{"expr": ' and bad.error
    assert third.content == "[offline model] You said: again"
    assert [r["messages"][-1]["content"] for r in script.requests] == ["hi", "compute", "again"]
    assert script.requests[0]["temperature"] == 0.5 and script.requests[1]["tools"] == [CALC]
    assert script.requests[0]["model"] == OFFLINE_MODEL
    assert (await ask(provider, user("after"))).content == "[offline model] You said: after"
    assert len(script.requests) == 3


async def test_scripted_error_is_retried_then_succeeds(provider: Provider) -> None:
    async with OfflineScript().error("rate_limit", "slow down").reply("ok now") as script:
        response = await ask(provider, user("hi"))
    assert response.content == "ok now" and response.attempts == 2 and len(script.requests) == 2


@pytest.mark.parametrize(
    ("kind", "attempts", "cause"),
    [
        ("server_error", 3, "HTTP 500: boom (3 attempts)"),
        ("timeout", 3, "timed out"),
        ("connection", 3, "cannot connect to the provider: boom"),
        ("bad_request", 1, "HTTP 400: boom"),
        ("auth", 1, "HTTP 401: boom"),
        (503, 3, "HTTP 503: boom (3 attempts)"),
    ],
)
async def test_scripted_errors_map_like_real_ones(
    provider: Provider, kind: str | int, attempts: int, cause: str
) -> None:
    with OfflineScript().error(kind, "boom", times=3) as script:
        with pytest.raises(ProviderError) as caught:
            await ask(provider, user("hi"))
    assert len(script.requests) == attempts and caught.value.model == OFFLINE_MODEL
    assert cause in caught.value.cause


async def test_scripted_stream_and_delay(provider: Provider) -> None:
    chunks: list[str] = []

    async def on_chunk(text: str) -> None:
        chunks.append(text)

    with OfflineScript().reply("one two three four five six seven", delay=0.01):
        response = await provider.stream(LLMRequest("", user("hi")), on_chunk)
    assert (
        len(chunks) >= 2
        and "".join(chunks) == response.content == "one two three four five six seven"
    )


async def test_scripted_delay_beyond_the_timeout_times_out() -> None:
    provider = Provider(retry=RetryPolicy(attempts=1), timeout=0.05)
    with (
        OfflineScript().reply("late", delay=10),
        pytest.raises(ProviderError, match=r"timed out after 0\.05s"),
    ):
        await ask(provider, user("hi"))


async def test_env_file_script_and_record(
    provider: Provider, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = (
        OfflineScript()
        .reply("from the file")
        .tool_call("calc", "{broken")
        .error("rate_limit")
        .save(tmp_path / "replies.json")
    )
    monkeypatch.setenv(SCRIPT_ENV, str(path))
    monkeypatch.setenv(RECORD_ENV, str(tmp_path / "requests.jsonl"))
    assert (await ask(provider, user("one"))).content == "from the file"
    assert (await ask(provider, user("two"))).tool_calls[0].raw_arguments == "{broken"
    third = await ask(provider, user("three"))
    assert third.content == "[offline model] You said: three" and third.attempts == 2
    lines = (tmp_path / "requests.jsonl").read_text().splitlines()
    assert [json.loads(line)["messages"][-1]["content"] for line in lines] == [
        "one",
        "two",
        "three",
        "three",
    ]


async def test_env_file_accepts_a_plain_list(
    provider: Provider, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "plain.json"
    path.write_text(
        json.dumps(
            ["first", {"content": "second"}, {"tool_call": {"name": "calc", "arguments": {}}}]
        )
    )
    monkeypatch.setenv(SCRIPT_ENV, str(path))
    contents = [(await ask(provider, user("x"))).content for _ in range(2)]
    third = await ask(provider, user("x"))
    assert contents == ["first", "second"] and third.tool_calls[0].arguments == {}


async def test_installed_script_wins_over_the_env_file(
    provider: Provider, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(SCRIPT_ENV, str(OfflineScript().reply("file").save(tmp_path / "r.json")))
    with OfflineScript().reply("outer"), OfflineScript().reply("inner"):
        assert (await ask(provider, user("x"))).content == "inner"


@pytest.mark.parametrize(
    "spec",
    [
        42,
        {"content": "x", "colour": "red"},
        {"error": "explode"},
        {"tool_calls": [{"arguments": {}}]},
        {},
    ],
)
def test_bad_reply_specs_are_refused(spec: object) -> None:
    with pytest.raises(ValueError):
        OfflineScript([spec])


async def test_offline_model_via_explicit_request_model(provider: Provider) -> None:
    online = Provider(default_model="openai/never-called", retry=FAST)
    response = await online.complete(LLMRequest("offline/other", user("hello")))
    assert (
        response.model == "offline/other" and response.content == "[offline model] You said: hello"
    )
    assert online.offline_in_use
