"""OpenTelemetry traces and Prometheus metrics for llmspell.

It attaches to llmspell's one instrumented path (every spell run, LLM call, tool call, agent run
and workflow step passes it) as an :class:`llmspell.Observer`, and to the actor system's
statistics; it imports only llmspell's and actors' public names, and nothing else in llmspell
imports the OpenTelemetry SDK or prometheus-client::

    import llmspell
    import observability

    obs = observability.create_observer(tracing=True, metrics=True, keep_spans=True)
    async with llmspell.open_runtime(observability=obs) as runtime:
        await runtime.run("spells/hello.lua")
    print(observability.render_trace(obs.spans()))
    print(obs.metrics_text().decode())

* spans follow the GenAI semantic conventions (``chat {model}``, ``invoke_agent {name}``,
  ``execute_tool {name}``, under ``run_spell {spell}``), one trace per run, exported over OTLP
  when the standard ``OTEL_EXPORTER_OTLP_*`` variables say so;
* metrics (every family in :data:`METRICS`) are served by :func:`serve_metrics` or, in the
  daemon, :func:`metrics_app`; spells add their own with ``metrics.inc/observe/set/record``.
"""

from __future__ import annotations

import logging as _logging

from ._catalogue import METRICS as METRICS
from ._catalogue import SPELL_METRIC_PREFIX as SPELL_METRIC_PREFIX
from ._catalogue import MetricSpec as MetricSpec
from ._export import otlp_enabled as otlp_enabled
from ._export import otlp_exporter_from_env as otlp_exporter_from_env
from ._observer import Observability as Observability
from ._observer import create_observer as create_observer
from ._serve import MetricsServer as MetricsServer
from ._serve import metrics_app as metrics_app
from ._serve import serve_metrics as serve_metrics
from ._spans import SpanRecord as SpanRecord
from ._spans import parse_traceparent as parse_traceparent
from ._tree import format_duration as format_duration
from ._tree import render_trace as render_trace
from ._tree import spans_to_json as spans_to_json

__all__ = [
    "METRICS",
    "SPELL_METRIC_PREFIX",
    "MetricSpec",
    "MetricsServer",
    "Observability",
    "SpanRecord",
    "create_observer",
    "format_duration",
    "metrics_app",
    "otlp_enabled",
    "otlp_exporter_from_env",
    "parse_traceparent",
    "render_trace",
    "serve_metrics",
    "spans_to_json",
]

_logging.getLogger(__name__).addHandler(_logging.NullHandler())
