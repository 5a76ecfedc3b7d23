"""Cells: the runtime state behind a ref (the message loop is in ``_actor_cell``).

A :class:`Cell` is one node of the supervision tree (an actor or a supervisor). It owns the
mailbox and the ref, both stable across restarts; each *incarnation* is one task in the parent
supervisor's task group, running ``_task``. When an incarnation ends the cell either finalizes
itself (explicitly stopped, or the root), stays quiet (its supervisor stopped it and is deciding),
or reports the exit to its supervisor, which applies its strategy.
"""

from __future__ import annotations

import logging
from collections import deque
from typing import TYPE_CHECKING, Any, Literal, TypeAlias

import anyio

from ._actor import Terminated
from ._envelope import CURRENT, DONE, PENDING, TIMED_OUT, Envelope, Message, Request
from ._exceptions import ActorDeadError, ActorError
from ._mailbox import Mailbox, Overflow
from ._names import EVENT_STOPPED
from ._ref import ActorRef
from ._signal import Signal
from ._timer import forget

if TYPE_CHECKING:
    from anyio.abc import TaskGroup

    from ._records import ActorStatistics
    from ._supervisor import SupervisorCell
    from ._system import ActorSystem
    from ._timer import Timed

RestartType: TypeAlias = Literal["permanent", "transient", "temporary"]
RESTART_TYPES: tuple[RestartType, ...] = ("permanent", "transient", "temporary")

_log = logging.getLogger("actors")
IDLE: Any = object()  # cell.current between messages


class _StopDeadline:
    """When a halted incarnation that is still running gets cancelled (on the system's timer)."""

    __slots__ = ("cell", "deadline", "scope", "state", "timer_queue")

    def __init__(self, cell: Cell, scope: anyio.CancelScope) -> None:
        self.cell, self.scope = cell, scope
        self.state = PENDING  # DONE once the incarnation ended (see Cell._end)
        self.deadline: float  # set by DeadlineTimer.add
        self.timer_queue: deque[Timed] | None = None  # add's result, for forget()

    def time_out(self) -> None:
        self.state = TIMED_OUT
        cell = self.cell
        _log.warning(
            "actor %r did not stop in %s s; cancelling it", cell.name, cell.shutdown_timeout
        )
        self.scope.cancel()


class Cell:
    """A node of the supervision tree (base of actor and supervisor cells)."""

    __slots__ = (
        "_deadline",
        "_exit_waiters",
        "_scope",
        "_start_error",
        "_started",
        "alive",
        "current",
        "error",
        "event_cls",
        "failed",
        "halt",
        "halt_now",
        "incarnation",
        "mailbox",
        "name",
        "new_signal",
        "parent",
        "parent_stopping",
        "processed",
        "reason",
        "ref",
        "registered",
        "removed",
        "restart",
        "restart_times",
        "restarts",
        "running",
        "shutdown_timeout",
        "system",
        "timer",
        "watchers",
        "watching",
    )

    def __init__(
        self,
        system: ActorSystem,
        parent: SupervisorCell | None,
        name: str,
        restart: RestartType,
        mailbox_size: int,
        overflow: Overflow,
        *,
        registered: bool,
    ) -> None:
        if restart not in RESTART_TYPES:
            raise ValueError(f"restart must be one of {RESTART_TYPES}, not {restart!r}")
        self.system, self.parent, self.name, self.restart = system, parent, name, restart
        self.registered = registered
        self.event_cls = system.event_cls
        self.new_signal = system.new_signal
        self.timer = system.timer
        self.shutdown_timeout: float | None = system.shutdown_timeout
        self.mailbox = Mailbox(mailbox_size, overflow, self.new_signal, self.event_cls, name)
        # None once stopped for good (see finalize): the ref points back here
        self.ref: ActorRef | None = self._make_ref()
        self.current: Message = IDLE
        self.alive, self.running, self.removed, self.parent_stopping = True, False, False, False
        self.halt = self.halt_now = False
        self.incarnation = self.processed = self.failed = self.restarts = 0
        # Created when first needed: most actors never restart, watch or get watched, and
        # with thousands of live actors every object each one holds adds to the GC's work.
        self.restart_times: deque[float] | None = None
        self.watchers: set[Cell] | None = None
        self.watching: set[Cell] | None = None
        self.reason: str | None = None
        self.error: BaseException | None = None
        # Per incarnation (set by ``launch``): its cancel scope, the signal ``launch`` waits
        # on (``None`` once on_start is through), and, only once someone waits for it to
        # end, their signals and the deadline past which it is cancelled (halt_and_wait).
        self._scope: anyio.CancelScope | None = None
        self._started: Signal | None = None
        self._exit_waiters: list[Signal] | None = None
        self._deadline: _StopDeadline | None = None
        self._start_error: BaseException | None = None

    def _make_ref(self) -> ActorRef:
        return ActorRef(self)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}>"

    # -- incarnations ----------------------------------------------------------------------

    async def launch(self, tg: TaskGroup) -> BaseException | None:
        """Start a new incarnation in ``tg``; wait until it has started (or failed to)."""
        self.incarnation += 1
        self.running = True
        self.halt = self.halt_now = self.parent_stopping = False
        # A loop future on asyncio: cheaper than an event, and only this task waits on it.
        started = self._started = self.new_signal()
        self._scope = anyio.CancelScope()  # made here: a stop may cancel it before it runs
        self._exit_waiters = self._deadline = None
        self._start_error = None
        tg.start_soon(self._task, self.incarnation, name=f"actor {self.name}")
        await started
        return self._start_error

    def _set_started(self) -> None:
        """``on_start`` is through: wake ``launch`` (unless its caller gave up waiting)."""
        started = self._started
        self._started = None
        if started is not None and not started.done():
            started.set_result(None)

    async def _task(self, incarnation: int) -> None:
        """The incarnation's task: ``_body`` inside the incarnation's cancel scope."""
        CURRENT.set(self)
        reason, error = "killed", None
        scope = self._scope
        assert scope is not None
        try:
            with scope:
                reason, error = await self._body()
        finally:
            self._finish(incarnation, reason, error)

    async def _body(self) -> tuple[str, BaseException | None]:
        raise NotImplementedError

    def _finish(self, incarnation: int, reason: str, error: BaseException | None) -> None:
        """The incarnation's task is ending (however it ends)."""
        self._scope = None
        current = self.current
        if type(current) is Request:  # cancelled while handling an ask: answer it
            current.fail(ActorDeadError(f"actor {self.name!r} stopped while handling it"))
        self.current = IDLE
        self._end(incarnation, reason, error)

    def _end(self, incarnation: int, reason: str, error: BaseException | None) -> None:
        """An incarnation ended: finalize, stay quiet, or tell the supervisor (sync only)."""
        self.running = False
        if self._started is not None:  # it never got through on_start
            self._start_error = error or ActorError(f"actor {self.name!r} did not start")
            self._set_started()
            if incarnation == 1:  # spawn() raises; nobody restarts it
                self.finalize("failed", error)
        if not self.alive:
            pass
        elif self.removed or self.parent is None:
            self.finalize("failed" if reason == "failed" else "stopped", error)
        elif not self.parent_stopping:
            self.parent.child_exited(self, incarnation, reason, error)
        self.error = error
        deadline = self._deadline
        if deadline is not None:
            self._deadline = None
            if deadline.state == PENDING:
                deadline.state = DONE
            if deadline.timer_queue is not None:
                forget(deadline.timer_queue)
        waiters = self._exit_waiters
        if waiters is not None:
            self._exit_waiters = None
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_result(None)

    def request_halt(self, *, drain: bool) -> None:
        """Ask the running incarnation to end: after the current message, or once empty."""
        self.halt = True
        if not drain:
            self.halt_now = True
        self.mailbox.wake()

    async def halt_and_wait(self, *, drain: bool) -> None:
        """Halt the incarnation and wait for it; cancel it if it takes too long.

        The timeout is a deadline on the system's timer, not a ``move_on_after`` around the
        wait: a cancel scope with a deadline (and the loop timer behind it) was a third of the
        cost of stopping an idle actor. The deadline holds even if this waiter is cancelled.
        Each waiter sleeps on its own signal (a loop future on asyncio, cheaper than an
        event): a cancelled waiter cancels its future, which must not wake the others.
        """
        exited = self.new_signal()
        if self._exit_waiters is None:
            self._exit_waiters = [exited]
        else:
            self._exit_waiters.append(exited)
        self.request_halt(drain=drain)
        timeout, scope = self.shutdown_timeout, self._scope
        if self._deadline is None and timeout is not None and scope is not None:
            deadline = self._deadline = _StopDeadline(self, scope)
            deadline.timer_queue = self.timer.add(deadline, timeout)
        await exited

    async def stop(self) -> None:
        """Stop for good: drain the mailbox, end the incarnation, never restart."""
        if not self.alive:
            return
        self.removed = True
        self.mailbox.close()
        if not self.running:
            self.finalize("stopped")
        elif self._is_caller():
            self.request_halt(drain=True)  # we cannot wait for ourselves
        else:
            await self.halt_and_wait(drain=True)

    def _is_caller(self) -> bool:
        """Whether the current task is this cell's or one of its descendants'."""
        cell: Cell | None = CURRENT.get()
        while cell is not None:
            if cell is self:
                return True
            cell = cell.parent
        return False

    def finalize(self, reason: str, error: BaseException | None = None) -> None:
        """Stopped for good: dead-letter the mailbox, notify watchers, unregister; then let go
        of the ref (which points back here), so that the finished cell is freed when the
        last ref to it goes, not left to the cyclic GC."""
        ref = self.ref
        if not self.alive or ref is None:
            return
        self.alive = False
        self.reason, self.error = reason, error
        self.mailbox.close()
        for item in self.mailbox.take_all():
            self.dead_letter(item)
        self.system._forget(self)
        if self.watchers:
            notice = Terminated(ref, reason, error)
            for watcher in self.watchers:
                if watcher.watching is not None:
                    watcher.watching.discard(self)
                watcher.mailbox.force(notice)
            self.watchers = None
        if self.watching:
            for target in self.watching:
                if target.watchers is not None:
                    target.watchers.discard(self)
            self.watching = None
        if self.parent is not None:  # the root is an implementation detail
            self.parent.children.pop(self, None)
            self.system._publish(EVENT_STOPPED, {"actor": self.name, "reason": reason})
        self.ref = None

    def dead_letter(self, item: Message) -> None:
        """An undeliverable item: an ask fails at once, anything else goes to dead letters."""
        cls = type(item)
        if cls is Request:
            item.fail(ActorDeadError(f"actor {self.name!r} stopped before handling the request"))
        elif cls is Envelope:
            self.system._dead_letter(self.name, item.message, item.sender)
        else:
            self.system._dead_letter(self.name, item, None)

    # -- monitors and introspection --------------------------------------------------------

    def watch(self, ref: ActorRef) -> None:
        """Deliver ``Terminated`` to this cell when ``ref``'s cell stops for good."""
        target = ref._cell
        if target is self:
            return
        if not target.alive:
            self.mailbox.force(Terminated(ref, target.reason or "stopped", target.error))
            return
        if target.watchers is None:
            target.watchers = set()
        if self.watching is None:
            self.watching = set()
        target.watchers.add(self)
        self.watching.add(target)

    def unwatch(self, ref: ActorRef) -> None:
        """Stop watching ``ref``."""
        target = ref._cell
        if target.watchers is not None:
            target.watchers.discard(self)
        if self.watching is not None:
            self.watching.discard(target)

    def envelope(self) -> Envelope | None:
        """The envelope of the current message (a bare message is wrapped on first access)."""
        current = self.current
        if current is IDLE:
            return None
        if type(current) is Envelope or type(current) is Request:
            return current
        envelope = self.current = Envelope(current)
        return envelope

    def statistics(self) -> ActorStatistics:
        """A snapshot of the counters."""
        from ._records import ActorStatistics

        mailbox = self.mailbox
        return ActorStatistics(
            self.name,
            self.alive,
            len(mailbox.queue),
            mailbox.capacity,
            self.processed,
            self.failed,
            self.restarts,
            mailbox.dropped,
        )
