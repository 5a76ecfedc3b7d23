"""What an instance reports of its use: loaded with the first ``statistics()`` call (a frozen
dataclass costs every start-up some 3M instructions to create otherwise)."""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class InstanceStatistics:
    cpu_seconds: float
    memory_bytes: int
    api_calls: int
