"""``llmspell events tail PATTERN``: read the durable event log of a state database.

Without ``--since`` it prints the newest ``--lines`` matching events, like ``tail``; with
``--follow`` it keeps printing new ones as another process logs them (it polls the file).
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import sys
from typing import Any

from ._exceptions import ConfigError


def add_parser(sub: Any) -> None:
    from .state import DEFAULT_STATE_PATH as DEFAULT_STATE  # not on a run's start-up

    events = sub.add_parser("events", help="read the event log of a state database")
    actions = events.add_subparsers(dest="events_command", metavar="ACTION", required=True)
    tail = actions.add_parser(
        "tail",
        help="print logged events whose topic matches PATTERN",
        description="Print logged events whose topic matches PATTERN: the last --lines of "
        "them, or every one after --since N; with --follow, keep printing new ones as another "
        "process logs them.",
    )
    tail.add_argument("pattern", metavar="PATTERN", help="'*' matches a token, '>' the rest")
    tail.add_argument("--since", type=int, metavar="N", help="every event after sequence number N")
    tail.add_argument(
        "-n", "--lines", type=int, default=10, metavar="COUNT",
        help="without --since: how many of the newest events to print (default 10)",
    )  # fmt: skip
    tail.add_argument("-f", "--follow", action="store_true", help="keep printing new events")
    tail.add_argument(
        "--json", action="store_true",
        help="one JSON object per line: seq, topic, payload, headers, time",
    )  # fmt: skip
    tail.add_argument(
        "--state", metavar="PATH",
        help=f"the state database (default: $LLMSPELL_STATE, else {DEFAULT_STATE})",
    )  # fmt: skip
    tail.add_argument(
        "--interval", type=float, default=0.5, metavar="S",
        help="with --follow: seconds between looks at the file (default 0.5)",
    )  # fmt: skip


def _state_path(args: argparse.Namespace) -> pathlib.Path:
    from ._config import load_config, state_path

    path = state_path(args.state, load_config(args.config))
    if path == ":memory:":
        raise ConfigError("the state database is ':memory:': there is no event log to read")
    if not pathlib.Path(path).is_file():
        raise ConfigError(f"no state database at {path} (set --state PATH or LLMSPELL_STATE)")
    return pathlib.Path(path)


def run(args: argparse.Namespace) -> int:
    return _cmd_events_tail(args)  # the only action so far


def _cmd_events_tail(args: argparse.Namespace) -> int:
    import anyio

    import actors

    for flag, value, ok in (
        ("--since", args.since, args.since is None or args.since >= 0),
        ("--lines", args.lines, args.lines >= 1),
        ("--interval", args.interval, args.interval > 0),
    ):
        if not ok:
            raise ConfigError(
                f"{flag}: must be {'>= 0' if flag == '--since' else '> 0'}, got {value}"
            )
    try:
        actors.MemoryEventLog(topics=[args.pattern])  # checks the pattern as a log would
    except ValueError as exc:
        raise ConfigError(f"PATTERN: {exc}") from None
    path = _state_path(args)

    def line(event: actors.Event) -> str:
        if args.json:
            return json.dumps(
                {"seq": event.seq, "topic": event.topic, "payload": event.payload,
                 "headers": dict(event.headers), "time": event.timestamp},
                ensure_ascii=False,
            )  # fmt: skip
        import datetime  # only here: not on every llmspell run's start-up

        when = datetime.datetime.fromtimestamp(event.timestamp).astimezone()
        payload = json.dumps(event.payload, ensure_ascii=False)
        return f"{event.seq}  {when.isoformat(timespec='milliseconds')}  {event.topic}  {payload}"

    def show(events: list[actors.Event]) -> None:
        for event in events:
            print(line(event))
        sys.stdout.flush()

    async def tail() -> None:
        page_size = 1000
        async with actors.SqliteEventLog(path, create=False) as log:
            last = args.since
            if last is None:
                last = await log.latest_seq()
                show(await log.read(args.pattern, until=last, limit=args.lines, newest=True))
            while True:
                high = await log.latest_seq()
                while True:  # everything up to `high`, a page at a time
                    page = await log.read(args.pattern, since=last, until=high, limit=page_size)
                    show(page)
                    if len(page) < page_size:
                        break
                    last = page[-1].seq or last
                last = max(last, high)
                if not args.follow:
                    return
                await anyio.sleep(args.interval)  # another process writes the file: poll it

    try:
        anyio.run(tail)
    except actors.EventLogError as exc:
        print(f"llmspell: error: {exc}", file=sys.stderr)
        return 1
    except BrokenPipeError:  # `llmspell events tail ... | head`
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 0
