"""Spans as light records: made on the operation's path, turned into OpenTelemetry spans later.

An SDK span (``tracer.start_span`` … ``span.end()``) measured 56-62 µs here, twice what a whole
LLM call through llmspell costs with an instant model; the budget for tracing is a quarter of
that call. So the path only takes the ids and timestamps and keeps the finished call
(:class:`SpanRecord`, ~2 µs); naming the span and deriving its attributes, becoming an SDK
``ReadableSpan`` and being encoded for OTLP happen in the export thread (see ``_export``), and
``--trace`` draws its tree from the records after the run.

Context travels as a W3C ``traceparent`` header (``00-<trace id>-<span id>-<flags>``): the
:class:`Tracer` reads the parent from ``call.headers`` when a call starts (the enclosing call's
headers, or the run's own, e.g. a daemon request's) and replaces them with the new span's, which
the instrumented path makes current for everything the call does — nested calls, actor messages
(envelope headers), events and their handlers (event headers).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from random import getrandbits
from types import MappingProxyType
from typing import Any

import llmspell

from ._catalogue import UNTRACED_KINDS
from ._genai import describe, failure_of
from ._guard import report_failure

TRACEPARENT, TRACESTATE = "traceparent", "tracestate"
_HEX = frozenset("0123456789abcdef")
Parent = tuple[str, str, bool]
_MISSING: Any = object()


class SpanRecord:
    """One span, as plain data.

    The operation's path only stamps the ids and times and keeps the finished call; the name,
    kind and attributes are derived from it when first read (by the export thread, or by
    ``--trace`` after the run), and the call is then let go.

    Attributes:
        trace_id: 32 lowercase hex digits.
        span_id: 16 lowercase hex digits.
        parent_id: the parent span's id, or None for a root.
        start: start time, Unix epoch nanoseconds.
        end: end time, likewise.
        tracestate: the W3C ``tracestate`` inherited from the parent, if any.
    """

    __slots__ = (
        "_attributes",
        "_call",
        "_capture",
        "_error",
        "_error_type",
        "_failure",
        "_kind",
        "_name",
        "end",
        "parent_id",
        "span_id",
        "start",
        "trace_id",
        "tracestate",
    )
    _failure: tuple[str, str] | None
    _capture: bool
    _name: str
    _kind: str
    _attributes: dict[str, Any]
    _error: str | None
    _error_type: str | None

    def __init__(
        self, trace_id: str, span_id: str, parent_id: str | None, start: int, tracestate: str | None
    ) -> None:
        self.trace_id = trace_id
        self.span_id = span_id
        self.parent_id = parent_id
        self.start = self.end = start
        self.tracestate = tracestate
        self._call: llmspell.Call | None = None

    def _described(self) -> None:
        call = self._call
        if call is not None:  # fields first, the call last: another thread may be reading
            try:
                name, kind, attributes, error, error_type = describe(
                    call, self._failure, self._capture
                )
            except Exception:
                report_failure("span description")
                name, kind, attributes = call.kind.name, "internal", {}
                error, error_type = self._failure[::-1] if self._failure else (None, None)
            self._name, self._kind, self._attributes = name, kind, attributes
            self._error, self._error_type = error, error_type
            self._call = None

    @property
    def name(self) -> str:
        """``chat gpt-4o-mini``, ``execute_tool calculator`` ..."""
        self._described()
        return self._name

    @property
    def kind(self) -> str:
        """``"client"`` (LLM calls) or ``"internal"``."""
        self._described()
        return self._kind

    @property
    def attributes(self) -> dict[str, Any]:
        """OpenTelemetry attributes (GenAI conventions, ``llmspell.*``)."""
        self._described()
        return self._attributes

    @property
    def error(self) -> str | None:
        """The error message when the operation failed, else None."""
        self._described()
        return self._error

    @property
    def error_type(self) -> str | None:
        """The error's class name when the operation failed."""
        self._described()
        return self._error_type

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


class _Parent:
    """What a child span needs of its parent's ``traceparent`` (parsed once, then cached)."""

    __slots__ = ("prefix", "span_id", "suffix", "trace_id", "tracestate")

    def __init__(
        self, trace_id: str, span_id: str | None, sampled: bool, tracestate: str | None
    ) -> None:
        self.trace_id = trace_id
        self.span_id = span_id
        self.tracestate = tracestate
        self.prefix = f"00-{trace_id}-"
        self.suffix = "-01" if sampled else "-00"


_ID_POOL = 4096
"""Random bytes drawn at a time for span ids (512 ids per ``os.urandom`` call)."""
_ZERO_ID = "0" * 16


class Tracer:
    """Makes a :class:`SpanRecord` per traced operation and hands finished ones to ``sink``.

    Neither :meth:`start` nor :meth:`end` raises: a failure is reported and the operation goes
    on untraced.

    Args:
        sink: receives each finished, sampled span (on the event-loop thread; must not block).
        capture_content: put prompts, completions, tool arguments and results on the spans.
    """

    def __init__(self, sink: Callable[[SpanRecord], None], *, capture_content: bool) -> None:
        self._sink = sink
        self._capture = capture_content
        self._parents: dict[str, _Parent | None] = {}
        self._ids = ""
        self._next = 0
        self.finished = 0
        """Spans finished (and handed to the sink) so far."""

    def start(self, call: llmspell.Call) -> None:
        try:
            if call.kind.name in UNTRACED_KINDS:
                return
            headers = call.headers
            traceparent = headers.get(TRACEPARENT) if headers else None
            parent = None
            if traceparent is not None:
                parent = self._parents.get(traceparent, _MISSING)
                if parent is _MISSING:
                    parent = self._parent(traceparent, headers.get(TRACESTATE))
            if parent is None:  # a new trace
                parent = _Parent(f"{getrandbits(128) or 1:032x}", None, True, None)
            at, ids = self._next, self._ids
            if at >= len(ids):
                ids, at = os.urandom(_ID_POOL).hex(), 0
                self._ids = ids
            self._next = at + 16
            span_id = ids[at : at + 16]
            if span_id == _ZERO_ID:  # invalid in W3C; one chance in 2**64
                span_id = "0000000000000001"
            child = {TRACEPARENT: parent.prefix + span_id + parent.suffix}
            tracestate = parent.tracestate
            if tracestate:
                child[TRACESTATE] = tracestate
            call.headers = MappingProxyType(child)
            if parent.suffix == "-01":
                call.token = SpanRecord(
                    parent.trace_id, span_id, parent.span_id, time.time_ns(), tracestate
                )
        except Exception:
            report_failure("span start")

    def _parent(self, traceparent: str, tracestate: str | None) -> _Parent | None:
        parents = self._parents
        if len(parents) >= 4096:
            parents.clear()
        parsed = parse_traceparent(traceparent)
        parent = None if parsed is None else _Parent(*parsed, tracestate)
        parents[traceparent] = parent
        return parent

    def end(self, call: llmspell.Call, error: BaseException | None) -> None:
        record = call.token
        if record.__class__ is not SpanRecord:
            return  # not traced, or not sampled
        try:
            record.end = record.start + int(call.duration * 1e9)
            record._failure = None if error is None else failure_of(error)
            record._capture = self._capture
            record._call = call
            self.finished += 1
            self._sink(record)
        except Exception:
            report_failure("span end")
