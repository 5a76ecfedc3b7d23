"""``python -m actors``: a supervised actor crashes and is restarted, with bus events shown live.

Exits 0, or 141 (128 + SIGPIPE, as ``cat`` does) without a word when standard output is closed
early (``python -m actors | head -3``): the demo stops at the first line nobody reads.
"""

from __future__ import annotations

import os
import sys
from typing import Any

import anyio

import actors


class _Out:
    """The demo's printer. A closed stdout stops the demo (``scope``) instead of failing the
    actor or handler that happened to print."""

    scope: anyio.CancelScope | None = None
    closed = False


def say(*parts: object, end: str = "\n") -> None:
    """Print ``parts``; on a broken pipe, silence stdout and stop the demo."""
    if _Out.closed:
        return
    try:
        print(*parts, end=end, flush=True)
    except BrokenPipeError:
        _Out.closed = True
        devnull = os.open(os.devnull, os.O_WRONLY)  # what is still buffered goes nowhere
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
        if _Out.scope is not None:
            _Out.scope.cancel()


class Flaky(actors.Actor):
    """Counts greetings; crashes on ``"boom"``."""

    def on_start(self) -> None:
        self.greetings = 0
        say(f"  [{self.context.name}] started")

    def on_receive(self, message: Any) -> Any:
        if message == "boom":
            raise RuntimeError("boom")
        self.greetings += 1
        return f"hello #{self.greetings}"

    def on_failure(self, error: Exception) -> None:
        say(f"  [{self.context.name}] crashed: {error!r}")


def show(event: actors.Event) -> None:
    """Print a bus event (runs in the bus's delivery task, as events happen)."""
    say(f"  event {event.topic:<16} {event.payload}")


async def main() -> None:
    """Run the demo."""
    with anyio.CancelScope() as _Out.scope:
        async with actors.open_system() as system:
            system.bus.subscribe("actor.>", show)
            workers = await system.spawn_supervisor(
                name="workers", strategy="one_for_one", max_restarts=3, period=5.0
            )
            say("spawn 'flaky' under supervisor 'workers' (one_for_one, 3 restarts / 5 s)")
            flaky = await workers.spawn(Flaky, name="flaky")
            say(f"ask: {await flaky.ask('hi')!r}")
            say(f"ask: {await flaky.ask('hi')!r}")
            say("tell 'boom': the actor crashes and its supervisor restarts it")
            flaky.tell("boom")
            await system.bus.wait_for("actor.restarted", timeout=5)
            say(f"ask: {await flaky.ask('hi')!r}  (a fresh instance behind the same ref)")
            stats = flaky.statistics()
            say(f"statistics: processed={stats.processed}, failed={stats.failed}, ", end="")
            say(f"restarts={stats.restarts}")
            say("shutting down")
        say("done")


if __name__ == "__main__":
    anyio.run(main)
    sys.exit(141 if _Out.closed else 0)
