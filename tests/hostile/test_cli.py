"""``llmspell run`` against hostile input: Ctrl-C while a script computes, a file that is not
UTF-8."""

from __future__ import annotations

import os
import pathlib
import select
import signal
import subprocess
import sys
import time

import pytest

from .harness import ROOT

pytestmark = pytest.mark.slow  # a subprocess each, some run to their limit


def _start(spell: pathlib.Path) -> subprocess.Popen[str]:
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [sys.executable, "-m", "llmspell", "run", str(spell), "--cpu-seconds", "30"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=spell.parent,
        env={**env, "HOME": str(spell.parent)},
    )


@pytest.mark.parametrize(
    ("name", "source"),
    [
        ("spin.lua", 'print("ready")\nlocal x = 0\nwhile true do x = x + 1 end\n'),
        ("spin.js", 'console.log("ready");\nlet x = 0;\nwhile (true) { x++; }\n'),
        ("strings.lua", 'print("ready")\nwhile true do local s = string.rep("x", 1000) end\n'),
        ("wait.lua", 'print("ready")\nsleep(60)\n'),
    ],
)
def test_sigint_ends_a_computing_script_promptly_with_130(
    tmp_path: pathlib.Path, name: str, source: str
) -> None:
    spell = tmp_path / name
    spell.write_text(source)
    proc = _start(spell)
    try:
        assert proc.stdout is not None
        readable, _, _ = select.select([proc.stdout], [], [], 60)
        assert readable and proc.stdout.readline() == "ready\n"
        time.sleep(0.2)  # well into its loop
        sent = time.monotonic()
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=20)
        took = time.monotonic() - sent
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, err
    assert "interrupted" in err
    assert "Traceback" not in err
    assert took < 5, f"SIGINT took {took:.2f} s"  # hang detection; ~0.05 s measured


def test_a_spell_that_is_not_utf8_is_a_usage_error(tmp_path: pathlib.Path) -> None:
    spell = tmp_path / "latin1.lua"
    spell.write_bytes(b'print("ok")\n-- caf\xe9\n')
    for command in ("run", "check"):
        proc = subprocess.run(
            [sys.executable, "-m", "llmspell", command, str(spell)],
            capture_output=True,
            text=True,
            cwd=tmp_path,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            timeout=60,
            check=False,
        )
        assert proc.returncode == 2, proc.stderr
        assert "latin1.lua: not UTF-8 text (byte 18 is 0xe9)" in proc.stderr
        assert "Traceback" not in proc.stderr
