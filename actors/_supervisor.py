"""Supervisors (Erlang/OTP semantics) and :class:`SupervisorRef`.

A supervisor owns children (actors or supervisors), started in order and stopped in reverse
order, each in the supervisor's task group. When a child's incarnation ends by itself, the
supervisor decides, one exit at a time:

* restart type: ``"permanent"`` children are always restarted, ``"transient"`` ones only after
  an abnormal exit (a crash), ``"temporary"`` ones never;
* strategy: ``"one_for_one"`` restarts the child alone, ``"one_for_all"`` stops the others
  (reverse order) and restarts them all (in order), ``"rest_for_one"`` does that for the child
  and those started after it;
* intensity: more than ``max_restarts`` restarts within ``period`` seconds and the supervisor
  gives up: it stops its children (reverse order) and fails with :class:`SupervisorError`,
  which its own supervisor handles like any child exit (restarting a supervisor starts its
  children afresh);
* backoff: optionally, restarts wait ``initial * 2**(n-1)`` seconds (at most ``maximum``), ``n``
  being the restarts within the current period.

The root supervisor of a system never fails: it restarts top-level children one for one with an
intensity counted per child, and a child that exceeds it, or a top-level supervisor that gives
up, is stopped for good and ``actor.escalated`` is published.
"""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal, TypeAlias

import anyio

from ._actor import Actor
from ._actor_cell import ActorCell
from ._cell import Cell, RestartType
from ._envelope import Message, Request
from ._exceptions import ActorDeadError, ActorError, SupervisorError
from ._mailbox import Overflow
from ._names import EVENT_ESCALATED, EVENT_FAILED, EVENT_RESTARTED
from ._ref import ActorRef

if TYPE_CHECKING:
    from anyio.abc import TaskGroup

    from ._system import ActorSystem

Strategy: TypeAlias = Literal["one_for_one", "one_for_all", "rest_for_one"]
STRATEGIES: tuple[Strategy, ...] = ("one_for_one", "one_for_all", "rest_for_one")
_anonymous = itertools.count(1)


class _ChildExited:
    __slots__ = ("child", "error", "incarnation", "reason")

    def __init__(self, child: Cell, incarnation: int, reason: str, error: BaseException | None):
        self.child, self.incarnation, self.reason, self.error = child, incarnation, reason, error


class _RestartDue:
    __slots__ = ("children", "error")

    def __init__(self, children: list[Cell], error: BaseException | None) -> None:
        self.children, self.error = children, error


class SupervisorCell(Cell):
    """The cell of a supervisor: its incarnation owns the children's task group."""

    __slots__ = ("backoff", "children", "max_restarts", "period", "strategy", "tg")

    def __init__(
        self,
        system: ActorSystem,
        parent: SupervisorCell | None,
        name: str,
        restart: RestartType,
        *,
        strategy: Strategy,
        max_restarts: int,
        period: float,
        backoff: tuple[float, float] | None,
        registered: bool,
    ) -> None:
        if strategy not in STRATEGIES:
            raise ValueError(f"strategy must be one of {STRATEGIES}, not {strategy!r}")
        if max_restarts < 0 or period <= 0:
            raise ValueError("max_restarts must be >= 0 and period > 0")
        super().__init__(system, parent, name, restart, 1000, "raise", registered=registered)
        self.shutdown_timeout = None  # a supervisor takes as long as its children need
        self.strategy, self.max_restarts, self.period = strategy, max_restarts, period
        self.backoff = backoff
        # The live children in start order (a dict: a child leaves in O(1) when finalized).
        self.children: dict[Cell, None] = {}
        self.tg: TaskGroup | None = None

    def _make_ref(self) -> SupervisorRef:
        return SupervisorRef(self)

    # -- the incarnation -------------------------------------------------------------------

    async def _body(self) -> tuple[str, BaseException | None]:
        error: Exception | None = None
        async with anyio.create_task_group() as tg:
            self.tg = tg
            self.restart_times = None
            for child in self._live():  # a restarted supervisor starts its children afresh
                if not child.running:
                    await self._relaunch(child, self.error)
            self._set_started()
            try:
                await self._control()
            except Exception as exc:
                error = exc
            if self.removed:
                await self._stop_children()
            else:
                await self._halt_children()
            tg.cancel_scope.cancel()  # pending backoff timers
        self.tg = None
        if error is None:
            return "normal", None
        self.failed += 1
        self.system._publish(EVENT_FAILED, {"actor": self.name, "error": repr(error)})
        return "failed", error

    async def _control(self) -> None:
        mailbox = self.mailbox
        queue = mailbox.queue
        while True:
            if self.halt:
                return
            if not queue:
                await mailbox.wait()
                continue
            item = queue.popleft()
            mailbox.wake_putter()
            cls = type(item)
            if cls is _ChildExited:
                await self._on_exit(item)
            elif cls is _RestartDue:
                await self._restart(item.children, item.error)
            elif cls is Request:
                item.fail(ActorError(f"{self.name!r} is a supervisor; it answers no messages"))
            else:
                self.dead_letter(item)

    def child_exited(
        self, child: Cell, incarnation: int, reason: str, error: BaseException | None
    ) -> None:
        """Called (synchronously) by a child whose incarnation ended by itself."""
        self.mailbox.force(_ChildExited(child, incarnation, reason, error))

    async def _on_exit(self, exit: _ChildExited) -> None:
        child, error = exit.child, exit.error
        if not child.alive or child.running or child.incarnation != exit.incarnation:
            return  # stale: already restarted or gone
        if child.removed:
            child.finalize("stopped", error)
            return
        if self.parent is None and isinstance(error, SupervisorError):
            self._give_up(child, error)
            return
        failed = exit.reason != "normal"
        if child.restart == "temporary" or (child.restart == "transient" and not failed):
            child.finalize(exit.reason, error)
            return
        owner = child if self.parent is None else self  # the root counts per child
        times = owner.restart_times
        if times is None:
            times = owner.restart_times = deque()
        now = anyio.current_time()
        times.append(now)
        while times[0] <= now - self.period:
            times.popleft()
        if len(times) > self.max_restarts:
            if self.parent is None:
                self._give_up(child, error)
                return
            raise SupervisorError(
                f"supervisor {self.name!r} gave up: more than {self.max_restarts} restarts "
                f"within {self.period} s (last: {child.name!r}, {error!r})"
            ) from error
        targets = self._targets(child)
        for sibling in reversed(targets):
            if sibling is not child and sibling.running:
                sibling.parent_stopping = True
                await sibling.halt_and_wait(drain=False)
        delay = 0.0
        if self.backoff is not None:
            initial, maximum = self.backoff
            delay = min(maximum, initial * 2 ** (len(times) - 1))
        if delay > 0 and self.tg is not None:
            self.tg.start_soon(self._restart_later, targets, error, delay)
        else:
            await self._restart(targets, error)

    def _targets(self, child: Cell) -> list[Cell]:
        live = self._live()
        if self.strategy == "one_for_all" and self.parent is not None:
            return live
        if self.strategy == "rest_for_one" and self.parent is not None:
            return live[live.index(child) :]
        return [child]

    def _give_up(self, child: Cell, error: BaseException | None) -> None:
        child.finalize("escalated", error)
        self.system._publish(EVENT_ESCALATED, {"actor": child.name, "error": repr(error)})

    async def _restart_later(
        self, targets: list[Cell], error: BaseException | None, delay: float
    ) -> None:
        await anyio.sleep(delay)
        self.mailbox.force(_RestartDue(targets, error))

    async def _restart(self, targets: list[Cell], error: BaseException | None) -> None:
        for child in targets:
            if not child.alive or child.running:
                continue
            if child.removed or child.restart == "temporary":
                child.finalize("stopped")
                continue
            await self._relaunch(child, error)

    async def _relaunch(self, child: Cell, error: BaseException | None) -> None:
        assert self.tg is not None
        if child.incarnation:
            child.restarts += 1
        await child.launch(self.tg)
        if child.incarnation > 1:
            payload = {"actor": child.name, "error": repr(error), "restarts": child.restarts}
            self.system._publish(EVENT_RESTARTED, payload)

    async def _halt_children(self) -> None:
        for child in reversed(self._live()):
            if child.running:
                child.parent_stopping = True
                await child.halt_and_wait(drain=False)

    async def _stop_children(self) -> None:
        for child in reversed(self._live()):
            await child.stop()
        self.children.clear()

    def finalize(self, reason: str, error: BaseException | None = None) -> None:
        """Stopped for good, with every child (they are not running any more)."""
        if not self.alive:
            return
        for child in reversed(self._live()):
            child.finalize("stopped")
        self.children.clear()
        super().finalize(reason, error)

    def dead_letter(self, item: Message) -> None:
        """Drop leftover control messages; anything else is a dead letter."""
        if type(item) not in (_ChildExited, _RestartDue):
            super().dead_letter(item)

    def _live(self) -> list[Cell]:
        return list(self.children)

    # -- spawning --------------------------------------------------------------------------

    async def add(self, child: Cell) -> None:
        """Add and start a new child; raise what its first ``on_start`` raised."""
        self.system._check_open()
        if not self.alive or self.removed:
            raise ActorDeadError(f"supervisor {self.name!r} is stopped")
        self.system._register(child)
        self.children[child] = None
        if self.running and self.tg is not None:
            error = await child.launch(self.tg)
            if error is not None:
                raise error


class SupervisorRef(ActorRef):
    """A handle on a supervisor: spawn children under it, list them, stop it.

    Supervisors answer no messages (``ask`` fails, ``tell`` goes to dead letters).
    """

    __slots__ = ()

    _cell: SupervisorCell

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
        """Start an actor under this supervisor and return its ref once ``on_start`` is done.

        Args:
            actor_class: an :class:`~actors.Actor` subclass (or any callable returning an
                actor), called with ``*args`` and ``**kwargs`` for every (re)start.
            name: registers the actor under this name (unique in the system).
            restart: ``"permanent"`` (default), ``"transient"`` or ``"temporary"``.
            mailbox_size: mailbox capacity.
            overflow: ``"wait"``, ``"raise"``, ``"drop_newest"`` or ``"drop_oldest"``.

        Raises:
            NameTakenError: ``name`` is in use.
            SystemClosedError: the system is shut down.
            Exception: whatever the first ``on_start`` raised (the actor is then discarded).
        """
        cell = self._cell
        label = name or f"{getattr(actor_class, '__name__', 'actor')}-{next(_anonymous)}"
        child = ActorCell(
            cell.system, cell, label, restart, mailbox_size, overflow,
            actor_class, args, kwargs, registered=name is not None,
        )  # fmt: skip
        ref = child.ref  # (taken first: an actor that stops in on_start lets go of it)
        assert ref is not None
        await cell.add(child)
        return ref

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
        """Start a child supervisor (see the module docs for the parameters' meaning).

        Args:
            name: registers the supervisor under this name.
            strategy: ``"one_for_one"``, ``"one_for_all"`` or ``"rest_for_one"``.
            max_restarts: restarts allowed within ``period`` seconds before giving up.
            period: the intensity window, in seconds.
            backoff: ``(initial, maximum)`` delay before restarts, doubling each time.
            restart: its own restart type under this supervisor.
        """
        cell = self._cell
        child = SupervisorCell(
            cell.system, cell, name or f"supervisor-{next(_anonymous)}", restart,
            strategy=strategy, max_restarts=max_restarts, period=period, backoff=backoff,
            registered=name is not None,
        )  # fmt: skip
        ref = child.ref  # (taken first, as in spawn)
        await cell.add(child)
        return ref  # type: ignore[return-value]

    @property
    def strategy(self) -> Strategy:
        """The restart strategy."""
        return self._cell.strategy

    def children(self) -> list[ActorRef]:
        """The children alive now, in start order."""
        return [child.ref for child in self._cell._live() if child.ref is not None]
