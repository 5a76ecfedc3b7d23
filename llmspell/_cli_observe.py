"""``llmspell run --trace / --trace-json FILE / --metrics-port P``: observability for one run.

Observability is imported only when one of these flags (or a standard ``OTEL_EXPORTER_OTLP_*``
variable) asks for it, so a plain run does not pay for it.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import sys
from typing import Any

from ._exceptions import ConfigError


def _notice(message: str) -> None:
    print(f"llmspell: {message}", file=sys.stderr, flush=True)


def add_flags(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group(
        "observability (OTLP export follows the standard OTEL_EXPORTER_OTLP_* variables)"
    )
    group.add_argument(
        "--trace", action="store_true", help="print the span tree on stderr at the end"
    )
    group.add_argument("--trace-json", metavar="FILE", help="write the spans as JSON to FILE")
    group.add_argument(
        "--metrics-port",
        type=int,
        metavar="P",
        help="serve Prometheus metrics at http://127.0.0.1:P/metrics while the spell runs "
        "(0: any free port, printed on stderr)",
    )


_OTEL_SWITCHES = (
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    "OTEL_TRACES_EXPORTER",
)


class Observed:
    """What ``--trace``, ``--trace-json`` and ``--metrics-port`` (and the OTLP variables) asked
    for: the observer, the ``/metrics`` server while the spell runs, the report at the end."""

    def __init__(self, args: argparse.Namespace) -> None:
        import observability

        self.args = args
        port = args.metrics_port
        if port is not None and not 0 <= port <= 65535:
            raise ConfigError(f"--metrics-port {port}: must be a port number (0 to 65535)")
        if args.trace_json and not pathlib.Path(args.trace_json).parent.is_dir():
            raise ConfigError(f"--trace-json {args.trace_json}: its directory does not exist")
        try:
            self.observer = observability.create_observer(
                keep_spans=bool(args.trace or args.trace_json), metrics=port is not None
            )
        except ValueError as exc:  # an unsupported OTEL_EXPORTER_OTLP_PROTOCOL
            raise ConfigError(str(exc)) from None
        self._server: Any = None

    @classmethod
    def wanted(cls, args: argparse.Namespace) -> Observed | None:
        import os

        if not (
            args.trace
            or args.trace_json
            or args.metrics_port is not None
            or any(os.environ.get(name) for name in _OTEL_SWITCHES)
        ):
            return None  # the common case: observability is not even imported
        observed = cls(args)
        return observed if observed.observer.tracing or observed.observer.metrics else None

    def serve(self) -> None:
        if self.args.metrics_port is None:
            return
        import observability

        try:
            self._server = observability.serve_metrics(self.observer, self.args.metrics_port)
        except OSError as exc:
            raise ConfigError(
                f"--metrics-port {self.args.metrics_port}: cannot listen: {exc.strerror or exc}"
            ) from None
        _notice(f"metrics at {self._server.url}")

    async def stop_serving(self) -> None:
        if self._server is not None:
            import anyio.to_thread

            await anyio.to_thread.run_sync(self._server.close)

    def report(self) -> None:
        """After the run: flush the exporters, print the tree, write the JSON."""
        import observability

        self.observer.close()
        spans = self.observer.spans()
        if self.args.trace:
            print("\n" + observability.render_trace(spans), file=sys.stderr, end="", flush=True)
            if self.observer.spans_not_kept:
                _notice(f"{self.observer.spans_not_kept} earlier spans were not kept")
        if self.args.trace_json:
            text = json.dumps(observability.spans_to_json(spans), ensure_ascii=False, indent=2)
            try:
                pathlib.Path(self.args.trace_json).write_text(text + "\n", encoding="utf-8")
            except OSError as exc:
                raise ConfigError(f"--trace-json: {exc}") from None
