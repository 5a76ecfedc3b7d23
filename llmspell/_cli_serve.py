"""``llmspell serve --spells DIR``: the daemon, in the foreground until SIGTERM/SIGINT.

Settings come from ``[serve]`` in ``llmspell.toml``, then ``LLMSPELL_*`` variables, then these
flags (see :mod:`llmspell.serve`). Exit status: 0 after a graceful shutdown, 2 for bad
settings (a public address without ``LLMSPELL_TOKEN``, a ``--nats`` server that cannot be
reached ...), 1 when the server could not start (the port is taken ...), 128 + N when a second
signal N cut the shutdown short.
"""

from __future__ import annotations

import argparse
import os
from typing import Any


def add_parser(sub: Any) -> None:
    serve = sub.add_parser(
        "serve",
        help="run the daemon: serve a directory of spells over HTTP",
        description="Serve the spells in a directory over HTTP: runs, events (SSE), resident "
        "spells, hot reload, /metrics. Stops gracefully on SIGTERM or SIGINT.",
    )
    serve.add_argument("--config", default=argparse.SUPPRESS, help="config file")
    serve.add_argument("--spells", metavar="DIR", help="the directory of spells (default spells)")
    serve.add_argument("--host", help="address to listen on (default 127.0.0.1; any other "
                       "needs LLMSPELL_TOKEN)")  # fmt: skip
    serve.add_argument("--port", type=int, help="port to listen on (default 8321; 0: any free)")
    serve.add_argument("--grace", type=float, metavar="S",
                       help="seconds in-flight runs get after SIGTERM (default 30)")  # fmt: skip
    serve.add_argument("--log-format", choices=("text", "json"), help="log lines on stderr")
    serve.add_argument("--state", metavar="PATH",
                       help="the state database (default .llmspell/state.db)")  # fmt: skip
    serve.add_argument("--model", help="default model of the spells (else offline)")
    serve.add_argument("--no-reload", action="store_true", help="do not watch the directory")
    serve.add_argument("--access-log", action="store_true", help="log every request")
    serve.add_argument("--nats", metavar="URL",
                       help="join the daemons on this NATS server (JetStream): shared events, "
                       "queued runs, workflow takeover")  # fmt: skip


def run(args: argparse.Namespace) -> int:
    """Do ``llmspell serve``; returns the exit status."""
    import dataclasses

    from ._config import load_config
    from .serve import load_settings, run_daemon

    config = load_config(args.config)
    if args.state:
        config = dataclasses.replace(config, state=args.state)
    if args.model:
        config = dataclasses.replace(config, model=args.model)
    flags = {
        "spells": args.spells,
        "host": args.host,
        "port": args.port,
        "grace": args.grace,
        "log_format": args.log_format,
        "reload": False if args.no_reload else None,
        "access_log": True if args.access_log else None,
        "nats": args.nats,
    }
    settings = load_settings(config.serve, os.environ, flags, where=f"{config.source} [serve]")
    token = os.environ.get("LLMSPELL_TOKEN")
    if token is not None:
        settings = dataclasses.replace(settings, token=token)
    return run_daemon(settings, config)
