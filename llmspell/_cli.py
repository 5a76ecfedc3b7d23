"""The ``llmspell`` command line.

Exit codes: 0 success, 1 the spell failed (syntax, runtime error, limit), 2 usage error
(bad flags, missing file, bad configuration), 130 interrupted.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import pathlib
import sys
from typing import Any

from . import __version__
from ._exceptions import ConfigError

EXIT_OK, EXIT_SPELL_ERROR, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:  # argparse exits 2 too; keep its message short
        self.print_usage(sys.stderr)
        print(f"llmspell: error: {message}", file=sys.stderr)
        raise SystemExit(EXIT_USAGE)


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="llmspell",
        description="Run spells: Lua or JavaScript programs that drive LLMs, tools and events.",
    )
    parser.add_argument("--version", action="version", version=f"llmspell {__version__}")
    parser.add_argument("--config", help="config file (default: ./llmspell.toml if present)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    run = sub.add_parser("run", help="run a spell (.lua or .js)")
    run.add_argument("file", help="the spell file")
    run.add_argument(
        "-p",
        "--param",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a parameter the spell reads as params.KEY (repeatable; values are strings)",
    )
    run.add_argument("--json", action="store_true", help="print the result and summary as JSON")
    run.add_argument("--timeout", type=float, metavar="S", help="wall-clock limit in seconds")
    run.add_argument("--memory-mb", type=float, metavar="MB", help="memory limit")
    run.add_argument("--cpu-seconds", type=float, metavar="S", help="CPU-time limit")
    run.add_argument("--model", help="default model, e.g. openai/gpt-4o-mini (else offline)")
    run.add_argument(
        "--fallback",
        action="append",
        default=[],
        metavar="MODEL",
        help="a model to try when the model fails (repeatable, in order)",
    )
    _permission_flags(run)

    tools = sub.add_parser("tools", help="list the tools spells can call, with parameters")
    tools.add_argument("--json", action="store_true", help="print as JSON")

    models = sub.add_parser("models", help="list known models with context window and price")
    models.add_argument("provider", nargs="?", help="only this provider (e.g. openai)")
    models.add_argument("--json", action="store_true", help="print as JSON")

    check = sub.add_parser("check", help="report syntax errors and unknown API names")
    check.add_argument("file", nargs="+", help="spell files")
    return parser


def _permission_flags(parser: argparse.ArgumentParser) -> None:
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


def _permissions(args: argparse.Namespace, config: Any) -> Any:
    from .tools import Permissions

    return Permissions.from_flags(
        allow=[*config.allow, *args.allow],
        workspace=args.workspace or config.workspace or ".",
        http_hosts=[*config.http_hosts, *args.http_host],
        http_allow_private=args.http_allow_private or config.http_allow_private,
    )


def _notice(message: str) -> None:
    print(f"llmspell: {message}", file=sys.stderr, flush=True)


def _params(pairs: list[str]) -> dict[str, str]:
    params: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ConfigError(f"-p {pair!r}: expected KEY=VALUE")
        params[key] = value
    return params


def _print_log(level: str, message: str, fields: dict[str, Any]) -> None:
    extra = " ".join(f"{k}={json.dumps(v, ensure_ascii=False)}" for k, v in fields.items())
    print(f"[{level}] {message}" + (f" {extra}" if extra else ""), file=sys.stderr, flush=True)


def _cmd_run(args: argparse.Namespace) -> int:
    import anyio

    from ._config import load_config
    from ._runtime import SpellSource, open_runtime
    from .engines import engine_for

    config = load_config(args.config)
    if args.fallback:
        config = dataclasses.replace(config, fallbacks=tuple(args.fallback))
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
    params = _params(args.param)
    path = pathlib.Path(args.file)
    engine_for(path)  # an unknown extension is a usage error, before anything starts
    try:
        spell = SpellSource.from_path(path)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read spell: {exc.strerror or exc}") from None
    out = sys.stderr if args.json else sys.stdout

    def output(text: str) -> None:
        out.write(text)
        out.flush()

    permissions = _permissions(args, config)

    async def main() -> Any:
        async with open_runtime(
            config, limits=limits, model=args.model, permissions=permissions, notice=_notice
        ) as runtime:
            return await runtime.run(spell, params=params, output=output, log=_print_log)

    result = anyio.run(main)
    if args.json:
        print(json.dumps(result.to_json(), ensure_ascii=False, indent=2, default=str))
    elif not result.ok:
        print(f"error: {result.error}", file=sys.stderr)
        if result.traceback:
            print(result.traceback, file=sys.stderr)
    return EXIT_OK if result.ok else EXIT_SPELL_ERROR


def _cmd_tools(args: argparse.Namespace) -> int:
    from .tools import builtin_tools

    tools = sorted(builtin_tools(), key=lambda t: t.name)
    if args.json:
        print(json.dumps([t.describe() for t in tools], indent=2))
        return EXIT_OK
    for tool in tools:
        perm = f"  [needs --allow {tool.permission}]" if tool.permission else ""
        print(f"{tool.name}{perm}\n    {tool.description}")
        props = tool.parameters.get("properties", {})
        required = set(tool.parameters.get("required", []))
        for name, schema in props.items():
            flag = "required" if name in required else "optional"
            desc = schema.get("description", "")
            print(f"    - {name} ({schema.get('type', 'any')}, {flag}) {desc}".rstrip())
    return EXIT_OK


def _cmd_models(args: argparse.Namespace) -> int:
    from .providers import Provider

    models = Provider().models(provider=args.provider)
    if args.json:
        print(json.dumps(models, indent=2))
        return EXIT_OK
    print(f"{'model':<52} {'context':>9} {'$/1M in':>9} {'$/1M out':>9}")
    for m in models:
        cin = m.get("input_cost_per_token") or 0.0
        cout = m.get("output_cost_per_token") or 0.0
        ctx = m.get("context_window") or 0
        print(f"{m['name']:<52} {ctx:>9} {cin * 1e6:>9.3f} {cout * 1e6:>9.3f}")
    return EXIT_OK


def _cmd_check(args: argparse.Namespace) -> int:
    from ._api import describe_api
    from ._check import check_source

    api = describe_api()
    status = EXIT_OK
    for name in args.file:
        path = pathlib.Path(name)
        try:
            source = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"{path}: cannot read spell: {exc.strerror or exc}") from None
        problems = check_source(source, str(path), api)
        for problem in problems:
            print(problem)
        if problems:
            status = EXIT_SPELL_ERROR
        else:
            print(f"{path}: ok")
    return status


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``llmspell`` console script."""
    args = _parser().parse_args(argv)
    commands = {"run": _cmd_run, "check": _cmd_check, "tools": _cmd_tools, "models": _cmd_models}
    if args.command is None:
        _parser().print_help()
        return EXIT_USAGE
    try:
        return commands[args.command](args)
    except ConfigError as exc:
        print(f"llmspell: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("llmspell: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
