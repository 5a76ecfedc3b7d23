"""The actor system: root supervisor, registry, event bus and hooks, with a clean shutdown."""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable
from contextlib import AsyncExitStack
from types import TracebackType
from typing import TYPE_CHECKING, Any

import anyio
from anyio.abc import TaskGroup, TaskStatus

from ._actor import Actor
from ._backend import BusBackend
from ._bus import EventBus
from ._cell import Cell, RestartType
from ._envelope import CURRENT, Message
from ._exceptions import SystemClosedError, WouldBlock
from ._hooks import HookRegistry
from ._mailbox import Overflow
from ._names import EVENT_DEAD_LETTER, EVENT_HOOK_FAILED
from ._registry import Registry
from ._signal import Signal, clock_factory, signal_factory
from ._supervisor import Strategy, SupervisorCell, SupervisorRef
from ._timer import DeadlineTimer

if TYPE_CHECKING:
    from ._eventlog import EventLog
    from ._records import DeadLetter, SystemStatistics
    from ._ref import ActorRef

_NEW, _OPEN, _CLOSING, _CLOSED = "new", "open", "closing", "closed"


class ActorSystem:
    """Actors under a root supervisor, with a registry, an event bus and hooks.

    Use it as ``async with actors.open_system() as system:``. Leaving the block shuts it down:
    every actor drains its mailbox and stops, children before parents and in reverse start
    order; then the bus delivers what is pending and closes.

    Args:
        max_restarts: restarts of one top-level actor allowed within ``period`` seconds; past
            that the actor is stopped and ``actor.escalated`` is published.
        period: the intensity window of the root supervisor, in seconds.
        backoff: ``(initial, maximum)`` delay before restarting a top-level actor.
        shutdown_timeout: seconds an actor may take to stop before it is cancelled.
        dead_letter_history: how many recent dead letters :meth:`statistics` keeps.
        event_log: log the bus's events durably: an :class:`~actors.EventLog`, or the path of
            an SQLite file (an :class:`~actors.SqliteEventLog` with the default options). The
            system opens it on entry and closes it after the bus.
        bus_backend: carry the bus's events through this :class:`~actors.BusBackend` (e.g.
            :class:`actors.nats.NatsBackend`): they cross processes. Excludes ``event_log``.

    Attributes:
        bus: the :class:`~actors.EventBus` (the runtime publishes ``actor.*`` events on it).
        hooks: the :class:`~actors.HookRegistry` (handler errors publish
            ``hook.handler_failed``).
        registry: names → refs of this system.
    """

    def __init__(
        self,
        *,
        max_restarts: int = 3,
        period: float = 5.0,
        backoff: tuple[float, float] | None = None,
        shutdown_timeout: float = 5.0,
        dead_letter_history: int = 100,
        event_log: EventLog | str | os.PathLike[str] | None = None,
        bus_backend: BusBackend | None = None,
    ) -> None:
        if isinstance(event_log, str | os.PathLike):
            from ._sqlitelog import SqliteEventLog  # sqlite3 only when a log is wanted

            event_log = SqliteEventLog(event_log)
        self.bus = EventBus(event_log=event_log, backend=bus_backend)
        self.hooks = HookRegistry(on_handler_error=self._hook_failed)
        self.registry = Registry()
        self.shutdown_timeout = shutdown_timeout
        self.event_cls: Callable[[], anyio.Event] = anyio.Event
        self.new_signal: Callable[[], Signal] = anyio.Event  # type: ignore[assignment]
        self.timer = DeadlineTimer(anyio.Event)
        self._root_options = (max_restarts, period, backoff)
        self._root: SupervisorCell | None = None
        self._state = _NEW
        self._cells: set[Cell] = set()
        self._dead_letters = 0
        self._recent: deque[DeadLetter] = deque(maxlen=dead_letter_history)
        self._stack: AsyncExitStack | None = None
        self._tg: TaskGroup | None = None
        self._bus_open = False

    # -- lifecycle -------------------------------------------------------------------------

    async def __aenter__(self) -> ActorSystem:
        if self._state is not _NEW:
            raise RuntimeError("an ActorSystem can be entered only once")
        self.event_cls = type(anyio.Event())  # the backend's class: skips a dispatch per event
        self.new_signal = signal_factory()
        self.timer = DeadlineTimer(self.event_cls, clock_factory())
        self._release_bus = self.event_cls()
        self._bus_closed = self.event_cls()
        self._closed = self.event_cls()
        stack = AsyncExitStack()
        tg = self._tg = await stack.enter_async_context(anyio.create_task_group())
        try:
            await tg.start(self._run_bus)
            self._timer_scope = anyio.CancelScope()
            tg.start_soon(self._run_timer)
            max_restarts, period, backoff = self._root_options
            root = self._root = SupervisorCell(
                self, None, "root", "permanent", strategy="one_for_one",
                max_restarts=max_restarts, period=period, backoff=backoff, registered=False,
            )  # fmt: skip
            self._state = _OPEN
            await root.launch(tg)
        except BaseException:
            tg.cancel_scope.cancel()
            await stack.aclose()
            raise
        self._stack = stack
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        assert self._stack is not None
        if exc_type is None or issubclass(exc_type, Exception):
            try:
                await self.shutdown()
            except BaseException as error:  # cancelled while draining: still close the group
                if not await self._stack.__aexit__(type(error), error, error.__traceback__):
                    raise
                return None
            # The body's own error is not handed to the task group: it propagates as it is,
            # not wrapped in an exception group (our tasks are all done by now).
            await self._stack.__aexit__(None, None, None)
            return None
        # cancelled (or interrupted): no graceful drain; the task group cancels our tasks
        return await self._stack.__aexit__(exc_type, exc, tb)

    async def _run_bus(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        try:
            async with self.bus:
                self._bus_open = True
                task_status.started()
                await self._release_bus.wait()
                self._bus_open = False
        finally:
            self._bus_open = False
            self._bus_closed.set()

    async def _run_timer(self) -> None:
        with self._timer_scope:
            await self.timer.run()

    async def shutdown(self) -> None:
        """Stop every actor (draining mailboxes, reverse start order), then close the bus.

        Idempotent. Called from inside an actor it only starts the shutdown (an actor cannot
        wait for its own stop). Do not await it from a bus subscriber's handler: closing the bus
        waits for its handlers to finish.
        """
        if self._state is _NEW or self._state is _CLOSED:
            return
        inside = CURRENT.get() is not None
        if self._state is _CLOSING:
            if not inside:
                await self._closed.wait()
            return
        self._state = _CLOSING
        if inside:
            assert self._tg is not None
            self._tg.start_soon(self._shutdown)
        else:
            await self._shutdown()

    async def _shutdown(self) -> None:
        CURRENT.set(None)
        assert self._root is not None
        await self._root.stop()
        self._release_bus.set()
        await self._bus_closed.wait()
        self._timer_scope.cancel()
        self._state = _CLOSED
        self._closed.set()

    # -- spawning and lookup ---------------------------------------------------------------

    def _root_ref(self) -> SupervisorRef:
        self._check_open()
        assert self._root is not None
        return self._root.ref  # type: ignore[return-value]

    async def spawn(
        self,
        actor_class: Callable[..., Actor],
        /,
        *args: Any,
        name: str | None = None,
        restart: RestartType = "permanent",
        mailbox_size: int = 1000,
        overflow: Overflow = "wait",
        **kwargs: Any,
    ) -> ActorRef:
        """Start a top-level actor; see :meth:`SupervisorRef.spawn`."""
        return await self._root_ref().spawn(
            actor_class, *args, name=name, restart=restart,
            mailbox_size=mailbox_size, overflow=overflow, **kwargs,
        )  # fmt: skip

    async def spawn_supervisor(
        self,
        *,
        name: str | None = None,
        strategy: Strategy = "one_for_one",
        max_restarts: int = 3,
        period: float = 5.0,
        backoff: tuple[float, float] | None = None,
        restart: RestartType = "permanent",
    ) -> SupervisorRef:
        """Start a top-level supervisor; see :meth:`SupervisorRef.spawn_supervisor`."""
        return await self._root_ref().spawn_supervisor(
            name=name, strategy=strategy, max_restarts=max_restarts, period=period,
            backoff=backoff, restart=restart,
        )  # fmt: skip

    def lookup(self, name: str) -> ActorRef | None:
        """The actor (or supervisor) registered under ``name``, or ``None``."""
        return self.registry.lookup(name)

    def statistics(self) -> SystemStatistics:
        """A snapshot of the system's counters."""
        from ._records import SystemStatistics

        actors = [cell for cell in self._cells if not isinstance(cell, SupervisorCell)]
        return SystemStatistics(
            actors=len(actors),
            supervisors=len(self._cells) - len(actors),
            processed=sum(cell.processed for cell in actors),
            restarts=sum(cell.restarts for cell in self._cells),
            dead_letters=self._dead_letters,
            recent_dead_letters=tuple(self._recent),
        )

    # -- called by cells -------------------------------------------------------------------

    def _check_open(self) -> None:
        if self._state is not _OPEN:
            raise SystemClosedError(f"the actor system is {self._state}")

    def _register(self, cell: Cell) -> None:
        if cell.registered and cell.ref is not None:
            self.registry.register(cell.name, cell.ref)
        self._cells.add(cell)

    def _forget(self, cell: Cell) -> None:
        if cell.registered and cell.ref is not None:
            self.registry.unregister(cell.name, cell.ref)
        self._cells.discard(cell)

    def _publish(self, topic: str, payload: dict[str, Any]) -> None:
        """Publish a runtime event if the bus is open; never waits, never raises."""
        if self._bus_open:
            try:
                self.bus._publish_nowait(topic, payload, None, lenient=True)
            except (WouldBlock, SystemClosedError):
                pass  # a full blocking subscriber: runtime events are not worth blocking for

    def _dead_letter(self, recipient: str, message: Message, sender: ActorRef | None) -> None:
        from ._records import DeadLetter

        self._dead_letters += 1
        self._recent.append(DeadLetter(recipient, message, sender))
        self._publish(EVENT_DEAD_LETTER, {"actor": recipient, "message": message})

    def _hook_failed(self, point: str, error: BaseException, handler: str) -> None:
        payload = {"point": point, "error": repr(error), "handler": handler}
        self._publish(EVENT_HOOK_FAILED, payload)


def open_system(
    *,
    max_restarts: int = 3,
    period: float = 5.0,
    backoff: tuple[float, float] | None = None,
    shutdown_timeout: float = 5.0,
    dead_letter_history: int = 100,
    event_log: EventLog | str | os.PathLike[str] | None = None,
    bus_backend: BusBackend | None = None,
) -> ActorSystem:
    """Create an actor system, to be used as ``async with actors.open_system() as system:``.

    Args:
        max_restarts: see :class:`ActorSystem`.
        period: see :class:`ActorSystem`.
        backoff: see :class:`ActorSystem`.
        shutdown_timeout: see :class:`ActorSystem`.
        dead_letter_history: see :class:`ActorSystem`.
        event_log: see :class:`ActorSystem`.
        bus_backend: see :class:`ActorSystem`.
    """
    return ActorSystem(
        max_restarts=max_restarts, period=period, backoff=backoff,
        shutdown_timeout=shutdown_timeout, dead_letter_history=dead_letter_history,
        event_log=event_log, bus_backend=bus_backend,
    )  # fmt: skip
