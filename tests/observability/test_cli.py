"""``llmspell run --trace``, ``--trace-json FILE`` and ``--metrics-port P``."""

from __future__ import annotations

import json
import os
import pathlib
import re
import signal
import subprocess
import sys

import httpx
import pytest

from llmspell._cli import main

from .promtext import parse, value

TRACED = """
local helper = llm.agent{name = "helper", tools = {"calculator"}}
local answer = helper:run("What is 6*7? Use the calculator.")
llm.complete("Summarise: " .. answer)
pcall(function() tools.calculator("1/") end)
return answer
"""

ROW = re.compile(
    r"^(?P<label>[│├└─ ]*\S.*?)\s{2,}(?P<duration>\d+(\.\d+)? (µs|ms|s)|\d+m\d+s)"
    r"  (?P<bar>[ ▏▎▍▌▋▊▉█]{30})(?P<rest>.*)$"
)


def _write(tmp_path: pathlib.Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_trace_prints_the_span_tree_on_stderr(
    tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["run", _write(tmp_path, "traced.lua", TRACED), "--trace"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert out == ""  # the tree is on stderr; the spell printed nothing
    block = err[err.index("trace ") :].splitlines()
    assert re.match(
        r"trace [0-9a-f]{32}  run_spell traced  .+  3 LLM calls  \d+ tokens  \$0$", block[0]
    )
    assert block[1] == "" and block[2].split() == [
        "span",
        "duration",
        "timeline",
        "tokens",
        "cost",
        "outcome",
    ]
    rows = [ROW.match(line) for line in block[3:]]
    assert all(rows), block[3:]
    labels = [m["label"].rstrip() for m in rows if m]
    assert labels == [
        "run_spell traced",
        "├─ invoke_agent helper",
        "│  ├─ chat llmspell",
        "│  ├─ execute_tool calculator",
        "│  └─ chat llmspell",
        "├─ chat llmspell",
        "└─ execute_tool calculator",
    ]
    root_bar = rows[0]["bar"]  # type: ignore[index]
    assert root_bar == "█" * 30  # the root spans the whole timeline
    rests = [m["rest"] for m in rows if m]
    assert re.search(r"\d+→\d+ +\$0  tool_calls$", rests[2])
    assert rests[1].strip() == "2 steps"
    assert rests[3].strip() == "ok"
    assert rests[6].strip().startswith("error: tool 'calculator': invalid expression")


def test_trace_json_writes_the_spans(
    tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "spans.json"
    code = main(["run", _write(tmp_path, "traced.lua", TRACED), "--trace-json", str(target)])
    _, err = capsys.readouterr()
    assert code == 0, err
    assert "run_spell" not in err  # no tree without --trace
    spans = json.loads(target.read_text(encoding="utf-8"))["spans"]
    assert [s["name"] for s in spans][:3] == [
        "run_spell traced",
        "invoke_agent helper",
        "chat llmspell",
    ]
    ids = {s["span_id"]: s for s in spans}
    for span in spans[1:]:
        assert span["parent_id"] in ids and span["trace_id"] == spans[0]["trace_id"]
        assert 0 <= span["duration"] <= spans[0]["duration"]
    chat = spans[2]
    assert chat["kind"] == "client" and chat["attributes"]["gen_ai.operation.name"] == "chat"
    assert chat["attributes"]["gen_ai.response.finish_reasons"] == ["tool_calls"]
    assert [s["status"] for s in spans].count("error") == 1


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--metrics-port", "70000"], "--metrics-port 70000: must be a port number"),
        (["--trace-json", "/no/such/dir/spans.json"], "its directory does not exist"),
    ],
)
def test_bad_observability_flags_exit_2(
    flags: list[str], message: str, tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["run", _write(tmp_path, "x.lua", "return 1"), *flags])
    _, err = capsys.readouterr()
    assert code == 2 and message in err


def test_a_busy_metrics_port_exits_2(
    tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code = main(["run", _write(tmp_path, "x.lua", "return 1"), "--metrics-port", str(port)])
    _, err = capsys.readouterr()
    assert code == 2 and f"--metrics-port {port}: cannot listen" in err


def test_a_bad_otlp_protocol_exits_2(
    tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:9")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "carrier-pigeon")
    code = main(["run", _write(tmp_path, "x.lua", "return 1")])
    _, err = capsys.readouterr()
    assert code == 2 and "carrier-pigeon" in err


RESIDENT = """
metrics.inc("ticks", {kind = "start"})
tools.calculator("1+1")
print("ready")
sleep(120)
"""


def test_metrics_port_serves_while_the_spell_runs(tmp_path: pathlib.Path) -> None:
    spell = _write(tmp_path, "resident.lua", RESIDENT)
    proc = subprocess.Popen(
        [sys.executable, "-m", "llmspell", "run", spell, "--metrics-port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert proc.stderr is not None and proc.stdout is not None
        announced = proc.stderr.readline()
        url = re.search(r"metrics at (http://127\.0\.0\.1:\d+/metrics)", announced)
        assert url, announced
        assert proc.stdout.readline() == "ready\n"  # the spell's calls are done: scrape
        reply = httpx.get(url[1], timeout=30)
        samples = parse(reply.text)
        assert value(samples, "llmspell_spell_ticks_total", spell="resident", kind="start") == 1
        assert value(samples, "llmspell_tool_calls_total", tool="calculator", outcome="ok") == 1
        assert value(samples, "llmspell_actors", group="spell") == 1  # the run in progress
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=60)
    assert proc.returncode == 130
