"""Resident spells: started with the daemon, handling bus events, each under its own supervisor.

Each resident spell gets a top-level supervisor ``resident:<name>:<generation>`` holding one
:class:`_ResidentRun` actor (restart type ``transient``). The actor runs the spell in the
daemon's mode (``Runtime.run(..., resident=True)``: every callback has its own CPU and wall-clock
budget); a run that ends in an error is a crash, so the supervisor restarts it with backoff. More
than ``max_restarts`` crashes within ``restart_period`` seconds and the supervisor gives up: the
actor system publishes ``actor.escalated``, and the spell is marked ``failed``, reported in
``GET /spells``, the log and the event ``spell.resident_failed`` — the daemon keeps serving.
A spell that removes its handlers has ended by itself (``stopped``), and is not restarted.

A new version of the file (hot reload) stops the old supervisor and starts a new generation.
"""

from __future__ import annotations

import itertools
import logging
import os
from typing import TYPE_CHECKING, Any

import actors

if TYPE_CHECKING:
    from ._catalog import Entry, Version
    from ._daemon import Daemon

_log = logging.getLogger("llmspell.serve")
_START = object()
BACKOFF = (0.1, 5.0)
"""Seconds before the first restart, and at most between restarts (doubling in between)."""
RESIDENT_FAILED = "spell.resident_failed"


class ResidentCrashed(Exception):
    """A resident spell's run ended in an error (the message is the spell's error)."""


class _Generation:
    """One start of one version of a resident spell: its supervisor and how often it started."""

    def __init__(self, entry: Entry, version: Version, number: str) -> None:
        self.entry = entry
        self.version = version
        self.supervisor_name = f"resident:{entry.name}:{number}"
        self.starts = 0
        self.supervisor: actors.SupervisorRef | None = None
        self.run_id: str | None = None
        self.stopping = False


class _ResidentRun(actors.Actor):
    """Runs the resident spell; a run that ends in an error crashes the actor (a restart)."""

    def __init__(self, daemon: Daemon, generation: _Generation) -> None:
        self.daemon = daemon
        self.generation = generation

    def on_start(self) -> None:
        generation = self.generation
        generation.starts += 1
        if generation.starts > 1:
            generation.entry.restarts += 1
        self.context.self.tell(_START)

    async def on_receive(self, message: Any) -> None:
        entry, version = self.generation.entry, self.generation.version
        entry.state = "running"
        run_id = self.generation.run_id = os.urandom(6).hex()
        result = await self.daemon.execute(version, params={}, resident=True, run_id=run_id)
        if self.generation.stopping:
            self.context.stop()
            return
        if result.status == "error":
            message = f"resident run ended: {result.error}"
            entry.failed(message)
            entry.state = "restarting"
            _log.warning("spell %s crashed: %s", entry.name, result.error, extra=_fields(entry))
            raise ResidentCrashed(message)
        entry.state = "stopped"
        _log.info("resident spell %s ended (%s)", entry.name, result.status, extra=_fields(entry))
        self.context.stop()  # transient: a normal end is not restarted


def _fields(entry: Entry) -> dict[str, Any]:
    return {"spell": entry.name}


class Residents:
    """The daemon's resident spells by name."""

    def __init__(self, daemon: Daemon) -> None:
        self.daemon = daemon
        self._current: dict[str, _Generation] = {}
        self._numbers = itertools.count(1)
        self._tag = os.urandom(3).hex()  # daemons joined by NATS share actor.* events: names
        # of this daemon's supervisors must not be another's
        self._subscription: actors.Subscription | None = None

    def watch(self, system: actors.ActorSystem) -> None:
        """Listen for supervisors that gave up (``actor.escalated``)."""
        self._subscription = system.bus.subscribe("actor.escalated", self._escalated)

    async def start(self, entry: Entry, version: Version) -> None:
        """Start (or restart, on a new version) the resident spell of ``entry``."""
        await self.stop(entry.name)
        system = self.daemon.runtime.system
        generation = _Generation(entry, version, f"{self._tag}-{next(self._numbers)}")
        config = version.config
        settings = self.daemon.settings
        max_restarts = config.max_restarts
        period = config.restart_period
        generation.supervisor = await system.spawn_supervisor(
            name=generation.supervisor_name,
            strategy="one_for_one",
            max_restarts=settings.max_restarts if max_restarts is None else max_restarts,
            period=period or settings.restart_period,
            backoff=BACKOFF,
            restart="temporary",  # when it gives up, the root stops it for good
        )
        self._current[entry.name] = generation
        entry.state = "starting"
        await generation.supervisor.spawn(
            _ResidentRun,
            self.daemon,
            generation,
            name=f"{generation.supervisor_name}:run",
            restart="transient",
        )

    async def stop(self, name: str) -> None:
        """Stop the resident spell ``name`` (its run ends); a no-op if it has none."""
        generation = self._current.pop(name, None)
        if generation is not None and generation.supervisor is not None:
            generation.stopping = True
            if generation.run_id is not None:  # the run ends first: the actor then exits
                self.daemon.runtime.stop(generation.run_id)
            try:
                await generation.supervisor.stop()
            except actors.ActorDeadError:  # it had given up already
                pass

    async def stop_all(self) -> None:
        for name in list(self._current):
            await self.stop(name)

    async def _escalated(self, event: actors.Event) -> None:
        actor = str(event.payload.get("actor", "")) if isinstance(event.payload, dict) else ""
        for name, generation in list(self._current.items()):
            if generation.supervisor_name != actor:
                continue
            entry = generation.entry
            entry.state = "failed"
            del self._current[name]
            error = entry.error or str(event.payload.get("error"))
            _log.error(
                "resident spell %s failed: restarted %d times, giving up: %s",
                name,
                entry.restarts,
                error,
                extra=_fields(entry),
            )
            await self.daemon.publish(
                RESIDENT_FAILED, {"spell": name, "error": error, "restarts": entry.restarts}
            )
