"""Confining file tools to the workspace: no absolute escapes, no ``..``, no symlink escapes.

Every path is resolved (``os.path.realpath``, following every symlink in it, including
symlinked parent directories) and must land inside the workspace's own resolved path. Files
are then opened one component at a time from the workspace root (``openat`` with
``O_NOFOLLOW``), so a symlink swapped in after the check, at any level, is refused rather
than followed.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from pathlib import Path, PurePath

from .._exceptions import ToolError
from ._permissions import Permissions

_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_NONBLOCK = getattr(os, "O_NONBLOCK", 0)
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_DIRECTORY = getattr(os, "O_DIRECTORY", 0)
_BENEATH = os.open in os.supports_dir_fd and _NOFOLLOW != 0


class Workspace:
    """The resolved workspace root of one tool call.

    Args:
        permissions: the call's permissions; their ``workspace`` is the root.
        tool: the calling tool's name, for errors.

    Raises:
        ToolError: no workspace is configured, or it does not exist.
    """

    def __init__(self, permissions: Permissions, tool: str) -> None:
        self.tool = tool
        self.max_bytes = permissions.max_file_bytes
        if permissions.workspace is None:
            raise ToolError(tool, "no workspace is configured; run with --workspace DIR")
        root = os.path.realpath(permissions.workspace)
        if not os.path.isdir(root):
            raise ToolError(
                tool, f"the workspace {str(permissions.workspace)!r} is not a directory"
            )
        self.root = Path(root)

    def resolve(self, path: str) -> Path:
        """Return the real path ``path`` names inside the workspace.

        Relative paths are taken from the workspace root; absolute ones must lie inside it.

        Raises:
            ToolError: the path is empty, contains ``..`` or a NUL byte, or resolves outside
                the workspace (directly or through a symlink).
        """
        if not isinstance(path, str) or not path or "\x00" in path:
            raise ToolError(self.tool, f"invalid path {path!r}")
        pure = PurePath(path)
        if ".." in pure.parts:
            raise ToolError(self.tool, f"path {path!r} escapes the workspace ('..' is not allowed)")
        candidate = pure if pure.is_absolute() else self.root / pure
        try:
            real = Path(os.path.realpath(candidate))
        except OSError as exc:  # a component changed while it was being resolved
            raise ToolError(self.tool, describe_os_error(exc, path)) from None
        if not self.contains(real):
            how = (
                "is outside"
                if not self.contains(Path(os.path.abspath(candidate)))
                else ("resolves (through a symlink) to a place outside")
            )
            raise ToolError(self.tool, f"path {path!r} {how} the workspace")
        return real

    def contains(self, real: Path) -> bool:
        """Whether the resolved path ``real`` is the root or below it."""
        return real == self.root or real.is_relative_to(self.root)

    def relative(self, real: Path) -> str:
        """``real`` relative to the root, with ``/`` separators (``"."`` for the root)."""
        return real.relative_to(self.root).as_posix() or "."

    def read_bytes(self, real: Path) -> bytes:
        """Read a regular file, refusing symlinks, devices, FIFOs and files over the cap."""
        fd = self.open(real, os.O_RDONLY | _NONBLOCK)
        with os.fdopen(fd, "rb") as file:
            info = os.fstat(file.fileno())
            if not stat.S_ISREG(info.st_mode):
                raise ToolError(self.tool, f"{self.relative(real)!r} is not a regular file")
            self._check_size(real, info.st_size)
            data = file.read(self.max_bytes + 1)
        self._check_size(real, len(data))
        return data

    def write_bytes(self, real: Path, data: bytes, *, append: bool) -> None:
        """Write (or append) to a file, creating parent directories inside the workspace.

        A write (not an append) goes to a new file beside the target, which then replaces it
        (``rename``): a process killed meanwhile leaves the old content or the new, never a
        truncated file (at worst a stray ``.<name>.*.tmp``).
        """
        if real == self.root:
            raise ToolError(self.tool, "cannot write to the workspace directory itself")
        if append:
            fd = self.open(real, os.O_WRONLY | os.O_CREAT | os.O_APPEND | _NONBLOCK)
            with os.fdopen(fd, "wb") as file:
                if not stat.S_ISREG(os.fstat(file.fileno()).st_mode):
                    raise ToolError(self.tool, f"{self.relative(real)!r} is not a regular file")
                file.write(data)
            return
        directory, name = self.open_parent(real, creating=True)
        try:
            self._replace(directory, name, real, data)
        finally:
            os.close(directory)

    def _replace(self, directory: int, name: str, real: Path, data: bytes) -> None:
        mode = 0o644
        try:
            info = os.stat(name, dir_fd=directory, follow_symlinks=False)
        except FileNotFoundError:
            pass
        else:
            if stat.S_ISLNK(info.st_mode):
                raise OSError(errno.ELOOP, "is a symlink")
            if not stat.S_ISREG(info.st_mode):
                raise ToolError(self.tool, f"{self.relative(real)!r} is not a regular file")
            mode = stat.S_IMODE(info.st_mode)
        temp = f".{name[:200]}.{os.urandom(6).hex()}.tmp"
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW | _CLOEXEC
        fd = os.open(temp, flags, mode, dir_fd=directory)
        try:
            with os.fdopen(fd, "wb") as file:
                file.write(data)
                file.flush()
                os.fsync(file.fileno())
            os.rename(temp, name, src_dir_fd=directory, dst_dir_fd=directory)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temp, dir_fd=directory)
            raise

    def open_parent(self, real: Path, *, creating: bool = False) -> tuple[int, str]:
        """Open the directory holding ``real`` beneath the root, following no symlink on the
        way (creating missing directories if ``creating``); return its descriptor (the caller
        closes it) and ``real``'s name in it."""
        parts = real.relative_to(self.root).parts
        if not parts:
            raise IsADirectoryError(errno.EISDIR, "is a directory")
        if not _BENEATH:
            if creating:
                real.parent.mkdir(parents=True, exist_ok=True)
            return os.open(real.parent, os.O_RDONLY | _DIRECTORY | _CLOEXEC), parts[-1]
        directory = os.open(self.root, os.O_RDONLY | _DIRECTORY | _CLOEXEC)
        try:
            for part in parts[:-1]:
                flags_dir = os.O_RDONLY | _DIRECTORY | _NOFOLLOW | _CLOEXEC
                if creating:
                    with contextlib.suppress(FileExistsError):
                        os.mkdir(part, 0o755, dir_fd=directory)
                inner = os.open(part, flags_dir, dir_fd=directory)
                os.close(directory)
                directory = inner
        except BaseException:
            os.close(directory)
            raise
        return directory, parts[-1]

    def open_dir(self, real: Path) -> int:
        """Open the directory ``real`` (the root included) beneath the root, following no
        symlink on the way nor at the end; the caller closes the descriptor."""
        flags = os.O_RDONLY | _DIRECTORY | _NOFOLLOW | _CLOEXEC
        if real == self.root:
            return os.open(self.root, flags)
        if not _BENEATH:
            return os.open(real, flags)
        directory, name = self.open_parent(real)
        try:
            return os.open(name, flags, dir_fd=directory)
        finally:
            os.close(directory)

    def open(self, real: Path, flags: int, mode: int = 0o644) -> int:
        """Open the resolved path ``real`` beneath the root, following no symlink on the way.

        With ``O_CREAT`` in ``flags``, missing parent directories are created on the way.

        Returns:
            A file descriptor the caller owns.
        """
        if not _BENEATH:
            if flags & os.O_CREAT:
                real.parent.mkdir(parents=True, exist_ok=True)
            return os.open(real, flags | _NOFOLLOW | _CLOEXEC, mode)
        directory, name = self.open_parent(real, creating=bool(flags & os.O_CREAT))
        try:
            return os.open(name, flags | _NOFOLLOW | _CLOEXEC, mode, dir_fd=directory)
        finally:
            os.close(directory)

    def _check_size(self, real: Path, size: int) -> None:
        if size > self.max_bytes:
            raise ToolError(
                self.tool,
                f"{self.relative(real)!r} is larger than the limit of {self.max_bytes} bytes",
            )


def describe_os_error(exc: OSError, shown: str) -> str:
    """A short message for an ``OSError`` on path ``shown``."""
    reasons = {
        FileNotFoundError: "no such file or directory",
        IsADirectoryError: "is a directory",
        NotADirectoryError: "is not a directory",
        PermissionError: "permission denied by the operating system",
    }
    reason = reasons.get(type(exc)) or exc.strerror or str(exc)
    if exc.errno == errno.ELOOP:  # O_NOFOLLOW met a symlink
        reason = "is a symlink that changed while it was being opened"
    return f"{shown!r}: {reason}"
