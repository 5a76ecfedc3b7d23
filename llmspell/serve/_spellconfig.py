"""A spell's own configuration in the daemon: a header comment, and ``[spells.<name>]``.

The header is the leading comment block of the file; its lines that start with ``llmspell:``
hold comma-separated settings (``--`` in Lua, ``//`` in JavaScript and Tengo)::

    -- llmspell: resident, allow=fs.read, concurrency=4, timeout=30
    -- llmspell: cpu_seconds=0.5, http_hosts=api.example.com

The operator's ``llmspell.toml`` may set the same keys per spell, and wins key by key::

    [spells.report]
    concurrency = 2
    allow = ["fs.read"]

Parsing is strict: an unknown key, a malformed value or a key given twice (other than the
list keys ``allow`` and ``http_hosts``) is an error, and the spell does not load. Permissions
come from here and from the daemon's own configuration, never from a request.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from typing import Any

from .._exceptions import ConfigError

_NUMBERS = {
    "concurrency": int,
    "timeout": float,
    "cpu_seconds": float,
    "memory_mb": float,
    "output_bytes": int,
    "max_restarts": int,
    "restart_period": float,
}
_LISTS = ("allow", "http_hosts")
KNOWN_KEYS = ("resident", *_LISTS, "workspace", *_NUMBERS)
_HEADER = re.compile(r"^\s*(?:--|//)\s*llmspell:(.*)$")
_COMMENT = re.compile(r"^\s*(?:--|//|#!)")


@dataclasses.dataclass(frozen=True)
class SpellConfig:
    """What a spell declares about how the daemon runs it (None: the daemon's default).

    Attributes:
        resident: start with the daemon and handle bus events, under supervision.
        allow: permissions granted to this spell's tool calls (added to the daemon's).
        http_hosts: hosts ``http_fetch`` may reach (added to the daemon's).
        workspace: the directory its file tools may use.
        concurrency: runs of this spell at once over HTTP; past it, 429.
        timeout: wall-clock limit of a run (of each callback, for a resident spell).
        cpu_seconds: CPU limit of a run (of each callback, for a resident spell).
        memory_mb: the interpreter's memory limit.
        output_bytes: how much a run may print.
        max_restarts: a resident spell restarted more often than this within
            ``restart_period`` seconds is marked failed.
        restart_period: the window ``max_restarts`` counts in.
    """

    resident: bool = False
    allow: tuple[str, ...] = ()
    http_hosts: tuple[str, ...] = ()
    workspace: str | None = None
    concurrency: int | None = None
    timeout: float | None = None
    cpu_seconds: float | None = None
    memory_mb: float | None = None
    output_bytes: int | None = None
    max_restarts: int | None = None
    restart_period: float | None = None


def _number(where: str, key: str, value: Any) -> int | float:
    kind = _NUMBERS[key]
    if isinstance(value, str):
        try:
            value = float(value) if kind is float or "." in value or "e" in value else int(value)
        except ValueError:
            raise ConfigError(f"{where}: {key} must be a number, got {value!r}") from None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"{where}: {key} must be a number, got {value!r}")
    if kind is int and value != int(value):
        raise ConfigError(f"{where}: {key} must be a whole number, got {value!r}")
    smallest = 0 if key == "max_restarts" else 0.0
    if value < smallest or (value == 0 and key != "max_restarts"):
        raise ConfigError(f"{where}: {key} must be positive, got {value!r}")
    return int(value) if kind is int else float(value)


def _apply(where: str, values: dict[str, Any], key: str, value: Any) -> None:
    if key not in KNOWN_KEYS:
        raise ConfigError(f"{where}: unknown key {key!r} (known: {', '.join(KNOWN_KEYS)})")
    if key in _LISTS:
        items = value.split() if isinstance(value, str) else value
        if not isinstance(items, list | tuple) or not all(isinstance(v, str) for v in items):
            raise ConfigError(f"{where}: {key} must be a list of strings")
        values[key] = (*values.get(key, ()), *items)
        return
    if key in values:
        raise ConfigError(f"{where}: {key} is given twice")
    if key == "resident":
        if isinstance(value, str):
            value = {"true": True, "false": False}.get(value.lower(), value)
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: resident must be true or false, got {value!r}")
        values[key] = value
    elif key == "workspace":
        if not isinstance(value, str) or not value:
            raise ConfigError(f"{where}: workspace must be a directory name")
        values[key] = value
    else:
        values[key] = _number(where, key, value)


def parse_header(source: str, filename: str) -> dict[str, Any]:
    """The settings in ``source``'s leading comment block (``llmspell:`` lines).

    Raises:
        ConfigError: naming the file, the line and the key that is wrong.
    """
    values: dict[str, Any] = {}
    for number, line in enumerate(source.splitlines(), 1):
        if not line.strip():
            continue
        match = _HEADER.match(line)
        if match is None:
            if _COMMENT.match(line):
                continue
            break  # the first line of code ends the header
        where = f"{filename}:{number}"
        for item in match.group(1).split(","):
            item = item.strip()
            if not item:
                continue
            key, sep, value = item.partition("=")
            key = key.strip()
            if not sep:
                if key != "resident":
                    raise ConfigError(f"{where}: expected KEY=VALUE, got {item!r}")
                value = "true"
            _apply(where, values, key, value.strip())
    return values


def parse_table(table: Mapping[str, Any], where: str) -> dict[str, Any]:
    """The settings of a ``[spells.<name>]`` table of ``llmspell.toml``.

    Raises:
        ConfigError: naming the table and the key that is wrong.
    """
    values: dict[str, Any] = {}
    for key, value in table.items():
        _apply(where, values, key, value)
    return values


def spell_config(header: Mapping[str, Any], table: Mapping[str, Any]) -> SpellConfig:
    """The header's settings, with the operator's table winning key by key."""
    return SpellConfig(**{**header, **table})
