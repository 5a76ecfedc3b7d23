"""``python -m actors``: a supervised actor crashes and is restarted, with bus events shown live."""

from __future__ import annotations

from typing import Any

import anyio

import actors


class Flaky(actors.Actor):
    """Counts greetings; crashes on ``"boom"``."""

    def on_start(self) -> None:
        self.greetings = 0
        print(f"  [{self.context.name}] started")

    def on_receive(self, message: Any) -> Any:
        if message == "boom":
            raise RuntimeError("boom")
        self.greetings += 1
        return f"hello #{self.greetings}"

    def on_failure(self, error: Exception) -> None:
        print(f"  [{self.context.name}] crashed: {error!r}")


def show(event: actors.Event) -> None:
    """Print a bus event (runs in the bus's delivery task, as events happen)."""
    print(f"  event {event.topic:<16} {event.payload}")


async def main() -> None:
    """Run the demo."""
    async with actors.open_system() as system:
        system.bus.subscribe("actor.>", show)
        workers = await system.spawn_supervisor(
            name="workers", strategy="one_for_one", max_restarts=3, period=5.0
        )
        print("spawn 'flaky' under supervisor 'workers' (one_for_one, 3 restarts / 5 s)")
        flaky = await workers.spawn(Flaky, name="flaky")
        print(f"ask: {await flaky.ask('hi')!r}")
        print(f"ask: {await flaky.ask('hi')!r}")
        print("tell 'boom': the actor crashes and its supervisor restarts it")
        flaky.tell("boom")
        await system.bus.wait_for("actor.restarted", timeout=5)
        print(f"ask: {await flaky.ask('hi')!r}  (a fresh instance behind the same ref)")
        stats = flaky.statistics()
        print(f"statistics: processed={stats.processed}, failed={stats.failed}, ", end="")
        print(f"restarts={stats.restarts}")
        print("shutting down")
    print("done")


if __name__ == "__main__":
    anyio.run(main)
