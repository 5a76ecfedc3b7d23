"""One-shot wake-ups for the message hot path.

A sleeping actor and a caller waiting for an ask's reply each need a one-shot "wake me" object.
``anyio.Event`` wraps the backend's event, which on asyncio creates a future on every wait
anyway: a bare ping-pong measured 139k round trips/s with anyio events against 244k with the
loop's own futures. So, on an asyncio loop (found through ``anyio.lowlevel.current_token()``,
without importing asyncio) a signal *is* a loop future; on any other backend (trio) it is an
``anyio.Event`` adapted to the same three operations:

* ``signal.done()``: already set (or cancelled);
* ``signal.set_result(None)``: wake the waiter (only if not ``done()``);
* ``await signal``: sleep until set (cancellable like any wait).

A thread outside the loop that waits for an ask's reply (the blocking facade of
``start_in_thread``) sleeps on a :class:`ThreadWakeup` instead: the same first two operations
(called on the loop's thread), and a blocking :meth:`ThreadWakeup.wait`.

:func:`clock_factory` likewise returns the clock ``anyio.current_time()`` reads without its
layers of dispatch: ``time.monotonic`` on asyncio's own loops (their ``time()`` is exactly
that), the loop's ``time`` on other asyncio loops, and ``anyio.current_time`` elsewhere.
"""

from __future__ import annotations

import time
from _thread import allocate_lock
from collections.abc import Callable, Generator
from typing import Any, Protocol, cast

import anyio
import anyio.lowlevel


class Wakeup(Protocol):
    """What the waking side of a one-shot wake-up uses (on the loop's thread)."""

    def done(self) -> bool: ...

    def set_result(self, result: None, /) -> None: ...


class Signal(Wakeup, Protocol):
    """A one-shot wake-up that a task awaits."""

    def __await__(self) -> Generator[Any, Any, Any]: ...


class ThreadWakeup:
    """A one-shot wake-up for a thread outside the loop: a lock, held until set.

    ``set_result`` runs on the loop's thread (like every change to a request); the waiting
    thread blocks in :meth:`wait` with the GIL released.
    """

    __slots__ = ("_lock", "_set")

    def __init__(self) -> None:
        self._lock = allocate_lock()
        self._lock.acquire()
        self._set = False

    def done(self) -> bool:
        return self._set

    def set_result(self, result: None, /) -> None:
        if not self._set:
            self._set = True
            self._lock.release()

    def wait(self, poll: float, is_running: Callable[[], bool]) -> bool:
        """Block until set, or until ``is_running()`` is false (a stopped loop sets nothing).

        Returns:
            Whether it was set. ``is_running`` is checked every ``poll`` seconds.
        """
        lock = self._lock
        while not lock.acquire(timeout=poll):
            if not is_running():
                return lock.acquire(blocking=False)
        return True


def signal_factory() -> Callable[[], Signal]:
    """Return the fastest signal constructor for the running event loop.

    On asyncio's own loops ``create_future()`` is ``Future(loop=self)`` written in Python.
    Signals are only made on the loop's thread while it runs, where ``Future()`` takes that
    same running loop: the same future, without the frame (two per ``ask``) or the keyword
    arguments. Other asyncio loops keep their own ``create_future``.
    """
    loop = anyio.lowlevel.current_token().native_token
    create_future: Callable[[], object] | None = getattr(loop, "create_future", None)
    if create_future is not None:
        if _is_asyncio_own(loop, "create_future"):
            future_cls: Callable[[], Signal] = type(create_future())  # type: ignore[assignment]
            return future_cls
        return cast("Callable[[], Signal]", create_future)
    event_cls: Any = type(anyio.Event())

    class EventSignal(event_cls):  # type: ignore[misc]
        __slots__ = ()

        def done(self) -> bool:
            return bool(self.is_set())

        def set_result(self, result: None, /) -> None:
            self.set()

        def __await__(self) -> Generator[Any, Any, Any]:
            return self.wait().__await__()  # type: ignore[no-any-return]

    return cast("Callable[[], Signal]", EventSignal)


def thread_call_in() -> Callable[..., object]:
    """Return how another thread runs ``fn(*args)`` soon on the running event loop's thread.

    ``loop.call_soon_threadsafe`` on asyncio, ``TrioToken.run_sync_soon`` on trio; both are
    thread-safe and raise ``RuntimeError`` once the loop has finished.
    """
    native: Any = anyio.lowlevel.current_token().native_token
    call_in: Callable[..., object] | None = getattr(native, "call_soon_threadsafe", None)
    return call_in if call_in is not None else native.run_sync_soon


def clock_factory() -> Callable[[], float]:
    """Return the fastest way to read the running event loop's clock.

    asyncio's own loops define ``time()`` as ``time.monotonic()``: calling that directly skips
    a Python-level method call (a fifth of the deadline bookkeeping of an ``ask``). A loop
    that overrides ``time()`` (uvloop, a virtual-time test loop) is read through it.
    """
    loop = anyio.lowlevel.current_token().native_token
    loop_time = getattr(loop, "time", None)
    if callable(getattr(loop, "create_future", None)) and callable(loop_time):
        if _is_asyncio_own(loop, "time"):
            return time.monotonic
        return cast("Callable[[], float]", loop_time)
    return anyio.current_time


def _is_asyncio_own(loop: object, name: str) -> bool:
    """Whether ``loop``'s method ``name`` is the one of asyncio's ``BaseEventLoop``."""
    method = getattr(type(loop), name, None)
    where = (getattr(method, "__module__", None), getattr(method, "__qualname__", None))
    return where == ("asyncio.base_events", f"BaseEventLoop.{name}")
