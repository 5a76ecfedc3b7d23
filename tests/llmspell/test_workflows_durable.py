"""kill -9 of ``llmspell run`` in the middle of a durable workflow, in every engine.

The rerun resumes after the last completed step: a step that completed is not run again (each
step prints when it runs, and the test counts the lines), the step that was running runs again,
and a third run returns the recorded result without running anything. With parallel branches,
only the branch that had not finished runs again.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
BOTH = pytest.mark.parametrize("ext", ["lua", "js", "tengo"])
LLMSPELL = [sys.executable, "-m", "llmspell"]

SEQUENTIAL = {
    "lua": """
        local wf = workflow.create{name = "steps"}
        wf:addStep{name = "a", fn = function(input) print("ran a"); return input.n + 1 end}
        wf:addStep{name = "b", fn = function(input, outputs)
          print("start b")
          if params.block == "1" then sleep(60) end
          print("ran b"); return outputs.a * 10 end}
        wf:addStep{name = "c", fn = function(input, outputs) print("ran c"); return outputs.b + 1 end}
        return wf:run({n = 1}, {id = "job-7"})
    """,
    "js": """
        const wf = await workflow.create({name: "steps"});
        await wf.addStep({name: "a", fn: (input) => { print("ran a"); return input.n + 1; }});
        await wf.addStep({name: "b", fn: async (input, outputs) => {
          print("start b");
          if (params.block === "1") await sleep(60);
          print("ran b"); return outputs.a * 10; }});
        await wf.addStep({name: "c", fn: (input, outputs) => { print("ran c"); return outputs.b + 1; }});
        return await wf.run({n: 1}, {id: "job-7"});
    """,
    "tengo": """
        wf := workflow.create({name: "steps"})
        wf.addStep({name: "a", fn: func(input) { print("ran a"); return input.n + 1 }})
        wf.addStep({name: "b", fn: func(input, outputs) {
          print("start b")
          if params.block == "1" { sleep(60) }
          print("ran b"); return outputs.a * 10 }})
        wf.addStep({name: "c", fn: func(input, outputs) { print("ran c"); return outputs.b + 1 }})
        export wf.run({n: 1}, {id: "job-7"})
    """,
}

PARALLEL = {
    "lua": """
        local wf = workflow.create{name = "fan", type = "parallel"}
        for i = 1, 3 do
          wf:addStep{name = "b" .. i, fn = function()
            if i == 3 and params.block == "1" then print("start b3"); sleep(60) end
            print("ran b" .. i); return i end}
        end
        return wf:run(nil, {id = "fan-1"})
    """,
    "js": """
        const wf = await workflow.create({name: "fan", type: "parallel"});
        for (let i = 1; i <= 3; i++) {
          await wf.addStep({name: "b" + i, fn: async () => {
            if (i === 3 && params.block === "1") { print("start b3"); await sleep(60); }
            print("ran b" + i); return i; }});
        }
        return await wf.run(null, {id: "fan-1"});
    """,
    "tengo": """
        wf := workflow.create({name: "fan", type: "parallel"})
        branch := func(i) {
          return func() {
            if i == 3 && params.block == "1" { print("start b3"); sleep(60) }
            print("ran b" + string(i)); return i
          }
        }
        for i := 1; i <= 3; i++ { wf.addStep({name: "b" + string(i), fn: branch(i)}) }
        export wf.run(undefined, {id: "fan-1"})
    """,
}


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("LLMSPELL_STATE", None)
    return env


def _run(cwd: Path, spell: str, *params: str) -> tuple[str, dict[str, object]]:
    proc = subprocess.run(
        [*LLMSPELL, "run", spell, "--json", *(a for p in params for a in ("-p", p))],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        env=_env(),
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    printed = [line for line in proc.stderr.splitlines() if line.startswith(("ran", "start"))]
    return "\n".join(printed), result["value"]


def _steps(db: Path, run_id: str) -> set[str]:
    try:
        with sqlite3.connect(db) as conn:
            rows = conn.execute(
                "SELECT name FROM workflow_steps WHERE run_id = ?", (run_id,)
            ).fetchall()
    except sqlite3.OperationalError:  # not created yet
        return set()
    return {row[0] for row in rows}


def _kill_when(cwd: Path, spell: str, ready: object, deadline: float = 60.0) -> str:
    """Start ``spell`` blocking; kill -9 it once ``ready(lines)`` holds; return its output.

    The output is read by a thread, so that a condition on the database (polled here) is seen
    even while the spell prints nothing more.
    """
    proc = subprocess.Popen(
        [*LLMSPELL, "run", spell, "-p", "block=1"],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=_env(),
    )
    assert proc.stdout is not None
    stdout = proc.stdout
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(x.strip() for x in stdout), daemon=True)
    reader.start()
    end = time.monotonic() + deadline
    try:
        while not ready(list(lines)):  # type: ignore[operator]
            assert time.monotonic() < end, f"not ready: {lines}"
            assert proc.poll() is None, f"the run ended early: {lines}"
            time.sleep(0.02)  # polling another process: nothing to wait on in-process
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        reader.join(timeout=10)
    return "\n".join(lines)


def _integrity(db: Path) -> str:
    with sqlite3.connect(db) as conn:
        return str(conn.execute("PRAGMA integrity_check").fetchone()[0])


@BOTH
def test_kill_9_mid_step_then_the_rerun_resumes_after_the_last_completed_step(
    ext: str, tmp_path: Path
) -> None:
    spell = tmp_path / f"steps.{ext}"
    spell.write_text(SEQUENTIAL[ext])
    before = _kill_when(tmp_path, spell.name, lambda lines: "start b" in lines)
    assert before == "ran a\nstart b"
    db = tmp_path / ".llmspell" / "state.db"
    assert _integrity(db) == "ok"
    assert _steps(db, "job-7") == {"a"}

    printed, value = _run(tmp_path, spell.name)
    assert printed == "start b\nran b\nran c"  # "a" is not run again; "b" runs again
    assert value["status"] == "completed" and value["output"] == 21
    printed, again = _run(tmp_path, spell.name)
    assert printed == ""  # a third run returns the recorded result
    assert again == value


@BOTH
def test_kill_9_with_two_of_three_branches_done_reruns_only_the_third(
    ext: str, tmp_path: Path
) -> None:
    spell = tmp_path / f"fan.{ext}"
    spell.write_text(PARALLEL[ext])
    db = tmp_path / ".llmspell" / "state.db"
    _kill_when(
        tmp_path,
        spell.name,
        lambda lines: "start b3" in lines and _steps(db, "fan-1") == {"b1", "b2"},
    )
    assert _integrity(db) == "ok"
    printed, value = _run(tmp_path, spell.name)
    assert printed == "ran b3"
    assert value["output"] == {"b1": 1, "b2": 2, "b3": 3}


@BOTH
def test_a_run_whose_process_died_is_listed_as_stranded(ext: str, tmp_path: Path) -> None:
    spell = tmp_path / f"steps.{ext}"
    spell.write_text(SEQUENTIAL[ext])
    _kill_when(tmp_path, spell.name, lambda lines: "start b" in lines)
    listing = subprocess.run(
        [*LLMSPELL, "workflows", "list", "--json"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        env=_env(),
    )
    assert listing.returncode == 0, listing.stderr
    (run,) = json.loads(listing.stdout)
    assert run["id"] == "job-7" and run["status"] == "stranded" and run["steps"] == 1
    assert run["params"] == {"block": "1"}  # what a daemon reruns the spell with
    shown = subprocess.run(
        [*LLMSPELL, "workflows", "show", "job-7"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        env=_env(),
    )
    assert "status    stranded" in shown.stdout
    assert "0            a" in shown.stdout
