"""A session: a resident spell run that a REPL evaluates inputs in, one after another.

A session is an ordinary run of an empty spell (``repl.lua``, ``repl.js``) under the ``spells``
supervisor, through the same instrumented path as any run (``spell.before_run`` hooks,
``spell.started``/``finished`` events, the same API, permissions and sandbox). Once its main
code has returned, the run hands its engine instance and context over (:class:`SessionLink`)
and stays resident until the session closes, so ``events.on`` handlers keep running between
inputs. Each input is :meth:`ScriptInstance.evaluate`: it gets the CPU budget and the timeout
afresh, and a limit it hits ends that input only. An engine whose instance cannot survive a
limit (JS) gets a fresh run for the next input, and the session says so.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

import anyio

from .._exceptions import SpellError

if TYPE_CHECKING:
    from ..engines import ScriptInstance, ScriptValue
    from ._context import RunContext
    from ._spell import RunResult


class SessionLink:
    """What joins a session to the run that serves it: the run attaches its instance and
    context, then waits until the session lets it go."""

    def __init__(self) -> None:
        self.ready = anyio.Event()
        self.released = anyio.Event()
        self.instance: ScriptInstance | None = None
        self.context: RunContext | None = None
        self.result: RunResult | None = None

    async def attach(self, instance: ScriptInstance, context: RunContext) -> None:
        """Called by the run after its main code: serve the session until released."""
        self.instance, self.context = instance, context
        self.ready.set()
        await self.released.wait()

    def ended(self, result: RunResult) -> None:
        """Called when the run is over (also when it ended before attaching)."""
        self.result = result
        self.ready.set()

    @property
    def live(self) -> bool:
        return self.result is None and self.instance is not None and self.instance.usable


StartRun = Callable[[SessionLink], Awaitable[None]]
"""Starts a run that serves ``link`` (returns once it is started, not when it ends)."""


class Session:
    """Evaluates inputs in a resident run. Create with :meth:`llmspell.Runtime.open_session`.

    Attributes:
        inputs: how many inputs were evaluated.
        restarts: how many times a fresh run replaced one a limit had ended.
    """

    def __init__(self, start: StartRun, notice: Callable[[str], None]) -> None:
        self._start = start
        self._notice = notice
        self._link: SessionLink | None = None
        self.inputs = 0
        self.restarts = 0

    async def _open(self) -> SessionLink:
        link = SessionLink()
        await self._start(link)
        await link.ready.wait()
        if link.result is not None:  # refused by a hook, no engine ...: nothing to serve
            raise SpellError(f"the session could not start: {link.result.error}")
        self._link = link
        return link

    async def _current(self) -> SessionLink:
        link = self._link
        if link is None:
            return await self._open()
        if link.live:
            return link
        link.released.set()
        self.restarts += 1
        self._notice("the session was restarted after that error: earlier definitions are gone")
        return await self._open()

    async def start(self) -> None:
        """Start the run (done by ``open_session``)."""
        await self._current()

    async def evaluate(self, source: str) -> ScriptValue:
        """Evaluate one input; return its value. Raises what
        :meth:`ScriptInstance.evaluate` raises (:class:`IncompleteInput` for an input that
        stops mid-statement). A limit a handler hit since the last input (which would end a
        run) is told to ``notice`` first; the input then runs with the limit cleared."""
        link = await self._current()
        assert link.instance is not None and link.context is not None
        fatal, link.context.fatal = link.context.fatal, None
        if fatal is not None:
            self._notice(f"an event handler failed: {fatal}")
        self.inputs += 1
        return await link.instance.evaluate(source, "stdin")

    def interrupt(self) -> None:
        """Stop the input running now (any thread; Ctrl-C): see :meth:`ScriptInstance.interrupt`.
        Cancel the task awaiting :meth:`evaluate` too, for an input waiting on an API call."""
        link = self._link
        if link is not None and link.instance is not None:
            link.instance.interrupt()

    def close(self) -> None:
        """Let the run end (its handlers are released with it)."""
        if self._link is not None:
            self._link.released.set()
