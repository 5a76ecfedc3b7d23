"""Every snippet in the README runs as shown (Python blocks as scripts, shell blocks line by line).

Five shell blocks are not run here, and the test names them so that any other block is run:
the set-up command and the test command (CI, ``.ci/run``, runs exactly those), the benchmark
commands (minutes each; ``benchmarks/`` is their home) and the daemon's, alone and joined by NATS
(they run until stopped; ``tests/serve/`` drives real daemons). TOML blocks are checked as configuration.
"""

from __future__ import annotations

import os
import pathlib
import re
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
BLOCKS = re.findall(r"^```(\w+)\n(.*?)^```$", README, flags=re.MULTILINE | re.DOTALL)
NOT_RUN_HERE = {
    "pip install": "the set-up command: .ci/run runs it",
    "-m pytest": "the test suite itself: .ci/run runs it",
    "-m benchmarks": "minutes each: python -m benchmarks",
    "llmspell serve --spells": "runs until stopped: tests/serve/ drives real daemons",
    "--nats nats://": "a NATS server and daemons, until stopped: tests/serve/test_nats.py",
}
BIN = str(pathlib.Path(sys.executable).parent) + "/"


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LLMSPELL_")}
    env["PYTHONPATH"] = str(ROOT)
    return env


def _skipped(code: str) -> bool:
    return any(marker in code for marker in NOT_RUN_HERE)


PYTHON = [code for lang, code in BLOCKS if lang == "python"]
SHELL = [
    line.split("  #")[0].strip()
    for lang, code in BLOCKS
    if lang == "sh" and not _skipped(code)
    for line in code.splitlines()
    if line.strip()
]


def test_the_readme_has_snippets_and_skips_only_the_named_ones() -> None:
    assert {lang for lang, _ in BLOCKS} == {"sh", "python", "lua", "toml"}
    assert len(PYTHON) >= 2 and len(SHELL) >= 6
    skipped = [code for lang, code in BLOCKS if _skipped(code)]
    assert len(skipped) == len(NOT_RUN_HERE)


@pytest.mark.parametrize("code", PYTHON, ids=[f"python-{i + 1}" for i in range(len(PYTHON))])
def test_python_snippet_runs_as_shown(code: str, tmp_path: pathlib.Path) -> None:
    """Run as a script from the repository root; it prints what its ``# prints:`` comments
    say."""
    script = tmp_path / "snippet.py"
    script.write_text(code, encoding="utf-8")
    proc = subprocess.run(
        [sys.executable, str(script)],
        cwd=ROOT,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    expected = re.findall(r"# prints: (.*)$", code, flags=re.MULTILINE)
    assert expected and proc.stdout.splitlines() == expected


LUA = [code for lang, code in BLOCKS if lang == "lua"]


@pytest.mark.parametrize("code", LUA, ids=[f"lua-{i + 1}" for i in range(len(LUA))])
def test_lua_snippet_runs_as_a_spell(code: str, tmp_path: pathlib.Path) -> None:
    spell = tmp_path / "snippet.lua"
    spell.write_text(code, encoding="utf-8")
    proc = subprocess.run(
        [BIN + "llmspell", "run", str(spell)],
        cwd=tmp_path,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "error" not in proc.stderr.lower()


TOML = [code for lang, code in BLOCKS if lang == "toml"]


@pytest.mark.parametrize("code", TOML, ids=[f"toml-{i + 1}" for i in range(len(TOML))])
def test_toml_snippet_is_valid_configuration(code: str, tmp_path: pathlib.Path) -> None:
    from llmspell import load_config
    from llmspell.serve._spellconfig import parse_table

    file = tmp_path / "llmspell.toml"
    file.write_text(code, encoding="utf-8")
    config = load_config(file, env={})
    for name, table in config.spells.items():
        parse_table(table, f"[spells.{name}]")


QUIET = ("state set ", "state delete ")
"""Commands that, like ``cp``, print nothing when they succeed."""


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    """Where the shell lines run, in README order: a fresh directory (its own
    ``.llmspell/state.db``) that sees the repository's ``spells/``."""
    path = tmp_path_factory.mktemp("readme")
    (path / "spells").symlink_to(ROOT / "spells")
    return path


@pytest.mark.parametrize("line", SHELL)
def test_shell_line_runs_as_shown(line: str, workdir: pathlib.Path) -> None:
    command = line.replace(".venv/bin/", BIN)
    proc = subprocess.run(
        ["bash", "-c", command],
        cwd=workdir,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() or any(quiet in line for quiet in QUIET)
    assert "Traceback" not in proc.stderr and "error" not in proc.stderr.lower()
