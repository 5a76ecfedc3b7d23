"""What ``llmspell run`` and ``llmspell repl`` share: their flags (parameters, limits, model,
state, permissions), parsed by the same code into the same settings, so a REPL has exactly the
API and sandbox of a run."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from ._exceptions import ConfigError

if TYPE_CHECKING:
    from ._config import Config
    from .engines import Limits
    from .tools import Permissions, ToolRegistry

CONFIG_HELP = "config file (default: ./llmspell.toml if present)"


def add_run_flags(parser: argparse.ArgumentParser) -> None:
    """Add the flags of a run: ``--config``, ``-p``, the limits, ``--model``, ``--fallback``,
    ``--state`` and the permissions."""
    # Also after the command (`llmspell run --config F x.lua`); SUPPRESS keeps a value given
    # before the command when this one is absent.
    parser.add_argument("--config", default=argparse.SUPPRESS, help=CONFIG_HELP)
    parser.add_argument(
        "-p",
        "--param",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a parameter the spell reads as params.KEY (repeatable; values are strings)",
    )
    parser.add_argument("--timeout", type=float, metavar="S", help="wall-clock limit in seconds")
    parser.add_argument("--memory-mb", type=float, metavar="MB", help="memory limit")
    parser.add_argument("--cpu-seconds", type=float, metavar="S", help="CPU-time limit")
    parser.add_argument("--model", help="default model, e.g. openai/gpt-4o-mini (else offline)")
    parser.add_argument(
        "--fallback",
        action="append",
        default=[],
        metavar="MODEL",
        help="a model to try when the model fails (repeatable, in order)",
    )
    parser.add_argument(
        "--state", metavar="PATH", help="the state store (default .llmspell/state.db)"
    )
    group = parser.add_argument_group("permissions (risky tools are denied by default)")
    group.add_argument(
        "--allow",
        action="append",
        default=[],
        metavar="PERM",
        help="grant a permission: fs.read, fs.write, fs (both), net.http (repeatable)",
    )
    group.add_argument("--workspace", metavar="DIR", help="the directory file tools may use")
    group.add_argument(
        "--http-host",
        action="append",
        default=[],
        metavar="HOST",
        help="a host http_fetch may reach (exact, '*.example.com' or '*'; repeatable)",
    )
    group.add_argument(
        "--http-allow-private",
        action="store_true",
        help="let http_fetch reach loopback and private addresses",
    )


def run_settings(args: argparse.Namespace) -> tuple[Config, Limits]:
    """The configuration (file, environment, then ``--fallback``/``--state``) and the limits
    (configured, then ``--timeout``/``--memory-mb``/``--cpu-seconds``) the flags ask for."""
    import dataclasses  # loaded by the config already; not with the CLI module

    from ._config import load_config

    config = load_config(args.config)
    if args.fallback:
        config = dataclasses.replace(config, fallbacks=tuple(args.fallback))
    if args.state:
        config = dataclasses.replace(config, state=args.state)
    limits = config.limits
    for flag, field, scale in (
        ("timeout", "timeout_seconds", 1.0),
        ("memory_mb", "memory_bytes", 2**20),
        ("cpu_seconds", "cpu_seconds", 1.0),
    ):
        value = getattr(args, flag)
        if value is not None:
            if value <= 0:
                raise ConfigError(f"--{flag.replace('_', '-')}: must be positive")
            converted = int(value * scale) if field == "memory_bytes" else value
            limits = dataclasses.replace(limits, **{field: converted})
    return config, limits


def run_permissions(args: argparse.Namespace, config: Config, tools: ToolRegistry) -> Permissions:
    """The permissions of the configuration plus those the flags grant (an unknown one is an
    error naming the known ones)."""
    from .tools import Permissions

    return Permissions.from_flags(
        allow=[*config.allow, *args.allow],
        workspace=args.workspace or config.workspace or ".",
        http_hosts=[*config.http_hosts, *args.http_host],
        http_allow_private=args.http_allow_private or config.http_allow_private,
        known=tools.permissions(),
    )


def params(pairs: list[str]) -> dict[str, str]:
    """``-p KEY=VALUE`` pairs as a dict."""
    found: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ConfigError(f"-p {pair!r}: expected KEY=VALUE")
        found[key] = value
    return found
