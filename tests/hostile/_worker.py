"""One process, one runtime, two spells side by side: a hostile one and a bystander.

``python _worker.py`` reads a JSON request on stdin::

    {"source": ..., "ext": "lua", "limits": {...}, "workspace": DIR or null,
     "allow": [...], "silent_server": false}

(``silent_server``: start a loopback server that never answers, put its port where the source
says ``{port}``, and let ``http_fetch`` reach it),
runs the hostile spell and (unless told not to) the bystander at the same time in one
runtime, and prints one JSON line: each run's status, error type and message, output and
elapsed seconds, and the process's peak resident memory (``VmHWM``, kB). If the hostile spell
crashes the process, the test sees no JSON and a signal exit code.
"""

from __future__ import annotations

import json
import pathlib
import socket
import sys
import threading
import time
from typing import Any

import anyio

from llmspell import Limits, open_runtime
from llmspell._runtime import SpellSource
from llmspell.tools import Permissions

BYSTANDER = """
local got = 0
events.on("bystander.ping", function(n) got = got + n end)
local total = 0
for i = 1, 5 do
  events.emit("bystander.ping", i)
  total = total + tools.call("calculator", {expression = i .. " * 2"})
  sleep(0.05)
end
state.set("bystander", total)
print("bystander ok " .. total .. " " .. json.encode({got = got}))
"""


def silent_server() -> int:
    """A loopback server that accepts connections and never answers; return its port."""
    server = socket.create_server(("127.0.0.1", 0))
    held: list[socket.socket] = []

    def accept() -> None:
        while True:
            conn, _ = server.accept()
            held.append(conn)  # kept open, never read from nor written to

    threading.Thread(target=accept, daemon=True).start()
    return int(server.getsockname()[1])


def peak_rss_kb() -> int:
    for line in pathlib.Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


async def run_one(runtime: Any, source: str, name: str, **kw: Any) -> dict[str, Any]:
    chunks: list[str] = []
    logs: list[str] = []
    start = time.monotonic()
    result = await runtime.run(
        SpellSource(source, name),
        output=chunks.append,
        log=lambda level, message, fields: logs.append(f"[{level}] {message}"),
        **kw,
    )
    return {
        "status": result.status,
        "error_type": result.error_type,
        "error": result.error,
        "output": "".join(chunks)[-2000:],
        "logs": logs[:100],
        "elapsed": time.monotonic() - start,
    }


async def main(request: dict[str, Any]) -> dict[str, Any]:
    limits = Limits(**request["limits"])
    workspace = request.get("workspace")
    source = request["source"]
    hosts: tuple[str, ...] = tuple(request.get("http_hosts", ()))
    if request.get("silent_server"):
        source = source.replace("{port}", str(silent_server()))
        hosts = hosts or ("127.0.0.1",)
    permissions = Permissions(
        workspace=pathlib.Path(workspace) if workspace else None,
        allow=frozenset(request.get("allow", [])),
        http_allow_hosts=hosts,
        http_allow_private=bool(hosts),
    )
    out: dict[str, Any] = {}
    async with open_runtime(state=":memory:", permissions=permissions, limits=limits) as rt:

        async def hostile() -> None:
            out["hostile"] = await run_one(rt, source, f"hostile.{request['ext']}")

        async def bystander() -> None:
            roomy = Limits(timeout_seconds=60.0, cpu_seconds=30.0)
            out["bystander"] = await run_one(rt, BYSTANDER, "bystander.lua", limits=roomy)

        async with anyio.create_task_group() as tg:
            tg.start_soon(hostile)
            if request.get("bystander", True):
                tg.start_soon(bystander)
    out["peak_rss_kb"] = peak_rss_kb()
    return out


if __name__ == "__main__":
    result = anyio.run(main, json.loads(sys.stdin.read()))
    print(json.dumps(result))
