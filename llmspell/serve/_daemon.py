"""The daemon: a runtime, the spells it hosts, their resident runs, and its own lifetime.

:meth:`Daemon.open` is the whole life of one daemon (the ASGI app's lifespan): open the runtime
on the state database (state, durable workflows and the event log in one file), load every
spell, start the resident ones, resume the durable workflow runs a previous process left
stranded, watch the directory — then serve until :meth:`Daemon.drain` (SIGTERM) lets the runs
in flight finish within the grace period, and everything closes in reverse order.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
import pathlib
import socket
import time
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from typing import TYPE_CHECKING, Any

import anyio

import actors

from .. import _runtime
from .._config import Config, state_path
from ..tools import ToolRegistry, builtin_tools
from ..workflows import WorkflowStore, open_workflow_store, owner_id
from ._catalog import Catalog, Entry, LoadError, Version
from ._resident import Residents
from ._settings import ServeSettings

if TYPE_CHECKING:
    from anyio.abc import TaskGroup

    from .._ops import Observer
    from .._runtime import RunResult
    from ..providers import Provider
    from ._nats import NatsLink

_log = logging.getLogger("llmspell.serve")
_spell_log = logging.getLogger("llmspell.spell")
_LEVELS = {"debug": 10, "info": 20, "warn": 30, "error": 40}

LOADED, RELOADED, UNLOADED = "spell.loaded", "spell.reloaded", "spell.unloaded"
RELOAD_FAILED = "spell.reload_failed"
DRAINING = "daemon.draining"

Output = Callable[[str], None]
LogSink = Callable[[str, str, dict[str, Any]], None]


@dataclasses.dataclass
class Counters:
    """What the daemon counts about itself (``GET /readyz`` reports them)."""

    runs_in_flight: int = 0
    sse_clients: int = 0
    sse_disconnected: int = 0
    rejected_busy: int = 0
    queued_taken: int = 0
    """Queued runs this daemon began (joined by NATS)."""
    queued_given_back: int = 0
    """Queued runs it gave back unfinished (shutting down, or the spell at its limit)."""
    leases_held: int = 0
    """Workflow leases it holds now."""
    workflows_taken_over: int = 0
    """Workflow runs of a dead (or stopped) process it took over."""


class Daemon:
    """One daemon's state, shared by its HTTP routes.

    Args:
        settings: how it serves.
        config: the runtime's configuration (model, limits, permissions, state, spells).
        observer: metrics and tracing (``observability.create_observer``), or None.
        provider: the LLM provider (default: the configured model, else offline).
        tools: the shared tools (default: the built-ins).
    """

    def __init__(
        self,
        settings: ServeSettings,
        config: Config,
        *,
        observer: Observer | None = None,
        provider: Provider | None = None,
        tools: ToolRegistry | None = None,
    ) -> None:
        self.settings = settings
        self.config = config
        self.observer = observer
        self.provider = provider
        self.tools = tools if tools is not None else ToolRegistry(builtin_tools())
        self.catalog = Catalog(settings, config, self.tools.permissions())
        self.residents = Residents(self)
        self.counters = Counters()
        self.ready = False
        self.draining = False
        self.state_path = state_path(None, config)
        self.workflows: WorkflowStore | None = None
        self.nats: NatsLink | None = None
        self.name = f"{socket.gethostname()}:{os.getpid()}"
        """This daemon among those joined by NATS (host and process)."""
        self.owner = owner_id()
        """This process as the owner of the durable workflow runs it runs."""
        self.local_runs: dict[str, str] = {}
        """The runs in flight here, by run id: where each came from (``http``, ``queued``,
        ``takeover``, ``resident``, ``resume``)."""
        self.taking: set[str] = set()
        """Workflow runs this daemon is taking over now."""
        self._runtime: _runtime.Runtime | None = None
        self._tg: TaskGroup | None = None
        self._closing: set[Callable[[], None]] = set()
        self._deadline = math.inf
        self._started = time.monotonic()
        self._refresh_lock = anyio.Lock()
        self._draining = anyio.Event()
        self._idle = anyio.Event()

    @property
    def runtime(self) -> _runtime.Runtime:
        if self._runtime is None:
            raise RuntimeError("the daemon is not running (use it inside Daemon.open())")
        return self._runtime

    # -- lifetime ---------------------------------------------------------------------------

    async def join_nats(self) -> None:
        """Connect to the ``nats`` server of the settings (if any, and not yet connected).

        Raises:
            ConfigError: the server cannot be reached (naming the URL).
        """
        if self.settings.nats is not None and self.nats is None:
            from ._nats import connect

            self.nats = await connect(self.settings.nats, name=f"llmspell serve {self.name}")

    @asynccontextmanager
    async def open(self) -> AsyncIterator[Daemon]:
        """Run the daemon: everything up on entry, drained and closed on exit."""
        await self.join_nats()
        try:
            async with self._open():
                yield self
        finally:
            if self.nats is not None:
                with anyio.CancelScope(shield=True):
                    await self.nats.aclose()
                self.nats = None

    @asynccontextmanager
    async def _open(self) -> AsyncIterator[Daemon]:
        if self.state_path != ":memory:":
            pathlib.Path(self.state_path).parent.mkdir(parents=True, exist_ok=True)
        async with AsyncExitStack() as stack:
            system = None
            if self.settings.nats is not None:  # the bus is the joined daemons' one
                system = await stack.enter_async_context(
                    actors.open_system(bus_backend=self._bus_backend(self.settings.nats))
                )
            runtime = await stack.enter_async_context(
                _runtime.open_runtime(
                    self.config,
                    provider=self.provider,
                    tools=self.tools,
                    observability=self.observer,
                    system=system,
                    event_log=self._event_log() if system is None else None,
                    state=self.state_path,
                )
            )
            async with anyio.create_task_group() as tg:
                self._runtime, self._tg = runtime, tg
                self._draining = anyio.Event()
                self._idle = anyio.Event()
                self._idle.set()
                tg.start_soon(self._watch_drain)
                self.workflows = open_workflow_store(self.state_path)
                self.residents.watch(runtime.system)
                try:
                    await self._start()
                    if self.nats is not None:
                        from ._cluster import share_work

                        await tg.start(share_work, self)
                    yield self
                finally:
                    with anyio.CancelScope(shield=True):
                        await self.drain()
                        await self.residents.stop_all()
                        tg.cancel_scope.cancel()
                await self.workflows.aclose()
        self._runtime = self._tg = None

    def _event_log(self) -> Any:
        """Where the local bus logs its events: the state database (SSE ids), or memory."""
        if self.state_path == ":memory:" or self.state_path.endswith(".json"):
            return actors.MemoryEventLog()  # SSE ids still work, for this process
        return self.state_path

    def _bus_backend(self, url: str) -> actors.BusBackend:
        """Joined by NATS: the bus on JetStream (the stream keeps the events; SSE ids are its
        sequence numbers)."""
        from actors.nats import NatsBackend

        from ._nats import EVENTS_PREFIX, EVENTS_STREAM

        return NatsBackend(
            url,
            stream=EVENTS_STREAM,
            prefix=EVENTS_PREFIX,
            ack_wait=self.settings.nats_ack_wait,
            name=f"llmspell serve {self.name} bus",
        )

    async def _start(self) -> None:
        if self.settings.reload:  # first, so that no change after the scan below is missed
            from ._watch import watch_spells

            assert self._tg is not None
            await self._tg.start(watch_spells, self)
        for name in sorted(self.catalog.names_on_disk()):
            await self.refresh(name)
        for name in self.catalog.unknown_tables():
            _log.warning("[spells.%s] in the configuration names no spell file", name)
        if self.settings.resume_workflows and self.nats is None:  # joined: leases do it
            from ._workflows import resume_stranded

            await resume_stranded(self)
        self.ready = True
        _log.info("serving %d spells from %s", len(self.catalog.entries), self.catalog.directory)

    def start_soon(self, fn: Callable[..., Any], *args: Any) -> None:
        """Run ``fn(*args)`` in the daemon's task group (it ends with the daemon)."""
        assert self._tg is not None
        self._tg.start_soon(fn, *args)

    def on_close(self, callback: Callable[[], None]) -> Callable[[], None]:
        """Call ``callback`` when the daemon starts draining (event streams end then);
        returns what forgets it."""
        self._closing.add(callback)
        return lambda: self._closing.discard(callback)

    def begin_drain(self) -> None:
        """Stop taking runs and end the event streams (the first SIGTERM/SIGINT); the grace
        period starts now. Idempotent."""
        if self.draining:
            return
        self.draining = True
        self.ready = False
        self._deadline = time.monotonic() + self.settings.grace
        _log.info(
            "draining: %d runs in flight get %g s to finish",
            self.counters.runs_in_flight,
            self.settings.grace,
        )
        for callback in list(self._closing):
            callback()
        self._draining.set()  # wakes _watch_drain (this may run in a signal handler)

    async def _watch_drain(self) -> None:
        """Once draining starts: tell the spells (``daemon.draining``), and at the end of the
        grace period stop the runs still in flight, so that their requests get their (stopped)
        results before the server closes the connections."""
        await self._draining.wait()
        try:  # resident spells may want to know (checkpoint, say goodbye)
            await self.publish(DRAINING, {"grace": self.settings.grace, "daemon": self.name})
        except Exception:  # the bus is closing: draining goes on regardless
            _log.warning("could not publish %s", DRAINING, exc_info=True)
        await anyio.sleep(max(0.0, self._deadline - time.monotonic()))
        if self.counters.runs_in_flight:
            _log.warning("grace period over: stopping %d runs", self.counters.runs_in_flight)
            self._stop_runs()

    def _stop_runs(self) -> None:
        if self._runtime is not None:
            for run_id in self._runtime.active_runs:
                self._runtime.stop(run_id)

    async def drain(self) -> None:
        """After :meth:`begin_drain`: wait for the runs in flight until the grace period ends,
        then stop those left."""
        self.begin_drain()
        with anyio.move_on_after(max(0.0, self._deadline - time.monotonic())):
            await self._idle.wait()
        self._stop_runs()
        with anyio.move_on_after(5.0):  # stopped runs record their end
            await self._idle.wait()

    # -- spells -----------------------------------------------------------------------------

    async def refresh(self, name: str) -> None:
        """Bring spell ``name`` in line with the directory: load, reload, or unload it."""
        async with self._refresh_lock:  # the watcher and the start-up scan may overlap
            await self._refresh(name)

    async def _refresh(self, name: str) -> None:
        catalog = self.catalog
        if not catalog.files_for(name):
            entry = catalog.entries.pop(name, None)
            if entry is not None:
                await self.residents.stop(name)
                _log.info("spell %s unloaded: its file is gone", name, extra={"spell": name})
                await self.publish(UNLOADED, {"spell": name})
            return
        entry = catalog.entry(name)
        try:
            version = catalog.load(name)
        except LoadError as exc:
            await self._load_failed(entry, str(exc))
            return
        old = entry.version
        if old is not None and old.digest == version.digest and old.config == version.config:
            return  # touched, not changed
        entry.version, entry.reload_failed = version, False
        if old is not None:
            entry.error = None
        _log.info(
            "spell %s %s (version %s)",
            name,
            "reloaded" if old else "loaded",
            version.digest,
            extra={"spell": name},
        )
        await self.publish(
            RELOADED if old else LOADED,
            {"spell": name, "version": version.digest, "file": version.path.name},
        )
        if version.config.resident:
            entry.restarts = 0
            await self.residents.start(entry, version)
        elif old is not None and old.config.resident:
            await self.residents.stop(name)
            entry.state = "ready"

    async def _load_failed(self, entry: Entry, error: str) -> None:
        entry.failed(error)
        entry.reload_failed = entry.version is not None
        serving = f"; version {entry.version.digest} keeps serving" if entry.version else ""
        _log.error("spell %s failed to load: %s%s", entry.name, error, serving)
        await self.publish(
            RELOAD_FAILED,
            {
                "spell": entry.name,
                "error": error,
                "serving": entry.version.digest if entry.version else None,
            },
        )

    # -- runs -------------------------------------------------------------------------------

    async def execute(
        self,
        version: Version,
        *,
        params: dict[str, Any],
        output: Output | None = None,
        log: LogSink | None = None,
        headers: Mapping[str, str] | None = None,
        resident: bool = False,
        run_id: str | None = None,
        origin: str = "http",
    ) -> RunResult:
        """Run ``version`` with its own limits and permissions; counted as in flight.
        ``origin`` says where the run came from (see :attr:`local_runs`)."""
        run_id = run_id or os.urandom(6).hex()
        self.local_runs[run_id] = "resident" if resident else origin
        counters = self.counters
        if not resident:
            counters.runs_in_flight += 1
            if counters.runs_in_flight == 1:
                self._idle = anyio.Event()
        try:
            return await self.runtime.run(
                version.spell,
                params=params,
                output=output,
                log=log or self.spell_log(version.name, run_id),
                limits=version.limits,
                permissions=version.permissions,
                run_id=run_id,
                resident=resident,
                headers=headers,
            )
        finally:
            self.local_runs.pop(run_id, None)
            if not resident:
                counters.runs_in_flight -= 1
                if counters.runs_in_flight == 0:
                    self._idle.set()

    def spell_log(self, spell: str, run_id: str) -> LogSink:
        """Where a run's ``log.*`` lines go: the ``llmspell.spell`` logger, with their fields."""

        def log(level: str, message: str, fields: dict[str, Any]) -> None:
            extra = {"spell": spell, "run_id": run_id, "fields": fields}
            _spell_log.log(_LEVELS.get(level, 20), "%s", message, extra=extra)

        return log

    async def publish(self, topic: str, payload: Any) -> int | None:
        """Publish on the daemon's bus; returns the event's sequence number when logged."""
        return await self.runtime.system.bus.publish(topic, payload)

    def bus_connected(self) -> bool:
        """Whether the bus can publish now (joined by NATS: whether it is connected)."""
        return self._runtime is not None and self._runtime.system.bus.connected

    def statistics(self) -> dict[str, Any]:
        data = dataclasses.asdict(self.counters)
        data["spells"] = len(self.catalog.entries)
        data["uptime"] = time.monotonic() - self._started
        data["daemon"] = self.name
        return data
