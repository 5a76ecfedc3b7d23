"""The blocking facade: an actor system on a background thread, used from plain threads."""

from __future__ import annotations

import threading
from typing import Any

import anyio
import pytest

import actors
from actors import _threaded
from actors._signal import ThreadWakeup

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


class Holder(actors.Actor):
    """Holds on ``"hold"`` until ``release`` (an event made on the loop) is set; echoes the rest.

    ``holding`` (a ``threading.Event``) says it holds. ``("headers",)`` answers the headers of
    its envelope; ``("facade", ref)`` calls the blocking facade from inside the loop (which
    must refuse).
    """

    def __init__(self, release: Any, holding: threading.Event) -> None:
        self.release, self.holding = release, holding

    async def on_receive(self, message: Any) -> Any:
        if message == "hold":
            self.holding.set()
            await self.release.wait()
            return "released"
        if message == ("headers",):
            envelope = self.context.envelope
            assert envelope is not None
            return dict(envelope.headers)
        if isinstance(message, tuple) and message[0] == "facade":
            return message[1].ask("anything")
        return message


class _Held:
    """A :class:`Holder` and the means to make it hold and let it go."""

    def __init__(self, system: actors.BlockingSystem, **options: Any) -> None:
        self.system = system
        self.release = system.portal.call(anyio.Event)  # made on the loop's thread
        self.holding = threading.Event()
        self.ref = system.spawn(Holder, self.release, self.holding, **options)

    def hold(self) -> None:
        """Return once the actor holds a ``"hold"`` message (its mailbox is empty then)."""
        self.ref.tell("hold")
        assert self.holding.wait(5)

    def let_go(self) -> None:
        self.system.portal.call(self.release.set)


@pytest.mark.parametrize("backend", BACKENDS)
def test_blocking_ask_times_out_and_carries_headers(backend: str) -> None:
    with actors.start_in_thread(backend=backend) as system:
        held = _Held(system, name="holder")
        ref = held.ref
        assert ref.ask(("headers",), headers={"trace": "t1"}) == {"trace": "t1"}
        held.hold()
        with pytest.raises(actors.AskTimeoutError, match=r"'holder' did not reply within 0.05 s"):
            ref.ask("late", timeout=0.05)
        held.let_go()
        assert ref.ask("next") == "next"  # the late reply went nowhere
        # Finished asks do not pile up on the timer: each pops those ahead of it.
        for i in range(200):
            assert ref.ask(i) == i
        timer = system.system.timer
        assert system.portal.call(lambda: len(timer.last_queue)) <= 1


@pytest.mark.parametrize("backend", BACKENDS)
def test_blocking_ask_and_tell_on_a_full_mailbox(backend: str) -> None:
    with actors.start_in_thread(backend=backend) as system:
        strict = _Held(system, mailbox_size=1, overflow="raise")
        strict.hold()
        strict.ref.tell("queued")  # the mailbox is full now
        with pytest.raises(actors.MailboxFullError):
            strict.ref.tell("one more")
        with pytest.raises(actors.MailboxFullError):
            strict.ref.ask("one more")
        strict.let_go()
        assert strict.ref.ask("after") == "after"

        patient = _Held(system, mailbox_size=1, overflow="wait")
        patient.hold()
        patient.ref.tell("queued")
        with pytest.raises(actors.AskTimeoutError, match="no room"):
            patient.ref.ask("waits", timeout=0.05)
        answer: list[Any] = []
        asker = threading.Thread(target=lambda: answer.append(patient.ref.ask("waits", timeout=5)))
        asker.start()  # waits for room...
        patient.let_go()  # ...which comes as the actor catches up
        asker.join()
        assert answer == ["waits"]


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_blocking_facade_refuses_the_loops_own_thread(backend: str) -> None:
    with actors.start_in_thread(backend=backend) as system:
        ref = _Held(system).ref
        with pytest.raises(RuntimeError, match="event loop's thread"):
            ref.ask(("facade", ref))
        assert ref.ask("still fine") == "still fine"


@pytest.mark.parametrize("backend", BACKENDS)
def test_an_interrupted_blocking_ask_leaves_the_facade_usable(
    backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with actors.start_in_thread(backend=backend) as system:
        held = _Held(system)
        held.hold()

        def interrupted(*args: Any) -> bool:
            raise KeyboardInterrupt

        with monkeypatch.context() as patch:
            patch.setattr(ThreadWakeup, "wait", interrupted)
            with pytest.raises(KeyboardInterrupt):
                held.ref.ask("given up")
        held.let_go()
        assert held.ref.ask("next") == "next"
        assert held.ref.statistics().processed == 3  # the abandoned ask's reply went nowhere


def test_a_blocking_ask_gives_up_when_the_loop_is_gone(monkeypatch: pytest.MonkeyPatch) -> None:
    with actors.start_in_thread() as system:
        ref = _Held(system).ref
    monkeypatch.setattr(_threaded, "_POLL", 0.01)
    lost: list[Any] = []
    gone = _threaded._LoopLink(lambda *call: lost.append(call), -1, running=False)
    orphan = actors.BlockingActorRef(ref.ref, system.portal, gone)  # its loop never answers
    with pytest.raises(RuntimeError, match="stopped before answering"):
        orphan.ask("anyone?")
    assert len(lost) == 1
    with pytest.raises(RuntimeError):  # a closed loop refuses the request at once
        ref.ask("anyone?")
