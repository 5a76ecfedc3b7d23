"""The cell of a user actor: its instances' lifecycle and the message loop (the hot path)."""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import anyio.lowlevel

from ._actor import Actor, ActorContext
from ._cell import IDLE, Cell, RestartType
from ._envelope import CURRENT, DONE, PENDING, Envelope, Request
from ._exceptions import ESCAPES, escaped
from ._mailbox import Overflow
from ._names import (
    EVENT_FAILED,
    EVENT_STARTED,
    HOOK_AFTER_STOP,
    HOOK_BEFORE_START,
    HOOK_ON_FAILURE,
)

if TYPE_CHECKING:
    from ._supervisor import SupervisorCell
    from ._system import ActorSystem

_log = logging.getLogger("actors")
_BURST = 512  # messages handled without a suspension before yielding to other tasks


async def _call(method: Callable[..., Any], *args: Any) -> Any:
    """Call a lifecycle method that may be sync or async."""
    result = method(*args)
    if inspect.isawaitable(result):
        result = await result
    return result


class ActorCell(Cell):
    """The cell of a user actor: creates instances and runs the message loop."""

    __slots__ = ("args", "factory", "instance", "kwargs")

    def __init__(
        self,
        system: ActorSystem,
        parent: SupervisorCell,
        name: str,
        restart: RestartType,
        mailbox_size: int,
        overflow: Overflow,
        factory: Callable[..., Actor],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        *,
        registered: bool,
    ) -> None:
        super().__init__(
            system, parent, name, restart, mailbox_size, overflow, registered=registered
        )
        self.factory, self.args, self.kwargs = factory, args, kwargs
        self.instance: Actor | None = None

    async def _task(self, incarnation: int) -> None:
        """The incarnation's task: start an instance, handle messages until halted, stop.

        The message loop is written out here, not in a coroutine of its own: each coroutine
        between the task and the ``await`` the actor sleeps on is resumed and suspended again
        on every wake-up, a cost paid per message (two such levels were 1.6% of an ``ask``).
        """
        CURRENT.set(self)
        reason, error = "killed", None
        scope = self._scope
        assert scope is not None
        try:
            with scope:
                instance = await self._start()
                if isinstance(instance, Exception):
                    reason, error = "failed", instance
                    return
                mailbox = self.mailbox
                queue = mailbox.queue
                popleft = queue.popleft
                new_signal = self.new_signal
                receive = instance.on_receive
                is_async = inspect.iscoroutinefunction(receive)
                burst = 0
                try:
                    while True:  # the hot path: one message at a time, in order
                        if not queue:
                            if self.halt:
                                break
                            self.current = IDLE
                            burst = 0
                            waiter = mailbox.waiter = new_signal()
                            await waiter
                            continue
                        if self.halt_now:
                            break
                        item = popleft()
                        if mailbox.putters:
                            mailbox.wake_putter()
                        self.current = item
                        cls = type(item)
                        if cls is Request:
                            try:
                                result = receive(item.message)
                                if is_async:
                                    result = await result
                            except Exception as exc:
                                self.failed += 1
                                item.fail(exc)
                            else:  # item.resolve(result), inlined
                                if item.state == PENDING:
                                    item.state = DONE
                                    item.value = result
                                    try:
                                        item.event.set_result(None)
                                    except Exception:  # cancelled, the asker is not told yet
                                        if not item.event.done():
                                            raise
                        elif is_async:
                            await receive(item.message if cls is Envelope else item)
                        else:
                            receive(item.message if cls is Envelope else item)
                        self.processed += 1
                        burst += 1
                        if burst >= _BURST:
                            burst = 0
                            await anyio.lowlevel.checkpoint()
                except Exception as exc:
                    await self._crashed(instance, exc, started=True)
                    reason, error = "failed", exc
                except ESCAPES as escape:
                    failure = escaped(self.name, escape)
                    if type(self.current) is Request:
                        self.current.fail(failure)
                    await self._crashed(instance, failure, started=True)
                    reason, error = "failed", failure
                else:
                    await self._stopped(instance)
                    reason, error = "normal", None
        finally:
            self._finish(incarnation, reason, error)

    async def _start(self) -> Actor | Exception:
        """Create the instance and run ``on_start``; the error if that failed (reported)."""
        instance = None
        hooks = self.system.hooks
        try:
            if hooks.has_handlers(HOOK_BEFORE_START):
                await hooks.run(HOOK_BEFORE_START, self.ref, {"actor": self.name})
            instance = self.factory(*self.args, **self.kwargs)
            if not isinstance(instance, Actor):
                raise TypeError(f"{self.factory!r} returned {instance!r}, not an Actor")
            # (the instance's, not kept here as well: the cell would point to its context and
            # the context back to it, a cycle only the cyclic GC frees)
            instance.context = ActorContext(self)
            self.instance = instance
            await _call(instance.on_start)
        except Exception as exc:
            await self._crashed(instance, exc, started=False)
            return exc
        except ESCAPES as escape:
            failure = escaped(self.name, escape)
            await self._crashed(instance, failure, started=False)
            return failure
        self._set_started()
        if self.incarnation == 1:
            self.system._publish(EVENT_STARTED, {"actor": self.name})
        return instance

    async def _crashed(self, instance: Actor | None, exc: Exception, *, started: bool) -> None:
        self.failed += 1
        _log.error("actor %r crashed", self.name, exc_info=exc)
        self.system._publish(EVENT_FAILED, {"actor": self.name, "error": repr(exc)})
        hooks = self.system.hooks
        try:
            if hooks.has_handlers(HOOK_ON_FAILURE):
                await hooks.run(HOOK_ON_FAILURE, exc, {"actor": self.name})
            if instance is not None:
                await _call(instance.on_failure, exc)
        except (Exception, *ESCAPES):
            _log.exception("on_failure of actor %r failed", self.name)
        if started and instance is not None:
            await self._stopped(instance)
        self.instance = None  # (nor a failed instance: it points back here through its context)

    async def _stopped(self, instance: Actor) -> None:
        hooks = self.system.hooks
        try:
            await _call(instance.on_stop)
            if hooks.has_handlers(HOOK_AFTER_STOP):
                await hooks.run(HOOK_AFTER_STOP, self.ref, {"actor": self.name})
        except (Exception, *ESCAPES):
            _log.exception("on_stop of actor %r failed", self.name)
        self.instance = None
