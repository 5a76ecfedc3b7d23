"""Serving ``/metrics``: a small HTTP server of its own, or an ASGI app for the daemon's server.

:func:`serve_metrics` starts prometheus-client's HTTP server on a daemon thread (what
``llmspell run --metrics-port`` uses while the spell runs); :func:`metrics_app` is the ASGI app
the daemon mounts, which runs the collection on its event loop.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ._observer import Observability

DEFAULT_HOST = "127.0.0.1"


class MetricsServer:
    """A running ``/metrics`` endpoint; :meth:`close` stops it.

    Attributes:
        host: the address it listens on.
        port: the port it listens on (the one picked when asked for port 0).
    """

    def __init__(self, server: Any, thread: Any) -> None:
        self._server = server
        self._thread = thread
        self.host: str = server.server_address[0]
        self.port: int = server.server_address[1]

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/metrics"

    def close(self) -> None:
        """Stop serving (blocks up to half a second: run it in a worker thread from async code)."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()


def _registry(observability: Observability) -> Any:
    if observability.registry is None:
        raise ValueError("metrics are off in this observer (create it with metrics=True)")
    return observability.registry


def serve_metrics(
    observability: Observability, port: int, *, host: str = DEFAULT_HOST
) -> MetricsServer:
    """Serve ``observability``'s metrics at ``http://host:port/metrics`` from a thread.

    Raises:
        OSError: the port cannot be bound.
        ValueError: the observer has metrics off.
    """
    from prometheus_client import start_http_server

    server, thread = start_http_server(port, addr=host, registry=_registry(observability))
    return MetricsServer(server, thread)


def metrics_app(observability: Observability) -> Callable[..., Any]:
    """An ASGI app answering with ``observability``'s metrics in the Prometheus text format."""
    from prometheus_client import make_asgi_app

    app: Callable[..., Any] = make_asgi_app(_registry(observability))
    return app
