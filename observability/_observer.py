"""The observer a runtime is opened with: tracing, metrics, or both.

``open_runtime(observability=create_observer(...))`` calls :meth:`Observability.start` and
:meth:`Observability.end` around every operation on llmspell's one instrumented path, attaches it
to the actor system (:meth:`Observability.attach`) for the runtime's own metrics, and sends the
spells' ``metrics.*`` calls to its :attr:`Observability.spell_metrics`. One observer serves one
runtime at a time, and owns one Prometheus registry.
"""

from __future__ import annotations

import logging
import os
from collections import deque
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import actors
import llmspell

from ._actors import RuntimeStats
from ._catalogue import CAPTURE_CONTENT_ENV, SPANS_DROPPED
from ._collector import Collector
from ._export import BatchExport, otlp_enabled, otlp_exporter_from_env
from ._opmetrics import OperationMetrics
from ._series import single
from ._spans import SpanRecord, Tracer
from ._spellmetrics import MAX_METRICS, MAX_SERIES, SpellMetricStore

if TYPE_CHECKING:
    from opentelemetry.sdk.trace.export import SpanExporter
    from prometheus_client import CollectorRegistry
    from prometheus_client.metrics_core import Metric

_log = logging.getLogger("observability")

MAX_KEPT_SPANS = 100_000
"""Spans :meth:`Observability.spans` keeps (for ``--trace``); later ones are counted only."""


class Observability:
    """Tracing and Prometheus metrics for llmspell operations (an :class:`llmspell.Observer`).

    ``start(call)`` runs before a call's hooks and opens its span (the call's headers become
    the span's context); ``end(call, error)`` runs after its event, closes the span and counts
    the call. Neither raises.

    Args:
        tracing: make a span per operation (implied by ``keep_spans``, ``exporters`` or OTLP;
            alone it only propagates trace context).
        metrics: count operations and expose them, with the runtime's and the spells' own
            metrics, in :attr:`registry`.
        keep_spans: keep finished spans for :meth:`spans` (``--trace``, ``--trace-json``).
        exporters: OpenTelemetry SDK span exporters to send spans to, in batches.
        otlp: add the OTLP exporter the ``OTEL_EXPORTER_OTLP_*`` variables describe; None:
            when those variables ask for it.
        capture_content: put prompts, completions, tool arguments and results on spans; None:
            as ``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT`` says (off by default).
        registry: the Prometheus registry to register in (default: a new one).
        background_export: export from a thread as spans finish (False: on :meth:`flush`).
        max_spell_metrics: how many metrics spells may make.
        max_label_sets: label sets per spell metric.

    Raises:
        ValueError: the OTLP variables name an unsupported protocol.
    """

    def __init__(
        self,
        *,
        tracing: bool = False,
        metrics: bool = False,
        keep_spans: bool = False,
        exporters: Sequence[SpanExporter] = (),
        otlp: bool | None = None,
        capture_content: bool | None = None,
        registry: CollectorRegistry | None = None,
        background_export: bool = True,
        max_spell_metrics: int = MAX_METRICS,
        max_label_sets: int = MAX_SERIES,
    ) -> None:
        exporters = list(exporters)
        if otlp or (otlp is None and otlp_enabled()):
            exporters.append(otlp_exporter_from_env())
        if capture_content is None:
            capture_content = os.environ.get(CAPTURE_CONTENT_ENV, "").strip().lower() == "true"
        self._kept: deque[SpanRecord] | None = None
        if keep_spans:
            self._kept = deque(maxlen=MAX_KEPT_SPANS)
        self._taken = 0
        self._export = BatchExport(exporters, background=background_export) if exporters else None
        self._tracer: Tracer | None = None
        if tracing or keep_spans or exporters:
            self._tracer = Tracer(self._sink(), capture_content=capture_content)
        self._ops: OperationMetrics | None = None
        self.spell_metrics: SpellMetricStore | None = None
        self.registry: CollectorRegistry | None = None
        self._runtime: RuntimeStats | None = None
        self._collector: Collector | None = None
        if metrics:
            from prometheus_client import CollectorRegistry

            self._ops = OperationMetrics()
            self.spell_metrics = SpellMetricStore(
                max_metrics=max_spell_metrics, max_series=max_label_sets
            )
            self.registry = registry if registry is not None else CollectorRegistry()
            self._collector = Collector(self._families)
            self.registry.register(self._collector)
        self.start, self.end = _paths(self._tracer, self._ops)

    @property
    def tracing(self) -> bool:
        return self._tracer is not None

    @property
    def metrics(self) -> bool:
        return self._ops is not None

    def _sink(self) -> Callable[[SpanRecord], None]:
        kept, export = self._kept, self._export
        if kept is None:
            return _discard if export is None else export.add
        if export is None:
            return kept.append  # a bounded deque: past the bound the oldest go (not the root)
        keep, add = kept.append, export.add

        def both(record: SpanRecord) -> None:
            keep(record)
            add(record)

        return both

    @property
    def spans_not_kept(self) -> int:
        """Spans that finished but were not kept (past :data:`MAX_KEPT_SPANS`)."""
        if self._tracer is None or self._kept is None:
            return 0
        return self._tracer.finished - self._taken - len(self._kept)

    # -- llmspell.Attachable --------------------------------------------------------------------

    def attach(self, system: actors.ActorSystem) -> Callable[[], None]:
        """Watch ``system`` (its actors' and bus's statistics) until the returned function is
        called; call from the system's event loop."""
        if self._collector is None:
            return _nothing
        if self._runtime is not None:
            raise RuntimeError(
                "this observer is attached to a runtime already: make one per runtime"
            )
        runtime = self._runtime = RuntimeStats(system)
        self._collector.bind_loop()

        def detach() -> None:
            if self._runtime is runtime:
                runtime.close()
                self._runtime = None
                if self._collector is not None:
                    self._collector.unbind_loop()

        return detach

    # -- metrics --------------------------------------------------------------------------------

    def _families(self) -> list[Metric]:
        families: list[Metric] = []
        if self._ops is not None:
            families.extend(self._ops.to_prometheus())
        if self._export is not None:
            families.append(single(SPANS_DROPPED, self._export.dropped))
        if self._runtime is not None:
            families.extend(self._runtime.families())
        if self.spell_metrics is not None:
            families.extend(family.to_prometheus() for family in self.spell_metrics.families())
        return families

    def record_http(self, route: str, method: str, status: int, duration: float) -> None:
        """Count one daemon HTTP request (``route``: the route's pattern, e.g.
        ``/spells/{name}/run``). Call on the event loop."""
        if self._ops is not None:
            self._ops.http_request(route, method, status, duration)

    def metrics_text(self) -> bytes:
        """The registry in the Prometheus text format (what ``/metrics`` serves)."""
        from prometheus_client import generate_latest

        if self.registry is None:
            raise RuntimeError("metrics are off in this observer (create it with metrics=True)")
        return generate_latest(self.registry)

    # -- spans ----------------------------------------------------------------------------------

    def spans(self) -> list[SpanRecord]:
        """The finished spans kept so far, in the order they ended (``keep_spans=True``)."""
        return list(self._kept or ())

    def take_spans(self) -> list[SpanRecord]:
        """The finished spans kept so far, forgetting them (a daemon's per-run report)."""
        if self._kept is None:
            return []
        spans = list(self._kept)
        self._kept.clear()
        self._taken += len(spans)
        return spans

    def flush(self) -> None:
        """Export every finished span now."""
        if self._export is not None:
            self._export.flush()

    def close(self) -> None:
        """Export what is left and shut the exporters down."""
        if self._export is not None:
            self._export.shutdown()


def _nothing() -> None:
    pass


def _discard(record: SpanRecord) -> None:
    """Tracing with nowhere to send spans: contexts still propagate (a caller's trace id
    reaches events and actors), the spans go nowhere."""


Start = Callable[[llmspell.Call], None]
End = Callable[[llmspell.Call, BaseException | None], None]


def _paths(tracer: Tracer | None, ops: OperationMetrics | None) -> tuple[Start, End]:
    """The observer's ``start`` and ``end``: the parts switched on, called directly.

    Every call of every operation goes through these two, so nothing that can be decided once
    is looked up per call. Neither part raises (each reports its own failures).
    """
    start: Start = tracer.start if tracer is not None else _no_start
    if tracer is not None and ops is not None:
        trace_end, count = tracer.end, ops.end

        def end(call: llmspell.Call, error: BaseException | None) -> None:
            trace_end(call, error)
            count(call, error)

        return start, end
    if tracer is not None:
        return start, tracer.end
    if ops is not None:
        return start, ops.end
    return start, _no_end


def _no_start(call: llmspell.Call) -> None:
    pass


def _no_end(call: llmspell.Call, error: BaseException | None) -> None:
    pass


def create_observer(
    *,
    tracing: bool = False,
    metrics: bool = False,
    keep_spans: bool = False,
    exporters: Sequence[SpanExporter] = (),
    otlp: bool | None = None,
    capture_content: bool | None = None,
    registry: CollectorRegistry | None = None,
) -> Observability:
    """An :class:`Observability` for ``open_runtime(observability=...)``; see its arguments."""
    return Observability(
        tracing=tracing,
        metrics=metrics,
        keep_spans=keep_spans,
        exporters=exporters,
        otlp=otlp,
        capture_content=capture_content,
        registry=registry,
    )
