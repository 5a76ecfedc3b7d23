"""Starting an :func:`~llmspell.engines.eager_api` call inside the script's code.

An eager API function (``events.emit``) usually finishes without waiting. An engine starts it
where the script calls it, with the first step of its coroutine (``coro.send(None)``): when
that step finishes the call, the script gets the value at once, with no suspension, no trip through
the driver and no new stretch of the interpreter. When the call does wait, the engine suspends
the script as for any API call and hands the driver a :class:`Pending`: awaiting it goes on
with the coroutine exactly where ``await coro`` would have been.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

__all__ = ["Pending"]


class Pending:
    """An eager call that awaited: the rest of it, for the driver to await.

    ``coro.send(None)`` already ran its first step (inside the spell's code) and gave
    ``first``, what the coroutine waits on; awaiting this hands ``first`` to the event loop and
    goes on with the coroutine as ``await coro`` would have (sends, throws and its result).
    ``args`` are the call's arguments (for the wording of its error, where the engine words
    it from them). Only on asyncio in JS: there what a coroutine waits on is a Future, which any
    task may wait for; trio parks the task that made the first step.
    """

    __slots__ = ("args", "coro", "first")

    def __init__(self, coro: Any, first: Any, args: list[Any] | None = None) -> None:
        self.coro, self.first, self.args = coro, first, args

    def __await__(self) -> Generator[Any, Any, Any]:
        coro, waiting = self.coro, self.first
        self.coro = self.first = None
        while True:
            try:
                sent = yield waiting
            except GeneratorExit:
                coro.close()
                raise
            except BaseException as exc:  # (a cancellation, into the call's await)
                try:
                    waiting = coro.throw(exc)
                except StopIteration as stop:
                    return stop.value
            else:
                try:
                    waiting = coro.send(sent)
                except StopIteration as stop:
                    return stop.value

    def close(self) -> None:
        """Drop a call that will not be awaited (the spell's code ended first)."""
        if self.coro is not None:
            self.coro.close()
            self.coro = None
