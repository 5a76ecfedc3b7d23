"""``python -m benchmarks actors``: actor tell/ask, bus fan-out and hook overhead."""

from __future__ import annotations

from . import bench_actors_bus, bench_actors_core
from ._harness import Record


def run() -> list[Record]:
    return bench_actors_core.run() + bench_actors_bus.run()
