"""Metrics of the actor runtime, read from its statistics when Prometheus scrapes.

Nothing is counted per message: the actors already count (``system.statistics()``,
``ref.statistics()``, ``bus.statistics()``) and this module reads those counters at scrape time.
Two gaps are filled from the runtime's hook and event surface:

* ``system.statistics().processed`` sums the actors alive *now*, so it falls when an actor
  stops — a Prometheus counter must never fall. An ``actor.after_stop`` hook keeps each stopped
  actor's ref until a scrape finds it stopped for good; its final counts then move into a
  retired total. (A restarted actor keeps its ref and its counts, so it is counted once.)
* restarts come from ``actor.restarted`` events, by actor group, so that they survive the
  actor too.

The few counts the statistics cannot follow past an actor's end (the failures of an actor whose
start failed; the failures and drops of unnamed actors while they live) are reported as their
highest value so far, so the exposed counters never fall.

Everything here runs on the event-loop thread that owns the system (the collector hops there),
so the statistics never change under a read.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import actors

from . import _catalogue as names
from ._series import Family, single

if TYPE_CHECKING:
    from prometheus_client.metrics_core import Metric

AFTER_STOP = "actor.after_stop"
RESTARTED = "actor.restarted"
MAX_GROUPS = 50
"""Distinct actor groups kept per family; more are counted under ``_other``."""


def group_of(name: str) -> str:
    """An actor's group: its name up to the first ``:`` or ``#`` (``spell:hello:ab12`` →
    ``spell``, ``tool:calculator#2`` → ``tool``)."""
    return name.split(":", 1)[0].split("#", 1)[0] or "unnamed"


class RuntimeStats:
    """Reads one actor system's counters; :meth:`close` detaches it."""

    def __init__(self, system: actors.ActorSystem) -> None:
        self.system = system
        self._stopped: dict[int, actors.ActorRef] = {}
        self._sweep_at = 1024
        self._retired = [0, 0, 0]  # processed, failed, dropped, of actors stopped for good
        self._restarts = Family(names.ACTOR_RESTARTS, cap=MAX_GROUPS)
        self._high = [0, 0, 0]  # the highest totals reported
        self._hook = system.hooks.register(AFTER_STOP, self._on_stop, name="observability")
        self._sub = system.bus.subscribe(
            RESTARTED, self._on_restart, overflow="drop_newest", name="observability"
        )

    def close(self) -> None:
        self._hook.cancel()
        self._sub.cancel()

    def _on_stop(self, ref: actors.ActorRef) -> None:
        self._stopped[id(ref)] = ref
        if len(self._stopped) >= self._sweep_at:  # nobody scrapes: keep memory bounded
            self._sweep()
            self._sweep_at = max(1024, 2 * len(self._stopped))

    def _on_restart(self, event: actors.Event) -> None:
        payload: Any = event.payload
        name = payload.get("actor", "") if isinstance(payload, dict) else ""
        self._restarts.cell(group_of(str(name))).value += 1

    def _sweep(self) -> None:
        """Move the counts of actors stopped for good into the retired totals."""
        retired = self._retired
        for key, ref in list(self._stopped.items()):
            if not ref.is_alive:
                stats = ref.statistics()
                retired[0] += stats.processed
                retired[1] += stats.failed
                retired[2] += stats.dropped
                del self._stopped[key]

    def families(self) -> list[Metric]:
        """The runtime families, as of now."""
        self._sweep()
        system = self.system.statistics()
        failed = dropped = named = 0
        live = Family(names.ACTORS, cap=MAX_GROUPS)
        depth = Family(names.MAILBOX_DEPTH, cap=MAX_GROUPS)
        registry = self.system.registry
        for name in registry.names():
            ref = registry.lookup(name)
            if ref is None or isinstance(ref, actors.SupervisorRef):
                continue
            stats = ref.statistics()
            group = group_of(name)
            named += 1
            live.cell(group).value += 1
            depth.cell(group).value += stats.mailbox_depth
            failed += stats.failed
            dropped += stats.dropped
        if system.actors > named:
            live.cell("unnamed").value += system.actors - named
        # failures and drops of unnamed live actors are only known once they stop
        bus = self.system.bus.statistics()
        retired, high = self._retired, self._high
        totals = (retired[0] + system.processed, retired[1] + failed, retired[2] + dropped)
        for i, total in enumerate(totals):
            high[i] = max(high[i], total)
        return [
            single(names.ACTOR_MESSAGES, high[0]),
            single(names.ACTOR_FAILURES, high[1]),
            single(names.ACTOR_DROPPED, high[2]),
            self._restarts.to_prometheus(),
            single(names.DEAD_LETTERS, system.dead_letters),
            live.to_prometheus(),
            depth.to_prometheus(),
            single(names.BUS_PUBLISHED, bus.published),
            single(names.BUS_DELIVERED, bus.delivered),
            single(names.BUS_DROPPED, bus.dropped),
            single(names.BUS_FAILURES, bus.failed),
            single(names.BUS_SUBSCRIPTIONS, len(bus.subscriptions)),
            single(names.BUS_QUEUED, sum(s.queued for s in bus.subscriptions)),
        ]
