"""Daemons joined by NATS (``llmspell serve --nats URL``), as real processes on one real
``nats-server -js``: shared events, queued runs shared among them, kill -9, workflow takeover,
``/readyz`` while NATS is away, an unreachable server at start."""

from __future__ import annotations

import asyncio
import json
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.natsserver import NatsServer, free_port

from .daemonproc import DaemonProcess, wait_until

pytestmark = pytest.mark.slow

INC = "function(n) return (n or 0) + 1 end"
JOB = f"""
    if params.report then return state.get("runs") end
    local n = state.update("runs." .. params.job, {INC})
    if params.hang and n == 1 then sleep(600) end  -- the first attempt hangs
    sleep(0.05)
    return {{job = params.job}}
"""
WORKFLOW = f"""
    local wf = workflow.create{{name = "job"}}
    wf:addStep{{name = "a", fn = function(input) return state.update("ran_a", {INC}) end}}
    wf:addStep{{name = "b", fn = function(input, outputs)
      local n = state.update("ran_b", {INC})
      if n == 1 then  -- the first attempt hangs, once it has counted itself
        events.emit("job.b_counted", {{who = params.who}})
        events.wait("never.happens", 600)
      end
      return n
    end}}
    wf:addStep{{name = "c", fn = function(input, outputs)
      return {{a = state.get("ran_a"), b = outputs.b}}
    end}}
    return wf:run({{job = params.job}}, {{id = "job-" .. params.job}})
"""


@pytest.fixture
def joined(tmp_path: Path, nats_server: NatsServer) -> Iterator[Any]:
    """Start daemons joined by ``nats_server`` sharing one spells directory and one state
    database: ``joined(name, ack_wait)``; all stopped at the end."""
    started: list[DaemonProcess] = []
    spells = tmp_path / "spells"
    spells.mkdir()

    def start(
        name: str, ack_wait: float = 30.0, spell: tuple[str, str] | None = None
    ) -> DaemonProcess:
        daemon = DaemonProcess(
            tmp_path / name,
            "--nats",
            nats_server.url,
            "--no-reload",
            env={"LLMSPELL_NATS_ACK_WAIT": str(ack_wait)},
            spells=spells,
            state=tmp_path / "state.db",
        )
        if spell is not None:
            daemon.write(*spell)
        started.append(daemon)
        return daemon.start()

    yield start
    for daemon in started:
        daemon.stop()


def queue(daemon: DaemonProcess, spell: str, params: dict[str, Any]) -> str:
    response = daemon.post(f"/spells/{spell}/run?queue=1", params)
    assert response.status_code == 202, response.text
    body = response.json()
    assert body["status"] == "queued" and body["url"] == f"/runs/{body['run_id']}"
    return str(body["run_id"])


def counted(daemon: DaemonProcess) -> dict[str, int]:
    """How often each job of the ``job`` spell began (its state, read by a run of it)."""
    return dict(daemon.run("job", {"report": True}).json()["value"] or {})


def finished(daemon: DaemonProcess, run_ids: list[str]) -> dict[str, dict[str, Any]]:
    """Wait until every run's record is final (read from ``daemon``); the records."""
    records: dict[str, dict[str, Any]] = {}

    def all_done() -> bool:
        for run_id in run_ids:
            if run_id not in records:
                response = daemon.get(f"/runs/{run_id}")
                assert response.status_code == 200, response.text
                if response.json()["status"] in ("ok", "error"):
                    records[run_id] = response.json()
        return len(records) == len(run_ids)

    wait_until(all_done, f"{len(run_ids)} queued runs to finish", deadline=90)
    return records


def publish_raw(url: str, subject: str, body: bytes, msg_id: str) -> None:
    """Publish as any nats-py program would (no llmspell involved)."""
    import nats

    async def main() -> None:
        nc = await nats.connect(url)
        try:
            await nc.jetstream().publish(subject, body, headers={"Nats-Msg-Id": msg_id})
        finally:
            await nc.close()

    asyncio.run(main())


def test_events_cross_daemons(joined: Any) -> None:
    a = joined("a", spell=("job.lua", JOB))
    b = joined("b")
    with b.events("news.>") as news, b.events("spell.finished") as spells:
        assert a.post("/events/news.today", {"headline": "joined"}).status_code == 202
        assert news.topic("news.today")["headline"] == "joined"
        seq = news.ids[0]
        assert seq is not None and a.post("/events/news.later", {}).status_code == 202
        run = a.run("job", {"job": "x"})
        assert run.status_code == 200
        assert spells.topic("spell.finished", runId=run.json()["run_id"])["spell"] == "job"
    with a.events("news.>", since=seq - 1) as resumed:  # Last-Event-ID: the stream's seq
        resumed.topic("news.later")
        assert [e["topic"] for e in resumed.events[:2]] == ["news.today", "news.later"]
    ready = b.get("/readyz").json()
    assert ready["nats"]["connected"] is True and ready["daemon"].endswith(f":{b.proc.pid}")  # type: ignore[union-attr]


WORKER = f"""
    -- llmspell: resident
    if params.report then return state.get("handled") end
    events.on("order.*", function(order)
      state.update("handled." .. order.id, {INC})
      log.info("handled order " .. order.id)
    end, {{queue = "workers"}})
    events.emit("worker.ready", {{}})  -- published once its consumer exists
"""


def test_resident_spells_of_two_daemons_share_a_queue_group(joined: Any) -> None:
    a = joined("a", spell=("worker.lua", WORKER))
    b = joined("b")
    with a.events("worker.ready", since=0) as ready:  # the stream keeps both daemons' events
        wait_until(lambda: len(ready.events) == 2, "both residents subscribed")
    for i in range(20):
        assert (a if i % 2 else b).post("/events/order.new", {"id": str(i)}).status_code == 202

    def handled() -> Any:
        counts = a.run("worker", {"report": True}).json()["value"] or {}
        return counts if len(counts) == 20 else None

    counts = wait_until(handled, "20 orders handled")
    assert counts == {str(i): 1 for i in range(20)}  # each by one handler of the group
    handled_by = [re.findall(r"handled order (\d+)\b", d.log()) for d in (a, b)]
    assert sorted(int(i) for i in handled_by[0] + handled_by[1]) == list(range(20))


def test_two_daemons_share_40_queued_runs_each_run_once(
    joined: Any, nats_server: NatsServer
) -> None:
    a = joined("a", spell=("job.lua", JOB))
    b = joined("b")
    run_ids = [queue(a if i % 2 else b, "job", {"job": str(i)}) for i in range(39)]
    publish_raw(nats_server.url, "spells.run.job", json.dumps({"job": "39"}).encode(), "raw-39")
    run_ids.append("raw-39")
    records = finished(b, run_ids)
    assert all(r["status"] == "ok" and r["attempt"] == 1 for r in records.values()), records
    assert records["raw-39"]["value"] == {"job": "39"}
    takers = {r["daemon"].rsplit(":", 1)[1] for r in records.values()}
    assert takers == {str(a.proc.pid), str(b.proc.pid)}  # type: ignore[union-attr]
    assert counted(a) == {str(i): 1 for i in range(40)}  # each run ran exactly once
    assert a.get("/runs/nope").status_code == 404
    publish_raw(nats_server.url, "spells.run.job", b"{not json", "raw-bad")
    bad = finished(a, ["raw-bad"])["raw-bad"]
    assert bad["status"] == "error" and "the message is not JSON" in bad["error"]


def test_kill_9_of_a_daemon_mid_work_every_queued_run_still_done(joined: Any) -> None:
    a = joined("a", ack_wait=2, spell=("job.lua", JOB))
    run_ids = [queue(a, "job", {"job": str(i), "hang": True}) for i in range(6)]
    wait_until(lambda: len(counted(a)) == 6, "daemon a to begin all (each counted)")
    b = joined("b", ack_wait=2)
    assert a.proc is not None
    a.proc.kill()
    a.proc.wait()  # reaped: its workflow runs' owner is gone, not a zombie
    records = finished(b, run_ids)
    for record in records.values():
        assert record["status"] == "ok", record
        assert record["attempt"] == 2 and record["daemon"].endswith(f":{b.proc.pid}")  # type: ignore[union-attr]
    assert counted(b) == {str(i): 2 for i in range(6)}  # begun on a, run again on b
    assert b.get("/readyz").json()["queued_taken"] == 6


def test_sigterm_gives_a_queued_run_it_cannot_finish_back_to_the_others(
    joined: Any, tmp_path: Path, nats_server: NatsServer
) -> None:
    a = DaemonProcess(
        tmp_path / "a", "--nats", nats_server.url, "--grace", "0.5",
        spells=tmp_path / "spells", state=tmp_path / "state.db",
    )  # fmt: skip
    a.write("job.lua", JOB)
    a.start()
    try:
        run_id = queue(a, "job", {"job": "1", "hang": True})
        wait_until(lambda: counted(a) == {"1": 1}, "daemon a to begin it")
        b = joined("b")
        a.signal(signal.SIGTERM)
        assert a.wait() == 0
    finally:
        a.stop()
    record = finished(b, [run_id])[run_id]
    assert record["status"] == "ok" and record["attempt"] == 2, record
    assert record["daemon"].endswith(f":{b.proc.pid}")  # type: ignore[union-attr]


def test_a_durable_workflow_of_a_killed_daemon_is_taken_over(joined: Any) -> None:
    a = joined("a", ack_wait=2, spell=("wf.lua", WORKFLOW))
    b = joined("b", ack_wait=2)
    box: list[Any] = []
    thread = threading.Thread(target=lambda: _post(a, box), daemon=True)
    with b.events("job.b_counted") as counted:
        thread.start()
        counted.topic("job.b_counted", who="wf")  # seen on b: the events cross
    assert a.proc is not None
    a.proc.kill()
    a.proc.wait()

    def completed() -> dict[str, Any] | None:
        record = b.get("/workflows/job-1").json()
        return record if record["status"] == "completed" else None

    try:
        record = wait_until(completed, "daemon b to complete the workflow")
    except AssertionError as exc:  # say what b did
        raise AssertionError(f"{exc}\n{b.get('/workflows/job-1').json()}\n{b.log()}") from None
    assert record["result"]["outputs"]["c"] == {"a": 1, "b": 2}  # a ran once, b twice
    assert "taking over workflow run job-1" in b.log()
    wait_until(lambda: b.get("/readyz").json()["leases_held"] == 0, "the lease let go")
    assert b.get("/readyz").json()["workflows_taken_over"] == 1


def test_a_queued_run_s_workflow_resumes_where_the_killed_daemon_left_it(joined: Any) -> None:
    a = joined("a", ack_wait=2, spell=("wf.lua", WORKFLOW))
    with a.events("job.b_counted") as counted:
        run_id = queue(a, "wf", {"job": "1", "who": "queued"})
        counted.topic("job.b_counted", who="queued")
    b = joined("b", ack_wait=2)
    assert a.proc is not None
    a.proc.kill()
    a.proc.wait()
    record = finished(b, [run_id])[run_id]
    assert record["status"] == "ok" and record["attempt"] == 2, record
    assert record["value"]["outputs"]["c"] == {"a": 1, "b": 2}  # a ran once, b twice
    assert "taking over" not in b.log()  # the queued run was the work item: no lease


def test_a_joined_daemon_killed_and_restarted_takes_its_own_workflows_back(
    joined: Any, tmp_path: Path
) -> None:
    anon = WORKFLOW.replace('{id = "job-" .. params.job}', "nil")  # no stable id
    (tmp_path / "spells" / "anon.lua").write_text(anon, encoding="utf-8")
    a = joined("a", ack_wait=2, spell=("wf.lua", WORKFLOW))
    with a.events("job.b_counted") as counted:
        for spell in ("wf", "anon"):
            threading.Thread(target=lambda s=spell: _post(a, [], s), daemon=True).start()
            counted.topic("job.b_counted", who=spell)
    assert a.proc is not None
    a.proc.kill()
    a.proc.wait()
    a.start()  # the same state database, the same NATS: the leases come back to it

    def completed() -> dict[str, Any] | None:
        record = a.get("/workflows/job-1").json()
        return record if record["status"] == "completed" else None

    record = wait_until(completed, "the workflow to complete")
    assert record["result"]["outputs"]["c"] == {"a": 1, "b": 2}

    def anon_failed() -> dict[str, Any] | None:
        runs = a.get("/workflows", params={"status": "failed"}).json()["workflows"]
        return next((r for r in runs if r["spell"] == "anon"), None)

    assert "stable id" in wait_until(anon_failed, "the run without a stable id")["error"]


def _post(daemon: DaemonProcess, box: list[Any], spell: str = "wf") -> None:
    try:
        box.append(daemon.run(spell, {"job": "1", "who": spell}))
    except httpx.HTTPError as exc:  # killed under it
        box.append(exc)


def test_readyz_is_503_while_nats_is_away(joined: Any, nats_server: NatsServer) -> None:
    a = joined("a", spell=("job.lua", JOB))
    nats_server.stop()

    def not_ready() -> dict[str, Any] | None:
        response = a.get("/readyz")
        return response.json() if response.status_code == 503 else None

    body = wait_until(not_ready, "/readyz to say not ready")
    assert body["nats"]["connected"] is False
    assert nats_server.url in body["reason"] and "disconnected" in body["reason"]
    refused = a.post("/spells/job/run?queue=1", {"job": "during"})
    assert refused.status_code == 503 and "disconnected" in refused.json()["error"]
    nats_server.start()
    wait_until(lambda: a.get("/readyz").status_code == 200, "/readyz ready again")
    records = finished(a, [queue(a, "job", {"job": "after"})])  # it takes work again
    assert next(iter(records.values()))["value"] == {"job": "after"}


def test_an_unreachable_nats_server_exits_2_naming_the_url(tmp_path: Path) -> None:
    url = f"nats://127.0.0.1:{free_port()}"
    (tmp_path / "spells").mkdir()
    argv = [sys.executable, "-m", "llmspell", "serve", "--spells", "spells", "--port", "0"]
    done = subprocess.run(
        [*argv, "--nats", url, "--state", "state.db"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2, done.stderr
    assert f"--nats {url}: cannot connect" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.anyio
async def test_a_daemon_alone_refuses_to_queue_and_says_why(tmp_path: Path) -> None:
    import llmspell
    from llmspell.serve import create_app

    (tmp_path / "job.lua").write_text(JOB, encoding="utf-8")
    app = create_app(tmp_path, config=llmspell.Config(state=":memory:"), metrics=False)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://daemon") as client:
            queued = await client.post("/spells/job/run?queue=1", json={"job": "1"})
            assert queued.status_code == 400
            assert "not joined to NATS (start it with --nats)" in queued.json()["error"]
            assert (await client.get("/runs/abc")).status_code == 404
            ready = (await client.get("/readyz")).json()
            assert ready["status"] == "ready" and "nats" not in ready
