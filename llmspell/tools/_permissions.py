"""What a tool call may touch: the workspace, granted permissions, HTTP hosts, size caps."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable
from pathlib import Path

from .._exceptions import ConfigError

FS_READ = "fs.read"
"""Read files and list directories inside the workspace."""
FS_WRITE = "fs.write"
"""Create and overwrite files inside the workspace."""
NET_HTTP = "net.http"
"""Make HTTP requests to allowlisted hosts."""

# Patterns as text: re compiles (and caches) them when a run first grants a permission or
# a host, not on every run's start-up.
_PERMISSION = r"\*|[a-z][a-z0-9_]*(\.[a-z0-9_]+)*"
_HOST = r"\*|(\*\.)?[a-z0-9_]([a-z0-9_.-]*[a-z0-9_])?|\[?[0-9a-f:.]+\]?"


@dataclasses.dataclass(frozen=True)
class Permissions:
    """The permissions tool calls run under. The default grants nothing risky.

    Attributes:
        workspace: the directory file tools are confined to; None refuses file tools.
        allow: granted permission names. A name grants itself and every name below it
            (``"fs"`` grants ``"fs.read"`` and ``"fs.write"``); ``"*"`` grants everything.
        http_allow_hosts: host names ``http_fetch`` may reach: exact names or IP addresses,
            ``"*.example.com"`` (any subdomain, not the bare domain) or ``"*"`` (any host).
        http_allow_private: let ``http_fetch`` reach loopback, private (RFC 1918, unique
            local) and link-local addresses. Cloud metadata, multicast, reserved and
            unspecified addresses stay refused.
        max_response_bytes: the largest HTTP response body ``http_fetch`` reads.
        max_file_bytes: the largest file the file tools read or write.
    """

    workspace: Path | None = None
    allow: frozenset[str] = frozenset()
    http_allow_hosts: tuple[str, ...] = ()
    http_allow_private: bool = False
    max_response_bytes: int = 1_000_000
    max_file_bytes: int = 1_000_000

    def grants(self, permission: str | None) -> bool:
        """Whether a tool declaring ``permission`` may run (None: always)."""
        if permission is None or "*" in self.allow:
            return True
        parts = permission.split(".")
        return any(".".join(parts[:i]) in self.allow for i in range(1, len(parts) + 1))

    @classmethod
    def from_flags(
        cls,
        *,
        allow: Iterable[str] = (),
        workspace: str | Path | None = None,
        http_hosts: Iterable[str] = (),
        http_allow_private: bool = False,
        max_response_bytes: int | None = None,
        max_file_bytes: int | None = None,
        known: Iterable[str] | None = None,
    ) -> Permissions:
        """Build permissions from command-line flags or configuration.

        Args:
            allow: ``--allow`` values; each may hold several names separated by commas.
            workspace: ``--workspace DIR``; must be an existing directory.
            http_hosts: ``--http-host`` values (comma-separated lists allowed).
            http_allow_private: ``--http-allow-private``.
            max_response_bytes: ``--http-max-bytes``; None keeps the default.
            max_file_bytes: ``--max-file-bytes``; None keeps the default.
            known: the permissions the tools in use declare (``ToolRegistry.permissions()``);
                when given, every ``allow`` name must grant at least one of them (``"fs"``
                grants ``"fs.read"``; ``"*"`` grants all), so a typo is an error, not a
                silently useless grant.

        Raises:
            ConfigError: a malformed or unknown permission or host, a missing workspace, a bad
                size.
        """
        names = frozenset(n.strip() for value in allow for n in value.split(",") if n.strip())
        for name in sorted(names):
            if not re.fullmatch(_PERMISSION, name):
                raise ConfigError(f"--allow: {name!r} is not a permission name like 'fs.read'")
            if known is not None:
                _check_known(name, frozenset(known))
        hosts = tuple(
            h.strip().lower().rstrip(".") for value in http_hosts for h in value.split(",")
        )
        for host in filter(None, hosts):
            if not re.fullmatch(_HOST, host):
                raise ConfigError(f"--http-host: {host!r} is not a host name or '*.domain'")
        root: Path | None = None
        if workspace is not None:
            root = Path(workspace).expanduser().resolve()
            if not root.is_dir():
                raise ConfigError(f"--workspace: {workspace} is not a directory")
        defaults = cls()
        sizes = {"max_response_bytes": max_response_bytes, "max_file_bytes": max_file_bytes}
        for flag, size in sizes.items():
            if size is not None and (not isinstance(size, int) or size <= 0):
                raise ConfigError(f"{flag}: must be a positive number of bytes, got {size!r}")
        return cls(
            workspace=root,
            allow=names,
            http_allow_hosts=tuple(h.strip("[]") for h in hosts if h),
            http_allow_private=bool(http_allow_private),
            max_response_bytes=max_response_bytes or defaults.max_response_bytes,
            max_file_bytes=max_file_bytes or defaults.max_file_bytes,
        )

    def denial(self, permission: str) -> str:
        """The message for a call that needs ``permission`` but lacks it."""
        return f"permission {permission!r} not granted; run with --allow {permission}"


def _check_known(name: str, known: frozenset[str]) -> None:
    if name == "*" or any(p == name or p.startswith(name + ".") for p in known):
        return
    groups = sorted({p.split(".")[0] for p in known if "." in p})
    listed = ", ".join(sorted(known)) or "none"
    if groups:
        listed += f", a group of them ({', '.join(groups)})"
    raise ConfigError(f"--allow: unknown permission {name!r}; known: {listed} or '*' (all)")
