"""``python -m benchmarks SUITE``: run one suite, print its table, write its JSON."""

from __future__ import annotations

import importlib
import sys

from ._harness import report

SUITES = (
    "actors",
    "engines",
    "llm",
    "state",
    "workflows",
    "observability",
    "daemon",
    "nats",
    "eventlog",
)


def main(argv: list[str]) -> int:
    if len(argv) != 1 or argv[0] not in SUITES:
        print(f"usage: python -m benchmarks {{{'|'.join(SUITES)}}}", file=sys.stderr)
        return 2
    suite = argv[0]
    module = importlib.import_module(f"benchmarks.bench_{suite}")
    report(suite, module.run())
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
