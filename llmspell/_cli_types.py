"""``llmspell types --out DIR``: write the editor types for spells (``llmspell.d.ts`` for
JavaScript, ``llmspell.lua`` for LuaLS), generated from the API's definitions."""

from __future__ import annotations

import argparse
from typing import Any

from ._exceptions import ConfigError


def add_parser(sub: Any) -> None:
    """Add ``types`` to the CLI's subcommands."""
    types = sub.add_parser(
        "types",
        help="write editor types for spells: llmspell.d.ts (JS) and llmspell.lua (LuaLS)",
        description="Write llmspell.d.ts (TypeScript declarations for JS spells: reference it "
        "from a jsconfig.json) and llmspell.lua (LuaLS annotations: add the directory to "
        "Lua.workspace.library) into DIR.",
    )
    types.add_argument("--out", required=True, metavar="DIR", help="the directory to write to")


def run(args: argparse.Namespace) -> int:
    """``llmspell types --out DIR``: returns the exit status."""
    from ._types import write_types

    try:
        written = write_types(args.out)
    except OSError as exc:
        raise ConfigError(f"--out {args.out}: cannot write: {exc.strerror or exc}") from None
    for path in written:
        print(path)
    return 0
