"""OTLP export, as a collector receives it: over HTTP/protobuf and gRPC, decoded."""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys

import pytest

import observability
from observability.testing import OtlpReceiver, ReceivedSpan

from ..llmspell.spellkit import run_source
from .conftest import InstantModel, observed

pytestmark = pytest.mark.anyio

SPELL = """
local helper = llm.agent{name = "helper", tools = {"calculator"}}
local answer = helper:run("compute")
pcall(function() tools.calculator("1/") end)
return answer
"""


def _tree(spans: list[ReceivedSpan]) -> dict[str, str]:
    """span name -> parent span name ("" for the root)."""
    names = {s.span_id: s.name for s in spans}
    return {s.name: names.get(s.parent_id, "") for s in spans}


@pytest.mark.parametrize("protocol", ["http/protobuf", "grpc"])
async def test_spans_reach_an_otlp_receiver(protocol: str, monkeypatch: pytest.MonkeyPatch) -> None:
    with OtlpReceiver(protocol) as receiver:  # type: ignore[arg-type]
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.endpoint)
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", protocol)
        monkeypatch.setenv("OTEL_SERVICE_NAME", "spells-under-test")
        obs = observability.create_observer()  # the variables alone switch export on
        assert obs.tracing
        model = InstantModel().then([("calculator", {"expression": "6*7"})], "42")
        async with observed(obs, model) as rt:
            ran = await run_source(SPELL, "lua", runtime=rt)
        obs.close()  # flushes: export happens in a thread otherwise
        spans = receiver.spans()
    assert ran.result.value == "42"
    assert receiver.requests >= 1
    by_name: dict[str, list[ReceivedSpan]] = {}
    for span in spans:
        by_name.setdefault(span.name, []).append(span)
    assert sorted((name, len(group)) for name, group in by_name.items()) == [
        ("chat gpt-4o-mini", 2),
        ("execute_tool calculator", 2),
        ("invoke_agent helper", 1),
        ("run_spell spell", 1),
    ]
    assert len({s.trace_id for s in spans}) == 1
    tree = _tree(spans)
    assert tree["run_spell spell"] == "" and tree["invoke_agent helper"] == "run_spell spell"
    assert tree["chat gpt-4o-mini"] == "invoke_agent helper"
    chat = by_name["chat gpt-4o-mini"][0]
    assert chat.kind == "SPAN_KIND_CLIENT"
    assert chat.attributes["gen_ai.operation.name"] == "chat"
    assert chat.attributes["gen_ai.provider.name"] == "openai"
    assert chat.attributes["gen_ai.usage.input_tokens"] == 7
    assert chat.attributes["gen_ai.response.finish_reasons"] in (("tool_calls",), ("stop",))
    failed = [s for s in by_name["execute_tool calculator"] if s.status == "STATUS_CODE_ERROR"]
    assert len(failed) == 1 and failed[0].events == ("exception",)
    assert failed[0].attributes["error.type"] == "ToolError"
    assert chat.resource["service.name"] == "spells-under-test"
    assert chat.scope == "llmspell"


def test_llmspell_run_exports_when_the_standard_variables_say_so(tmp_path: pathlib.Path) -> None:
    spell = tmp_path / "export_me.lua"
    spell.write_text('events.emit("x.y", {}); return tools.calculator("6*7")', encoding="utf-8")
    with OtlpReceiver("grpc") as receiver:
        env = {
            **os.environ,
            "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint,
            "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
            "OTEL_RESOURCE_ATTRIBUTES": "deployment.environment=ci",
        }
        env.pop("OTEL_SERVICE_NAME", None)
        done = subprocess.run(
            [sys.executable, "-m", "llmspell", "run", str(spell)],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        spans = receiver.spans()
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""  # the value is not printed; nothing else is either
    assert _tree(spans) == {
        "run_spell export_me": "",
        "execute_tool calculator": "run_spell export_me",
    }
    assert spans[0].resource["service.name"] == "llmspell"
    assert spans[0].resource["deployment.environment"] == "ci"


def test_an_unsupported_protocol_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:9")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json")
    with pytest.raises(ValueError, match="http/json"):
        observability.create_observer()


@pytest.mark.parametrize(
    ("variables", "enabled"),
    [
        ({}, False),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}, True),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://127.0.0.1:4318/v1/traces"}, True),
        ({"OTEL_TRACES_EXPORTER": "otlp"}, True),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://x:1", "OTEL_TRACES_EXPORTER": "none"}, False),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://x:1", "OTEL_SDK_DISABLED": "true"}, False),
    ],
)
def test_which_variables_switch_export_on(variables: dict[str, str], enabled: bool) -> None:
    assert observability.otlp_enabled(variables) is enabled
