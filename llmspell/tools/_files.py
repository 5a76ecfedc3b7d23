"""File tools: read, write, list and search files inside the workspace."""

from __future__ import annotations

import errno
import fnmatch
import functools
import os
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import anyio

from .._exceptions import ToolError
from ._permissions import FS_READ, FS_WRITE
from ._regex import RegexError, compile_regex, escape
from ._tool import Tool, ToolContext
from ._workspace import Workspace, describe_os_error

MAX_ENTRIES = 10_000
"""The most entries ``file_list`` returns."""
MAX_MATCHES = 500
"""The most matches ``file_search`` returns."""
MAX_LINE = 500
"""Matched lines longer than this are cut."""

T = TypeVar("T")


async def _in_thread(tool: str, shown: str, fn: Callable[[], T]) -> T:
    def guarded() -> T:
        try:
            return fn()
        except OSError as exc:
            raise ToolError(tool, describe_os_error(exc, shown)) from exc

    return await anyio.to_thread.run_sync(guarded, abandon_on_cancel=True)


async def file_read(args: dict[str, Any], ctx: ToolContext) -> str:
    """Return a UTF-8 text file's content."""
    ws = Workspace(ctx.permissions, "file_read")
    real = ws.resolve(args["path"])
    data = await _in_thread(ws.tool, args["path"], lambda: ws.read_bytes(real))
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise ToolError(ws.tool, f"{ws.relative(real)!r} is not UTF-8 text") from None


async def file_write(args: dict[str, Any], ctx: ToolContext) -> dict[str, Any]:
    """Write (or append) text to a file, creating parent directories."""
    ws = Workspace(ctx.permissions, "file_write")
    real = ws.resolve(args["path"])
    data = args["content"].encode("utf-8")
    if len(data) > ws.max_bytes:
        raise ToolError(ws.tool, f"content is larger than the limit of {ws.max_bytes} bytes")
    write = functools.partial(ws.write_bytes, real, data, append=bool(args.get("append")))
    await _in_thread(ws.tool, args["path"], write)
    return {"path": ws.relative(real), "bytes": len(data)}


async def file_list(args: dict[str, Any], ctx: ToolContext) -> list[dict[str, Any]]:
    """List a directory's entries (recursively if asked), filtered by a glob pattern."""
    ws = Workspace(ctx.permissions, "file_list")
    path = args.get("path", ".")
    real = ws.resolve(path)
    pattern, recursive = args.get("pattern"), bool(args.get("recursive"))

    def listing() -> list[dict[str, Any]]:
        try:
            top = ws.open_dir(real)
        except OSError as exc:
            if exc.errno in (errno.ENOTDIR, errno.ELOOP):
                raise NotADirectoryError(errno.ENOTDIR, "is not a directory") from None
            raise
        entries: list[dict[str, Any]] = []
        try:
            _list(top, "", pattern, recursive, entries)
        finally:
            os.close(top)
        return entries

    return await _in_thread(ws.tool, path, listing)


_SUBDIR = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_NOFOLLOW", 0)


def _list(
    directory: int, prefix: str, pattern: str | None, recursive: bool, out: list[dict[str, Any]]
) -> bool:
    """List the directory open as ``directory`` into ``out`` (names prefixed with ``prefix``),
    then, if ``recursive``, each subdirectory, opened from it by name with ``O_NOFOLLOW``: a
    directory swapped for a symlink meanwhile is skipped, never followed. Nothing is looked up
    by path, so nothing outside the workspace is listed. False once ``out`` is full."""
    with os.scandir(directory) as scan:
        found = sorted(scan, key=lambda e: e.name)
    subdirs = []
    for item in found:
        rel = prefix + item.name
        try:
            info = item.stat(follow_symlinks=False)
        except OSError:
            continue  # gone meanwhile
        mode = info.st_mode
        kind = (
            "symlink"
            if stat.S_ISLNK(mode)
            else "dir"
            if stat.S_ISDIR(mode)
            else "file"
            if stat.S_ISREG(mode)
            else "other"
        )
        if kind == "dir":
            subdirs.append(item.name)
        if pattern and not (fnmatch.fnmatch(item.name, pattern) or fnmatch.fnmatch(rel, pattern)):
            continue
        entry: dict[str, Any] = {"name": rel, "type": kind}
        if kind == "file":
            entry["size"] = info.st_size
        out.append(entry)
        if len(out) >= MAX_ENTRIES:
            return False
    if recursive:
        for name in subdirs:
            try:
                inner = os.open(name, _SUBDIR, dir_fd=directory)
            except OSError:
                continue  # swapped for a symlink or removed since: not ours to follow
            try:
                if not _list(inner, f"{prefix}{name}/", pattern, recursive, out):
                    return False
            finally:
                os.close(inner)
    return True


async def file_search(args: dict[str, Any], ctx: ToolContext) -> dict[str, Any]:
    """Search text files under a directory for a substring or regular expression."""
    ws = Workspace(ctx.permissions, "file_search")
    path = args.get("path", ".")
    real = ws.resolve(path)
    pattern: str = args["pattern"]
    try:
        regex = compile_regex(pattern if args.get("regex") else escape(pattern))
    except RegexError as exc:
        raise ToolError(ws.tool, f"parameter 'pattern': {exc}") from None
    glob = args.get("glob")
    return await _in_thread(ws.tool, path, lambda: _search(ws, real, regex, glob))


def _search(ws: Workspace, top: Path, regex: Any, glob: str | None) -> dict[str, Any]:
    matches: list[dict[str, Any]] = []
    files = [top] if top.is_file() else _walk_files(top)
    for full in files:
        if glob and not fnmatch.fnmatch(full.name, glob):
            continue
        try:
            data = ws.read_bytes(full)
        except (OSError, ToolError):
            continue  # unreadable, special or too large: skip rather than fail the search
        if b"\x00" in data[:8192]:
            continue
        text = data.decode("utf-8", "replace")
        for number, line in enumerate(text.splitlines(), 1):
            if regex.search(line):
                shown = line if len(line) <= MAX_LINE else line[:MAX_LINE] + "..."
                matches.append({"path": ws.relative(full), "line": number, "text": shown})
                if len(matches) >= MAX_MATCHES:
                    return {"matches": matches, "truncated": True}
    return {"matches": matches, "truncated": False}


def _walk_files(top: Path) -> list[Path]:
    found: list[Path] = []
    for folder, dirs, files in os.walk(top):  # does not descend into symlinked directories
        dirs.sort()
        found.extend(Path(folder, f) for f in sorted(files) if not Path(folder, f).is_symlink())
    return found


_PATH = {"type": "string", "description": "a path relative to the workspace"}

FILE_TOOLS = [
    Tool(
        name="file_read",
        description="Read a UTF-8 text file in the workspace and return its content.",
        parameters={"path": {**_PATH, "required": True}},
        handler=file_read,
        permission=FS_READ,
    ),
    Tool(
        name="file_write",
        description="Write text to a file in the workspace (creating directories as needed); "
        "replaces the file unless append is true. Returns {path, bytes}.",
        parameters={
            "path": {**_PATH, "required": True},
            "content": {"type": "string", "required": True, "description": "the text to write"},
            "append": {"type": "boolean", "default": False, "description": "append instead"},
        },
        handler=file_write,
        permission=FS_WRITE,
    ),
    Tool(
        name="file_list",
        description="List a workspace directory: [{name, type, size}] sorted by name; type is "
        "file, dir, symlink or other.",
        parameters={
            "path": {**_PATH, "default": "."},
            "pattern": {"type": "string", "description": "a glob such as '*.md'"},
            "recursive": {
                "type": "boolean",
                "default": False,
                "description": "include subdirectories",
            },
        },
        handler=file_list,
        permission=FS_READ,
    ),
    Tool(
        name="file_search",
        description="Search the text files under a workspace directory for a substring (or a "
        "regular expression when regex is true). Returns {matches: [{path, line, text}], "
        "truncated}.",
        parameters={
            "pattern": {"type": "string", "required": True, "description": "what to look for"},
            "path": {**_PATH, "default": "."},
            "regex": {"type": "boolean", "default": False, "description": "pattern is a regex"},
            "glob": {"type": "string", "description": "only files whose name matches, e.g. '*.py'"},
        },
        handler=file_search,
        permission=FS_READ,
    ),
]
