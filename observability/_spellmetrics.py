"""The spells' own metrics: the backend of the script API's ``metrics.*``.

A metric is made by its first use: ``metrics.inc("requests")`` makes the counter
``llmspell_spell_requests_total``, ``observe`` a histogram, ``set`` a gauge; ``record(name,
fields)`` a counter ``name`` plus a histogram ``name_<field>`` per numeric field. Every metric has
a ``spell`` label (the spell's name) before its own labels, whose names the first use fixes.

Memory stays bounded: at most ``max_metrics`` metrics and ``max_series`` label sets per metric.
Past either cap, and for a name used with another type or other label names, the call fails
with a :class:`llmspell.MetricError` naming the metric (the script sees a parameter error).
A call either records everything it asked for or nothing.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping

import llmspell

from ._catalogue import SPELL_BUCKETS, SPELL_LABEL, SPELL_METRIC_PREFIX, Kind, MetricSpec
from ._series import Family

MAX_METRICS = 200
MAX_SERIES = 100
_MADE_BY = {"counter": "metrics.inc", "histogram": "metrics.observe", "gauge": "metrics.set"}


@dataclasses.dataclass
class _Metric:
    key: str
    family: Family


class SpellMetricStore:
    """Implements :class:`llmspell.SpellMetrics` for one observer (one registry)."""

    def __init__(self, *, max_metrics: int = MAX_METRICS, max_series: int = MAX_SERIES) -> None:
        self.max_metrics = max_metrics
        self.max_series = max_series
        self._metrics: dict[str, _Metric] = {}
        self._samples: dict[str, str] = {}  # exposed sample name -> the metric key owning it

    # -- llmspell.SpellMetrics ------------------------------------------------------------------

    def inc(self, spell: str, name: str, labels: Mapping[str, str]) -> None:
        (metric,) = self._resolve([(_counter_key(name), "counter")], labels)
        self._check_room([metric], spell, labels)
        metric.family.cell(*_values(spell, labels)).value += 1

    def observe(self, spell: str, name: str, value: float, labels: Mapping[str, str]) -> None:
        (metric,) = self._resolve([(name, "histogram")], labels)
        self._check_room([metric], spell, labels)
        metric.family.histogram(*_values(spell, labels)).observe(value)

    def set(self, spell: str, name: str, value: float, labels: Mapping[str, str]) -> None:
        (metric,) = self._resolve([(name, "gauge")], labels)
        self._check_room([metric], spell, labels)
        metric.family.cell(*_values(spell, labels)).value = value

    def record(
        self, spell: str, name: str, values: Mapping[str, float], labels: Mapping[str, str]
    ) -> None:
        wanted: list[tuple[str, Kind]] = [(_counter_key(name), "counter")]
        wanted += [(f"{name}_{field}", "histogram") for field in values]
        counter, *histograms = self._resolve(wanted, labels)
        self._check_room([counter, *histograms], spell, labels)
        key = _values(spell, labels)
        counter.family.cell(*key).value += 1
        for histogram, value in zip(histograms, values.values(), strict=True):
            histogram.family.histogram(*key).observe(value)

    # -- exposition -----------------------------------------------------------------------------

    def families(self) -> Iterator[Family]:
        for metric in self._metrics.values():
            yield metric.family

    # -- the rules ------------------------------------------------------------------------------

    def _resolve(self, wanted: list[tuple[str, Kind]], labels: Mapping[str, str]) -> list[_Metric]:
        """The metrics ``wanted`` (key, kind), made if new; refuses before making any."""
        names = (SPELL_LABEL, *sorted(labels))
        found: list[tuple[str, _Metric | MetricSpec]] = []
        new_samples: dict[str, str] = {}
        for key, kind in wanted:
            metric = self._metrics.get(key)
            if metric is None:
                spec = _spec(key, kind, names)
                for sample in spec.samples:
                    owner = self._samples.get(sample) or new_samples.get(sample)
                    if owner is not None:
                        raise llmspell.MetricError(
                            "name",
                            f"makes metric {key!r}, whose series {sample} would clash with "
                            f"metric {owner!r}",
                        )
                    new_samples[sample] = key
                found.append((key, spec))
                continue
            spec = metric.family.spec
            if spec.kind != kind:
                raise llmspell.MetricError(
                    "name",
                    f"names metric {key!r}, a {spec.kind} (made by {_MADE_BY[spec.kind]}), "
                    f"not a {kind}",
                )
            if spec.labels != names:
                raise llmspell.MetricError(
                    "labels",
                    f"must have the label names of metric {key!r}: "
                    f"{_list(spec.labels[1:])}, not {_list(names[1:])}",
                )
            found.append((key, metric))
        fresh = sum(isinstance(item, MetricSpec) for _, item in found)
        if fresh and len(self._metrics) + fresh > self.max_metrics:
            raise llmspell.MetricError(
                "name",
                f"would make metric {wanted[0][0]!r}, but spells already have "
                f"{len(self._metrics)} metrics (the limit is {self.max_metrics})",
            )
        made = []
        for key, item in found:
            if isinstance(item, MetricSpec):
                item = self._metrics[key] = _Metric(key, Family(item, cap=self.max_series))
            made.append(item)
        self._samples.update(new_samples)
        return made

    def _check_room(self, metrics: list[_Metric], spell: str, labels: Mapping[str, str]) -> None:
        key = _values(spell, labels)
        for metric in metrics:
            family = metric.family
            if key not in family.series and family.full():
                raise llmspell.MetricError(
                    "labels",
                    f"would give metric {metric.key!r} a label set beyond its limit of "
                    f"{self.max_series} (labels {dict(labels)}); use fewer distinct values",
                )


def _counter_key(name: str) -> str:
    return name.removesuffix("_total") or name


def _spec(key: str, kind: Kind, labels: tuple[str, ...]) -> MetricSpec:
    name = SPELL_METRIC_PREFIX + key
    if kind == "counter":
        return MetricSpec(f"{name}_total", kind, f"Spell counter {key} (metrics.inc).", labels)
    if kind == "gauge":
        return MetricSpec(name, kind, f"Spell gauge {key} (metrics.set).", labels)
    help = f"Spell histogram {key} (metrics.observe)."
    return MetricSpec(name, kind, help, labels, SPELL_BUCKETS)


def _values(spell: str, labels: Mapping[str, str]) -> tuple[str, ...]:
    return (spell, *(labels[name] for name in sorted(labels)))


def _list(names: tuple[str, ...]) -> str:
    return "(" + ", ".join(names) + ")" if names else "no labels"
