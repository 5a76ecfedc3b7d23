"""``llmspell repl``: an interactive session with the script API (Lua, or JS with ``--js``),
with the flags, API and sandbox of ``llmspell run`` (see :mod:`._cli_common`)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from ._cli_common import add_run_flags, params, run_permissions, run_settings


def add_parser(sub: Any) -> None:
    """Add ``repl`` to the CLI's subcommands."""
    repl = sub.add_parser(
        "repl",
        help="an interactive session: Lua (default) or JS, the API and sandbox of a run",
        description="Evaluate Lua (or JavaScript with --js) line by line with the spell API. "
        "An expression's value is printed; an unfinished statement continues on the next "
        "line (prompt '..'); Ctrl-C cancels the input or stops it running; Ctrl-D or .exit "
        "leaves. History: $LLMSPELL_HISTORY, else ~/.llmspell_history. --cpu-seconds and "
        "--timeout apply to each input.",
    )
    engine = repl.add_mutually_exclusive_group()
    engine.add_argument(
        "--lua", dest="engine", action="store_const", const="lua", help="Lua (the default)"
    )
    engine.add_argument(
        "--js", dest="engine", action="store_const", const="javascript", help="JavaScript"
    )
    repl.set_defaults(engine="lua")
    add_run_flags(repl)


def _write(text: str) -> None:
    sys.stdout.write(text)
    sys.stdout.flush()


def _print_log(level: str, message: str, fields: dict[str, Any]) -> None:
    extra = " ".join(f"{k}={v!r}" for k, v in fields.items())
    print(f"[{level}] {message}" + (f" {extra}" if extra else ""), file=sys.stderr, flush=True)


def _notice(message: str) -> None:
    print(f"llmspell: {message}", file=sys.stderr, flush=True)


def run(args: argparse.Namespace) -> int:
    """``llmspell repl ...``: returns the exit status."""
    from ._repl import Repl
    from ._runtime import Session, open_runtime
    from .tools import ToolRegistry, builtin_tools

    config, limits = run_settings(args)
    values = params(args.param)
    tools = ToolRegistry(builtin_tools())
    permissions = run_permissions(args, config, tools)

    @asynccontextmanager
    async def open_session() -> AsyncIterator[Session]:
        async with open_runtime(
            config,
            limits=limits,
            model=args.model,
            permissions=permissions,
            tools=tools,
            notice=_notice,
        ) as runtime:
            async with runtime.open_session(
                args.engine, output=_write, params=values, log=_print_log, notice=_notice
            ) as session:
                yield session

    return Repl(open_session, engine=args.engine, interactive=sys.stdin.isatty()).run()
