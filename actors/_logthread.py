"""A thread of its own for a log's writes: calls run there in order, one wake-up per call.

``anyio.to_thread.run_sync`` borrows a worker from a pool on every call: it finds or starts an
idle worker, hands it the call through a queue, and wakes the caller through the backend's
thread-safe call-in. :class:`WriterThread` keeps one thread for the life of the log, fed by a
:class:`queue.SimpleQueue`, and wakes the caller with one loop call-in
(``loop.call_soon_threadsafe`` on asyncio, ``TrioToken.run_sync_soon`` on trio, both reached
through ``anyio.lowlevel.current_token()``). One thread also keeps a connection to one thread,
and the writes in the order they were asked for.

The caller's wait is shielded, as ``to_thread.run_sync`` shields it: a call that started runs
to its end and its caller learns the outcome (a commit is never left unreported).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from queue import SimpleQueue
from typing import Any, Generic, TypeVar

import anyio
import anyio.to_thread

from ._signal import Signal, signal_factory, thread_call_in

__all__ = ["WriterThread"]

T = TypeVar("T")


class _Call(Generic[T]):
    """One call: the function, then its result or error, and its caller's wake-up."""

    __slots__ = ("error", "fn", "signal", "value")

    def __init__(self, fn: Callable[[], T], signal: Signal) -> None:
        self.fn, self.signal = fn, signal
        self.value: T | None = None
        self.error: BaseException | None = None


def _settle(signal: Signal) -> None:
    if not signal.done():
        signal.set_result(None)


class WriterThread:
    """One thread that runs calls in order for the event loop that started it.

    Args:
        name: the thread's name.
    """

    def __init__(self, name: str) -> None:
        self._name = name
        self._jobs: SimpleQueue[_Call[Any] | None] = SimpleQueue()
        self._thread: threading.Thread | None = None
        self._new_signal: Callable[[], Signal] | None = None
        self._call_in: Callable[..., object] | None = None

    def start(self) -> None:
        """Start the thread; call in the event loop that will :meth:`call` it."""
        self._call_in = thread_call_in()
        self._new_signal = signal_factory()
        self._thread = threading.Thread(target=self._serve, name=self._name, daemon=True)
        self._thread.start()

    async def call(self, fn: Callable[[], T]) -> T:
        """Run ``fn()`` in the thread, after the calls before it; return its result.

        Raises:
            Exception: whatever ``fn`` raised.
        """
        assert self._new_signal is not None, "the thread is not started"
        job = _Call(fn, self._new_signal())
        self._jobs.put(job)
        with anyio.CancelScope(shield=True):
            await job.signal
        error = job.error
        if error is not None:
            job.error = None  # no cycle through the traceback
            raise error
        return job.value  # type: ignore[return-value]

    async def stop(self) -> None:
        """Let the calls already asked for finish, then end the thread; idempotent."""
        thread, self._thread = self._thread, None
        if thread is not None:
            self._jobs.put(None)
            await anyio.to_thread.run_sync(thread.join)

    def _serve(self) -> None:
        get, call_in = self._jobs.get, self._call_in
        assert call_in is not None
        while (job := get()) is not None:
            try:
                job.value = job.fn()
            except BaseException as exc:  # handed to the caller, raised there
                job.error = exc
            try:
                call_in(_settle, job.signal)
            except RuntimeError:  # the loop has finished: nobody is waiting any more
                pass
