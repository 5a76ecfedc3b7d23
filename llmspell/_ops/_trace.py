"""Trace context: the headers that follow an operation into actors, events and nested calls.

Within a task the current headers live in a context variable; across actors they travel in the
envelope (``ref.ask(..., headers=current_headers())``, read back with
:func:`actors.current_envelope`), and across the bus in the event's ``headers``. An
:class:`Observer` (the observability layer) sets a call's headers when the call starts, so that
every call made inside it — in this task, in an actor, in an event handler — names it as parent.
Without an observer the run's own headers (given by whoever started the run, e.g. the daemon from
an HTTP ``traceparent``) flow unchanged.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from contextvars import ContextVar, Token
from types import MappingProxyType
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import actors

if TYPE_CHECKING:
    from ._instrument import Call

NO_HEADERS: Mapping[str, str] = MappingProxyType({})

_HEADERS: ContextVar[Mapping[str, str]] = ContextVar("llmspell_headers", default=NO_HEADERS)


# (the context variable's own methods: no Python frame on the paths that run per event)
current_headers: Callable[[], Mapping[str, str]] = _HEADERS.get
"""The trace headers of the operation running in this task (empty outside any)."""

use_headers: Callable[[Mapping[str, str]], Token[Mapping[str, str]]] = _HEADERS.set
"""Make ``headers`` current in this task; undo with :func:`reset_headers`."""

reset_headers: Callable[[Token[Mapping[str, str]]], None] = _HEADERS.reset
"""Undo a :func:`use_headers`."""


def adopt_envelope_headers() -> None:
    """Inside an actor's handler: make the headers of the message being handled current."""
    envelope = actors.current_envelope()
    _HEADERS.set(NO_HEADERS if envelope is None else envelope.headers)


class Observer(Protocol):
    """Watches every operation on the instrumented path (tracing, metrics).

    ``start`` runs after the call is created and before its hooks; it may set
    ``call.headers`` (the child trace context) and ``call.token`` (its own state). ``end`` runs
    after the call's event was published, with the error it failed with, if any. Neither may
    raise: an observer's failure must not change the operation.
    """

    def start(self, call: Call) -> None: ...

    def end(self, call: Call, error: BaseException | None) -> None: ...


@runtime_checkable
class Attachable(Protocol):
    """An observer that also watches the actor system a runtime runs on (optional).

    ``open_runtime(observability=...)`` calls :meth:`attach` once the system is open and the
    function it returns when the runtime closes. The observability layer uses it to read the
    actors' and the bus's statistics when metrics are scraped.
    """

    def attach(self, system: actors.ActorSystem) -> Callable[[], None]: ...
