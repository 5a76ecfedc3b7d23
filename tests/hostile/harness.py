"""Running a hostile spell beside a bystander in a separate process, and what every hostile
test asserts about it.

A hostile spell may crash the interpreter it runs in (that was the bug: a Lua PANIC aborts the
process), so each one runs in a subprocess (``_worker.py``), in a network namespace with only a
loopback (``unshare -rn``) where this machine allows it. :func:`hostile` asserts what holds for
every class of attack:

* the process survives (it prints its report and exits 0);
* the hostile run ends within its limit plus a margin, with the expected error;
* the bystander, started at the same moment in the same runtime, finishes normally (and first,
  when the hostile run lasts seconds: computing never holds the event loop);
* the process's peak resident memory stays under a bound proportional to the memory limit.
"""

from __future__ import annotations

import json
import os
import pathlib
import re
import shutil
import subprocess
import sys
from typing import Any

import pytest

WORKER = pathlib.Path(__file__).with_name("_worker.py")
ROOT = pathlib.Path(__file__).parents[2]

MEMORY = 32 * 2**20
LIMITS = {"timeout_seconds": 4.0, "cpu_seconds": 2.0, "memory_bytes": MEMORY}
MARGIN = 4.0
"""Seconds past a limit a run may take to end (a loaded 2-core machine; hang detection only)."""
STALL = 2.5
"""A hostile run lasting this many seconds must let the bystander (~0.3 s alone) finish first."""
RSS_BASE = 200 * 2**20
RSS_PER_LIMIT = 4
"""Peak RSS may be at most RSS_BASE + RSS_PER_LIMIT times the memory limit."""


def _namespace_prefix() -> list[str]:
    """``unshare -rn`` (a network namespace whose only interface is its own loopback, brought
    up) when it works here."""
    if shutil.which("unshare") is None or shutil.which("ip") is None:
        return []
    command = ["unshare", "-rn", "sh", "-c", 'ip link set lo up && exec "$0" "$@"']
    probe = subprocess.run([*command, "true"], capture_output=True, check=False)
    return command if probe.returncode == 0 else []


NAMESPACE = _namespace_prefix()


def need_namespace() -> None:
    """For a test that touches the network: skip without a namespace (fail under CI=1)."""
    if not NAMESPACE:
        message = "unshare -rn does not work here: no network namespace for this test"
        if os.environ.get("CI") == "1":
            pytest.fail(message)
        pytest.skip(message)


def run_worker(request: dict[str, Any], *, wall: float) -> dict[str, Any]:
    """Run the worker on ``request``; return its report (fails the test if it crashed)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        [*NAMESPACE, sys.executable, str(WORKER)],
        input=json.dumps(request),
        capture_output=True,
        text=True,
        timeout=wall,
        cwd=request.get("workspace") or ROOT,
        env=env,
        check=False,
    )
    assert proc.returncode == 0, (
        f"the process did not survive (exit {proc.returncode}): {proc.stderr[-3000:]}"
    )
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]))


def hostile(
    source: str,
    ext: str = "lua",
    *,
    error_type: str | None,
    match: str | None = None,
    limits: dict[str, float] | None = None,
    workspace: pathlib.Path | None = None,
    allow: tuple[str, ...] = (),
    silent_server: bool = False,
    http_hosts: tuple[str, ...] = (),
) -> dict[str, Any]:
    """Run ``source`` beside the bystander and check the four properties.

    ``error_type`` is the class name the hostile run must end with (None: it must succeed;
    ``"*"``: either); ``match``, a regex its error (or, when it succeeds, its output) must
    contain.
    """
    lim = {**LIMITS, **(limits or {})}
    request = {
        "source": source,
        "ext": ext,
        "limits": lim,
        "workspace": str(workspace) if workspace else None,
        "allow": list(allow),
        "silent_server": silent_server,
        "http_hosts": list(http_hosts),
    }
    report = run_worker(request, wall=lim["timeout_seconds"] + 30)
    run = report["hostile"]
    assert run["elapsed"] <= lim["timeout_seconds"] + MARGIN, run
    if error_type == "*":
        pass
    elif error_type is None:
        assert run["status"] == "ok", run
        if match is not None:
            assert re.search(match, run["output"]), run
    else:
        assert (run["status"], run["error_type"]) == ("error", error_type), run
        if match is not None:
            assert re.search(match, run["error"] or ""), run
    bystander = report["bystander"]
    assert bystander["status"] == "ok", bystander
    assert bystander["output"].startswith("bystander ok 30 "), bystander
    if run["elapsed"] >= STALL:  # the hostile run did not hold the loop (or the bystander)
        assert bystander["elapsed"] < run["elapsed"], (bystander, run)
    peak = report["peak_rss_kb"] * 1024
    assert peak <= RSS_BASE + RSS_PER_LIMIT * lim["memory_bytes"], f"peak RSS {peak} bytes"
    return report
