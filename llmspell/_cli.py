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
        "-p", "--param", action="append", default=[], metavar="KEY=VALUE",
        help="a parameter the spell reads as params.KEY (repeatable; values are strings)",
    )
    run.add_argument("--json", action="store_true", help="print the result and summary as JSON")
    run.add_argument("--timeout", type=float, metavar="S", help="wall-clock limit in seconds")
    run.add_argument("--memory-mb", type=float, metavar="MB", help="memory limit")
    run.add_argument("--cpu-seconds", type=float, metavar="S", help="CPU-time limit")

    check = sub.add_parser("check", help="report syntax errors and unknown API names")
    check.add_argument("file", nargs="+", help="spell files")
    return parser


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

    config = load_config(args.config)
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
    try:
        spell = SpellSource.from_path(path)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read spell: {exc.strerror or exc}") from None
    out = sys.stderr if args.json else sys.stdout

    def output(text: str) -> None:
        out.write(text)
        out.flush()

    async def main() -> Any:
        async with open_runtime(limits=limits) as runtime:
            return await runtime.run(spell, params=params, output=output, log=_print_log)

    result = anyio.run(main)
    if args.json:
        print(json.dumps(result.to_json(), ensure_ascii=False, indent=2, default=str))
    elif not result.ok:
        print(f"error: {result.error}", file=sys.stderr)
        if result.traceback:
            print(result.traceback, file=sys.stderr)
    return EXIT_OK if result.ok else EXIT_SPELL_ERROR


def _cmd_check(args: argparse.Namespace) -> int:
    from ._api import describe_api
    from ._check import check_source

    namespaces = describe_api()
    status = EXIT_OK
    for name in args.file:
        path = pathlib.Path(name)
        try:
            source = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"{path}: cannot read spell: {exc.strerror or exc}") from None
        problems = check_source(source, str(path), namespaces)
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
    commands = {"run": _cmd_run, "check": _cmd_check}
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
