"""The record format shared by every suite, and the table/JSON output.

A record compares one measured ``value`` with a ``baseline_value`` measured in the same run
(or with a fixed budget, for targets stated as absolute figures). ``ratio`` is always oriented so
that bigger is better: ``value / baseline_value`` for rates, the inverse for times
(``lower_is_better``). ``met`` is ``ratio >= target``.
"""

from __future__ import annotations

import dataclasses
import json
import pathlib
import time
from collections.abc import Callable

RESULTS = pathlib.Path(__file__).parent / "results"


@dataclasses.dataclass(frozen=True)
class Record:
    name: str
    value: float
    unit: str
    baseline: str
    baseline_value: float
    ratio: float
    target: float | None
    met: bool | None
    lower_is_better: bool = False


def compare(
    name: str,
    value: float,
    unit: str,
    *,
    baseline: str,
    baseline_value: float,
    target: float | None,
    lower_is_better: bool = False,
) -> Record:
    """Build a record; ``target`` is the minimum ratio (``None`` = reported, no target)."""
    if lower_is_better:
        ratio = baseline_value / value if value else float("inf")
    else:
        ratio = value / baseline_value if baseline_value else float("inf")
    met = None if target is None else ratio >= target
    return Record(name, value, unit, baseline, baseline_value, ratio, target, met, lower_is_better)


def best_rate(fn: Callable[[], int], *, repeat: int = 5) -> float:
    """Call ``fn`` (which returns how many operations it did) ``repeat`` times; best ops/s."""
    best = 0.0
    for _ in range(repeat):
        start = time.perf_counter()
        n = fn()
        elapsed = time.perf_counter() - start
        best = max(best, n / elapsed)
    return best


def report(suite: str, records: list[Record]) -> None:
    """Print the table and write ``results/<suite>.json``."""
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{suite}.json"
    path.write_text(json.dumps([dataclasses.asdict(r) for r in records], indent=2) + "\n")
    header = f"{'benchmark':<48} {'value':>14} {'baseline':>30} {'ratio':>7} {'target':>7}  met"
    print(header)
    print("-" * len(header))
    for r in records:
        base = f"{r.baseline_value:,.3g} {r.baseline}"[:30]
        target = "-" if r.target is None else f"{r.target:.2f}"
        met = "-" if r.met is None else ("yes" if r.met else "NO")
        value = f"{r.value:>10,.4g} {r.unit:<3}"
        print(f"{r.name:<48} {value} {base:>30} {r.ratio:>7.2f} {target:>7}  {met}")
    print(f"\nwrote {path}")
