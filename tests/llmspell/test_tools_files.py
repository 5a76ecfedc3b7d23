"""File tools: happy paths, and confinement to the workspace (``..``, absolute, symlinks)."""

from __future__ import annotations

import errno
import os
import re
from pathlib import Path
from typing import Any

import pytest

from llmspell._exceptions import ToolError
from llmspell.tools import Permissions, ToolContext, ToolRegistry, builtin_tools
from llmspell.tools._workspace import Workspace

pytestmark = pytest.mark.anyio


@pytest.fixture
def tree(tmp_path: Path) -> dict[str, Path]:
    """A workspace with files, and a secret next to it (outside)."""
    ws = tmp_path / "ws"
    (ws / "docs" / "deep").mkdir(parents=True)
    (ws / "notes.txt").write_text("alpha\nbeta gamma\n")
    (ws / "docs" / "a.md").write_text("# A\nfind me\n")
    (ws / "docs" / "deep" / "b.md").write_text("nothing\nFIND ME too\n")
    (ws / "bin.dat").write_bytes(b"\x00\xfffind me")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("TOP SECRET find me")
    return {"ws": ws, "outside": outside}


def context(ws: Path, *allow: str, **kw: Any) -> ToolContext:
    return ToolContext(Permissions(workspace=ws, allow=frozenset(allow or {"fs"}), **kw))


async def call(name: str, args: dict[str, Any], ctx: ToolContext) -> Any:
    return await ToolRegistry(builtin_tools()).invoke(name, args, ctx)


async def test_read_write_append(tree: dict[str, Path]) -> None:
    ctx = context(tree["ws"])
    assert await call("file_read", {"path": "notes.txt"}, ctx) == "alpha\nbeta gamma\n"
    assert await call("file_write", {"path": "out/new.txt", "content": "héllo"}, ctx) == {
        "path": "out/new.txt",
        "bytes": 6,
    }
    await call("file_write", {"path": "out/new.txt", "content": "!", "append": True}, ctx)
    assert (tree["ws"] / "out" / "new.txt").read_text() == "héllo!"
    absolute = str(tree["ws"] / "docs" / "a.md")
    assert (await call("file_read", {"path": absolute}, ctx)).startswith("# A")


async def test_list(tree: dict[str, Path]) -> None:
    ctx = context(tree["ws"])
    entries = await call("file_list", {}, ctx)
    assert [e["name"] for e in entries] == ["bin.dat", "docs", "notes.txt"]
    assert entries[1] == {"name": "docs", "type": "dir"}
    assert entries[2] == {"name": "notes.txt", "type": "file", "size": 17}
    md = await call("file_list", {"path": "docs", "pattern": "*.md", "recursive": True}, ctx)
    assert [e["name"] for e in md] == ["a.md", "deep/b.md"]


async def test_search(tree: dict[str, Path]) -> None:
    ctx = context(tree["ws"])
    found = await call("file_search", {"pattern": "find me"}, ctx)
    assert found == {
        "matches": [{"path": "docs/a.md", "line": 2, "text": "find me"}],
        "truncated": False,
    }
    regex = await call(
        "file_search", {"pattern": "(?i)find me", "regex": True, "glob": "*.md"}, ctx
    )
    assert [(m["path"], m["line"]) for m in regex["matches"]] == [
        ("docs/a.md", 2),
        ("docs/deep/b.md", 2),
    ]
    with pytest.raises(ToolError, match="invalid regular expression"):
        await call("file_search", {"pattern": "(", "regex": True}, ctx)


async def test_permissions_and_workspace_are_required(tree: dict[str, Path]) -> None:
    with pytest.raises(
        ToolError, match=re.escape("permission 'fs.read' not granted; run with --allow fs.read")
    ):
        await call(
            "file_read", {"path": "notes.txt"}, ToolContext(Permissions(workspace=tree["ws"]))
        )
    with pytest.raises(ToolError, match=re.escape("permission 'fs.write' not granted")):
        await call("file_write", {"path": "x", "content": ""}, context(tree["ws"], "fs.read"))
    no_ws = ToolContext(Permissions(allow=frozenset({"fs"})))
    with pytest.raises(ToolError, match="no workspace is configured; run with --workspace DIR"):
        await call("file_read", {"path": "notes.txt"}, no_ws)


@pytest.mark.parametrize(
    ("path", "fragment"),
    [
        ("../outside/secret.txt", "'..' is not allowed"),
        ("docs/../../outside/secret.txt", "'..' is not allowed"),
        ("docs/..", "'..' is not allowed"),
        ("/etc/passwd", "is outside the workspace"),
        ("", "invalid path"),
        ("notes.txt\x00.png", "invalid path"),
    ],
)
async def test_traversal_is_refused(tree: dict[str, Path], path: str, fragment: str) -> None:
    ctx = context(tree["ws"])
    for name, args in [
        ("file_read", {"path": path}),
        ("file_write", {"path": path, "content": "pwned"}),
        ("file_list", {"path": path}),
        ("file_search", {"pattern": "x", "path": path}),
    ]:
        with pytest.raises(ToolError, match=fragment):
            await call(name, args, ctx)
    assert (tree["outside"] / "secret.txt").read_text() == "TOP SECRET find me"


async def test_absolute_path_outside_via_its_own_name(tree: dict[str, Path]) -> None:
    secret = str(tree["outside"] / "secret.txt")
    with pytest.raises(ToolError, match="is outside the workspace"):
        await call("file_read", {"path": secret}, context(tree["ws"]))


async def test_encoded_traversal_stays_literal(tree: dict[str, Path]) -> None:
    ctx = context(tree["ws"])
    for path in [
        "..%2foutside%2fsecret.txt",
        "%2e%2e/outside/secret.txt",
        "..\\outside\\secret.txt",
    ]:
        with pytest.raises(ToolError, match="no such file"):
            await call("file_read", {"path": path}, ctx)


async def test_symlinked_file_pointing_outside_is_refused(tree: dict[str, Path]) -> None:
    ws = tree["ws"]
    (ws / "leak.txt").symlink_to(tree["outside"] / "secret.txt")
    ctx = context(ws)
    with pytest.raises(
        ToolError, match=re.escape("resolves (through a symlink) to a place outside")
    ):
        await call("file_read", {"path": "leak.txt"}, ctx)
    with pytest.raises(ToolError, match="outside"):
        await call("file_write", {"path": "leak.txt", "content": "pwned"}, ctx)
    assert (tree["outside"] / "secret.txt").read_text() == "TOP SECRET find me"
    found = await call("file_search", {"pattern": "SECRET"}, ctx)
    assert found["matches"] == []
    listing = await call("file_list", {}, ctx)
    assert {"name": "leak.txt", "type": "symlink"} in listing


async def test_symlinked_directory_pointing_outside_is_refused(tree: dict[str, Path]) -> None:
    ws = tree["ws"]
    (ws / "escape").symlink_to(tree["outside"], target_is_directory=True)
    ctx = context(ws)
    for name, args in [
        ("file_read", {"path": "escape/secret.txt"}),
        ("file_write", {"path": "escape/planted.txt", "content": "pwned"}),
        ("file_write", {"path": "escape/sub/planted.txt", "content": "pwned"}),
        ("file_list", {"path": "escape"}),
        ("file_search", {"pattern": "SECRET", "path": "escape"}),
    ]:
        with pytest.raises(ToolError, match="outside the workspace"):
            await call(name, args, ctx)
    assert sorted(os.listdir(tree["outside"])) == ["secret.txt"]
    found = await call("file_search", {"pattern": "SECRET"}, ctx)
    assert found["matches"] == []


async def test_symlinks_inside_the_workspace_still_work(tree: dict[str, Path]) -> None:
    ws = tree["ws"]
    (ws / "alias.txt").symlink_to(ws / "notes.txt")
    (ws / "d").symlink_to(ws / "docs", target_is_directory=True)
    ctx = context(ws)
    assert await call("file_read", {"path": "alias.txt"}, ctx) == "alpha\nbeta gamma\n"
    assert (await call("file_read", {"path": "d/a.md"}, ctx)).startswith("# A")


async def test_workspace_reached_through_a_symlink(tree: dict[str, Path], tmp_path: Path) -> None:
    link = tmp_path / "ws-link"
    link.symlink_to(tree["ws"], target_is_directory=True)
    ctx = context(link)
    assert await call("file_read", {"path": "notes.txt"}, ctx) == "alpha\nbeta gamma\n"
    assert await call("file_read", {"path": str(link / "notes.txt")}, ctx) == "alpha\nbeta gamma\n"


async def test_size_caps_and_non_text(tree: dict[str, Path]) -> None:
    ctx = context(tree["ws"], max_file_bytes=10)
    with pytest.raises(
        ToolError, match=re.escape("'notes.txt' is larger than the limit of 10 bytes")
    ):
        await call("file_read", {"path": "notes.txt"}, ctx)
    with pytest.raises(ToolError, match="content is larger than the limit of 10 bytes"):
        await call("file_write", {"path": "big.txt", "content": "x" * 11}, ctx)
    with pytest.raises(ToolError, match=re.escape("'bin.dat' is not UTF-8 text")):
        await call("file_read", {"path": "bin.dat"}, context(tree["ws"]))


async def test_os_errors_are_clear(tree: dict[str, Path]) -> None:
    ctx = context(tree["ws"])
    with pytest.raises(ToolError, match=re.escape("'missing.txt': no such file or directory")):
        await call("file_read", {"path": "missing.txt"}, ctx)
    with pytest.raises(ToolError, match="'docs': is a directory"):
        await call("file_read", {"path": "docs"}, ctx)
    with pytest.raises(ToolError, match="cannot write to the workspace directory itself"):
        await call("file_write", {"path": ".", "content": "x"}, ctx)
    with pytest.raises(ToolError, match=re.escape("'notes.txt': is not a directory")):
        await call("file_list", {"path": "notes.txt"}, ctx)
    os.mkfifo(tree["ws"] / "pipe")
    with pytest.raises(ToolError, match="'pipe' is not a regular file"):
        await call("file_read", {"path": "pipe"}, ctx)


def test_a_directory_swapped_for_a_symlink_after_the_check_is_not_followed(
    tree: dict[str, Path],
) -> None:
    ws = tree["ws"]
    (ws / "box").mkdir()
    (ws / "box" / "secret.txt").write_text("harmless")
    workspace = Workspace(Permissions(workspace=ws), "file_read")
    checked = workspace.resolve("box/secret.txt")
    (ws / "box" / "secret.txt").unlink()
    (ws / "box").rmdir()
    (ws / "box").symlink_to(tree["outside"], target_is_directory=True)  # the race
    with pytest.raises(OSError) as info:
        workspace.read_bytes(checked)
    assert info.value.errno in (errno.ELOOP, errno.ENOTDIR)
    with pytest.raises(OSError):
        workspace.write_bytes(workspace.root / "box" / "planted.txt", b"pwned", append=False)
    assert sorted(os.listdir(tree["outside"])) == ["secret.txt"]
