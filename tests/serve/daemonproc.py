"""A real ``llmspell serve`` process on loopback, driven over HTTP, stopped with signals.

Nothing here sleeps to synchronise: every wait polls a condition (the daemon's stderr, an
endpoint, the events a stream has received) until it holds or a deadline passes.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

DEADLINE = 30.0
STARTED: list[subprocess.Popen[bytes]] = []
"""Every daemon process the tests started (the conftest kills those left at the end)."""
_URL = re.compile(r"serving on (http://[^\s\"]+)")


def wait_until(check: Callable[[], Any], what: str, deadline: float = DEADLINE) -> Any:
    """Poll ``check()`` until it returns something truthy; fail naming ``what``."""
    end = time.monotonic() + deadline
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


class DaemonProcess:
    """``python -m llmspell serve --spells DIR`` in ``root``, with its state in ``root`` (or
    the ``spells`` directory and ``state`` database given: daemons may share them)."""

    def __init__(
        self,
        root: Path,
        *args: str,
        env: dict[str, str] | None = None,
        host: str = "127.0.0.1",
        token: str | None = None,
        spells: Path | None = None,
        state: Path | None = None,
    ) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self.spells = spells or root / "spells"
        self.spells.mkdir(exist_ok=True)
        self.state = state or root / "state.db"
        self.args = args
        self.host = host
        self.token = token
        self.env = {**os.environ, **(env or {})}
        for name in ("LLMSPELL_STATE", "LLMSPELL_TOKEN", "LLMSPELL_SPELLS", "LLMSPELL_NATS"):
            self.env.pop(name, None)
        if token is not None:
            self.env["LLMSPELL_TOKEN"] = token
        self.proc: subprocess.Popen[bytes] | None = None
        self.url = ""
        self.starts = 0

    def write(self, name: str, source: str) -> Path:
        """Write a spell file (atomically: a watcher never sees half of it)."""
        path = self.spells / name
        tmp = self.spells / f".{name}.tmp"
        tmp.write_text(source, encoding="utf-8")
        tmp.replace(path)
        return path

    @property
    def log_path(self) -> Path:
        return self.root / f"daemon-{self.starts}.log"

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def start(self, *, ready: bool = True) -> DaemonProcess:
        self.starts += 1
        argv = [sys.executable, "-m", "llmspell", "serve", "--spells", str(self.spells)]
        argv += ["--host", self.host, "--port", "0", "--state", str(self.state)]
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                [*argv, *self.args], cwd=self.root, stderr=log, stdout=log, env=self.env
            )
        STARTED.append(self.proc)

        def url() -> str | None:
            match = _URL.search(self.log())
            if match is None and self.proc is not None and self.proc.poll() is not None:
                raise AssertionError(f"the daemon exited ({self.proc.returncode}):\n{self.log()}")
            return match.group(1) if match else None

        self.url = wait_until(url, "the daemon to listen")
        if ready:
            wait_until(lambda: self.get("/readyz").status_code == 200, "/readyz")
        return self

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    def client(self, **kw: Any) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers=self.headers(), timeout=60, **kw)

    def get(self, path: str, **kw: Any) -> httpx.Response:
        with self.client() as client:
            return client.get(path, **kw)

    def post(self, path: str, body: Any = None, **kw: Any) -> httpx.Response:
        with self.client() as client:
            return client.post(path, json=body, **kw)

    def run(self, spell: str, params: Any = None, **kw: Any) -> httpx.Response:
        return self.post(f"/spells/{spell}/run", params if params is not None else {}, **kw)

    def spell(self, name: str) -> dict[str, Any] | None:
        for entry in self.get("/spells").json()["spells"]:
            if entry["name"] == name:
                return dict(entry)
        return None

    def signal(self, sig: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    def wait(self, timeout: float = DEADLINE) -> int:
        assert self.proc is not None
        return self.proc.wait(timeout)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(DEADLINE)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    @contextmanager
    def events(self, pattern: str = ">", since: int | None = None) -> Iterator[EventStream]:
        """An SSE client of ``GET /events`` reading in a thread while the block runs."""
        stream = EventStream(self, pattern, since)
        stream.start()
        try:
            yield stream
        finally:
            stream.close()


class EventStream:
    """Reads ``GET /events`` in a thread: every event it got, in order, in :attr:`events`.

    It speaks HTTP/1.0 over a plain socket (the body then ends when the server closes it, no
    chunked encoding), so that :meth:`close` can interrupt a blocked read at once.
    """

    def __init__(self, daemon: DaemonProcess, pattern: str, since: int | None) -> None:
        self.daemon = daemon
        self.pattern = pattern
        self.since = since
        self.events: list[dict[str, Any]] = []
        self.ids: list[int | None] = []
        self.status: int | None = None
        self.opened = threading.Event()
        self.ended = threading.Event()
        host, port = daemon.url.removeprefix("http://").rsplit(":", 1)
        self._sock = socket.create_connection((host.strip("[]"), int(port)), timeout=DEADLINE)
        self._thread = threading.Thread(target=self._read, daemon=True)

    def start(self) -> None:
        query = urllib.parse.urlencode({"pattern": self.pattern})
        lines = [f"GET /events?{query} HTTP/1.0", "Accept: text/event-stream"]
        lines += [f"{k}: {v}" for k, v in self.daemon.headers().items()]
        if self.since is not None:
            lines.append(f"Last-Event-ID: {self.since}")
        self._sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        self._thread.start()
        if not self.opened.wait(DEADLINE):
            raise AssertionError("the event stream did not open")
        assert self.status == 200, self.status

    def _read(self) -> None:
        reader = self._sock.makefile("rb")
        try:
            self.status = int(reader.readline().split()[1])
            while reader.readline().strip():  # the headers
                pass
            self.opened.set()
            event_id: int | None = None
            for raw in reader:
                line = raw.decode("utf-8").rstrip("\r\n")
                if line.startswith("id: "):
                    event_id = int(line[4:])
                elif line.startswith("data: "):
                    self.events.append(json.loads(line[6:]))
                    self.ids.append(event_id)
                    event_id = None
        except (OSError, ValueError, IndexError):  # closed from the test thread
            pass
        finally:
            self.opened.set()
            self.ended.set()

    def wait_for(self, check: Callable[[dict[str, Any]], bool], what: str) -> dict[str, Any]:
        def found() -> dict[str, Any] | None:
            return next((e for e in self.events if check(e)), None)

        return dict(wait_until(found, what))

    def topic(self, name: str, **fields: Any) -> dict[str, Any]:
        """Wait for an event on ``name`` whose payload has ``fields``; its payload."""

        def match(event: dict[str, Any]) -> bool:
            payload = event.get("payload") or {}
            return event["topic"] == name and all(payload.get(k) == v for k, v in fields.items())

        return dict(self.wait_for(match, f"{name} {fields}")["payload"] or {})

    def close(self) -> None:
        try:
            self._sock.shutdown(socket.SHUT_RDWR)
        except OSError:  # the server closed it already
            pass
        self._sock.close()
        self._thread.join(DEADLINE)
