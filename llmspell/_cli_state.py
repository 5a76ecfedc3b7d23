"""``llmspell state get|set|keys|delete``: read and change the state store from a shell."""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from ._exceptions import ConfigError

EXIT_OK, EXIT_MISSING, EXIT_USAGE = 0, 1, 2

_DESCRIPTION = """\
Read and change the values spells keep in the state store.

Scopes: a spell's own values (state.get/set in the spell) are in scope spell:NAME (the file
name without extension); state.global is scope global (the default here); state.scope(S) is S.
KEY is a dot path: context.topic is topic inside the object stored under context.

VALUE for set is read as JSON when it parses as JSON (42, true, {"a": 1}, "quoted text"),
otherwise as a plain string (hello). With --json it must be JSON.

The store is --state PATH, else LLMSPELL_STATE, else [state] path in llmspell.toml, else
.llmspell/state.db (a .json path is a JSON-file store)."""


def add_state_parser(sub: Any) -> None:
    """Add ``state`` and its sub-commands to the CLI's sub-parsers."""
    state = sub.add_parser(
        "state",
        help="read and change the state store (get, set, keys, delete)",
        description=_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = state.add_subparsers(dest="action", metavar="ACTION", required=True)
    commands = {
        "get": "print the value at KEY",
        "set": "store VALUE at KEY",
        "keys": "list the top-level keys (starting with PREFIX), sorted",
        "delete": "delete the value at KEY",
    }
    for name, help_text in commands.items():
        action = actions.add_parser(name, help=help_text, description=help_text)
        if name == "keys":
            action.add_argument("prefix", nargs="?", default="", help="only keys starting so")
        else:
            action.add_argument("key", help="a key or dot path, e.g. context.topic")
        if name == "set":
            action.add_argument("value", help="JSON if it parses as JSON, else a string")
        action.add_argument("--scope", default="global", help="the scope (default: global)")
        action.add_argument("--json", action="store_true", help="JSON in and out")
        action.add_argument("--state", metavar="PATH", help="the state store's file")


def state_command(args: argparse.Namespace, config: Any) -> int:
    """Run ``llmspell state ACTION``; returns the exit code."""
    import anyio

    from ._config import state_path
    from .state import StateValueError, open_state_store

    path = state_path(args.state, config)
    if args.action == "set":
        value = _parse_value(args.value, strict=args.json)
    if args.action != "set" and path != ":memory:" and not os.path.exists(path):
        print(
            f"llmspell: no state store at {path!r} (nothing has been stored yet)", file=sys.stderr
        )
        return EXIT_MISSING

    async def run() -> int:
        async with open_state_store(path) as store:
            if args.action == "get":
                found = await store.get(args.scope, args.key)
                if found is None:
                    return _missing(args, path)
                _print(found, args.json)
            elif args.action == "set":
                await store.set(args.scope, args.key, value)
            elif args.action == "keys":
                keys = await store.keys(args.scope, args.prefix)
                print(
                    json.dumps(keys) if args.json else "\n".join(keys),
                    end="\n" if keys or args.json else "",
                )
            else:
                deleted = await store.delete(args.scope, args.key)
                if args.json:
                    print(json.dumps(deleted))
                if not deleted:
                    return _missing(args, path)
        return EXIT_OK

    try:
        return anyio.run(run)
    except StateValueError as exc:
        raise ConfigError(str(exc)) from None


async def open_existing_store(store: Any) -> None:
    """Open ``store`` now if its file exists, so that a damaged or unreadable file is reported
    before the spell starts; a store with no file yet is created when a spell first uses it.

    The look is one ``stat``, before the spell starts: a worker thread for it would cost a run
    more than the ``stat`` itself."""
    path = getattr(store, "path", None)
    if path is not None and os.path.exists(path):  # noqa: ASYNC240 (nothing else runs yet)
        await store.open()


def _parse_value(text: str, *, strict: bool) -> Any:
    try:
        return json.loads(text)
    except ValueError as exc:
        if strict:
            raise ConfigError(
                f"VALUE is not JSON ({exc}); without --json it is taken as a string"
            ) from None
        return text


def _missing(args: argparse.Namespace, path: str) -> int:
    print(f"llmspell: no value at {args.key!r} in scope {args.scope!r} of {path}", file=sys.stderr)
    return EXIT_MISSING


def _print(value: Any, as_json: bool) -> None:
    if isinstance(value, str) and not as_json:
        print(value)
    else:
        print(json.dumps(value, ensure_ascii=False, indent=None if as_json else 2))
