"""The read-eval-print loop of ``llmspell repl``.

The session (a resident spell run, see ``_ops/_session.py``) lives on an event loop in a thread
of its own (an anyio blocking portal), so its ``events.on`` handlers keep running while this
loop waits for a line in the main thread, where ``readline`` edits it and Ctrl-C arrives:

* a line is added to the input; the input is evaluated; if the engine says it stops
  mid-statement (:class:`IncompleteInput`) the next line continues it (prompt ``..``);
* an input's value is printed (nil/undefined print nothing), an error is printed and the loop
  goes on;
* Ctrl-C while typing drops the input; while an input runs, stops it (the engine's interrupt
  for running code, cancellation for an input waiting on an API call);
* Ctrl-D or ``.exit`` leaves (exit status 0).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
from collections.abc import Callable, Iterator
from contextlib import AbstractAsyncContextManager
from typing import Any, TextIO

import anyio
import anyio.from_thread

from ._exceptions import IncompleteInput, LimitExceeded, SpellError, SpellRuntimeError
from ._ops import Session
from .engines import HostObject, ScriptFunction, ScriptValue

PROMPT, CONTINUE = "> ", ".. "
HISTORY_LENGTH = 1000


def history_path() -> str:
    """``$LLMSPELL_HISTORY``, else ``~/.llmspell_history``."""
    return os.environ.get("LLMSPELL_HISTORY") or os.path.expanduser("~/.llmspell_history")


def show(value: ScriptValue, engine: str) -> str:
    """An input's value as the REPL prints it: a string as is in Lua and quoted in JS (as
    their own REPLs do), tables/objects and arrays as JSON, API objects as ``<agent>``."""
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False) if engine != "lua" else value
    if isinstance(value, bool):
        return "true" if value else "false"
    return json.dumps(value, ensure_ascii=False, default=_opaque)


def _opaque(value: Any) -> str:
    if isinstance(value, HostObject):
        return f"<{value.type_name}>"
    if isinstance(value, ScriptFunction):
        return "<function>"
    return f"<{type(value).__name__}>"


@contextlib.contextmanager
def _sigint_blocked() -> Iterator[None]:
    """SIGINT waits meanwhile: threads started in the block never take it, so that Ctrl-C
    reaches the main thread; one that comes during the block is raised right after it.

    A signal goes to any thread that does not block it; delivered to the event loop's thread,
    it would set Python's flag but not interrupt the main thread's wait for a line, and Ctrl-C
    would seem lost. Threads inherit the mask of the thread that starts them.
    """
    if not hasattr(signal, "pthread_sigmask"):
        yield
        return
    old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


class _Input:
    """The input being evaluated, cancellable from the main thread."""

    def __init__(self, session: Session, source: str) -> None:
        self.session = session
        self.source = source
        self.scope: anyio.CancelScope | None = None
        self.cancelled = False

    async def run(self) -> tuple[bool, ScriptValue]:
        with anyio.CancelScope() as self.scope:
            if self.cancelled:
                self.scope.cancel()
            return True, await self.session.evaluate(self.source)
        return False, None

    def cancel(self) -> None:  # in the loop's thread
        self.cancelled = True
        if self.scope is not None:
            self.scope.cancel()


class Repl:
    """The loop; see the module docstring.

    Args:
        open_session: opens the session (the runtime with it) on the portal's event loop.
        engine: ``"lua"`` or ``"javascript"`` (how values are shown).
        interactive: prompts, a banner and line editing (stdin is a terminal).
    """

    def __init__(
        self,
        open_session: Callable[[], AbstractAsyncContextManager[Session]],
        *,
        engine: str,
        interactive: bool,
        out: TextIO = sys.stdout,
        err: TextIO = sys.stderr,
    ) -> None:
        self._open_session = open_session
        self.engine = engine
        self.interactive = interactive
        self.out, self.err = out, err

    def run(self) -> int:
        """Run until Ctrl-D or ``.exit``; returns the exit status."""
        readline = self._start_history() if self.interactive else None
        try:
            with contextlib.ExitStack() as stack:
                with _sigint_blocked():  # while the loop's thread starts (see there)
                    portal = stack.enter_context(anyio.from_thread.start_blocking_portal())
                with portal.wrap_async_context_manager(self._open_session()) as session:
                    if self.interactive:
                        print(
                            f"llmspell repl ({self.engine}): Ctrl-D or .exit to leave, "
                            "Ctrl-C to cancel",
                            file=self.out,
                            flush=True,
                        )
                    self._loop(portal, session)
        finally:
            if readline is not None:
                self._save_history(readline)
        return 0

    def _loop(self, portal: anyio.from_thread.BlockingPortal, session: Session) -> None:
        lines: list[str] = []
        while True:
            try:
                line = self._read(CONTINUE if lines else PROMPT)
            except EOFError:
                if self.interactive:
                    print(file=self.out, flush=True)
                return
            except KeyboardInterrupt:
                print(file=self.out, flush=True)
                lines.clear()
                continue
            if not lines and line.strip() == ".exit":
                return
            if not lines and not line.strip():
                continue
            lines.append(line)
            try:
                if self._evaluate(portal, session, "\n".join(lines)):
                    lines.clear()
            except KeyboardInterrupt:  # between two steps of an input: it is over anyway
                print("interrupted", file=self.err, flush=True)
                lines.clear()

    def _read(self, prompt: str) -> str:
        if self.interactive:
            return input(prompt)
        line = sys.stdin.readline()
        if not line:
            raise EOFError
        return line.rstrip("\n")

    def _evaluate(
        self, portal: anyio.from_thread.BlockingPortal, session: Session, source: str
    ) -> bool:
        """Evaluate and print; False when the input is incomplete (read on)."""
        current = _Input(session, source)
        try:
            try:
                # A Ctrl-C while the input is being handed over waits until it is (the loop's
                # thread may start running it before this thread hears back).
                with _sigint_blocked():
                    future = portal.start_task_soon(current.run)
                done, value = future.result()
            except KeyboardInterrupt:
                session.interrupt()  # running code stops at the engine's next check
                portal.call(current.cancel)  # an input waiting on a call stops waiting
                done, value = future.result()
        except IncompleteInput:
            return False
        except LimitExceeded as exc:
            if exc.limit != "interrupt":
                self._error(exc)
            else:
                print("interrupted", file=self.err, flush=True)
            return True
        except SpellError as exc:
            self._error(exc)
            return True
        if not done:
            print("interrupted", file=self.err, flush=True)
        elif value is not None:
            print(show(value, self.engine), file=self.out, flush=True)
        return True

    def _error(self, exc: SpellError) -> None:
        print(f"error: {exc}", file=self.err, flush=True)
        if isinstance(exc, SpellRuntimeError) and exc.traceback.count("\n") > 0:
            print(exc.traceback, file=self.err, flush=True)

    # history ---------------------------------------------------------------------------------

    def _start_history(self) -> Any:
        try:
            import readline
        except ImportError:  # no line editing on this platform: plain input()
            return None
        try:
            readline.read_history_file(history_path())
        except OSError:  # none yet, or unreadable: start empty
            pass
        readline.set_history_length(HISTORY_LENGTH)
        return readline

    def _save_history(self, readline: Any) -> None:
        try:
            readline.write_history_file(history_path())
        except OSError as exc:
            print(f"llmspell: history not saved: {exc}", file=self.err, flush=True)
