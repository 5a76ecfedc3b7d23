"""The daemon's settings: ``[serve]`` in ``llmspell.toml``, then ``LLMSPELL_*``, then flags.

Example::

    [serve]
    spells = "spells"        # the directory of spells (--spells, LLMSPELL_SPELLS)
    host = "127.0.0.1"       # any other address needs LLMSPELL_TOKEN
    port = 8321
    grace = 30               # seconds in-flight runs get after SIGTERM
    concurrency = 16         # default runs at once per spell (a spell may set its own)
    log_format = "json"      # or "text"
    nats = "nats://127.0.0.1:4222"   # join the daemons on this NATS server (--nats, LLMSPELL_NATS)

The token is read from the environment only (``LLMSPELL_TOKEN``): a secret does not belong in
a file next to the spells.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import pathlib
import re
from collections.abc import Mapping
from typing import Any

from .._exceptions import ConfigError

_NATS_URL = re.compile(r"^(nats|tls|ws|wss)://[^\s/]+$")
LOOPBACK_HOSTS = ("127.0.0.1", "::1", "localhost")
"""The addresses the daemon may listen on without a token."""


@dataclasses.dataclass(frozen=True)
class ServeSettings:
    """How the daemon serves (every field has a ``[serve]`` key of the same name).

    Attributes:
        spells: the directory of spells it hosts.
        host: the address it listens on.
        port: the port it listens on (0: any free port).
        token: the bearer token every endpoint but ``/healthz`` requires (None: none).
        grace: seconds in-flight runs get to finish after SIGTERM/SIGINT.
        log_format: ``text`` or ``json`` (one JSON object per line).
        concurrency: runs of one spell at once, unless the spell sets its own.
        max_body_bytes: the largest request body accepted (413 past it).
        max_sse_clients: event-stream clients at once (503 past it).
        sse_queue: events one stream client may fall behind before it is disconnected.
        sse_keepalive: seconds between keep-alive comments on an idle event stream.
        max_restarts: a resident spell restarted more often than this within
            ``restart_period`` seconds is marked failed (unless the spell sets its own).
        restart_period: the window ``max_restarts`` counts in.
        reload: watch the spells directory and reload changed files.
        reload_debounce: seconds of quiet after a change before reloading.
        resume_workflows: at start, resume durable workflow runs a previous process left.
        access_log: log every request (uvicorn's access log).
        nats: the NATS server (``nats://host:port``, JetStream on) that joins daemons: the
            bus, queued runs and workflow takeover go through it (None: this daemon alone).
        nats_ack_wait: seconds a daemon that took queued work may stay silent before the
            work goes to another daemon (it reports progress well within this while it works).
            The first daemon to create the shared consumers fixes it for all of them.
        queue_concurrency: queued runs this daemon takes at once.
    """

    spells: pathlib.Path = pathlib.Path("spells")
    host: str = "127.0.0.1"
    port: int = 8321
    token: str | None = None
    grace: float = 30.0
    log_format: str = "text"
    concurrency: int = 16
    max_body_bytes: int = 1024 * 1024
    max_sse_clients: int = 100
    sse_queue: int = 1000
    sse_keepalive: float = 15.0
    max_restarts: int = 5
    restart_period: float = 60.0
    reload: bool = True
    reload_debounce: float = 0.3
    resume_workflows: bool = True
    access_log: bool = False
    nats: str | None = None
    nats_ack_wait: float = 30.0
    queue_concurrency: int = 8

    def check(self) -> ServeSettings:
        """Check the settings together; returns them.

        Raises:
            ConfigError: naming what is wrong (a public address without a token ...).
        """
        if not self.spells.is_dir():
            raise ConfigError(f"--spells {self.spells}: no such directory")
        if self.log_format not in ("text", "json"):
            raise ConfigError(f"--log-format: must be text or json, not {self.log_format!r}")
        if not 0 <= self.port <= 65535:
            raise ConfigError(f"--port {self.port}: must be a port number (0 to 65535)")
        if self.token is not None and not self.token.strip():
            raise ConfigError("LLMSPELL_TOKEN: is set but empty")
        if self.nats is not None and not _NATS_URL.match(self.nats):
            raise ConfigError(
                f"--nats {self.nats!r}: expected a NATS server URL such as nats://127.0.0.1:4222"
            )
        if not is_loopback(self.host) and not self.token:
            raise ConfigError(
                f"--host {self.host}: listening beyond this machine needs a token; set "
                "LLMSPELL_TOKEN (clients then send 'Authorization: Bearer <token>')"
            )
        return self


def is_loopback(host: str) -> bool:
    """Whether ``host`` is one of :data:`LOOPBACK_HOSTS` (127.0.0.1, ::1, localhost)."""
    if host in LOOPBACK_HOSTS:
        return True
    try:
        return str(ipaddress.ip_address(host)) in ("127.0.0.1", "::1")
    except ValueError:
        return False


_KINDS: dict[str, type] = {
    f.name: {"int": int, "float": float, "bool": bool, "str": str}.get(str(f.type), str)
    for f in dataclasses.fields(ServeSettings)
}
_POSITIVE = {"grace", "concurrency", "max_body_bytes", "max_sse_clients", "sse_queue"}
_POSITIVE |= {"sse_keepalive", "restart_period", "nats_ack_wait", "queue_concurrency"}


def _convert(where: str, key: str, value: Any) -> Any:
    if key == "spells":
        if not isinstance(value, str | pathlib.Path) or not str(value):
            raise ConfigError(f"{where}: spells must be a directory name")
        return pathlib.Path(value)
    if key in ("host", "log_format", "token", "nats"):
        if not isinstance(value, str):
            raise ConfigError(f"{where}: {key} must be a string, got {value!r}")
        return value
    kind = _KINDS[key]
    if kind is bool:
        if isinstance(value, str):
            value = {"true": True, "1": True, "false": False, "0": False}.get(value.lower(), value)
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: {key} must be true or false, got {value!r}")
        return value
    if isinstance(value, str):
        try:
            value = float(value) if kind is float or "." in value or "e" in value else int(value)
        except ValueError:
            raise ConfigError(f"{where}: {key} must be a number, got {value!r}") from None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"{where}: {key} must be a number, got {value!r}")
    if kind is int and value != int(value):
        raise ConfigError(f"{where}: {key} must be a whole number, got {value!r}")
    if value < 0 or (value == 0 and key in _POSITIVE):
        raise ConfigError(f"{where}: {key} must be positive, got {value!r}")
    return kind(value)


def load_settings(
    table: Mapping[str, Any],
    env: Mapping[str, str],
    flags: Mapping[str, Any],
    *,
    where: str = "llmspell.toml [serve]",
) -> ServeSettings:
    """Settings from the ``[serve]`` table, then ``LLMSPELL_<KEY>`` variables, then ``flags``
    (None values are left out). ``token`` is taken from ``LLMSPELL_TOKEN`` (or ``flags``) only.

    Raises:
        ConfigError: an unknown key or a malformed value, naming where it came from.
    """
    values: dict[str, Any] = {}
    for key, value in table.items():
        if key not in _KINDS or key == "token":
            known = ", ".join(k for k in _KINDS if k != "token")
            hint = " (the token is read from LLMSPELL_TOKEN only)" if key == "token" else ""
            raise ConfigError(f"{where}: unknown key {key!r}{hint} (known: {known})")
        values[key] = _convert(where, key, value)
    for key in _KINDS:
        name = f"LLMSPELL_{key.upper()}"
        if name in env:
            values[key] = _convert(name, key, env[name])
    for key, value in flags.items():
        if value is not None:
            values[key] = _convert(f"--{key.replace('_', '-')}", key, value)
    return ServeSettings(**values)
