"""The ``llmspell`` command: run, check, tools, exit codes and error reports."""

from __future__ import annotations

import json
import pathlib
import subprocess
import sys

import pytest

from llmspell._cli import main

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
        (["run"], "the following arguments are required: file"),
    ],
)
def test_usage_errors_exit_2(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) if argv == ["run"] else _nothing():
        code = main(argv)
        assert code == 2
    assert message in capsys.readouterr().err


class _nothing:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


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
    assert f"{typo}:2: events.emitt is not part of the API; did you mean events.emit?" in out
    assert f"{broken}:1: syntax error" in out
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
