"""The seam behind the script's ``metrics`` namespace: what records a spell's own metrics.

``metrics.inc/observe/set/record`` validate their arguments in the script API and then call a
:class:`SpellMetrics` — the observability layer's, when a runtime was opened with one
(``open_runtime(observability=...)`` takes it from the observer's ``spell_metrics``). With none,
the calls validate and do nothing. Keeping the seam here lets llmspell record metrics without
importing a metrics library.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

Labels = Mapping[str, str]
"""Label name → value, already validated (names are identifiers, values strings)."""


class MetricError(ValueError):
    """A spell metric call the backend refuses: the metric exists with another type or other
    label names, or it has reached its cap of label sets (or the backend its cap of metrics).

    Attributes:
        parameter: the script argument at fault (``"name"`` or ``"labels"``).
        problem: what is wrong, naming the metric.
    """

    def __init__(self, parameter: str, problem: str) -> None:
        super().__init__(problem)
        self.parameter = parameter
        self.problem = problem


class SpellMetrics(Protocol):
    """Records the metrics spells make; names are the script's (``requests``), unprefixed.

    Every method may raise :class:`MetricError`; none may block.
    """

    def inc(self, spell: str, name: str, labels: Labels) -> None:
        """Add one to the counter ``name``."""

    def observe(self, spell: str, name: str, value: float, labels: Labels) -> None:
        """Add ``value`` to the histogram ``name``."""

    def set(self, spell: str, name: str, value: float, labels: Labels) -> None:
        """Set the gauge ``name`` to ``value``."""

    def record(self, spell: str, name: str, values: Mapping[str, float], labels: Labels) -> None:
        """Count one event ``name`` and observe each of its numeric ``values``."""
