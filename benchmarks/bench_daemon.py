"""``python -m benchmarks daemon``: ``llmspell serve`` over HTTP, against a bare Starlette app.

Rows:

* **throughput** — a trivial Lua spell (``return {ok = true, n = params.n}``) run by
  ``POST /spells/trivial/run`` at 50 concurrent clients, against a bare Starlette endpoint that
  reads the same JSON body and answers with the same JSON the daemon answers (a recorded run
  result), served by the same uvicorn configuration in a process of its own, driven by the same
  client in the same run. Target: at least 0.5 times the bare endpoint's rate.
* **latency p50 / p99** of the spell at 50 concurrent clients, against the bare endpoint's
  (reported; no target).
* **floor** — the same spell run in-process by ``Runtime.run`` at 50 concurrent callers (state
  and event log on, and the garbage collector set, as in the daemon), no HTTP at all, against
  the bare endpoint: no daemon can beat ``1 / (1 / run rate + 1 / bare rate)``, so this row
  says how much of the gap the spell runtime itself is (reported; no target).
* **soak** — 100,000 spell runs over HTTP; the daemon's resident memory (``VmRSS``) after all of
  them against after the first 10,000. Target: at most 1.1 times (a ratio of at least 0.91).

The client is ``wrk`` (Debian's package, installed here when missing and the benchmark runs as
root) with one thread per core left after the server's; without it, an httpx client in another
process (slower: the client then bounds both sides alike, which flatters the ratio). Each
server is one process, as ``llmspell serve`` is; nothing but loopback is used.
"""

from __future__ import annotations

import json
import os
import pathlib
import re
import shutil
import subprocess
import sys
import tempfile
import time
from typing import Any

from ._harness import Record, compare

CONNECTIONS = 50
DURATION = 10  # seconds per throughput measurement
SOAK_TOTAL, SOAK_FIRST = 100_000, 10_000
SPELL = "-- llmspell: concurrency=200\nreturn {ok = true, n = params.n}"
BODY = '{"n": 1}'
_HERE = pathlib.Path(__file__).parent

BARE_APP = """
import json, sys
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

ANSWER = json.loads(sys.argv[1])

async def run(request):
    params = await request.json()  # the daemon reads and decodes the body too
    return JSONResponse(ANSWER, headers={"x-llmspell-run-id": "0" * 12})

app = Starlette(routes=[Route("/spells/trivial/run", run, methods=["POST"])])
"""

WRK_SCRIPT = """
wrk.method = "POST"
wrk.body = '{body}'
wrk.headers["Content-Type"] = "application/json"
""".replace("{body}", BODY)


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_http(url: str, deadline: float = 60.0) -> None:
    import httpx

    end = time.monotonic() + deadline
    while time.monotonic() < end:
        try:
            if httpx.get(url, timeout=2).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"{url} did not answer")


def _wrk() -> str | None:
    if shutil.which("wrk") is None and os.geteuid() == 0 and shutil.which("apt-get"):
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        for argv in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "wrk"]):
            subprocess.run(argv, env=env, capture_output=True, check=False)
    return shutil.which("wrk")


_UNITS = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0}


def _seconds(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    if match is None:
        raise ValueError(f"wrk latency {text!r}")
    return float(match.group(1)) * _UNITS[match.group(2)]


class Load:
    """Drives ``url`` with ``CONNECTIONS`` concurrent clients; wrk, else httpx."""

    def __init__(self, workdir: pathlib.Path) -> None:
        self.wrk = _wrk()
        self.script = workdir / "post.lua"
        self.script.write_text(WRK_SCRIPT)

    def measure(self, url: str, *, seconds: float = DURATION) -> dict[str, Any]:
        """``{"rate", "p50", "p99", "requests", "errors"}`` of ``seconds`` of load."""
        if self.wrk is None:
            return self._httpx(url, seconds=seconds)
        threads = max(1, (os.cpu_count() or 2) - 1)
        argv = [self.wrk, f"-t{threads}", f"-c{CONNECTIONS}", f"-d{max(1, round(seconds))}s"]
        argv += ["--latency", "-s", str(self.script), url]
        out = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
        rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
        requests = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
        # the "Latency Distribution" rows (not the "+/- Stdev" column, which may end in 99%)
        p50 = re.search(r"^\s+50%\s+(\S+)$", out, re.M).group(1)  # type: ignore[union-attr]
        p99 = re.search(r"^\s+99%\s+(\S+)$", out, re.M).group(1)  # type: ignore[union-attr]
        bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
        errors = re.search(
            r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out
        )
        failed = int(bad.group(1)) if bad else 0
        failed += sum(int(g) for g in errors.groups()) if errors else 0
        return {"rate": rate, "p50": _seconds(p50), "p99": _seconds(p99),
                "requests": requests, "errors": failed}  # fmt: skip

    def _httpx(self, url: str, *, seconds: float) -> dict[str, Any]:
        code = _HTTPX_CLIENT % {"url": url, "seconds": seconds, "body": BODY}
        out = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        )
        return dict(json.loads(out.stdout))


_HTTPX_CLIENT = """
import asyncio, json, time, httpx
async def main():
    lat, errors, done = [], 0, 0
    end = time.perf_counter() + %(seconds)s
    async with httpx.AsyncClient(limits=httpx.Limits(max_connections=50)) as client:
        async def worker():
            nonlocal errors, done
            while time.perf_counter() < end:
                t = time.perf_counter()
                r = await client.post("%(url)s", content=b'%(body)s',
                                      headers={"content-type": "application/json"})
                lat.append(time.perf_counter() - t); done += 1
                errors += r.status_code >= 300
        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(50)))
        elapsed = time.perf_counter() - start
    lat.sort()
    print(json.dumps({"rate": len(lat) / elapsed, "p50": lat[len(lat) // 2],
                      "p99": lat[int(len(lat) * 0.99)], "requests": len(lat), "errors": errors}))
asyncio.run(main())
"""


def _rss(pid: int) -> int:
    for line in pathlib.Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")


def _start_daemon(workdir: pathlib.Path) -> tuple[subprocess.Popen[bytes], str]:
    spells = workdir / "spells"
    spells.mkdir()
    (spells / "trivial.lua").write_text(SPELL)
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("LLMSPELL_")}
    argv = [sys.executable, "-m", "llmspell", "serve", "--spells", str(spells)]
    argv += ["--port", str(port), "--state", str(workdir / "state.db"), "--log-format", "json"]
    proc = subprocess.Popen(argv, cwd=workdir, env=env, stderr=open(workdir / "daemon.log", "wb"))
    url = f"http://127.0.0.1:{port}"
    _wait_http(url + "/readyz")
    return proc, url


def _start_bare(workdir: pathlib.Path, answer: str) -> tuple[subprocess.Popen[bytes], str]:
    (workdir / "bare_app.py").write_text(BARE_APP)
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-c", _BARE_MAIN, answer, str(port)],
        cwd=workdir,
        stderr=open(workdir / "bare.log", "wb"),
    )
    url = f"http://127.0.0.1:{port}"
    _wait_http(url + "/spells/trivial/run")
    return proc, url


# The same uvicorn configuration as the daemon's (llmspell.serve._server.serve).
_BARE_MAIN = """
import sys, uvicorn
from llmspell.serve._server import HttpTools
import bare_app
config = uvicorn.Config(bare_app.app, host="127.0.0.1", port=int(sys.argv[2]), lifespan="on",
                        log_config=None, access_log=False, server_header=False, http=HttpTools)
uvicorn.Server(config).run()
"""


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(60)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def run() -> list[Record]:
    import httpx

    records: list[Record] = []
    with tempfile.TemporaryDirectory() as tmp:
        workdir = pathlib.Path(tmp)
        load = Load(workdir)
        client = "wrk" if load.wrk else "httpx"
        daemon, daemon_url = _start_daemon(workdir)
        try:
            run_url = daemon_url + "/spells/trivial/run"
            answer = httpx.post(run_url, content=BODY).text
            bare, bare_url = _start_bare(workdir, answer)
            try:
                bare_run = bare_url + "/spells/trivial/run"
                load.measure(bare_run, seconds=2)  # warm both up
                load.measure(run_url, seconds=2)
                spell = load.measure(run_url)
                base = load.measure(bare_run)
            finally:
                _stop(bare)
            assert spell["errors"] == 0 and base["errors"] == 0, (spell, base)
            records.append(
                compare(
                    f"trivial Lua spell over HTTP, {CONNECTIONS} clients ({client})",
                    spell["rate"],
                    "req/s",
                    baseline="bare Starlette req/s",
                    baseline_value=base["rate"],
                    target=0.5,
                )
            )
            for q in ("p50", "p99"):
                records.append(
                    compare(
                        f"spell latency {q}, {CONNECTIONS} clients",
                        spell[q] * 1e3,
                        "ms",
                        baseline=f"bare Starlette {q} ms",
                        baseline_value=base[q] * 1e3,
                        target=None,
                        lower_is_better=True,
                    )
                )
            floor = _in_process_rate(workdir)
            records.append(
                compare(
                    f"floor: Runtime.run in-process, {CONNECTIONS} callers (no HTTP)",
                    floor,
                    "runs/s",
                    baseline="bare Starlette req/s",
                    baseline_value=base["rate"],
                    target=None,
                )
            )
            records.append(_soak(load, daemon, run_url, spell["rate"]))
        finally:
            _stop(daemon)
    return records


def _in_process_rate(workdir: pathlib.Path, runs: int = 5000) -> float:
    import gc

    import anyio

    import llmspell
    from llmspell.serve._server import settle_gc

    spell = llmspell.SpellSource(SPELL, "trivial.lua")
    db = workdir / "floor.db"

    async def main() -> float:
        async with llmspell.open_runtime(state=db, event_log=db) as runtime:
            settle_gc()  # the collector as the daemon sets it once serving

            async def caller(n: int) -> None:
                for _ in range(n):
                    await runtime.run(spell, params={"n": 1})

            await caller(200)  # warm up
            start = time.perf_counter()
            async with anyio.create_task_group() as tg:
                for _ in range(CONNECTIONS):
                    tg.start_soon(caller, runs // CONNECTIONS)
            return runs / (time.perf_counter() - start)

    threshold = gc.get_threshold()
    try:
        return anyio.run(main)
    finally:
        gc.set_threshold(*threshold)
        gc.unfreeze()


def _soak(load: Load, daemon: subprocess.Popen[bytes], url: str, rate: float) -> Record:
    """Load in chunks sized by the measured rate until each count is reached (wrk runs for
    a duration, not a number of requests: the counts overshoot a little, and say so)."""
    done = 0

    def drive(until: int) -> None:
        nonlocal done
        while done < until:
            result = load.measure(url, seconds=max(1.0, min(30.0, (until - done) / rate)))
            if result["errors"]:
                raise RuntimeError(f"soak: {result['errors']} failed requests")
            done += result["requests"]

    drive(SOAK_FIRST)
    first, first_count = _rss(daemon.pid), done
    drive(SOAK_TOTAL)
    after = _rss(daemon.pid)
    return compare(
        f"daemon RSS after {done:,} requests",
        after / 2**20,
        "MiB",
        baseline=f"MiB after the first {first_count:,}",
        baseline_value=first / 2**20,
        target=1 / 1.1,
        lower_is_better=True,
    )
