"""The Prometheus collector: every family, read on the event-loop thread that owns the runtime.

prometheus-client calls :meth:`Collector.collect` from whichever thread serves the scrape: the
daemon's ASGI app runs it on the event loop itself, ``start_http_server`` on a thread of its own.
The counters it reads are plain Python values the loop updates, and the actor system's sets
change as actors come and go, so a reading from another thread hops onto the loop first
(``anyio.from_thread.run_sync`` with the loop's token, on asyncio and trio alike). With no loop
attached (before a runtime opens, after it closes) nothing writes any more and the values are
read where the scrape runs.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

import anyio
import anyio.from_thread
import anyio.lowlevel

from ._catalogue import METRICS
from ._series import to_prometheus

if TYPE_CHECKING:
    from prometheus_client.metrics_core import Metric

Families = Callable[[], list["Metric"]]


class Collector:
    """A prometheus-client collector over ``families`` (called on the loop's thread)."""

    def __init__(self, families: Families) -> None:
        self._families = families
        self._token: anyio.lowlevel.EventLoopToken | None = None
        self._thread: int | None = None

    def bind_loop(self) -> None:
        """Read on the calling task's event loop from now on (call it from that loop)."""
        self._token = anyio.lowlevel.current_token()
        self._thread = threading.get_ident()

    def unbind_loop(self) -> None:
        self._token = self._thread = None

    def collect(self) -> Iterator[Metric]:
        token = self._token
        if token is None or threading.get_ident() == self._thread:
            yield from self._families()
            return
        try:
            families = anyio.from_thread.run_sync(self._families, token=token)
        except RuntimeError:  # the loop has just finished: nothing writes any more
            families = self._families()
        yield from families

    def describe(self) -> Iterator[Metric]:
        """The declared families (so a registry refuses a second collector of the same)."""
        for spec in METRICS:
            yield to_prometheus(spec, [])
