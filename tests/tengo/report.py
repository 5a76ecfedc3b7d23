"""Pass rates of the translated Tengo test cases, per Go test file (a dev tool).

Usage: python tests/tengo/report.py
"""

from __future__ import annotations

import collections
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2]))
sys.setrecursionlimit(30000)

from tests.tengo.conformance import load, run_case, run_stdlib_case  # noqa: E402


def main() -> None:
    rows: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    for name, runner, source in (
        ("vm", run_case, "vm_test.go"),
        ("stdlib", run_stdlib_case, None),
    ):
        for case in load(name):
            where = source or case["file"]
            if "skip" in case:
                rows[where]["skipped"] += 1
                continue
            try:
                runner(case)
                rows[where]["passed"] += 1
            except Exception:  # a failing case is counted, not raised
                rows[where]["failed"] += 1
    from tests.tengo.test_conformance import test_parser

    for case in load("parser"):
        where = f"parser/parser_test.go ({case['kind']})"
        if "skip" in case:
            rows[where]["skipped"] += 1
            continue
        try:
            test_parser(case)
            rows[where]["passed"] += 1
        except Exception:  # a failing case is counted, not raised
            rows[where]["failed"] += 1
    print(f"{'file':<48} {'passed':>7} {'failed':>7} {'skipped':>8}")
    for where, c in sorted(rows.items()):
        print(f"{where:<48} {c['passed']:>7} {c['failed']:>7} {c['skipped']:>8}")


if __name__ == "__main__":
    main()
