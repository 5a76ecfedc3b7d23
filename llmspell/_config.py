"""Configuration: ``llmspell.toml``, then ``LLMSPELL_*`` environment variables, then flags.

Example ``llmspell.toml``::

    model = "openai/gpt-4o-mini"
fallbacks = ["anthropic/claude-3-5-haiku-latest"]   # tried in order when the model fails

    [limits]
    memory_mb = 64
    cpu_seconds = 10
    timeout_seconds = 300
    output_bytes = 1048576

    [permissions]
    allow = ["fs.read"]
    workspace = "."
    http_hosts = ["example.com"]

    [state]
    path = ".llmspell/state.db"    # or "state.json" (one JSON file), or ":memory:" (keep nothing)

    [serve]                        # llmspell serve (checked by llmspell.serve)
    spells = "spells"

    [spells.report]                # one spell of the daemon (checked by llmspell.serve)
    concurrency = 4
"""

from __future__ import annotations

import dataclasses
import os
import pathlib
from collections.abc import Mapping
from typing import Any

from ._exceptions import ConfigError
from .engines import Limits
from .state import DEFAULT_STATE_PATH

CONFIG_FILE = "llmspell.toml"


@dataclasses.dataclass(frozen=True)
class Config:
    """Resolved settings for a runtime."""

    model: str | None = None
    fallbacks: tuple[str, ...] = ()
    limits: Limits = dataclasses.field(default_factory=Limits)
    allow: tuple[str, ...] = ()
    workspace: str | None = None
    http_hosts: tuple[str, ...] = ()
    http_allow_private: bool = False
    state: str | None = None
    """The state store's path (``--state``, ``LLMSPELL_STATE``, ``[state] path``); None: the
    default, ``.llmspell/state.db`` under the current directory."""
    serve: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    """The ``[serve]`` table as read; ``llmspell serve`` checks its keys."""
    spells: Mapping[str, Mapping[str, Any]] = dataclasses.field(default_factory=dict)
    """The ``[spells.<name>]`` tables as read; ``llmspell serve`` checks their keys."""
    source: str = "defaults"


def _number(where: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise ConfigError(f"{where}: must be a positive number, got {value!r}")
    return float(value)


def _limits(where: str, table: Mapping[str, Any], base: Limits) -> Limits:
    known = {"memory_mb", "cpu_seconds", "timeout_seconds", "output_bytes"}
    for key in table:
        if key not in known:
            raise ConfigError(f"{where}: unknown key {key!r} (known: {', '.join(sorted(known))})")
    changes: dict[str, Any] = {}
    if "memory_mb" in table:
        changes["memory_bytes"] = int(_number(f"{where}.memory_mb", table["memory_mb"]) * 2**20)
    if "cpu_seconds" in table:
        changes["cpu_seconds"] = _number(f"{where}.cpu_seconds", table["cpu_seconds"])
    if "timeout_seconds" in table:
        changes["timeout_seconds"] = _number(f"{where}.timeout_seconds", table["timeout_seconds"])
    if "output_bytes" in table:
        changes["output_bytes"] = int(_number(f"{where}.output_bytes", table["output_bytes"]))
    return dataclasses.replace(base, **changes)


def _strings(where: str, value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        return tuple(v.strip() for v in value.split(",") if v.strip())
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise ConfigError(f"{where}: must be a list of strings")


def _state_path(where: str, table: Any) -> str:
    if not isinstance(table, Mapping) or set(table) - {"path"}:
        raise ConfigError(f"{where}: expected a table with one key, path")
    path = table.get("path")
    if not isinstance(path, str) or not path:
        raise ConfigError(f"{where}: path must be a file name (or ':memory:')")
    return path


def load_config(
    path: str | pathlib.Path | None = None, env: Mapping[str, str] | None = None
) -> Config:
    """Read ``path`` (default ``./llmspell.toml`` if present) and ``LLMSPELL_*`` variables.

    Raises:
        ConfigError: naming the file and key, or the variable, that is wrong.
    """
    env = os.environ if env is None else env
    config = Config()
    file = pathlib.Path(path) if path is not None else pathlib.Path(CONFIG_FILE)
    if path is not None or file.exists():
        import tomllib  # only with a file to read

        try:
            data = tomllib.loads(file.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"{file}: no such config file") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{file}: {exc}") from None
        config = _apply(config, data, str(file))
    env_table: dict[str, Any] = {}
    limits_env: dict[str, Any] = {}
    for key, value in env.items():
        if not key.startswith("LLMSPELL_"):
            continue
        name = key[len("LLMSPELL_") :].lower()
        if name in ("memory_mb", "cpu_seconds", "timeout_seconds", "output_bytes"):
            try:
                limits_env[name] = float(value)
            except ValueError:
                raise ConfigError(f"{key}: must be a number, got {value!r}") from None
        elif name in ("model", "workspace", "fallbacks"):
            env_table[name] = value
        elif name == "state":
            env_table["state"] = {"path": value}
        elif name in ("allow", "http_hosts"):
            env_table.setdefault("permissions", {})[name] = value
    if limits_env:
        env_table["limits"] = limits_env
    if env_table:
        config = _apply(config, env_table, "environment (LLMSPELL_*)")
    return config


def _apply(config: Config, data: Mapping[str, Any], where: str) -> Config:
    known = {"model", "fallbacks", "limits", "permissions", "workspace", "state", "serve", "spells"}
    for key in data:
        if key not in known:
            raise ConfigError(f"{where}: unknown key {key!r} (known: {', '.join(sorted(known))})")
    changes: dict[str, Any] = {"source": where}
    if "model" in data:
        if not isinstance(data["model"], str) or not data["model"]:
            raise ConfigError(f"{where}: model must be a model name like 'openai/gpt-4o-mini'")
        changes["model"] = data["model"]
    if "fallbacks" in data:
        changes["fallbacks"] = _strings(f"{where}: fallbacks", data["fallbacks"])
    if "limits" in data:
        changes["limits"] = _limits(f"{where} [limits]", data["limits"], config.limits)
    if "workspace" in data:
        changes["workspace"] = str(data["workspace"])
    if "state" in data:
        changes["state"] = _state_path(f"{where} [state]", data["state"])
    if "serve" in data:
        if not isinstance(data["serve"], Mapping):
            raise ConfigError(f"{where}: serve must be a table ([serve])")
        changes["serve"] = dict(data["serve"])
    if "spells" in data:
        spells = data["spells"]
        if not isinstance(spells, Mapping) or not all(
            isinstance(t, Mapping) for t in spells.values()
        ):
            raise ConfigError(f"{where}: spells must hold one table per spell ([spells.NAME])")
        changes["spells"] = {name: dict(table) for name, table in spells.items()}
    perms = data.get("permissions", {})
    for key, value in perms.items():
        if key == "allow":
            changes["allow"] = _strings(f"{where} permissions.allow", value)
        elif key == "http_hosts":
            changes["http_hosts"] = _strings(f"{where} permissions.http_hosts", value)
        elif key == "workspace":
            changes["workspace"] = str(value)
        elif key == "http_allow_private":
            changes["http_allow_private"] = bool(value)
        else:
            raise ConfigError(f"{where}: unknown permissions key {key!r}")
    return dataclasses.replace(config, **changes)


def state_path(flag: str | None, config: Config) -> str:
    """The state database a command uses: ``--state``, then ``LLMSPELL_STATE`` / ``[state] path``
    (already in ``config``), then ``.llmspell/state.db`` under the current directory."""
    return flag or config.state or DEFAULT_STATE_PATH
