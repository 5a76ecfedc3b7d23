"""``llmspell events tail``: the event log of a state database, from the command line."""

from __future__ import annotations

import json
import pathlib
import sqlite3
import subprocess
import sys
import threading
from typing import Any

import anyio
import pytest

import actors
from llmspell._cli import main


def publish(path: pathlib.Path, events: list[tuple[str, Any]]) -> list[int | None]:
    """Publish ``events`` on a bus logging to ``path`` (as a runtime would); return the seqs."""

    async def run() -> list[int | None]:
        async with actors.open_system(event_log=path) as system:
            return [await system.bus.publish(topic, payload) for topic, payload in events]

    return anyio.run(run)


@pytest.fixture
def db(tmp_path: pathlib.Path) -> pathlib.Path:
    path = tmp_path / "state.db"
    events = [(f"order.{'created' if i % 3 else 'shipped'}", {"id": i}) for i in range(1, 16)]
    publish(path, [*events, ("user.created", {"name": "Ada ☃"})])
    return path


def tail(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, list[str], str]:
    code = main(["events", "tail", *args])
    out, err = capsys.readouterr()
    return code, out.splitlines(), err


def test_tail_prints_the_newest_matching_events(
    db: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, lines, _ = tail(capsys, "order.>", "--state", str(db))
    assert code == 0
    assert [int(line.split()[0]) for line in lines] == list(range(6, 16))
    seq, when, topic, payload = lines[-1].split(maxsplit=3)
    assert (seq, topic, json.loads(payload)) == ("15", "order.shipped", {"id": 15})
    assert when[:2] == "20" and "T" in when  # an ISO time
    code, lines, _ = tail(capsys, "*.created", "-n", "2", "--state", str(db))
    assert [line.split()[2] for line in lines] == ["order.created", "user.created"]
    assert lines[-1].endswith('{"name": "Ada ☃"}')


def test_tail_since_prints_everything_after_a_seq(
    db: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, lines, _ = tail(capsys, "order.shipped", "--since", "5", "--state", str(db))
    assert code == 0 and [line.split()[0] for line in lines] == ["6", "9", "12", "15"]
    code, lines, _ = tail(capsys, ">", "--since", "0", "--state", str(db))
    assert len(lines) == 16
    code, lines, _ = tail(capsys, ">", "--since", "99", "--state", str(db))
    assert (code, lines) == (0, [])


def test_tail_json_prints_one_object_per_line(
    db: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, lines, _ = tail(capsys, "user.*", "--json", "--state", str(db))
    (event,) = [json.loads(line) for line in lines]
    assert code == 0
    assert event["seq"] == 16 and event["topic"] == "user.created"
    assert event["payload"] == {"name": "Ada ☃"} and event["headers"] == {}
    assert isinstance(event["time"], float)


def test_the_database_comes_from_the_environment_or_the_default_path(
    db: pathlib.Path,
    tmp_path: pathlib.Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("LLMSPELL_STATE", str(db))
    assert len(tail(capsys, ">", "-n", "3")[1]) == 3
    monkeypatch.delenv("LLMSPELL_STATE")
    workdir = tmp_path / "work"
    publish(workdir / ".llmspell" / "state.db", [("here.it.is", 1)])
    monkeypatch.chdir(workdir)
    assert [line.split()[2] for line in tail(capsys, ">")[1]] == ["here.it.is"]


def test_a_state_database_without_a_log_prints_nothing(
    tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "state.db"
    sqlite3.connect(path).execute("CREATE TABLE state (k TEXT)").connection.close()
    assert tail(capsys, ">", "--state", str(path))[:2] == (0, [])
    tables = {row[0] for row in sqlite3.connect(path).execute("SELECT name FROM sqlite_master")}
    assert tables == {"state"}  # reading created nothing


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["a..b"], "PATTERN: pattern 'a..b' has an empty token"),
        (["a.>.b"], "PATTERN: pattern 'a.>.b'"),
        ([">", "--since", "-1"], "--since: must be >= 0"),
        ([">", "-n", "0"], "--lines: must be > 0"),
        ([">", "--follow", "--interval", "0"], "--interval: must be > 0"),
        ([">", "--state", ":memory:"], "':memory:': there is no event log"),
        ([">", "--state", "nowhere/state.db"], "no state database at nowhere/state.db"),
    ],
)
def test_usage_errors_name_the_argument_and_exit_2(
    db: pathlib.Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    if "--state" not in args:
        args = [*args, "--state", str(db)]
    code, lines, err = tail(capsys, *args)
    assert code == 2 and lines == []
    assert message in err
    assert not pathlib.Path("nowhere").exists()


def test_events_without_an_action_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["events"])
    assert exited.value.code == 2
    assert "ACTION" in capsys.readouterr().err


@pytest.mark.slow
def test_follow_prints_events_logged_by_another_process(db: pathlib.Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "llmspell", "events", "tail", "order.>", "--follow", "--json",
         "-n", "1", "--interval", "0.05", "--state", str(db)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    watchdog = threading.Timer(60, proc.kill)
    watchdog.start()
    try:
        assert proc.stdout is not None
        assert json.loads(proc.stdout.readline())["seq"] == 15  # the newest one
        seqs = publish(db, [("order.created", {"id": 100}), ("user.x", 0), ("order.paid", 2)])
        first, second = (json.loads(proc.stdout.readline()) for _ in range(2))
        assert (first["seq"], first["payload"]) == (seqs[0], {"id": 100})
        assert (second["seq"], second["topic"]) == (seqs[2], "order.paid")
    finally:
        watchdog.cancel()
        proc.kill()
        proc.wait()
