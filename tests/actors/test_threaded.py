"""The blocking facade: an actor system on a background thread, used from plain threads."""

from __future__ import annotations

import threading
from typing import Any

import pytest

import actors

from .helpers import Worker

BACKENDS = ["asyncio", "trio"]


class Store(actors.Actor):
    def on_start(self) -> None:
        self.counts: dict[Any, int] = {}

    def on_receive(self, message: Any) -> Any:
        if isinstance(message, actors.Event):
            self.counts[message.topic] = self.counts.get(message.topic, 0) + 1
            return None
        kind, *rest = message
        if kind == "inc":
            self.counts[rest[0]] = self.counts.get(rest[0], 0) + 1
            return None
        if kind == "echo":
            return tuple(rest)
        if kind == "fail":
            raise LookupError("no such thing")
        return dict(self.counts)


@pytest.mark.parametrize("backend", BACKENDS)
def test_many_threads_at_once_lose_nothing(backend: str) -> None:
    threads, per_thread = 8, 500
    received: list[tuple[str, Any]] = []
    errors: list[BaseException] = []
    with actors.start_in_thread(backend=backend) as system:
        store = system.spawn(Store, name="store")
        system.bus.subscribe("load.>", lambda event: received.append((event.topic, event.payload)))

        def work(thread: int) -> None:
            try:
                for i in range(per_thread):
                    store.tell(("inc", thread))
                    assert store.ask(("echo", thread, i)) == (thread, i)
                    system.bus.publish(f"load.{thread}", i)
            except BaseException as exc:  # pragma: no cover - reported below
                errors.append(exc)

        workers = [threading.Thread(target=work, args=(t,)) for t in range(threads)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        assert errors == []
        assert store.ask(("counts",)) == {t: per_thread for t in range(threads)}
        assert store.statistics().processed == 2 * threads * per_thread + 1
    # leaving the block drained the bus: every event arrived, in order per publisher
    assert len(received) == threads * per_thread
    for t in range(threads):
        assert [p for topic, p in received if topic == f"load.{t}"] == list(range(per_thread))


@pytest.mark.parametrize("backend", BACKENDS)
def test_blocking_facade(backend: str) -> None:
    log: list[str] = []
    with actors.start_in_thread(backend=backend, shutdown_timeout=2.0) as system:
        assert isinstance(system.system, actors.ActorSystem)
        store = system.spawn(Store, name="store")
        store.tell(("inc", 1))
        store.send(("inc", 1))
        assert store.ask(("counts",), timeout=2.0) == {1: 2}
        with pytest.raises(LookupError, match="no such thing"):
            store.ask(("fail",))
        found = system.lookup("store")
        assert found is not None and found.ref is store.ref and found.name == "store"
        assert system.lookup("nobody") is None

        sup = system.spawn_supervisor(name="sup", strategy="one_for_all")
        worker = sup.spawn(Worker, log, name="w")
        assert worker.ask("ping") == "pong" and log == ["start w"]
        assert isinstance(system.lookup("sup"), actors.BlockingSupervisorRef)

        got = []
        subscription = system.bus.subscribe("orders.*", store)  # an actor as subscriber
        system.bus.publish_nowait("orders.created", {"id": 2})
        for _ in range(10_000):  # delivery is asynchronous: poll (no sleeping)
            if "orders.created" in store.ask(("counts",)):
                break
        assert store.ask(("counts",)) == {1: 2, "orders.created": 1}
        waiter = threading.Thread(target=lambda: got.append(system.bus.wait_for("ready", 5)))
        waiter.start()
        while waiter.is_alive():
            system.bus.publish("ready", "go")
        waiter.join()
        assert got[0].payload == "go"
        system.bus.unsubscribe(subscription)
        assert system.bus.statistics().published >= 2

        system.hooks.register("x.point", lambda value: value + 1)
        assert system.hooks.run("x.point", 1) == 2

        worker.stop()
        assert not worker.is_alive and log == ["start w", "stop w"]
        with pytest.raises(actors.ActorDeadError):
            worker.ask("ping")
        assert system.statistics().actors == 1
        system.shutdown()
        assert not store.is_alive
