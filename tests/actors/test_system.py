"""The system: shutdown, registry, monitors, dead letters, hooks, statistics, bus wiring."""

from __future__ import annotations

from typing import Any

import anyio
import anyio.lowlevel
import pytest

import actors
from actors.testing import EventRecorder, create_probe

from .helpers import Blocker, Worker, spawn_blocked

pytestmark = pytest.mark.anyio


class Draining(actors.Actor):
    """Logs every message it handles (yielding in between) and its stop."""

    def __init__(self, log: list[str]) -> None:
        self.log = log

    async def on_receive(self, message: Any) -> None:
        await anyio.lowlevel.checkpoint()
        self.log.append(f"{self.context.name} got {message}")

    async def on_stop(self) -> None:
        self.log.append(f"stop {self.context.name}")


async def test_shutdown_drains_mailboxes_and_stops_in_reverse_order() -> None:
    log: list[str] = []
    async with actors.open_system() as system:
        events = EventRecorder.attach(system.bus, "actor.stopped")
        first = await system.spawn(Draining, log, name="first")
        sup = await system.spawn_supervisor(name="sup")
        inner1 = await sup.spawn(Draining, log, name="inner1")
        inner2 = await sup.spawn(Draining, log, name="inner2")
        last = await system.spawn(Draining, log, name="last")
        for ref in (first, inner1, inner2, last):
            for i in range(2):
                ref.tell(i)
    stops = [entry for entry in log if entry.startswith("stop")]
    assert stops == ["stop last", "stop inner2", "stop inner1", "stop first"]
    for name in ("first", "inner1", "inner2", "last"):  # every message handled before its stop
        mine = [entry for entry in log if name in entry]
        assert mine == [f"{name} got 0", f"{name} got 1", f"stop {name}"]
    stopped = [event["actor"] for event in events.payloads("actor.stopped")]
    assert stopped == [
        "last",
        "inner2",
        "inner1",
        "sup",
        "first",
    ]  # published before the bus closed
    assert not any(ref.is_alive for ref in (first, sup, inner1, inner2, last))


async def test_double_shutdown_is_harmless_and_the_system_refuses_work_after() -> None:
    log: list[str] = []
    async with actors.open_system() as system:
        ref = await system.spawn(Worker, log, name="w")
        await system.shutdown()
        await system.shutdown()
        assert log == ["start w", "stop w"]
        with pytest.raises(actors.SystemClosedError):
            await system.spawn(Worker, log)
        ref.tell("late")  # a dead letter, not an error
        assert system.statistics().dead_letters == 1
    await system.shutdown()


async def test_shutdown_from_inside_an_actor() -> None:
    class Quitter(actors.Actor):
        def __init__(self, called: anyio.Event) -> None:
            self.called = called

        async def on_receive(self, message: Any) -> None:
            await self.context.system.shutdown()  # returns at once: we cannot wait for ourselves
            self.called.set()

    log: list[str] = []
    async with actors.open_system() as system:
        called = anyio.Event()
        worker = await system.spawn(Worker, log, name="w")
        ref = await system.spawn(Quitter, called)
        ref.tell("quit")
        await called.wait()
        await system.shutdown()  # waits for the shutdown in progress
        assert not ref.is_alive and not worker.is_alive
        assert log == ["start w", "stop w"]


async def test_body_error_still_shuts_down_cleanly() -> None:
    log: list[str] = []
    with pytest.raises(KeyError):
        async with actors.open_system() as system:
            await system.spawn(Worker, log, name="w")
            raise KeyError("boom")
    assert log == ["start w", "stop w"]


async def test_a_scope_cancelled_during_shutdown_ends_the_system_cleanly() -> None:
    """Cancelling an enclosing scope while the system drains (here from a bus handler, as a
    CLI does when its output closes) cancels the rest of the shutdown; the task group still
    closes in order, so the scope catches the cancellation instead of structured concurrency
    breaking ("cancel scope that isn't the current task's" / "nursery stack corrupted")."""
    stopped: list[str] = []
    with anyio.CancelScope() as scope:
        async with actors.open_system() as system:

            def on_stopped(event: actors.Event) -> None:
                stopped.append(event.payload["actor"])
                scope.cancel()

            system.bus.subscribe("actor.stopped", on_stopped)
            await system.spawn_supervisor(name="workers")
            await system.spawn(Worker, [], name="worker")
    assert scope.cancelled_caught
    assert stopped and stopped[0] in ("worker", "workers")


async def test_monitors_deliver_terminated_once_stopped_for_good() -> None:
    log: list[str] = []
    async with actors.open_system() as system:
        probe = await create_probe(system)
        ref = await system.spawn(Worker, log, name="w")
        await probe.watch(ref)
        ref.tell("crash")  # restarted: no Terminated
        assert await ref.ask("ping") == "pong"
        await ref.stop()
        terminated = await probe.expect_terminated(ref)
        assert terminated == actors.Terminated(ref, "stopped", None)
        await probe.watch(ref)  # watching a dead actor: notified at once
        assert (await probe.receive()).ref is ref
        assert len(probe.messages) == 2

        other = await system.spawn(Worker, log)
        await probe.watch(other)
        await probe.unwatch(other)
        await other.stop()
        assert await probe.ref.ask("sync") is None and len(probe.messages) == 3


async def test_context_unwatch() -> None:
    class Watcher(actors.Actor):
        def on_start(self) -> None:
            self.seen: list[Any] = []

        def on_receive(self, message: Any) -> Any:
            if isinstance(message, tuple) and message[0] in ("watch", "unwatch"):
                getattr(self.context, message[0])(message[1])
            elif message == "seen":
                return self.seen
            else:
                self.seen.append(message)
            return None

    async with actors.open_system() as system:
        watcher = await system.spawn(Watcher)
        a = await system.spawn(Worker, [])
        b = await system.spawn(Worker, [])
        watcher.tell(("watch", a))
        watcher.tell(("watch", b))
        watcher.tell(("unwatch", a))
        await watcher.ask("sync")
        await a.stop()
        await b.stop()
        assert await watcher.ask("seen") == ["sync", actors.Terminated(b, "stopped")]


async def test_dead_letters_are_counted_kept_and_published() -> None:
    async with actors.open_system(dead_letter_history=2) as system:
        events = EventRecorder.attach(system.bus, "actor.dead_letter")
        ref = await system.spawn(Worker, [], name="gone")
        await ref.stop()
        for i in range(3):
            ref.tell(i)
        stats = system.statistics()
        assert stats.dead_letters == 3
        assert [d.message for d in stats.recent_dead_letters] == [1, 2]  # bounded
        assert stats.recent_dead_letters[0] == actors.DeadLetter("gone", 1, None)
        published = await events.wait_for("actor.dead_letter", count=3)
        assert published == [{"actor": "gone", "message": i} for i in range(3)]


async def test_messages_left_by_a_temporary_actor_become_dead_letters() -> None:
    async with actors.open_system() as system:
        ref, release, _ = await spawn_blocked(system, restart="temporary")
        probe = await create_probe(system)
        await probe.watch(ref)
        ref.tell("crash")
        ref.tell("orphan")
        release.set()
        assert (await probe.expect_terminated(ref)).reason == "failed"
        assert [d.message for d in system.statistics().recent_dead_letters] == ["orphan"]


async def test_registry() -> None:
    async with actors.open_system() as system:
        ref = await system.spawn(Worker, [], name="unique")
        assert system.lookup("unique") is ref and system.lookup("nobody") is None
        assert "unique" in system.registry and system.registry.names() == ["unique"]
        with pytest.raises(actors.NameTakenError, match="unique"):
            await system.spawn(Worker, [], name="unique")
        with pytest.raises(actors.NameTakenError):
            await system.spawn_supervisor(name="unique")
        await ref.stop()
        assert system.lookup("unique") is None
        again = await system.spawn(Worker, [], name="unique")
        assert system.lookup("unique") is again


async def test_registries_are_per_system() -> None:
    async with actors.open_system() as one, actors.open_system() as two:
        a = await one.spawn(Worker, [], name="same")
        b = await two.spawn(Worker, [], name="same")
        assert one.lookup("same") is a and two.lookup("same") is b


async def test_statistics() -> None:
    async with actors.open_system() as system:
        sup = await system.spawn_supervisor(name="sup")
        ref = await sup.spawn(Worker, [], name="w", mailbox_size=7)
        ref.tell("work")
        ref.tell("crash")
        assert await ref.ask("count") == 0
        stats = ref.statistics()
        assert stats == actors.ActorStatistics("w", True, 0, 7, 2, 1, 1, 0)
        with pytest.raises(AttributeError):
            stats.processed = 5  # type: ignore[misc]
        system_stats = system.statistics()
        assert (system_stats.actors, system_stats.supervisors) == (1, 1)
        assert (system_stats.processed, system_stats.restarts) == (2, 1)


async def test_hooks_around_lifecycle_and_handler_failures_published() -> None:
    async with actors.open_system() as system:
        events = EventRecorder.attach(system.bus, "hook.>")
        seen: list[Any] = []
        system.hooks.register("actor.before_start", lambda ref: seen.append(("start", ref.name)))
        system.hooks.register("actor.on_failure", lambda exc: seen.append(("failure", repr(exc))))
        system.hooks.register("actor.after_stop", lambda ref: seen.append(("stop", ref.name)))
        ref = await system.spawn(Worker, [], name="w")
        ref.tell("crash")
        assert await ref.ask("ping") == "pong"
        await ref.stop()
        assert seen == [
            ("start", "w"), ("failure", "RuntimeError('w crashed')"), ("stop", "w"),
            ("start", "w"), ("stop", "w"),
        ]  # fmt: skip

        def broken(value: Any) -> None:
            raise ValueError("broken hook")

        system.hooks.register("actor.before_start", broken, name="broken")
        await system.spawn(Worker, [])  # an isolated hook failure does not stop the start
        (failure,) = await events.wait_for("hook.handler_failed")
        assert failure == {
            "point": "actor.before_start",
            "error": "ValueError('broken hook')",
            "handler": "broken",
        }
        system.hooks.register("actor.before_start", lambda ref: actors.Cancel("not today"))
        with pytest.raises(actors.HookCancelledError, match="not today"):
            await system.spawn(Worker, [], name="refused")
        assert system.lookup("refused") is None


async def test_an_actor_subscribes_to_the_bus() -> None:
    async with actors.open_system() as system:
        probe = await create_probe(system)
        system.bus.subscribe("order.*", probe.ref)
        await system.bus.publish("order.created", {"id": 1})
        event = await probe.receive()
        assert isinstance(event, actors.Event)
        assert (event.topic, event.payload) == ("order.created", {"id": 1})


async def test_lifecycle_events() -> None:
    async with actors.open_system() as system:
        events = EventRecorder.attach(system.bus, "actor.>")
        ref = await system.spawn(Worker, [], name="w")
        await ref.stop()
        await events.wait_for("actor.stopped")
        assert events.topics() == ["actor.started", "actor.stopped"]
        assert events.payloads("actor.stopped") == [{"actor": "w", "reason": "stopped"}]


async def test_a_stuck_actor_is_cancelled_after_the_shutdown_timeout() -> None:
    log: list[str] = []
    async with actors.open_system(shutdown_timeout=0.05) as system:
        ref, _, _ = await spawn_blocked(system, name="stuck")  # never released
        other = await system.spawn(Worker, log, name="other")
        await ref.stop()  # cancelled after 0.05 s
        assert not ref.is_alive and other.is_alive
        ref.tell("late")  # a dead letter: the cancelled actor's mailbox is closed
        assert system.statistics().dead_letters == 1
        await spawn_blocked(system, name="stuck again")
    assert log == ["start other", "stop other"]


async def test_a_stuck_actor_is_cancelled_even_if_its_stopper_gives_up() -> None:
    async with actors.open_system(shutdown_timeout=0.05) as system:
        probe = await create_probe(system)
        ref, _, _ = await spawn_blocked(system, name="stuck")  # never released
        await probe.watch(ref)
        with anyio.move_on_after(0.01):
            await ref.stop()
        assert ref.is_alive
        terminated = await probe.expect_terminated(ref)  # the shutdown timeout still holds
        assert terminated.reason == "stopped"


async def test_a_stopper_that_gives_up_does_not_disturb_the_others() -> None:
    async with actors.open_system() as system:
        ref, release, _ = await spawn_blocked(system)
        impatient = anyio.CancelScope()
        returned: list[bool] = []

        async def stop(scope: anyio.CancelScope) -> None:
            with scope:
                await ref.stop()
                returned.append(ref.is_alive)

        async with anyio.create_task_group() as tg:
            tg.start_soon(stop, impatient)
            tg.start_soon(stop, anyio.CancelScope())
            await anyio.wait_all_tasks_blocked()
            impatient.cancel()
            await anyio.wait_all_tasks_blocked()
            assert ref.is_alive
            release.set()
        assert returned == [False]  # the patient stop returned once the actor had stopped


async def test_actors_spawn_and_stop_actors_in_their_lifecycle() -> None:
    class Parent(actors.Actor):
        async def on_start(self) -> None:
            system = self.context.system
            self.child = await system.spawn(Worker, [], name=f"{self.context.name}-child")

        async def on_receive(self, message: Any) -> Any:
            return await self.child.ask(message)

        async def on_stop(self) -> None:
            await self.child.stop()

    async with actors.open_system() as system:
        sup = await system.spawn_supervisor(name="sup", strategy="one_for_all")
        parent = await sup.spawn(Parent, name="parent")
        assert await parent.ask("ping") == "pong"
        first_child = system.lookup("parent-child")
        parent.tell("crash")  # the child's ask error crashes the parent: it is restarted
        assert await parent.ask("ping") == "pong"
        second_child = system.lookup("parent-child")
        assert first_child is not None and not first_child.is_alive
        assert second_child is not None and second_child is not first_child


async def test_an_ask_in_flight_fails_when_its_actor_is_cancelled() -> None:
    async with actors.open_system(shutdown_timeout=0.05) as system:
        entered, release = anyio.Event(), anyio.Event()
        ref = await system.spawn(Blocker, entered, release, [])
        errors: list[Exception] = []

        async def ask() -> None:
            try:
                await ref.ask("block", timeout=None)
            except actors.ActorDeadError as exc:
                errors.append(exc)

        async with anyio.create_task_group() as tg:
            tg.start_soon(ask)
            await entered.wait()
            await ref.stop()  # stuck: cancelled after the shutdown timeout
        assert len(errors) == 1 and "while handling" in str(errors[0])
