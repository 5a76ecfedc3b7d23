"""A loopback OTLP trace receiver for tests: HTTP/protobuf or gRPC, decoding what it gets.

::

    with OtlpReceiver("grpc") as receiver:
        os.environ["OTEL_EXPORTER_OTLP_ENDPOINT"] = receiver.endpoint
        os.environ["OTEL_EXPORTER_OTLP_PROTOCOL"] = receiver.protocol
        ...  # run spells with an observer that exports over OTLP, then close it
        spans = receiver.spans()      # every span received, decoded
        receiver.resources()          # the resource attributes of each batch

It listens on ``127.0.0.1`` only, on a free port, in threads of its own.
"""

from __future__ import annotations

import dataclasses
import gzip
import threading
import zlib
from concurrent import futures
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Literal

from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc

Protocol = Literal["http/protobuf", "grpc"]


@dataclasses.dataclass(frozen=True)
class ReceivedSpan:
    """A span as it arrived, decoded from OTLP.

    Attributes:
        name: the span's name.
        trace_id: 32 hex digits.
        span_id: 16 hex digits.
        parent_id: 16 hex digits, or ``""`` for a root.
        kind: the OTLP kind name (``SPAN_KIND_CLIENT`` ...).
        status: the OTLP status code name (``STATUS_CODE_UNSET``, ``STATUS_CODE_ERROR``).
        attributes: attribute values as Python values (arrays as tuples).
        resource: the attributes of the resource the span came with.
        scope: the instrumentation scope's name.
        events: the names of the span's events.
    """

    name: str
    trace_id: str
    span_id: str
    parent_id: str
    kind: str
    status: str
    attributes: dict[str, Any]
    resource: dict[str, Any]
    scope: str
    events: tuple[str, ...]


def _value(any_value: Any) -> Any:
    which = any_value.WhichOneof("value")
    if which == "array_value":
        return tuple(_value(v) for v in any_value.array_value.values)
    return getattr(any_value, which) if which else None


def _attributes(pairs: Any) -> dict[str, Any]:
    return {pair.key: _value(pair.value) for pair in pairs}


def decode(request: trace_service_pb2.ExportTraceServiceRequest) -> list[ReceivedSpan]:
    """The spans of one OTLP export request."""
    from opentelemetry.proto.trace.v1 import trace_pb2

    spans = []
    for resource_spans in request.resource_spans:
        resource = _attributes(resource_spans.resource.attributes)
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                spans.append(
                    ReceivedSpan(
                        name=span.name,
                        trace_id=span.trace_id.hex(),
                        span_id=span.span_id.hex(),
                        parent_id=span.parent_span_id.hex(),
                        kind=trace_pb2.Span.SpanKind.Name(span.kind),
                        status=trace_pb2.Status.StatusCode.Name(span.status.code),
                        attributes=_attributes(span.attributes),
                        resource=resource,
                        scope=scope_spans.scope.name,
                        events=tuple(event.name for event in span.events),
                    )
                )
    return spans


class OtlpReceiver:
    """Receives OTLP trace exports on loopback; use as a context manager.

    Args:
        protocol: ``"http/protobuf"`` (POST ``/v1/traces``) or ``"grpc"`` (``TraceService``).

    Attributes:
        endpoint: what ``OTEL_EXPORTER_OTLP_ENDPOINT`` should be (``http://127.0.0.1:PORT``).
        requests: how many export requests arrived.
    """

    def __init__(self, protocol: Protocol = "http/protobuf") -> None:
        self.protocol = protocol
        self.requests = 0
        self._spans: list[ReceivedSpan] = []
        self._lock = threading.Lock()
        self._received = threading.Condition(self._lock)
        self._stop: Any = None
        self.endpoint = ""

    def _accept(self, request: trace_service_pb2.ExportTraceServiceRequest) -> None:
        spans = decode(request)
        with self._received:
            self.requests += 1
            self._spans.extend(spans)
            self._received.notify_all()

    def spans(self) -> list[ReceivedSpan]:
        """Every span received so far."""
        with self._lock:
            return list(self._spans)

    def wait_for(self, count: int, timeout: float = 10.0) -> list[ReceivedSpan]:
        """Wait until ``count`` spans have arrived (exporters may post from a thread)."""
        with self._received:
            self._received.wait_for(lambda: len(self._spans) >= count, timeout)
            return list(self._spans)

    def __enter__(self) -> OtlpReceiver:
        if self.protocol == "grpc":
            self._start_grpc()
        else:
            self._start_http()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop()

    def _start_http(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                encoding = self.headers.get("Content-Encoding", "")
                if encoding == "gzip":
                    body = gzip.decompress(body)
                elif encoding == "deflate":
                    body = zlib.decompress(body)
                if self.path != "/v1/traces":
                    self.send_error(404)
                    return
                request = trace_service_pb2.ExportTraceServiceRequest()
                request.ParseFromString(body)
                receiver._accept(request)
                reply = trace_service_pb2.ExportTraceServiceResponse().SerializeToString()
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        self.endpoint = f"http://127.0.0.1:{server.server_address[1]}"

        def stop() -> None:
            server.shutdown()
            server.server_close()
            thread.join()

        self._stop = stop

    def _start_grpc(self) -> None:
        import grpc  # type: ignore[import-untyped]

        receiver = self

        class Service(trace_service_pb2_grpc.TraceServiceServicer):
            def Export(self, request: Any, context: Any) -> Any:
                receiver._accept(request)
                return trace_service_pb2.ExportTraceServiceResponse()

        server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
        trace_service_pb2_grpc.add_TraceServiceServicer_to_server(Service(), server)  # type: ignore[no-untyped-call]
        port = server.add_insecure_port("127.0.0.1:0")
        server.start()
        self.endpoint = f"http://127.0.0.1:{port}"
        self._stop = lambda: server.stop(grace=None)
