"""Reading the Prometheus text format back, as a scraper would."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

import observability

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse(text: str | bytes) -> Samples:
    """Every sample of an exposition: ``(name, labels) -> value``."""
    if isinstance(text, bytes):
        text = text.decode()
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def scrape(obs: observability.Observability) -> Samples:
    return parse(obs.metrics_text())


def value(samples: Samples, metric: str, **labels: str) -> float | None:
    """The value of one series, None when it is not exposed."""
    return samples.get((metric, frozenset(labels.items())))


def names(samples: Samples) -> set[str]:
    return {name for name, _ in samples}
