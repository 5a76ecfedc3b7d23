"""OpenTelemetry tracing and Prometheus metrics for llmspell (filled in by a later issue).

Attaches to the runtime through the ``actors`` hook and event surface only.
"""
