"""A store in one JSON file, written atomically: ``persistence="file"``.

The file is a JSON object of scopes, each an object of top-level keys::

    {
      "global": {
        "conversation_id": "abc123",
        "context": {"topic":"quantum computing","user":"John"}
      }
    }

Every write produces the whole new file in a temporary file beside it, flushes it to disk
(``fsync``), renames it over the old one and syncs the directory: a reader, or a process killed
mid-write, sees the old file or the new one, never a mix. Writers in several processes take an
exclusive ``flock`` on ``<file>.lock`` for the read-compare-write, so ``update`` stays atomic
between processes too. After each rename the writer bumps a counter kept in the lock file;
readers take no lock and reload the file when that counter, or the file's inode, size or
modification time, has changed (the counter alone is exact: inodes are reused and timestamps
are coarse).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import pathlib
from collections.abc import Iterator
from typing import Any

import anyio
import anyio.to_thread

from ._codec import encode_value
from ._errors import StateError, StateFileError, StateValueError
from ._rows import DEFAULT_UPDATE_ATTEMPTS, Expect, Row, RowStore, expected, rows_of

Scopes = dict[str, dict[str, str]]
_Signature = tuple[int, int, int, int]


class FileStateStore(RowStore):
    """Keeps every scope in one JSON file.

    Args:
        path: the JSON file; created (with its directory) on the first write.
        update_attempts: how many times ``update`` calls its function before giving up.
    """

    def __init__(
        self, path: str | os.PathLike[str], *, update_attempts: int = DEFAULT_UPDATE_ATTEMPTS
    ) -> None:
        super().__init__(update_attempts=update_attempts)
        self.path = pathlib.Path(path)
        self._scopes: Scopes = {}
        self._signature: _Signature | None = None
        self._lock_fd: int | None = None
        self._lock = anyio.Lock()
        self._closed = False

    def __repr__(self) -> str:
        return f"FileStateStore({str(self.path)!r})"

    # -- opening and loading -----------------------------------------------------------------

    async def open(self) -> None:
        async with self._lock:
            await self._refresh()

    async def _refresh(self) -> None:
        """Open on first use, then reload the file if another writer replaced it."""
        if self._closed:
            raise StateError(f"the state store {str(self.path)!r} is closed")
        if self._lock_fd is None:
            await anyio.to_thread.run_sync(self._open_sync)
        elif self._current_signature() != self._signature:
            await anyio.to_thread.run_sync(self._load_sync)

    def _open_sync(self) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            lock = self.path.with_name(self.path.name + ".lock")
            self._lock_fd = os.open(lock, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as exc:
            raise self._error(exc) from None
        try:
            self._load_sync()
        except BaseException:
            self._close_sync()
            raise

    def _current_signature(self) -> _Signature | None:
        """The write counter and the file's identity now; None while there is no file."""
        assert self._lock_fd is not None
        try:
            counter = int.from_bytes(os.pread(self._lock_fd, 8, 0), "little")
            info = os.stat(self.path)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise self._error(exc) from None
        return (counter, info.st_ino, info.st_size, info.st_mtime_ns)

    def _load_sync(self) -> None:
        signature = self._current_signature()  # before reading: a newer file only reloads again
        try:
            with open(self.path, "rb") as file:
                data = file.read()
        except FileNotFoundError:
            self._scopes, self._signature = {}, None
            return
        except OSError as exc:
            raise self._error(exc) from None
        self._scopes = self._parse(data)
        self._signature = signature

    def _parse(self, data: bytes) -> Scopes:
        if not data.strip():
            return {}
        try:
            document = json.loads(data)
        except ValueError as exc:  # UnicodeDecodeError included
            raise StateFileError(str(self.path), f"is not valid JSON ({exc})") from None
        if not isinstance(document, dict) or not all(
            isinstance(rows, dict) for rows in document.values()
        ):
            raise StateFileError(
                str(self.path), "is not a state file: expected an object of scopes, each an object"
            )
        try:
            return {
                scope: {key: encode_value("state.load", key, value) for key, value in rows.items()}
                for scope, rows in document.items()
            }
        except StateValueError as exc:
            raise StateFileError(str(self.path), f"holds a value that is not JSON: {exc}") from None

    def _error(self, exc: OSError) -> StateFileError:
        return StateFileError(str(self.path), f"cannot be used: {exc.strerror or exc}")

    # -- row primitives ----------------------------------------------------------------------

    async def _read(self, scope: str, keys: tuple[str, ...]) -> dict[str, Row]:
        async with self._lock:
            await self._refresh()
            return rows_of(self._scopes.get(scope, {}), keys)

    async def _write(self, scope: str, key: str, text: str | None, expect: Expect) -> bool:
        async with self._lock:
            await self._refresh()
            return await anyio.to_thread.run_sync(self._write_sync, scope, key, text, expect)

    async def _keys(self, scope: str, prefix: str) -> list[str]:
        async with self._lock:
            await self._refresh()
            return sorted(key for key in self._scopes.get(scope, {}) if key.startswith(prefix))

    async def _items(self, scope: str) -> dict[str, str]:
        async with self._lock:
            await self._refresh()
            return dict(self._scopes.get(scope, {}))

    def _write_sync(self, scope: str, key: str, text: str | None, expect: Expect) -> bool:
        with self._file_lock():
            if self._current_signature() != self._signature:
                self._load_sync()  # another process wrote since we last looked
            rows = self._scopes.get(scope, {})
            current = rows.get(key)
            if not expected(current, expect):
                return False
            if text is None and current is None:
                return False
            changed = dict(rows)
            if text is None:
                del changed[key]
            else:
                changed[key] = text
            scopes = {**self._scopes, scope: changed}
            if not changed:
                del scopes[scope]
            self._replace(scopes)
            return True

    @contextlib.contextmanager
    def _file_lock(self) -> Iterator[None]:
        assert self._lock_fd is not None
        fcntl.flock(self._lock_fd, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)

    def _replace(self, scopes: Scopes) -> None:
        """Write ``scopes`` as the new file (temp file, fsync, rename, directory fsync), then
        bump the write counter. Called holding the file lock."""
        assert self._lock_fd is not None
        data = _document(scopes).encode("utf-8")
        tmp = self.path.with_name(f".{self.path.name}.{os.urandom(6).hex()}.tmp")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view) :]
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(tmp, self.path)
            directory = os.open(self.path.parent, os.O_RDONLY | os.O_CLOEXEC)
            try:
                os.fsync(directory)
            finally:
                os.close(directory)
            counter = int.from_bytes(os.pread(self._lock_fd, 8, 0), "little") + 1
            os.pwrite(self._lock_fd, counter.to_bytes(8, "little"), 0)
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise self._error(exc) from None
        self._scopes = scopes
        self._signature = self._current_signature()

    async def aclose(self) -> None:
        async with self._lock:
            self._closed = True
            self._close_sync()
            self._scopes = {}

    def _close_sync(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None


def _json_key(key: str) -> str:
    text = json.dumps(key, ensure_ascii=False)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = json.dumps(key)
    return text


def _document(scopes: Scopes) -> str:
    """The file's text: one line per top-level key, each value compact as stored."""
    parts: list[Any] = []
    for scope, rows in scopes.items():
        body = ",\n".join(f"    {_json_key(key)}: {text}" for key, text in rows.items())
        parts.append(f"  {_json_key(scope)}: {{\n{body}\n  }}")
    return "{\n" + ",\n".join(parts) + "\n}\n" if parts else "{}\n"
