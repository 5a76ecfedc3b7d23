"""The daemon's life: SIGTERM with a run in flight, a second signal, kill -9 mid-workflow."""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from typing import Any

import httpx
import pytest

from .daemonproc import DaemonProcess, wait_until

pytestmark = pytest.mark.slow

# Finishes only once the daemon has started shutting down, and some work later: the run is
# in flight at SIGTERM, and still is while the server shuts down.
UNTIL_DRAINING = """
    print("waiting")
    local event = events.wait("daemon.draining", 60)
    sleep(1)
    return {finished = true, grace = event.grace}
"""

FOREVER = 'events.wait("never.happens", 600)\nreturn "unreachable"'

INC = "function(n) return (n or 0) + 1 end"
WORKFLOW = f"""
    local wf = workflow.create{{name = "job"}}
    wf:addStep{{name = "a", fn = function(input) return state.update("ran_a", {INC}) end}}
    wf:addStep{{name = "b", fn = function(input, outputs)
      local n = state.update("ran_b", {INC})
      if n == 1 then events.wait("never.happens", 600) end  -- the first attempt hangs
      return n
    end}}
    wf:addStep{{name = "c", fn = function(input, outputs)
      return {{a = state.get("ran_a"), b = outputs.b}}
    end}}
    return wf:run({{job = params.job}}, ID)
"""


def _post_in_thread(daemon: DaemonProcess, spell: str, params: Any) -> list[Any]:
    box: list[Any] = []

    def post() -> None:
        try:
            box.append(daemon.run(spell, params))
        except httpx.HTTPError as exc:  # the daemon was killed under it
            box.append(exc)

    thread = threading.Thread(target=post, daemon=True)
    thread.start()
    box.append(thread)
    return box


def test_sigterm_lets_the_run_in_flight_finish_then_exits_0(tmp_path: Path) -> None:
    daemon = DaemonProcess(tmp_path, "--grace", "30")
    daemon.write("slow.lua", UNTIL_DRAINING)
    daemon.start()
    try:
        box = _post_in_thread(daemon, "slow", {})
        thread = box.pop()
        wait_until(lambda: daemon.spell("slow")["active"] == 1, "the run")  # type: ignore[index]
        assert thread.is_alive()
        daemon.signal(signal.SIGTERM)
        assert daemon.wait() == 0
        thread.join(30)
        response = box[0]
        assert isinstance(response, httpx.Response), response
        assert response.status_code == 200
        assert response.json()["value"] == {"finished": True, "grace": 30}
        with pytest.raises(httpx.ConnectError):  # it no longer accepts
            daemon.get("/healthz")
        assert "draining: 1 runs in flight" in daemon.log()
    finally:
        daemon.stop()


def test_past_the_grace_period_runs_are_stopped_and_a_second_signal_exits_at_once(
    tmp_path: Path,
) -> None:
    daemon = DaemonProcess(tmp_path, "--grace", "0.5")
    daemon.write("forever.lua", FOREVER)
    daemon.start()
    box = _post_in_thread(daemon, "forever", {})
    thread = box.pop()
    wait_until(lambda: daemon.spell("forever")["active"] == 1, "the run")  # type: ignore[index]
    daemon.signal(signal.SIGTERM)
    assert daemon.wait() == 0
    thread.join(30)
    assert box[0].status_code == 503 and box[0].json()["status"] == "stopped"

    second = DaemonProcess(tmp_path, "--grace", "600")
    second.start()
    box = _post_in_thread(second, "forever", {})
    wait_until(lambda: second.spell("forever")["active"] == 1, "the run")  # type: ignore[index]
    second.signal(signal.SIGTERM)
    wait_until(lambda: "SIGTERM: shutting down" in second.log(), "the first signal")
    second.signal(signal.SIGINT)
    assert second.wait() == 128 + signal.SIGINT  # not the 600 s grace


def test_kill_9_mid_workflow_then_restart_completes_it_without_rerunning_steps(
    tmp_path: Path,
) -> None:
    daemon = DaemonProcess(tmp_path)
    daemon.write("job.lua", WORKFLOW.replace("ID", '{id = "job-" .. params.job}'))
    daemon.write("anon.lua", WORKFLOW.replace("ID", "nil"))  # no stable id: cannot resume
    daemon.start()
    for spell in ("job", "anon"):
        _post_in_thread(daemon, spell, {"job": "1"})
    with daemon.events("workflow.step.started", since=0) as stream:
        for spell in ("job", "anon"):
            stream.wait_for(
                lambda e, s=spell: e["payload"]["spell"] == s and e["payload"]["step"] == "b",
                f"{spell}: step b",
            )
    running = {r["spell"]: r for r in daemon.get("/workflows").json()["workflows"]}
    assert running["job"]["status"] == "running" and running["job"]["steps"] == 1
    daemon.proc.kill()  # type: ignore[union-attr]
    daemon.wait()

    daemon.start()  # the same directory, the same state database
    done = wait_until(
        lambda: (r := daemon.get("/workflows/job-1").json())["status"] == "completed" and r,
        "the workflow to complete",
    )
    assert done["result"]["output"] == {"a": 1, "b": 2}  # a ran once; b, cut short, twice
    assert [c["name"] for c in done["checkpoints"]] == ["a", "b", "c"]

    def anon_failed() -> dict[str, Any] | None:
        runs = daemon.get("/workflows", params={"status": "failed"}).json()["workflows"]
        return next((r for r in runs if r["spell"] == "anon"), None)

    anon = wait_until(anon_failed, "the run without a stable id to be reported")
    assert "stable id" in anon["error"]
    assert "resuming workflow runs job-1" in daemon.log()
    daemon.stop()
    assert daemon.wait() == 0

    daemon.start()  # nothing stranded is left: nothing runs again
    assert "resuming" not in daemon.log()
    daemon.stop()


def test_a_workflow_stopped_at_the_end_of_the_grace_period_resumes_at_the_next_start(
    tmp_path: Path,
) -> None:
    daemon = DaemonProcess(tmp_path, "--grace", "0.5")
    daemon.write("job.lua", WORKFLOW.replace("ID", '{id = "job-" .. params.job}'))
    daemon.start()
    _post_in_thread(daemon, "job", {"job": "2"})
    with daemon.events("workflow.step.started", since=0) as stream:
        stream.wait_for(lambda e: e["payload"]["step"] == "b", "step b")
    daemon.signal(signal.SIGTERM)
    assert daemon.wait() == 0
    daemon.start()
    done = wait_until(
        lambda: (r := daemon.get("/workflows/job-2").json())["status"] == "completed" and r,
        "the workflow to complete",
    )
    assert done["result"]["output"] == {"a": 1, "b": 2}
    daemon.stop()
