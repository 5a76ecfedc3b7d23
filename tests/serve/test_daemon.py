"""One real daemon process, shared by the module: runs, streams, residents, limits, reload.

Each test uses spells of its own names, so they do not depend on one another's order.
"""

from __future__ import annotations

import socket
import threading
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from .daemonproc import DaemonProcess, wait_until

pytestmark = pytest.mark.slow

SPELLS = {
    "hello.lua": """
        print("hello " .. (params.name or "world"))
        log.info("greeted", {name = params.name})
        return {greeting = "hi " .. (params.name or "world")}
    """,
    "hellojs.js": """
        console.log(`hello ${params.name}`);
        return {greeting: "hi " + params.name, n: params.n + 1};
    """,
    "fails.lua": """
        local x = 1
        error("bad thing")
    """,
    "stream.lua": """
        print("one")
        events.wait("stream.go", 30)
        print("two")
        return "streamed"
    """,
    "busy.lua": """
        -- llmspell: concurrency=1
        events.wait("busy.release", 30)
        return "done"
    """,
    "echo.js": """
        // llmspell: resident
        events.on("ping.*", (e, topic) => { events.emit("pong", {n: e.n, topic}); });
        events.emit("echo.ready", {});
    """,
    "crashy.lua": """
        -- llmspell: resident, cpu_seconds=0.3
        -- llmspell: max_restarts=3, restart_period=60
        local starts = state.update("starts", function(n) return (n or 0) + 1 end)
        events.on("crashy.spin", function() while true do end end)
        events.on("crashy.ping", function() events.emit("crashy.pong", {starts = starts}) end)
        events.emit("crashy.ready", {starts = starts})
    """,
    "reader.lua": """
        -- llmspell: allow=fs.read, workspace=files
        return tools.call("file_read", {path = params.path})
    """,
    "noperm.lua": """
        return tools.call("file_read", {path = params.path})
    """,
    "spin.lua": """
        -- llmspell: cpu_seconds=4
        while true do end
    """,
    "doomed.lua": """
        -- llmspell: resident, max_restarts=1
        error("this spell never starts")
    """,
}


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DaemonProcess]:
    root = tmp_path_factory.mktemp("daemon")
    proc = DaemonProcess(root)
    (root / "files").mkdir()
    (root / "files" / "note.txt").write_text("kept in the workspace")
    (root / "secret.txt").write_text("outside the workspace")
    for name, source in SPELLS.items():
        proc.write(name, source)
    proc.start()
    try:
        yield proc
    finally:
        proc.stop()


def in_thread(fn: Any, *args: Any) -> tuple[threading.Thread, list[Any]]:
    """Run ``fn(*args)`` in a thread; its result lands in the returned list."""
    box: list[Any] = []
    thread = threading.Thread(target=lambda: box.append(fn(*args)), daemon=True)
    thread.start()
    return thread, box


# -- runs ------------------------------------------------------------------------------------


def test_a_run_answers_with_the_result_as_json(daemon: DaemonProcess) -> None:
    response = daemon.run("hello", {"name": "Ada"})
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["value"] == {"greeting": "hi Ada"}
    assert body["output"] == "hello Ada\n"
    assert body["engine"] == "lua"
    assert body["usage"]["calls"] == 0
    assert body["version"] == daemon.spell("hello")["version"]  # type: ignore[index]
    assert response.headers["x-llmspell-run-id"] == body["run_id"]

    js = daemon.run("hellojs", {"name": "Bo", "n": 41}).json()
    assert (js["status"], js["value"], js["output"]) == (
        "ok",
        {"greeting": "hi Bo", "n": 42},
        "hello Bo\n",
    )


def test_a_failing_spell_answers_422_with_its_error(daemon: DaemonProcess) -> None:
    response = daemon.run("fails")
    assert response.status_code == 422
    body = response.json()
    assert body["status"] == "error"
    assert "bad thing" in body["error"]
    assert body["error_line"] == 3


def test_bad_requests_name_what_is_wrong(daemon: DaemonProcess) -> None:
    assert daemon.run("nosuch").status_code == 404
    assert daemon.post("/spells/..%2F..%2Fetc%2Fpasswd/run", {}).status_code == 404
    with daemon.client() as client:
        bad = client.post("/spells/hello/run", content=b"{not json")
        assert bad.status_code == 400 and "parameters" in bad.json()["error"]
        listed = client.post("/spells/hello/run", json=[1, 2])
        assert listed.status_code == 400 and "object" in listed.json()["error"]
        huge = client.post("/spells/hello/run", content=b'{"x": "' + b"a" * (2 << 20) + b'"}')
        assert huge.status_code == 413
        reserved = client.post("/events/spell.finished", json={})
        assert reserved.status_code == 403
        assert client.get("/events", params={"pattern": "a..b"}).status_code == 400
        assert client.get("/workflows", params={"limit": "x"}).status_code == 400


def test_an_overlong_request_head_is_refused_and_a_long_body_is_not(
    daemon: DaemonProcess,
) -> None:
    address = urllib.parse.urlsplit(daemon.url)
    received = b""
    with socket.create_connection((address.hostname, address.port), timeout=30) as sock:
        try:  # a head that never ends: refused at 16 KiB, not kept growing
            sock.sendall(b"POST /spells/hello/run HTTP/1.1\r\nHost: x\r\n")
            for i in range(1000):
                sock.sendall(b"X-Pad-%d: %s\r\n" % (i, b"a" * 1000))
            sock.sendall(b"\r\n")
        except OSError:  # closed by the daemon
            pass
        try:
            while chunk := sock.recv(65536):
                received += chunk
        except OSError:  # reset: the daemon closed with the rest unread
            pass
    assert received.startswith(b"HTTP/1.1 400"), received[:100]
    # the bound is the head's: a body of 300 kB (under --max-body) is a run's parameters
    response = daemon.run("hello", {"name": "Ada", "pad": "x" * 300_000})
    assert response.status_code == 200 and response.json()["value"] == {"greeting": "hi Ada"}


def test_a_run_streams_its_output_as_it_is_printed(daemon: DaemonProcess) -> None:
    seen: list[tuple[str, str]] = []
    got_one = threading.Event()

    def read() -> None:
        headers = {"Accept": "text/event-stream"}
        with (
            daemon.client() as client,
            client.stream("POST", "/spells/stream/run", json={}, headers=headers) as response,
        ):
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/event-stream")
            event = ""
            for line in response.iter_lines():
                if line.startswith("event: "):
                    event = line[7:]
                elif line.startswith("data: "):
                    seen.append((event, line[6:]))
                    if '"one' in line:
                        got_one.set()

    thread, _ = in_thread(read)
    assert got_one.wait(30), seen  # the first print arrived while the run still waits
    assert not any(event == "result" for event, _ in seen)
    assert daemon.post("/events/stream.go", {}).status_code == 202
    thread.join(30)
    events = [event for event, _ in seen]
    assert events == ["output", "output", "result"]
    assert '"two\\n"' in seen[1][1]
    assert '"value": "streamed"' in seen[2][1]


def test_permissions_come_from_the_spells_config_never_from_the_request(
    daemon: DaemonProcess,
) -> None:
    read = daemon.run("reader", {"path": "note.txt"})
    assert read.status_code == 200 and "kept in the workspace" in read.json()["value"]
    escape = daemon.run("reader", {"path": "../secret.txt"})
    assert escape.status_code == 422 and "outside the workspace" not in escape.text
    for params in ({"path": "note.txt"}, {"path": "note.txt", "allow": "fs.read"}):
        denied = daemon.run("noperm", params, headers={"X-Llmspell-Allow": "fs.read"})
        assert denied.status_code == 422
        assert "fs.read" in denied.json()["error"]  # denied, and says which permission


def test_a_streaming_client_that_goes_away_stops_its_run(daemon: DaemonProcess) -> None:
    with daemon.events("spell.finished") as finished:
        with (
            daemon.client() as client,
            client.stream(
                "POST", "/spells/stream/run", json={}, headers={"Accept": "text/event-stream"}
            ) as response,
        ):
            for line in response.iter_lines():
                if line.startswith("data: "):  # the first print: the run waits for stream.go
                    run_id = response.headers["x-llmspell-run-id"]
                    break
        stopped = finished.topic("spell.finished", runId=run_id)
    assert stopped["status"] == "stopped"
    wait_until(lambda: daemon.spell("stream")["active"] == 0, "the slot to be free")  # type: ignore[index]


def test_past_its_concurrency_a_spell_answers_429(daemon: DaemonProcess) -> None:
    first, box = in_thread(daemon.run, "busy")
    wait_until(lambda: daemon.spell("busy")["active"] == 1, "the first run")  # type: ignore[index]
    second = daemon.run("busy")
    assert second.status_code == 429
    assert second.headers["retry-after"] == "1"
    assert "concurrency" in second.json()["error"]
    daemon.post("/events/busy.release", {})
    first.join(30)
    assert box[0].status_code == 200 and box[0].json()["value"] == "done"
    assert daemon.run("hello").status_code == 200  # other spells were never limited


def test_a_spell_computing_never_stalls_the_daemon(daemon: DaemonProcess) -> None:
    spin, box = in_thread(daemon.run, "spin")
    wait_until(lambda: daemon.spell("spin")["active"] == 1, "the spin run")  # type: ignore[index]
    assert daemon.get("/healthz").status_code == 200
    assert daemon.run("hello", {"name": "Ada"}).json()["value"] == {"greeting": "hi Ada"}
    assert spin.is_alive()  # both answered while the spell was still computing
    spin.join(60)
    body = box[0].json()
    assert (body["status"], body["error_type"]) == ("error", "LimitExceeded")
    assert "cpu limit exceeded" in body["error"]


# -- the bus over SSE, resident spells ---------------------------------------------------------


def test_a_resident_spell_answers_a_published_event_on_the_stream(daemon: DaemonProcess) -> None:
    with daemon.events(since=0) as stream:
        stream.topic("echo.ready")  # from the log: the spell subscribed before it emitted this
        published = daemon.post("/events/ping.x", {"n": 7})
        assert published.status_code == 202
        seq = published.json()["seq"]
        assert stream.topic("pong", n=7, topic="ping.x")
        pong = stream.wait_for(lambda e: e["topic"] == "pong", "pong")
        assert pong["seq"] > seq
        ids = [i for i in stream.ids if i is not None]
        assert ids == sorted(ids) and len(ids) == len(set(ids))
    assert daemon.spell("echo")["status"] == "running"  # type: ignore[index]


def test_last_event_id_resumes_the_stream_without_gap_or_duplicate(daemon: DaemonProcess) -> None:
    with daemon.events("resume.>") as first:
        for n in range(3):
            daemon.post(f"/events/resume.e{n}", {"n": n})
        first.topic("resume.e2")
        last = first.ids[1]  # the client saw two, then "reconnects"
    for n in range(3, 5):
        daemon.post(f"/events/resume.e{n}", {"n": n})
    with daemon.events("resume.>", since=last) as second:
        second.topic("resume.e4")
        assert [e["topic"] for e in second.events] == ["resume.e2", "resume.e3", "resume.e4"]


def test_a_crashing_resident_spell_is_restarted_while_the_daemon_serves(
    daemon: DaemonProcess,
) -> None:
    with daemon.events("crashy.>", since=0) as stream:
        stream.topic("crashy.ready", starts=1)
        daemon.post("/events/crashy.spin", {})  # the callback spins past its CPU budget
        stream.topic("crashy.ready", starts=2)  # restarted: subscribed again
        assert daemon.run("hello", {"name": "meanwhile"}).status_code == 200
        daemon.post("/events/crashy.ping", {})
        stream.topic("crashy.pong", starts=2)
    entry = daemon.spell("crashy")
    assert entry is not None
    assert entry["restarts"] == 1 and entry["status"] == "running"
    assert "cpu" in entry["last_error"]


def test_a_resident_spell_past_its_restart_intensity_is_marked_failed(
    daemon: DaemonProcess,
) -> None:
    with daemon.events("spell.resident_failed", since=0) as stream:
        failed = stream.topic("spell.resident_failed", spell="doomed")
    assert "never starts" in failed["error"]
    entry = wait_until(
        lambda: (daemon.spell("doomed") or {}).get("status") == "failed" and daemon.spell("doomed"),
        "doomed failed",
    )
    assert entry["restarts"] == 1
    assert "never starts" in entry["last_error"]
    assert daemon.get("/healthz").status_code == 200
    assert daemon.run("hello").status_code == 200


# -- hot reload --------------------------------------------------------------------------------


def _version(daemon: DaemonProcess, name: str) -> str | None:
    entry = daemon.spell(name)
    return entry["version"] if entry else None


def test_reload_good_and_broken_edits(daemon: DaemonProcess) -> None:
    daemon.write("edited.lua", 'return "v1"')  # added while the daemon runs
    v1 = wait_until(lambda: _version(daemon, "edited"), "the new file to load")
    assert daemon.run("edited").json()["value"] == "v1"

    daemon.write("edited.lua", 'return "v2"')
    wait_until(lambda: _version(daemon, "edited") not in (None, v1), "the edit to load")
    assert daemon.run("edited").json()["value"] == "v2"
    v2 = _version(daemon, "edited")

    with daemon.events("spell.>") as stream:
        daemon.write("edited.lua", 'return "v3')  # a syntax error
        failed = stream.topic("spell.reload_failed", spell="edited")
    assert failed["serving"] == v2
    entry = daemon.spell("edited")
    assert entry is not None and entry["reload_failed"] and entry["version"] == v2
    assert "edited.lua" in entry["last_error"]
    assert daemon.run("edited").json()["value"] == "v2"  # the old version keeps serving
    assert "failed to load" in daemon.log()

    daemon.write("edited.lua", "-- llmspell: concurrency=lots\nreturn 1")  # a bad header
    wait_until(
        lambda: "concurrency" in (daemon.spell("edited") or {}).get("last_error", ""),
        "header error",
    )
    assert daemon.run("edited").json()["value"] == "v2"

    daemon.write("edited.lua", 'return "v4"')
    wait_until(lambda: daemon.run("edited").json()["value"] == "v4", "the fix to load")
    assert not daemon.spell("edited")["reload_failed"]  # type: ignore[index]

    (daemon.spells / "edited.lua").unlink()
    wait_until(lambda: daemon.spell("edited") is None, "the deleted file to unload")
    assert daemon.run("edited").status_code == 404


def test_an_in_flight_run_finishes_on_the_old_version(daemon: DaemonProcess) -> None:
    daemon.write("inflight.lua", 'local v = "old"\nevents.wait("inflight.go", 30)\nreturn v')
    old = wait_until(lambda: _version(daemon, "inflight"), "load")
    thread, box = in_thread(daemon.run, "inflight")
    wait_until(lambda: daemon.spell("inflight")["active"] == 1, "the run")  # type: ignore[index]
    daemon.write("inflight.lua", 'return "new"')
    wait_until(lambda: _version(daemon, "inflight") != old, "the edit to load")
    daemon.post("/events/inflight.go", {})
    thread.join(30)
    assert box[0].json()["value"] == "old"
    assert box[0].json()["version"] == old
    assert daemon.run("inflight").json()["value"] == "new"


def test_a_resident_spell_restarts_on_its_new_version(daemon: DaemonProcess) -> None:
    source = """
        // llmspell: resident
        events.on("relive.ping", () => { events.emit("relive.pong", {v: VERSION}); });
        events.emit("relive.ready", {v: VERSION});
    """
    with daemon.events("relive.>") as stream:
        daemon.write("relive.js", source.replace("VERSION", "1"))
        stream.topic("relive.ready", v=1)
        daemon.write("relive.js", source.replace("VERSION", "2"))
        stream.topic("relive.ready", v=2)
        daemon.post("/events/relive.ping", {})
        stream.topic("relive.pong", v=2)
        pongs = [e for e in stream.events if e["topic"] == "relive.pong"]
        assert [p["payload"]["v"] for p in pongs] == [2]  # the old version no longer listens


# -- operators' endpoints ----------------------------------------------------------------------


def test_spells_listing_and_operator_endpoints(daemon: DaemonProcess) -> None:
    spells = {s["name"]: s for s in daemon.get("/spells").json()["spells"]}
    assert spells["hello"]["engine"] == "lua" and spells["hello"]["resident"] is False
    assert spells["echo"]["resident"] is True and spells["echo"]["engine"] == "javascript"
    assert spells["busy"]["concurrency"] == 1
    assert spells["hello"]["runs"] >= 1
    assert daemon.get("/healthz").json() == {"status": "ok"}
    ready = daemon.get("/readyz")
    assert ready.status_code == 200 and ready.json()["status"] == "ready"
    metrics = daemon.get("/metrics")
    assert metrics.status_code == 200
    assert (
        'llmspell_http_requests_total{method="POST",route="/spells/{name}/run",status="200"}'
        in metrics.text
    )
    assert 'llmspell_runs_total{outcome="ok",spell="hello"}' in metrics.text
    assert daemon.get("/workflows").json() == {"workflows": []}


def test_events_and_runs_reach_the_log_as_json_lines(tmp_path: Path) -> None:
    proc = DaemonProcess(tmp_path, "--log-format", "json")
    proc.write("logs.lua", 'log.warn("careful", {k = 1})\nreturn 1')
    proc.start()
    try:
        assert proc.run("logs").status_code == 200
        import json

        lines = [json.loads(line) for line in proc.log().splitlines() if line.startswith("{")]
        spell_lines = [line for line in lines if line.get("message") == "careful"]
        assert spell_lines and spell_lines[0]["spell"] == "logs"
        assert spell_lines[0]["fields"] == {"k": 1} and spell_lines[0]["level"] == "warning"
        assert "run_id" in spell_lines[0]
    finally:
        proc.stop()
    assert proc.wait() == 0


def test_requests_without_the_token_get_401_off_loopback(tmp_path: Path) -> None:
    import subprocess
    import sys

    refused = subprocess.run(
        [sys.executable, "-m", "llmspell", "serve", "--spells", str(tmp_path), "--host", "127.0.0.2"],
        capture_output=True, text=True, timeout=60, cwd=tmp_path,
        env={k: v for k, v in DaemonProcess(tmp_path).env.items() if k != "LLMSPELL_TOKEN"},
    )  # fmt: skip
    assert refused.returncode == 2
    assert "LLMSPELL_TOKEN" in refused.stderr

    proc = DaemonProcess(tmp_path, host="127.0.0.2", token="s3cret")
    proc.write("hello.lua", "return 1")
    proc.start()
    try:
        assert proc.url.startswith("http://127.0.0.2:")
        with httpx.Client(base_url=proc.url, timeout=30) as anonymous:
            for method, path in [("GET", "/spells"), ("POST", "/spells/hello/run"),
                                 ("GET", "/events"), ("POST", "/events/x"),
                                 ("GET", "/metrics"), ("GET", "/readyz"), ("GET", "/workflows")]:  # fmt: skip
                response = anonymous.request(method, path)
                assert response.status_code == 401, path
                assert response.headers["www-authenticate"] == "Bearer"
            assert anonymous.get("/healthz").status_code == 200
            wrong = anonymous.get("/spells", headers={"Authorization": "Bearer nope"})
            assert wrong.status_code == 401
        assert proc.run("hello").json()["value"] == 1  # with the token
    finally:
        proc.stop()


def test_the_example_daemon_spells_work(tmp_path: Path) -> None:
    import shutil

    proc = DaemonProcess(tmp_path)
    examples = Path(__file__).resolve().parents[2] / "spells" / "daemon"
    for example in examples.iterdir():
        shutil.copy(example, proc.spells / example.name)
    proc.start()
    try:
        assert proc.run("greet", {"name": "Ada"}).json()["value"]["greeting"] == "hello, Ada"
        with proc.events("ticket.>", since=0) as tickets, proc.events("heartbeat.>") as beats:
            proc.post("/events/ticket.opened", {"id": 7, "text": "The server is DOWN"})
            triaged = tickets.topic("ticket.triaged", id=7)
            assert triaged["urgent"] is True and triaged["model"] == "offline/llmspell"
            for n in (1, 2):
                proc.post("/events/heartbeat.ping", {"from": "test"})
                beats.topic("heartbeat.pong", n=n, **{"from": "test"})
            proc.post("/events/heartbeat.stop", {})
            wait_until(lambda: proc.spell("heartbeat")["status"] == "stopped", "heartbeat to stop")  # type: ignore[index]
    finally:
        proc.stop()
