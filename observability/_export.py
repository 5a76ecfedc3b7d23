"""Span export: records become OpenTelemetry SDK spans, in batches, off the operation's path.

:class:`BatchExport` does what the SDK's ``BatchSpanProcessor`` does, for :class:`SpanRecord`
rather than SDK spans: a bounded queue (``OTEL_BSP_MAX_QUEUE_SIZE``, default 2048; past it
spans are dropped and counted), a daemon thread that wakes every ``OTEL_BSP_SCHEDULE_DELAY`` ms
(default 5000) or when a batch (``OTEL_BSP_MAX_EXPORT_BATCH_SIZE``, 512) is waiting, converts
the batch to ``ReadableSpan`` and calls each exporter. Any SDK ``SpanExporter`` works: OTLP over
HTTP/protobuf or gRPC (:func:`otlp_exporter_from_env`), ``InMemorySpanExporter`` in tests.

The OTLP exporter follows the standard variables: it is on when ``OTEL_EXPORTER_OTLP_ENDPOINT``
or ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` is set (or ``OTEL_TRACES_EXPORTER=otlp``), off with
``OTEL_TRACES_EXPORTER=none`` or ``OTEL_SDK_DISABLED=true``;
``OTEL_EXPORTER_OTLP[_TRACES]_PROTOCOL`` picks ``http/protobuf`` (the default) or ``grpc``;
headers, timeout, compression and certificates are the exporters' own variables;
``OTEL_SERVICE_NAME`` and ``OTEL_RESOURCE_ATTRIBUTES`` make the resource (service name
``llmspell`` unless set).
"""

from __future__ import annotations

import logging
import os
import threading
from collections import deque
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from ._spans import SpanRecord

if TYPE_CHECKING:
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import ReadableSpan
    from opentelemetry.sdk.trace.export import SpanExporter

_log = logging.getLogger("observability")

PROTOCOLS = ("http/protobuf", "grpc")


def _env_int(name: str, default: int) -> int:
    try:
        return int(os.environ.get(name, default))
    except ValueError:
        return default


def _true(value: str | None) -> bool:
    return (value or "").strip().lower() == "true"


def otlp_enabled(environ: Mapping[str, str] = os.environ) -> bool:
    """Whether the standard variables ask for OTLP trace export."""
    if _true(environ.get("OTEL_SDK_DISABLED")):
        return False
    exporters = {e.strip() for e in environ.get("OTEL_TRACES_EXPORTER", "").split(",")}
    if "none" in exporters:
        return False
    endpoint = environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or environ.get(
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"
    )
    return bool(endpoint) or "otlp" in exporters


def otlp_exporter_from_env(environ: Mapping[str, str] = os.environ) -> SpanExporter:
    """The OTLP span exporter the standard variables describe (HTTP/protobuf or gRPC).

    Raises:
        ValueError: an unsupported ``OTEL_EXPORTER_OTLP[_TRACES]_PROTOCOL``.
    """
    protocol = (
        environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
        or environ.get("OTEL_EXPORTER_OTLP_PROTOCOL")
        or "http/protobuf"
    ).strip()
    if protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (
            OTLPSpanExporter as GrpcExporter,
        )

        return GrpcExporter()
    if protocol == "http/protobuf":
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
            OTLPSpanExporter as HttpExporter,
        )

        return HttpExporter()
    raise ValueError(
        f"OTEL_EXPORTER_OTLP_PROTOCOL={protocol!r} is not supported: use one of "
        + ", ".join(PROTOCOLS)
    )


def resource_from_env() -> Resource:
    """The resource spans carry: ``OTEL_RESOURCE_ATTRIBUTES``, ``OTEL_SERVICE_NAME``, else
    ``service.name=llmspell``."""
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource

    import llmspell

    resource = Resource.create({"service.version": llmspell.__version__})
    if str(resource.attributes.get(SERVICE_NAME, "")).startswith("unknown_service"):
        resource = resource.merge(Resource({SERVICE_NAME: "llmspell"}))
    return resource


class Converter:
    """Turns :class:`SpanRecord` into SDK ``ReadableSpan`` (for exporters)."""

    def __init__(self, resource: Resource | None = None) -> None:
        from opentelemetry.sdk.util.instrumentation import InstrumentationScope

        import llmspell

        self.resource = resource if resource is not None else resource_from_env()
        self.scope = InstrumentationScope("llmspell", llmspell.__version__)

    def __call__(self, records: Sequence[SpanRecord]) -> list[ReadableSpan]:
        from opentelemetry.sdk.trace import Event, ReadableSpan
        from opentelemetry.trace import SpanContext, SpanKind, Status, StatusCode, TraceFlags
        from opentelemetry.trace.span import TraceState

        sampled = TraceFlags(TraceFlags.SAMPLED)
        unset = Status(StatusCode.UNSET)
        kinds = {"client": SpanKind.CLIENT, "internal": SpanKind.INTERNAL}
        spans = []
        for r in records:
            trace_id = int(r.trace_id, 16)
            state = TraceState.from_header([r.tracestate]) if r.tracestate else None
            context = SpanContext(trace_id, int(r.span_id, 16), False, sampled, state)
            parent = None
            if r.parent_id is not None:
                parent = SpanContext(trace_id, int(r.parent_id, 16), False, sampled, state)
            status, events = unset, []
            if r.error is not None:
                status = Status(StatusCode.ERROR, r.error)
                exception = {"exception.type": r.error_type or "", "exception.message": r.error}
                events = [Event("exception", exception, r.end)]
            spans.append(
                ReadableSpan(
                    name=r.name,
                    context=context,
                    parent=parent,
                    resource=self.resource,
                    attributes=r.attributes,
                    events=events,
                    kind=kinds[r.kind],
                    status=status,
                    start_time=r.start,
                    end_time=r.end,
                    instrumentation_scope=self.scope,
                )
            )
        return spans


class BatchExport:
    """Queues finished spans and exports them in batches from a daemon thread.

    Args:
        exporters: SDK span exporters; each gets every batch.
        converter: records → SDK spans (made on first use: the SDK loads only when needed).
        background: export from the thread (False: only when :meth:`flush` is called).
    """

    def __init__(
        self,
        exporters: Sequence[SpanExporter],
        *,
        converter: Converter | None = None,
        background: bool = True,
    ) -> None:
        self.exporters = list(exporters)
        self.max_queue = _env_int("OTEL_BSP_MAX_QUEUE_SIZE", 2048)
        self.batch = max(1, _env_int("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", 512))
        self.delay = _env_int("OTEL_BSP_SCHEDULE_DELAY", 5000) / 1000
        self.dropped = 0
        self._converter = converter
        self._queue: deque[SpanRecord] = deque()
        self._wake = threading.Event()
        self._lock = threading.Lock()
        self._background = background
        self._thread: threading.Thread | None = None
        self._closed = False

    def add(self, record: SpanRecord) -> None:
        """Queue a finished span (the event loop's side: never blocks)."""
        queue = self._queue
        if len(queue) >= self.max_queue or self._closed:
            self.dropped += 1
            return
        queue.append(record)
        if self._thread is None and self._background:
            self._thread = threading.Thread(target=self._run, name="llmspell-spans", daemon=True)
            self._thread.start()
        if len(queue) >= self.batch and not self._wake.is_set():
            self._wake.set()

    def _run(self) -> None:
        while not self._closed:
            self._wake.wait(self.delay)
            self._wake.clear()
            self.flush()

    def flush(self) -> None:
        """Export every queued span now, in the calling thread."""
        with self._lock:
            queue = self._queue
            while queue:
                records = [queue.popleft() for _ in range(min(self.batch, len(queue)))]
                if self._converter is None:
                    self._converter = Converter()
                spans = self._converter(records)
                for exporter in self.exporters:
                    try:
                        exporter.export(spans)
                    except Exception:  # an exporter's failure must not stop the others
                        _log.exception("span exporter %r failed", exporter)

    def shutdown(self) -> None:
        """Export what is queued, stop the thread and shut the exporters down."""
        if self._closed:
            return
        self._closed = True
        self._wake.set()
        if self._thread is not None:
            self._thread.join()
        self.flush()
        for exporter in self.exporters:
            try:
                exporter.shutdown()
            except Exception:
                _log.exception("span exporter %r failed to shut down", exporter)
