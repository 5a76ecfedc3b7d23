"""``llmspell run`` imports only what a run needs (issue 10's start-up bar: the benchmark is in
``benchmarks engines``; this pins what the benchmark's figure depends on, so that a new
module-level import of a heavy library shows up here instead of as a slower start)."""

from __future__ import annotations

import json
import subprocess
import sys

NOT_AT_START = (
    "litellm",  # only when a spell calls a real model
    "jsonschema",  # only when a tool schema is validated
    "aiosqlite",  # only when the state database is first used
    "llmspell._ops._agent",  # only when a spell makes an agent
    "llmspell._ops._workflow",  # only when a spell makes a workflow
    "llmspell.workflows",
    "actors._threaded",  # the blocking facade for threaded Python code
    "opentelemetry",  # only with --trace / OTEL_* set
    "prometheus_client",  # only with metrics on
    "re2",  # only when a pattern is compiled (a tool schema's, file_search's)
    "llmspell._api._shape_table",  # only for the editor types (llmspell types)
    "sqlite3",  # only when the state database (or the event log) is first connected
    "llmspell.engines._facts",  # only for llmspell check
    "llmspell.engines._statistics",  # only when an instance's statistics() is read
    "actors._records",  # only when a statistics() is read (or a letter goes dead)
    "actors._eventlog",  # only for a bus with an event log (--log-events)
    "llmspell.providers._types",  # only when a spell calls a model
    "llmspell.providers._scripted",  # only with scripted replies (tests) or the offline model
    "datetime",  # only when the datetime tool is called
    "shutil",  # argparse's formatter would import it for the terminal width
)


def test_a_plain_run_leaves_the_heavy_parts_unimported() -> None:
    code = (
        "import sys, json, llmspell._cli as cli\n"
        "try:\n"
        "    cli.main(['run', 'spells/hello.lua', '-p', 'name=Ada'])\n"
        "except SystemExit:\n"
        "    pass\n"
        f"print(json.dumps([m for m in {NOT_AT_START!r} if m in sys.modules]), file=sys.stderr)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert "Hello" in proc.stdout or "hello" in proc.stdout.lower(), proc.stderr
    assert json.loads(proc.stderr.strip().splitlines()[-1]) == []
