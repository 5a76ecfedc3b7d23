"""Spans as light records: made on the operation's path, turned into OpenTelemetry spans later.

An SDK span (``tracer.start_span`` … ``span.end()``) measured 56-62 µs here, twice what a whole
LLM call through llmspell costs with an instant model; the budget for tracing is a quarter of
that call. So the path only takes the timestamps and ids and fills a plain dict of attributes
(:class:`SpanRecord`, a few µs); becoming an SDK ``ReadableSpan`` and being encoded for OTLP
happens in the export thread (see ``_export``), and ``--trace`` draws its tree from the records
directly.

Context travels as a W3C ``traceparent`` header (``00-<trace id>-<span id>-<flags>``): the
:class:`Tracer` reads the parent from ``call.headers`` when a call starts (the enclosing call's
headers, or the run's own, e.g. a daemon request's) and replaces them with the new span's, which
the instrumented path makes current for everything the call does — nested calls, actor messages
(envelope headers), events and their handlers (event headers).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from random import getrandbits
from types import MappingProxyType
from typing import Any

import llmspell

from ._catalogue import UNTRACED_KINDS
from ._genai import describe

TRACEPARENT, TRACESTATE = "traceparent", "tracestate"
_HEX = frozenset("0123456789abcdef")
Parent = tuple[str, str, bool]
_MISSING: Parent = ("", "", False)


class SpanRecord:
    """One finished (or running) span, as plain data.

    Attributes:
        name: ``chat gpt-4o-mini``, ``execute_tool calculator`` ...
        kind: ``"client"`` (LLM calls) or ``"internal"``.
        trace_id: 32 lowercase hex digits.
        span_id: 16 lowercase hex digits.
        parent_id: the parent span's id, or None for a root.
        start: start time, Unix epoch nanoseconds.
        end: end time, likewise.
        attributes: OpenTelemetry attributes (GenAI conventions, ``llmspell.*``).
        error: the error message when the operation failed, else None.
        error_type: the error's class name.
        tracestate: the W3C ``tracestate`` inherited from the parent, if any.
    """

    __slots__ = (
        "attributes",
        "end",
        "error",
        "error_type",
        "kind",
        "name",
        "parent_id",
        "span_id",
        "start",
        "trace_id",
        "tracestate",
    )

    def __init__(
        self, trace_id: str, span_id: str, parent_id: str | None, start: int, tracestate: str | None
    ) -> None:
        self.trace_id = trace_id
        self.span_id = span_id
        self.parent_id = parent_id
        self.start = start
        self.end = start
        self.tracestate = tracestate
        self.name = ""
        self.kind = "internal"
        self.attributes: dict[str, Any] = {}
        self.error: str | None = None
        self.error_type: str | None = None

    @property
    def duration(self) -> float:
        """Seconds."""
        return (self.end - self.start) / 1e9


def parse_traceparent(value: str) -> Parent | None:
    """``(trace id, parent span id, sampled)`` from a W3C ``traceparent``, or None if invalid."""
    if len(value) < 55 or value[2] != "-" or value[35] != "-" or value[52] != "-":
        return None
    version, trace_id, span_id, flags = value[:2], value[3:35], value[36:52], value[53:55]
    if version == "ff" or (version == "00" and len(value) != 55):
        return None
    if not _HEX.issuperset(version + trace_id + span_id + flags):
        return None
    if trace_id == "0" * 32 or span_id == "0" * 16:
        return None
    return trace_id, span_id, int(flags, 16) & 1 == 1


class Tracer:
    """Makes a :class:`SpanRecord` per traced operation and hands finished ones to ``sink``.

    Args:
        sink: receives each finished, sampled span (on the event-loop thread; must not block).
        capture_content: put prompts, completions, tool arguments and results on the spans.
    """

    def __init__(self, sink: Callable[[SpanRecord], None], *, capture_content: bool) -> None:
        self._sink = sink
        self._capture = capture_content
        self._parents: dict[str, Parent | None] = {}

    def start(self, call: llmspell.Call) -> None:
        if call.kind.name in UNTRACED_KINDS:
            return
        headers = call.headers
        traceparent = headers.get(TRACEPARENT) if headers else None
        parent = None
        if traceparent is not None:
            parent = self._parents.get(traceparent, _MISSING)
            if parent is _MISSING:
                parent = self._parent(traceparent)
        if parent is None:
            trace_id, parent_id, sampled = f"{getrandbits(128) or 1:032x}", None, True
        else:
            trace_id, parent_id, sampled = parent
        span_id = f"{getrandbits(64) or 1:016x}"
        tracestate = headers.get(TRACESTATE) if parent is not None else None
        record = SpanRecord(trace_id, span_id, parent_id, time.time_ns(), tracestate)
        child = {TRACEPARENT: f"00-{trace_id}-{span_id}-{'01' if sampled else '00'}"}
        if tracestate:
            child[TRACESTATE] = tracestate
        call.headers = MappingProxyType(child)
        call.token = record if sampled else None

    def _parent(self, traceparent: str) -> Parent | None:
        parents = self._parents
        if len(parents) >= 4096:
            parents.clear()
        parents[traceparent] = parsed = parse_traceparent(traceparent)
        return parsed

    def end(self, call: llmspell.Call, error: BaseException | None) -> None:
        record = call.token
        if not isinstance(record, SpanRecord):
            return  # not traced, or not sampled
        record.end = record.start + int(call.duration * 1e9)
        describe(call, error, record, self._capture)
        self._sink(record)
