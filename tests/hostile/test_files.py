"""File tools under attack from another process: a directory swapped for a symlink while
``file_list`` runs, and ``file_write`` killed with -9 mid-write."""

from __future__ import annotations

import os
import pathlib
import random
import signal
import subprocess
import sys
import time
from typing import Any

import anyio
import pytest

from llmspell import ToolError
from llmspell.tools import Permissions, ToolContext, builtin_tools

from .harness import ROOT

pytestmark = pytest.mark.slow  # a subprocess each, some run to their limit

SWAPPER = """
import os, sys
ws, outside = sys.argv[1], sys.argv[2]
real, link, hidden = os.path.join(ws, "d"), os.path.join(ws, "d"), os.path.join(ws, "d.real")
while True:  # d is the real directory, then a symlink to outside, then the directory again
    os.rename(real, hidden)
    os.symlink(outside, link)
    os.unlink(link)
    os.rename(hidden, real)
"""


def test_file_list_never_names_anything_outside_while_a_directory_is_swapped(
    tmp_path: pathlib.Path,
) -> None:
    ws, outside = tmp_path / "ws", tmp_path / "outside"
    (ws / "d" / "sub").mkdir(parents=True)
    (ws / "d" / "inside.txt").write_text("ok")
    outside.mkdir()
    (outside / "secret.txt").write_text("s" * 12345)
    (outside / "secretdir").mkdir()
    tool = next(t for t in builtin_tools() if t.name == "file_list")
    ctx = ToolContext(Permissions(workspace=ws, allow=frozenset({"fs.read"})))
    listings: list[list[dict[str, Any]]] = []

    async def list_many() -> None:
        for i in range(1500):
            args = {"path": "d"} if i % 2 else {"path": ".", "recursive": True}
            try:
                listings.append(await tool.handler(args, ctx))
            except ToolError:  # d was a symlink, or moved away, at that moment
                pass

    racer = subprocess.Popen([sys.executable, "-c", SWAPPER, str(ws), str(outside)])
    try:
        anyio.run(list_many)
    finally:
        racer.kill()
        racer.wait()
    assert len(listings) > 100  # the race was run, not every call refused
    for entries in listings:
        names = {entry["name"].rsplit("/", 1)[-1] for entry in entries}
        assert not names & {"secret.txt", "secretdir"}, entries
        assert all(entry.get("size") != 12345 for entry in entries), entries


WRITER = """
import pathlib, sys
from llmspell.tools import Permissions
from llmspell.tools._workspace import Workspace
ws = Workspace(Permissions(workspace=pathlib.Path(sys.argv[1])), "file_write")
target = ws.resolve("f.txt")
contents = [b"a" * 400_000, b"b" * 400_000]
print("ready", flush=True)
i = 0
while True:
    ws.write_bytes(target, contents[i % 2], append=False)
    i += 1
"""


def test_file_write_killed_with_9_never_leaves_a_truncated_file(tmp_path: pathlib.Path) -> None:
    target = tmp_path / "f.txt"
    good = {b"a" * 400_000, b"b" * 400_000}
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    rng = random.Random(9)
    for _ in range(8):
        proc = subprocess.Popen(
            [sys.executable, "-c", WRITER, str(tmp_path)], stdout=subprocess.PIPE, env=env
        )
        assert proc.stdout is not None
        assert proc.stdout.readline() == b"ready\n"
        time.sleep(rng.uniform(0.01, 0.15))  # kill it at some moment of its writes
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        proc.stdout.close()
        if target.exists():
            assert target.read_bytes() in good  # old content or new, never a part
    assert target.exists()
