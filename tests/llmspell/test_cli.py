"""The ``llmspell`` command: run, check, tools, exit codes and error reports."""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import subprocess
import sys
from collections.abc import Iterator

import pytest

from llmspell._cli import _command, _parser, main

SPELLS = pathlib.Path(__file__).resolve().parents[2] / "spells"


def write(tmp_path: pathlib.Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


@pytest.mark.parametrize("ext", ["lua", "js", "tengo"])
def test_run_prints_output_and_exits_0(ext: str, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["run", str(SPELLS / f"hello.{ext}"), "-p", "name=Ada"])
    out, err = capsys.readouterr()
    assert code == 0
    assert "heard hello.greeted: " in out and out.endswith("greetings heard)\n")
    assert '[info] casting hello name="Ada"' in err


def test_json_prints_the_result_and_summary(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["run", str(SPELLS / "hello.lua"), "--json"])
    out, _ = capsys.readouterr()
    summary = json.loads(out)
    assert code == 0
    assert summary["status"] == "ok" and summary["value"] == {"spell": "hello", "name": "world"}
    assert summary["engine"] == "lua" and summary["usage"]["calls"] == 0


@pytest.mark.parametrize(
    ("name", "text", "where"),
    [
        ("bad.lua", "local a = 1\nlocal b = a.c.d\n", "bad.lua:2:"),
        ("bad.js", "const a = 1;\nnull.x;\n", "bad.js:2:"),
        ("bad.tengo", 'a := 1\nb := a + "c"\n', "bad.tengo:2:"),
    ],
)
def test_a_failing_spell_reports_file_and_line_and_exits_1(
    tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str], name: str, text: str, where: str
) -> None:
    code = main(["run", write(tmp_path, name, text)])
    _, err = capsys.readouterr()
    assert code == 1
    assert where in err


def test_limits_are_named(tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["run", write(tmp_path, "spin.lua", "while true do end"), "--cpu-seconds", "0.2"])
    _, err = capsys.readouterr()
    assert code == 1 and "cpu limit exceeded" in err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["run", "missing.lua"], "missing.lua: cannot read spell"),
        (["run", "README.md"], "no engine for '.md'"),
        (["run", "spells/hello.lua", "-p", "novalue"], "expected KEY=VALUE"),
        (["run", "spells/hello.lua", "--timeout", "-1"], "--timeout: must be positive"),
        (["run", "spells/hello.lua", "--allow", "bad perm"], "--allow"),
        (
            ["run", "spells/hello.lua", "--allow", "bogus"],
            "--allow: unknown permission 'bogus'; known: fs.read, fs.write, net.http",
        ),
        (["run", "spells/hello.lua", "--allow", "fs.reed"], "unknown permission 'fs.reed'"),
        (["run", "spells/hello.lua", "--http-host", "*x.com"], "is not a host name"),
        (["run", "spells/hello.lua", "--config", "nothere.toml"], "nothere.toml: no such"),
    ],
)
def test_usage_errors_exit_2(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["run"], "the following arguments are required: file"),
        (["run", "spells/hello.lua", "--bogus"], "unrecognized arguments: --bogus"),
    ],
)
def test_argparse_usage_errors_exit_2(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize("allow", ["fs", "fs.read", "net", "*", "fs.read,net.http"])
def test_allow_takes_known_permissions_groups_and_all(
    allow: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["run", str(SPELLS / "hello.lua"), "--allow", allow]) == 0


def test_http_host_star_is_accepted_as_help_offers(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["run", "--help"])
    assert "'*'" in capsys.readouterr().out
    assert main(["run", str(SPELLS / "hello.lua"), "--http-host", "*"]) == 0
    assert "error" not in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "command"),
    [
        (["run", "x.lua"], "run"),
        (["--config", "c.toml", "state", "get", "k"], "state"),
        (["--config=c.toml", "events", "tail"], "events"),
        (["--help"], None),
        (["--conf", "c.toml", "run", "x.lua"], None),  # an abbreviation: the whole parser
        (["bogus"], None),
        ([], None),
    ],
)
def test_a_run_builds_only_its_command_parser_with_the_same_help(
    argv: list[str], command: str | None
) -> None:
    assert _command(argv) == command
    if command is not None:  # that command's flags and help are the whole parser's
        assert _command_help(_parser(command), command) == _command_help(_parser(), command)


def _command_help(parser: argparse.ArgumentParser, command: str) -> str:
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    assert isinstance(sub.choices, dict)
    return str(sub.choices[command].format_help())


@pytest.mark.parametrize("where", ["before", "after"])
def test_config_works_before_and_after_the_command(
    where: str, tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write(tmp_path, "small.toml", "[limits]\noutput_bytes = 10\n")
    spell = str(SPELLS / "hello.lua")
    argv = (
        ["--config", config, "run", spell]
        if where == "before"
        else ["run", "--config", config, spell]
    )
    code = main(argv)
    _, err = capsys.readouterr()
    assert code == 1
    assert "output limit exceeded: the spell printed more than 10 bytes" in err


def test_check_reports_syntax_errors_and_unknown_api_names(
    tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = write(tmp_path, "good.lua", "log.info('x')\nlocal r = llm.complete('hi')\n")
    typo = write(
        tmp_path, "typo.js", "// events.nope in a comment is fine\nawait events.emitt('a');\n"
    )
    broken = write(tmp_path, "broken.lua", "if then\n")
    tengo = write(tmp_path, "broken.tengo", "x := 1\nif x {\n  y := [1, 2,]\n}\n")
    code = main(["check", good, typo, broken, tengo])
    out = capsys.readouterr().out
    assert code == 1
    assert f"{good}: ok" in out
    assert f"{typo}:2:14: events.emitt is not part of the API; did you mean events.emit?" in out
    assert f"{broken}:1:4: syntax error: unexpected symbol near 'then'" in out
    assert f"{tengo}:3:14: syntax error: expected array element, found ']'" in out
    assert "events.nope" not in out


def test_example_spells_pass_check(capsys: pytest.CaptureFixture[str]) -> None:
    files = sorted(str(p) for p in SPELLS.iterdir() if p.suffix in (".lua", ".js", ".tengo"))
    assert main(["check", *files]) == 0


def test_tools_lists_builtins_with_parameters(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["tools"]) == 0
    out = capsys.readouterr().out
    assert "calculator" in out and "file_read  [needs --allow fs.read]" in out
    assert "- expression (string, required)" in out


def test_console_script_runs_offline_and_says_which_model_answered(tmp_path: pathlib.Path) -> None:
    spell = write(tmp_path, "ask.lua", "print(llm.complete('hello').content)")
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    proc = subprocess.run(
        [sys.executable, "-m", "llmspell", "run", spell],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("[offline model]")
    assert proc.stderr.count("answered by the offline model") == 1
    assert "--model" in proc.stderr


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("wait.lua", 'print("ready")\nsleep(60)\n'),
        ("wait.js", 'print("ready");\nawait sleep(60);\n'),
    ],
)
def test_sigint_while_a_spell_runs_exits_130(tmp_path: pathlib.Path, name: str, text: str) -> None:
    import select
    import signal

    spell = write(tmp_path, name, text)
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "llmspell", "run", spell],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    try:
        assert proc.stdout is not None
        readable, _, _ = select.select([proc.stdout], [], [], 120)
        assert readable, "the spell never printed 'ready'"
        assert proc.stdout.readline() == "ready\n"  # the spell is running: now interrupt it
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, f"exit code {proc.returncode}, stderr: {err}"
    assert "llmspell: interrupted" in err


# -- a closed standard output (`llmspell run x.lua | head -1`) ---------------------------------

ROOT = SPELLS.parent
CLOSED_OUTPUT = 141  # 128 + SIGPIPE, as a shell reports for `cat`


def run_with_closed_stdout(argv: list[str], cwd: pathlib.Path = ROOT) -> tuple[int, str]:
    """Run ``argv`` with its stdout a pipe whose reader has already gone away, so that its
    first write fails as it does once ``head -1`` exits. Returns (exit code, stderr)."""
    read, write = os.pipe()
    os.close(read)
    env = {k: v for k, v in os.environ.items() if not k.startswith("LLMSPELL_")}
    try:
        proc = subprocess.run(
            argv, stdout=write, stderr=subprocess.PIPE, text=True, cwd=cwd, env=env, timeout=120
        )
    finally:
        os.close(write)
    return proc.returncode, proc.stderr


LLMSPELL = [sys.executable, "-m", "llmspell"]
PRINT_LOOPS = {
    # prints from event handlers, as hello does: the handler used to fail and log the error
    "hello.lua": None,
    # a spell that catches the failed print and keeps printing, forever
    "yes.lua": "while true do pcall(print, 'y') end",
    "yes_handler.lua": """
        events.on("tick", function(event)
          pcall(print, "tick " .. event.n)
          events.emit("tick", {n = event.n + 1})
        end)
        events.emit("tick", {n = 1})
    """,
    "yes_handler.js": """
        events.on("tick", async (event) => {
          try { print("tick " + event.n); } catch (e) {}
          await events.emit("tick", {n: event.n + 1});
        });
        await events.emit("tick", {n: 1});
    """,
}


@pytest.mark.parametrize("name", sorted(PRINT_LOOPS))
def test_a_closed_stdout_ends_the_run_at_once_and_quietly(
    name: str, tmp_path: pathlib.Path
) -> None:
    source = PRINT_LOOPS[name]
    spell = str(SPELLS / name) if source is None else write(tmp_path, name, source)
    code, err = run_with_closed_stdout([*LLMSPELL, "run", spell, "--timeout", "60"])
    assert code == CLOSED_OUTPUT, err
    assert "Broken pipe" not in err and "Traceback" not in err
    assert "error" not in err.lower() and "limit exceeded" not in err


@pytest.mark.parametrize("argv", [["tools"], ["check", "spells/hello.lua"]])
def test_listing_commands_end_quietly_on_a_closed_stdout(argv: list[str]) -> None:
    assert run_with_closed_stdout([*LLMSPELL, *argv]) == (CLOSED_OUTPUT, "")


@pytest.mark.slow
def test_models_ends_quietly_on_a_closed_stdout() -> None:
    assert run_with_closed_stdout([*LLMSPELL, "models"]) == (CLOSED_OUTPUT, "")


def test_the_actors_demo_ends_quietly_on_a_closed_stdout() -> None:
    assert run_with_closed_stdout([sys.executable, "-m", "actors"]) == (CLOSED_OUTPUT, "")


def test_json_output_to_a_closed_stdout_ends_quietly() -> None:
    code, err = run_with_closed_stdout([*LLMSPELL, "run", "spells/hello.lua", "--json"])
    assert code == CLOSED_OUTPUT
    assert "Traceback" not in err and "hello, world, Lua!" in err  # the spell's output: stderr


# -- start-up: what a run imports ---------------------------------------------------------------

IMPORTED_AFTER_RUN = """
import sys
from llmspell._cli import main
code = main(["run", sys.argv[1], *sys.argv[2:]])
print("litellm" in sys.modules, code)
"""


@pytest.mark.parametrize(
    "source",
    [
        "print(llm.complete('hello').content)",
        "local a = llm.agent{name = 'x'}\nprint(a:run('hi'))",
        "print(llm.complete{prompt = 'n', schema = {type = 'object', properties = {n = {type = 'integer'}}}}.content)",
        "llm.stream('hello', function(text) end)",
    ],
)
def test_the_offline_model_does_not_import_litellm(source: str, tmp_path: pathlib.Path) -> None:
    """litellm takes seconds to import: a spell on the offline model must not pay for it."""
    spell = write(tmp_path, "offline.lua", source)
    env = {k: v for k, v in os.environ.items() if not k.startswith("LLMSPELL_")}
    proc = subprocess.run(
        [sys.executable, "-c", IMPORTED_AFTER_RUN, spell],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120,
    )  # fmt: skip
    assert proc.stdout.splitlines()[-1] == "False 0", proc.stderr


@pytest.mark.parametrize(
    ("source", "model", "config_model", "expected"),
    [
        ("print(llm.complete('x').content)", "openai/gpt-4o-mini", None, True),
        ("print(llm.complete('x').content)", None, "anthropic/claude-3-5-haiku-latest", True),
        ("print(llm.complete('x').content)", None, None, False),  # the offline model
        ("print(llm.complete('x').content)", "offline/llmspell", None, False),
        ("print('no model here')", "openai/gpt-4o-mini", None, False),
    ],
)
def test_litellm_is_imported_early_only_for_spells_that_will_need_it(
    source: str,
    model: str | None,
    config_model: str | None,
    expected: bool,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from llmspell._cli import _uses_litellm

    monkeypatch.delenv("LLMSPELL_MODEL", raising=False)
    assert _uses_litellm(source, model, config_model) is expected


@pytest.fixture
def served_in_a_thread() -> Iterator[str]:
    """The local OpenAI-compatible server, on its own loop in a thread (the CLI under test runs
    in another process)."""
    import asyncio
    import threading

    from llmspell.testing import OpenAIServer

    loop = asyncio.new_event_loop()
    ready = threading.Event()
    url: list[str] = []
    stop = asyncio.Event()

    async def serve() -> None:
        async with OpenAIServer(default_reply="Hello from the local server.") as server:
            url.append(server.base_url)
            ready.set()
            await stop.wait()

    thread = threading.Thread(target=loop.run_until_complete, args=(serve(),), daemon=True)
    thread.start()
    assert ready.wait(30)
    yield url[0]
    loop.call_soon_threadsafe(stop.set)
    thread.join(30)
    loop.close()


@pytest.mark.slow
def test_a_litellm_spell_waits_for_the_background_import_and_gets_its_answer(
    served_in_a_thread: str, tmp_path: pathlib.Path
) -> None:
    """The console script starts importing litellm before the engine starts; the spell's first
    call waits for that import instead of starting another, and gets the server's answer."""
    spell = write(tmp_path, "ask.lua", "print(llm.complete('hello').content)")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LLMSPELL_", "OPENAI_"))}
    env |= {"OPENAI_API_BASE": served_in_a_thread, "OPENAI_API_KEY": "sk-test"}
    proc = subprocess.run(
        [*LLMSPELL, "run", spell, "--model", "openai/test-model"],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=180,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "Hello from the local server.\n"


def test_json_output_writes_a_lone_surrogate_as_its_escape(tmp_path: pathlib.Path) -> None:
    """A JS string may hold a lone surrogate, which UTF-8 cannot encode: ``--json`` must still
    print valid JSON (the ``\\ud800`` escape), not die with UnicodeEncodeError."""
    spell = write(tmp_path, "s.js", 'return "a" + String.fromCharCode(0xD800) + "é";\n')
    proc = subprocess.run(
        [*LLMSPELL, "run", spell, "--json"], capture_output=True, timeout=60, check=False
    )
    assert proc.returncode == 0, proc.stderr
    text = proc.stdout.decode("utf-8")
    assert "\\ud800" in text and "é" in text  # readable, except what UTF-8 cannot hold
    assert json.loads(text)["value"] == "a\ud800é"
