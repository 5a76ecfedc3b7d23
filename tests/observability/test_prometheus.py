"""A real Prometheus (Debian's ``prometheus``) scrapes a running llmspell runtime.

The server runs as a plain process on loopback with its own data directory; the test waits for
it by asking its HTTP API (it is another process: there is no event to wait on), then checks
what it stored and that every dashboard query evaluates.
"""

from __future__ import annotations

import os
import pathlib
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from typing import Any

import anyio
import httpx
import pytest

import observability

from ..llmspell.spellkit import run_source
from .conftest import InstantModel, observed
from .test_operator_files import queries

pytestmark = [pytest.mark.anyio, pytest.mark.slow]


def _prometheus_binary() -> str:
    binary = shutil.which("prometheus")
    if binary is None:
        if os.environ.get("CI"):
            pytest.fail("prometheus is missing: .ci/run installs Debian's prometheus package")
        pytest.skip("prometheus not installed (apt-get install prometheus)")
    return binary


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def prometheus_for(tmp_path: pathlib.Path) -> Iterator[Any]:
    """Start a Prometheus scraping ``127.0.0.1:<port>`` every 250 ms; yields its base URL."""
    binary = _prometheus_binary()
    procs: list[subprocess.Popen[bytes]] = []

    def start(target_port: int) -> str:
        config = tmp_path / "prometheus.yml"
        config.write_text(
            "global:\n  scrape_interval: 250ms\n  scrape_timeout: 200ms\n"
            "scrape_configs:\n  - job_name: llmspell\n    static_configs:\n"
            f"      - targets: ['127.0.0.1:{target_port}']\n",
            encoding="utf-8",
        )
        port = _free_port()
        log = (tmp_path / "prometheus.log").open("wb")
        procs.append(
            subprocess.Popen(
                [
                    binary,
                    f"--config.file={config}",
                    f"--storage.tsdb.path={tmp_path / 'data'}",
                    f"--web.listen-address=127.0.0.1:{port}",
                    "--log.level=warn",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        )
        return f"http://127.0.0.1:{port}"

    yield start
    for proc in procs:
        proc.terminate()
        proc.wait(timeout=30)


async def _query(client: httpx.AsyncClient, base: str, expr: str) -> dict[str, Any]:
    reply = await client.get(f"{base}/api/v1/query", params={"query": expr})
    body: dict[str, Any] = reply.json()
    return body


async def _wait_for_series(client: httpx.AsyncClient, base: str, expr: str) -> list[Any]:
    """Ask Prometheus until ``expr`` has a result (60 s at most)."""
    deadline = time.monotonic() + 60
    while True:
        try:
            body = await _query(client, base, expr)
            if body.get("status") == "success" and body["data"]["result"]:
                result: list[Any] = body["data"]["result"]
                return result
        except httpx.TransportError:
            pass  # not listening yet
        if time.monotonic() > deadline:
            raise AssertionError(f"Prometheus never had {expr}")
        await anyio.sleep(0.25)


async def test_prometheus_scrapes_spell_runs_and_llm_tokens(prometheus_for: Any) -> None:
    obs = observability.create_observer(metrics=True)
    server = observability.serve_metrics(obs, 0)
    try:
        async with observed(obs, InstantModel(cost=0.5)) as rt:
            for _ in range(2):
                ran = await run_source('return llm.complete("hi").content', "lua", runtime=rt)
                assert ran.result.ok
            await run_source('error("boom")', "lua", runtime=rt)
            base = prometheus_for(server.port)
            async with httpx.AsyncClient(timeout=10) as client:
                runs = await _wait_for_series(client, base, "llmspell_runs_total")
                tokens = await _wait_for_series(client, base, "llmspell_llm_tokens_total")
                targets = (await client.get(f"{base}/api/v1/targets")).json()
                evaluated = [
                    (expr, await _query(client, base, _as_grafana_would(expr)))
                    for expr in queries()
                ]
    finally:
        await anyio.to_thread.run_sync(server.close)
    by_outcome = {r["metric"]["outcome"]: float(r["value"][1]) for r in runs}
    assert by_outcome == {"ok": 2.0, "error": 1.0}
    assert {r["metric"]["spell"] for r in runs} == {"spell"}
    by_type = {r["metric"]["type"]: float(r["value"][1]) for r in tokens}
    assert by_type == {"input": 14.0, "output": 6.0}
    assert {r["metric"]["model"] for r in tokens} == {"openai/gpt-4o-mini"}
    (target,) = targets["data"]["activeTargets"]
    assert target["health"] == "up"
    failed = [(expr, body) for expr, body in evaluated if body.get("status") != "success"]
    assert failed == []


def _as_grafana_would(expr: str) -> str:
    """A dashboard query with Grafana's variables filled in."""
    for variable, value in (
        ("$__rate_interval", "1m"),
        ("$__interval", "1m"),
        ("$__range", "5m"),
        ("$spell", ".*"),
        ("$model", ".*"),
    ):
        expr = expr.replace(variable, value)
    return expr
