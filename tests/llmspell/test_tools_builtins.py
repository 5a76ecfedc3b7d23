"""The pure built-ins: calculator, datetime, json_query and the text tools."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest

from llmspell._exceptions import ToolError
from llmspell.tools import Permissions, ToolContext, ToolRegistry, _text, builtin_tools

pytestmark = pytest.mark.anyio

REGISTRY = ToolRegistry(builtin_tools())


async def call(name: str, **args: Any) -> Any:
    return await REGISTRY.invoke(name, args, ToolContext(Permissions()))


@pytest.mark.parametrize(
    ("expression", "value"),
    [
        ("1 + 2 * 3", 7),
        ("(1 + 2) * 3", 9),
        ("7 / 2", 3.5),
        ("7 // 2", 3),
        ("-7 % 3", 2),
        ("2 ** 10", 1024),
        ("-2 ** 2", -4),
        ("+3 - -3", 6),
        ("sqrt(16) + abs(-2)", 6.0),
        ("round(pi, 2)", 3.14),
        ("max(1, 5, 3) + min(4, 2)", 7),
        ("log(e) + log(8, 2)", 4.0),
        ("factorial(5)", 120),
        ("1_000 * 1.5", 1500.0),
        ("2 ** -1", 0.5),
    ],
)
async def test_calculator(expression: str, value: float) -> None:
    assert await call("calculator", expression=expression) == pytest.approx(value)


@pytest.mark.parametrize(
    ("expression", "fragment"),
    [
        ("1 / 0", "division by zero"),
        ("2 ** 100000", "exponent 100000 is larger than 10000"),
        ("9 ** 9999", "result is too large"),
        ("10.0 ** 400", "result is too large"),
        ("(2 ** 4000) * (2 ** 4000)", "result is too large"),
        ("2 ^ 3", "use '**'"),
        ("__import__('os')", "unknown function '__import__'"),
        ("__import__('os').system('true')", "unsupported syntax"),
        ("().__class__", "unsupported syntax"),
        ("x + 1", "unknown name 'x'"),
        ("'a' * 3", "'a' is not a number"),
        ("True + 1", "True is not a number"),
        ("sqrt(-1)", "sqrt(): argument out of its domain"),
        ("(-8) ** 0.5", "complex"),
        ("factorial(10000)", "factorial() takes a whole number"),
        ("1 +", "invalid expression"),
        ("[1, 2]", "unsupported syntax"),
        ("1 << 4", "not supported"),
        ("1" + "+1" * 600, "longer than 1000"),
        ("(" * 300 + "1" + ")" * 300, "too many nested parentheses"),
    ],
)
async def test_calculator_refuses(expression: str, fragment: str) -> None:
    with pytest.raises(ToolError, match=re.escape(fragment)) as info:
        await call("calculator", expression=expression)
    assert info.value.tool == "calculator"


async def test_datetime_now_and_timezones() -> None:
    before = dt.datetime.now(dt.UTC).timestamp()
    now = await call("datetime")
    assert now["timezone"] == "UTC"
    assert before <= now["timestamp"] <= dt.datetime.now(dt.UTC).timestamp()
    paris = await call("datetime", operation="now", timezone="Europe/Paris", format="%Y")
    assert paris["timezone"] == "Europe/Paris"
    assert paris["datetime"].isdigit()
    with pytest.raises(ToolError, match="unknown timezone 'Mars/Base'"):
        await call("datetime", timezone="Mars/Base")


async def test_datetime_parse_format_add_diff() -> None:
    parsed = await call("datetime", operation="parse", value="2024-02-28T23:30:00+00:00")
    assert parsed["iso"] == "2024-02-28T23:30:00+00:00"
    assert parsed["weekday"] == "Wednesday"
    assert parsed["timestamp"] == 1709163000.0
    converted = await call(
        "datetime", operation="format", value="2024-02-28T23:30:00Z", timezone="Asia/Tokyo",
        format="%Y-%m-%d %H:%M",
    )  # fmt: skip
    assert converted["datetime"] == "2024-02-29 08:30"
    added = await call("datetime", operation="add", value="2024-02-28", days=1, hours=-1)
    assert added["iso"] == "2024-02-28T23:00:00+00:00"
    custom = await call("datetime", operation="parse", value="01/03/2024", input_format="%d/%m/%Y")
    assert custom["iso"] == "2024-03-01T00:00:00+00:00"
    from_timestamp = await call("datetime", operation="parse", value=0)
    assert from_timestamp["iso"] == "1970-01-01T00:00:00+00:00"
    diff = await call("datetime", operation="diff", value="2024-03-01", other="2024-02-28")
    assert diff["days"] == 2 and diff["hours"] == 48


async def test_datetime_errors() -> None:
    with pytest.raises(ToolError, match=r"cannot parse value 'soon'.*ISO 8601"):
        await call("datetime", operation="parse", value="soon")
    with pytest.raises(ToolError, match="operation 'format' needs a 'value'"):
        await call("datetime", operation="format")
    with pytest.raises(ToolError, match="'diff' needs 'other'"):
        await call("datetime", operation="diff", value="2024-01-01")
    with pytest.raises(ToolError, match="out of range"):
        await call("datetime", operation="add", value="9999-12-31", days=2)


DATA = {
    "a": {"b": [{"c": 1}, {"c": 2}, {"d": 3}]},
    "items": [{"name": "x", "n": 1}, {"name": "y"}, {"n": 3}],
    "odd.key": {"with space": True},
}


@pytest.mark.parametrize(
    ("query", "value"),
    [
        ("a.b[0].c", 1),
        ("$.a.b[1].c", 2),
        ("a.b[-1]", {"d": 3}),
        ("items[*].name", ["x", "y"]),
        ("items[*].n", [1, 3]),
        ("items[0:2].name", ["x", "y"]),
        ("a.b[*].*", [1, 2, 3]),
        ('["odd.key"]["with space"]', True),
        ("", DATA),
        ("$", DATA),
    ],
)
async def test_json_query(query: str, value: Any) -> None:
    assert await call("json_query", data=DATA, query=query) == value


async def test_json_query_takes_json_text() -> None:
    assert await call("json_query", data='{"a": [10, 20]}', query="a[1]") == 20


@pytest.mark.parametrize(
    ("query", "fragment"),
    [
        ("a.x", "$.a has no key 'x' (keys: b)"),
        ("a.b[7]", "$.a.b has 3 elements; index 7 is out of range"),
        ("a.b.c", "$.a.b is array, so it has no key 'c'"),
        ("a[0]", "$.a is object, not an array"),
        ("a.b[0].c.d", "$.a.b[0].c is integer, so it has no key 'd'"),
        ("a..b", "invalid query 'a..b' at '..b'"),
        ("a[", "invalid query"),
    ],
)
async def test_json_query_errors(query: str, fragment: str) -> None:
    with pytest.raises(ToolError, match=re.escape(fragment)):
        await call("json_query", data=DATA, query=query)
    with pytest.raises(ToolError, match="not valid JSON"):
        await call("json_query", data="{nope", query="a")


async def test_count_tokens_offline(monkeypatch: pytest.MonkeyPatch) -> None:
    result = await call("text_count_tokens", text="Hello, world! How are you?")
    assert result["characters"] == 26
    if result["method"] == "cl100k_base":
        assert result["tokens"] == 8
    monkeypatch.setattr(_text, "cl100k_encoding", lambda: None)
    words = await call("text_count_tokens", text="Hello, world! How are you?")
    assert words == {"tokens": 8, "method": "words", "characters": 26}


def test_cl100k_is_loaded_only_from_a_verified_local_copy(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("tiktoken")
    import tiktoken

    def no_download(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("tiktoken.get_encoding would download")

    monkeypatch.setattr(tiktoken, "get_encoding", no_download)
    _text.cl100k_encoding.cache_clear()
    try:
        encoding = _text.cl100k_encoding()
        if encoding is not None:
            assert encoding.encode("hello world") == [15339, 1917]
        monkeypatch.setattr(_text, "_cl100k_candidates", lambda: [])
        _text.cl100k_encoding.cache_clear()
        assert _text.cl100k_encoding() is None
    finally:
        _text.cl100k_encoding.cache_clear()


async def test_text_split() -> None:
    assert await call("text_split", text="a\nb\nc") == ["a", "b", "c"]
    assert await call("text_split", text="a, b, c", separator=", ") == ["a", "b", "c"]
    assert await call("text_split", text="abcdefg", chunk_size=3) == ["abc", "def", "g"]
    packed = await call("text_split", text="aa bb cc dddddd e", separator=" ", chunk_size=5)
    assert packed == ["aa bb", "cc", "ddddd", "d e"]
    with pytest.raises(ToolError, match="separator must not be empty"):
        await call("text_split", text="x", separator="")
    with pytest.raises(Exception, match="chunk_size"):
        await call("text_split", text="x", chunk_size=0)


async def test_text_template() -> None:
    out = await call(
        "text_template",
        template="Hi {{name}}, {{ user.age }} {{flag}} {{list}} {{ missing_braces }",
        vars={"name": "Ada", "user": {"age": 36}, "flag": True, "list": [1, "é"]},
    )
    assert out == 'Hi Ada, 36 true [1, "é"] {{ missing_braces }'
    with pytest.raises(
        ToolError, match=re.escape("template variable 'nope' is not defined (vars: a)")
    ):
        await call("text_template", template="{{nope}}", vars={"a": 1})
    assert await call("text_template", template="plain") == "plain"
