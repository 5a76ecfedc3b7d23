"""``llmspell workflows list|show``: what durable workflow runs did, for operators.

``list`` shows the runs newest first, with their status: ``running``, ``completed``, ``failed``,
or ``stranded`` (it was running in a process that is gone: rerun the spell, or let the daemon
resume it). ``show ID`` shows one run, its input, result and every checkpointed step.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from typing import Any

STATE_ENV = "LLMSPELL_STATE"


def add_parser(sub: Any) -> None:
    parser = sub.add_parser("workflows", help="list and inspect durable workflow runs")
    commands = parser.add_subparsers(dest="workflows_command", metavar="ACTION", required=True)
    listing = commands.add_parser("list", help="runs, newest first")
    listing.add_argument(
        "--status",
        choices=("running", "completed", "failed", "stranded", "interrupted"),
        help="only these",
    )
    listing.add_argument("--limit", type=int, default=50, help="at most this many (default 50)")
    show = commands.add_parser("show", help="one run and its checkpointed steps")
    show.add_argument("id", help="the run id")
    for p in (listing, show):
        p.add_argument("--json", action="store_true", help="print as JSON")
        p.add_argument(
            "--state", metavar="PATH", help=f"the state database (else ${STATE_ENV} or config)"
        )


def _age(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.0f}{unit} ago"
    return f"{seconds:.0f}s ago"


def _as_json(record: Any) -> dict[str, Any]:
    import dataclasses

    return dataclasses.asdict(record)


def run(args: argparse.Namespace, config: Any) -> int:
    """Do ``llmspell workflows ...``; returns the exit code."""
    import anyio

    from ._config import state_path
    from ._exceptions import ConfigError
    from .workflows import SqliteWorkflowStore

    path = state_path(args.state, config)
    if path == ":memory:" or not os.path.exists(path):
        raise ConfigError(f"{path}: no state database here (pass --state PATH)")
    store = SqliteWorkflowStore(path)

    async def main() -> int:
        try:
            if args.workflows_command == "list":
                return _list(await store.list_runs(status=args.status, limit=args.limit), args)
            record = await store.get(args.id)
            if record is None:
                raise ConfigError(f"no workflow run {args.id!r} in {path}")
            return _show(record, await store.checkpoints(args.id), args)
        finally:
            await store.aclose()

    return anyio.run(main)


def _list(runs: list[Any], args: argparse.Namespace) -> int:
    if args.json:
        print(json.dumps([_as_json(r) for r in runs], indent=2, default=str))
        return 0
    if not runs:
        print("no workflow runs")
        return 0
    now = time.time()
    print(f"{'id':<34} {'workflow':<18} {'spell':<16} {'status':<10} {'steps':>5}  updated")
    for r in runs:
        line = (
            f"{r.id:<34} {r.workflow[:18]:<18} {r.spell[:16]:<16} {r.status:<10} "
            f"{r.steps:>5}  {_age(now - r.updated)}"
        )
        if r.error:
            line += f"  {r.error[:60]}"
        print(line)
    return 0


def _show(record: Any, checkpoints: dict[str, Any], args: argparse.Namespace) -> int:
    steps = [checkpoints[p] for p in sorted(checkpoints, key=_position_key)]
    if args.json:
        data = _as_json(record)
        data["checkpoints"] = [
            {"position": c.position, "name": c.name, "output": c.output, "error": c.error}
            for c in steps
        ]
        print(json.dumps(data, indent=2, default=str))
        return 0
    print(f"run       {record.id}")
    print(f"workflow  {record.workflow} (spell {record.spell}, version {record.version})")
    print(f"status    {record.status}" + (f": {record.error}" if record.error else ""))
    print(f"input     {json.dumps(record.input, ensure_ascii=False)}")
    if record.result is not None:
        output = json.dumps(record.result.get("output"), ensure_ascii=False)
        print(f"output    {output[:200]}")
    print(f"steps     {len(steps)} checkpointed")
    for c in steps:
        text = f"error: {c.error}" if c.error else json.dumps(c.output, ensure_ascii=False)
        print(f"  {c.position:<12} {c.name:<24} {text[:100]}")
    return 0


def _position_key(position: str) -> list[tuple[int, int, str]]:
    """Program order: ``2`` before ``10``, ``1.2`` after ``1``, ``0@2`` after ``0@1``."""
    import re

    return [
        (0, int(p), "") if p.isdigit() else (1, 0, p) for p in re.split(r"([.@?])", position) if p
    ]
