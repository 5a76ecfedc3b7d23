"""Actors and refs: tell, send, ask, replies and errors, lifecycle, context, envelopes."""

from __future__ import annotations

from typing import Any

import anyio
import anyio.lowlevel
import pytest

import actors
from actors.testing import EventRecorder, create_probe

from .helpers import Blocker, Worker, spawn_blocked

pytestmark = pytest.mark.anyio


class Counter(actors.Actor):
    async def on_start(self) -> None:
        self.n = 0

    async def on_receive(self, message: Any) -> Any:
        if message == "inc":
            self.n += 1
        elif message == "get":
            return self.n
        return None


class SyncCounter(actors.Actor):
    def on_start(self) -> None:
        self.n = 0

    def on_receive(self, message: Any) -> Any:
        if message == "get":
            return self.n
        self.n += 1
        return None


async def test_tell_send_ask() -> None:
    async with actors.open_system() as system:
        counter = await system.spawn(Counter, name="counter")
        counter.tell("inc")
        await counter.send("inc")
        assert await counter.ask("get", timeout=1.0) == 2
        assert counter.name == "counter" and counter.is_alive


async def test_sync_on_receive() -> None:
    async with actors.open_system() as system:
        counter = await system.spawn(SyncCounter)
        for _ in range(10):
            counter.tell_nowait("inc")
        assert await counter.ask("get") == 10
        assert counter.statistics().processed == 11


async def test_one_message_at_a_time_in_order() -> None:
    class Slow(actors.Actor):
        def __init__(self) -> None:
            self.active = 0
            self.most = 0
            self.seen: list[int] = []

        async def on_receive(self, message: Any) -> Any:
            if message == "report":
                return self.most, self.seen
            self.active += 1
            self.most = max(self.most, self.active)
            await anyio.lowlevel.checkpoint()
            self.seen.append(message)
            self.active -= 1
            return None

    async with actors.open_system() as system:
        ref = await system.spawn(Slow)
        async with anyio.create_task_group() as tg:
            for i in range(5):
                tg.start_soon(ref.send, i)
        for i in range(5, 50):
            ref.tell(i)
        most, seen = await ref.ask("report")
        assert most == 1
        assert seen[5:] == list(range(5, 50)) and sorted(seen[:5]) == list(range(5))


async def test_ask_reraises_in_caller_and_actor_carries_on() -> None:
    class Picky(actors.Actor):
        def on_start(self) -> None:
            self.handled = 0

        def on_receive(self, message: Any) -> Any:
            self.handled += 1
            if message == "bad":
                raise KeyError("bad request")
            return self.handled

    async with actors.open_system() as system:
        ref = await system.spawn(Picky)
        with pytest.raises(KeyError, match="bad request"):
            await ref.ask("bad")
        assert await ref.ask("good") == 2  # same instance: state kept
        stats = ref.statistics()
        assert (stats.restarts, stats.failed) == (0, 1)


async def test_tell_failure_crashes_and_restarts_behind_the_same_ref() -> None:
    log: list[str] = []
    async with actors.open_system() as system:
        events = EventRecorder.attach(system.bus, "actor.>")
        ref = await system.spawn(Worker, log, name="w")
        ref.tell("a")
        ref.tell("crash")
        ref.tell("b")  # queued behind the failing message: handled by the new instance
        assert await ref.ask("count") == 1
        assert log == ["start w", "fail w", "stop w", "start w"]
        assert ref.statistics().restarts == 1
        (restarted,) = await events.wait_for("actor.restarted")
        assert restarted == {"actor": "w", "error": "RuntimeError('w crashed')", "restarts": 1}
        assert events.payloads("actor.failed") == [
            {"actor": "w", "error": "RuntimeError('w crashed')"}
        ]
        assert system.lookup("w") is ref


async def test_ask_timeout_is_clear_and_the_late_reply_is_discarded() -> None:
    async with actors.open_system() as system:
        ref, release, seen = await spawn_blocked(system, name="slow")
        with pytest.raises(actors.AskTimeoutError, match=r"'slow' did not reply within 0.05 s"):
            await ref.ask("late", timeout=0.05)
        release.set()
        assert await ref.ask("next") == "next"  # the late reply went nowhere
        assert seen == ["late", "next"]
        assert ref.statistics().restarts == 0


async def test_ask_timeouts_fire_whatever_the_mix_of_values() -> None:
    async with actors.open_system() as system:
        ref, release, seen = await spawn_blocked(system)
        with anyio.fail_after(5):  # a deadline the timer lost would hang the ask
            for timeout in (0.03, 0.03, 0.04, 0.03):
                with pytest.raises(actors.AskTimeoutError, match=f"within {timeout} s"):
                    await ref.ask("late", timeout=timeout)
        release.set()
        assert await ref.ask("answered", timeout=0.03) == "answered"
        assert seen == ["late"] * 4 + ["answered"]


async def test_ask_timeout_is_a_timeout_error() -> None:
    assert issubclass(actors.AskTimeoutError, TimeoutError)
    assert issubclass(actors.MailboxFullError, actors.WouldBlock)


async def test_ask_without_timeout_and_cancelled_ask() -> None:
    async with actors.open_system() as system:
        ref, release, seen = await spawn_blocked(system)
        with anyio.move_on_after(0.01):
            await ref.ask("cancelled", timeout=None)
        release.set()
        assert await ref.ask("after", timeout=None) == "after"
        assert seen == ["cancelled", "after"]


async def test_a_reply_to_an_asker_cancelled_that_moment_goes_nowhere() -> None:
    async with actors.open_system() as system:
        entered, release = anyio.Event(), anyio.Event()
        ref = await system.spawn(Blocker, entered, release, [])
        scope = anyio.CancelScope()

        async def asker() -> None:
            with scope:
                await ref.ask("block")
            assert scope.cancelled_caught

        async with anyio.create_task_group() as tg:
            tg.start_soon(asker)
            await entered.wait()  # the actor handles the ask...
            release.set()  # ...and replies before the asker learns that...
            scope.cancel()  # ...it was cancelled
        assert await ref.ask("next") == "next"
        assert (ref.statistics().failed, ref.statistics().restarts) == (0, 0)


async def test_an_ask_as_the_actors_task_is_cancelled_does_not_break_the_asker() -> None:
    async with actors.open_system() as system:
        ref = await system.spawn(Counter)
        await anyio.wait_all_tasks_blocked()  # the actor sleeps, waiting for mail
        ref._cell._scope.cancel()  # type: ignore[union-attr] # (as a stop past its deadline)
        # The ask finds the actor's wake-up cancelled, its task not yet told: the request
        # waits in the mailbox, which outlives the incarnation, for the restarted instance.
        assert await ref.ask("get") == 0
        assert ref.statistics().restarts == 1


async def test_lifecycle_order_and_on_start_failure_raises_from_spawn() -> None:
    class Fragile(actors.Actor):
        def on_start(self) -> None:
            raise ValueError("no config")

    log: list[str] = []
    async with actors.open_system() as system:
        ref = await system.spawn(Worker, log, name="w")
        await ref.stop()
        assert log == ["start w", "stop w"]
        with pytest.raises(ValueError, match="no config"):
            await system.spawn(Fragile, name="fragile")
        assert system.lookup("fragile") is None
        with pytest.raises(TypeError, match="not an Actor"):
            await system.spawn(lambda: object())  # type: ignore[arg-type, return-value]


async def test_a_spawn_given_up_during_on_start_leaves_the_actor_starting() -> None:
    entered, release = anyio.Event(), anyio.Event()

    class Slow(actors.Actor):
        async def on_start(self) -> None:
            entered.set()
            await release.wait()

        def on_receive(self, message: Any) -> Any:
            return message

    async with actors.open_system() as system:
        async with anyio.create_task_group() as tg:
            tg.start_soon(lambda: system.spawn(Slow, name="slow"))
            await entered.wait()
            tg.cancel_scope.cancel()  # the caller gives up; the actor goes on starting
        ref = system.lookup("slow")
        assert ref is not None
        release.set()
        assert await ref.ask("hi") == "hi"
        await ref.stop()
        assert not ref.is_alive


async def test_context_sender_and_header_inheritance() -> None:
    class Forwarder(actors.Actor):
        def __init__(self, target: actors.ActorRef) -> None:
            self.target = target

        def on_receive(self, message: Any) -> Any:
            envelope = self.context.envelope
            assert envelope is not None and actors.current_envelope() is envelope
            self.target.tell(("fwd", message))
            return self.context.sender

    async with actors.open_system() as system:
        probe = await create_probe(system, name="probe")
        forwarder = await system.spawn(Forwarder, probe.ref, name="fwd")
        forwarder.tell("hello", headers={"traceparent": "00-abc-01"})
        assert await probe.receive() == ("fwd", "hello")
        envelope = probe.envelopes[0]
        assert envelope.sender is forwarder
        assert dict(envelope.headers) == {"traceparent": "00-abc-01"}
        assert await forwarder.ask("who", headers={"k": "v"}) is None  # asked from outside
        assert await probe.receive() == ("fwd", "who")
        assert dict(probe.envelopes[1].headers) == {"k": "v"}
        assert actors.current_envelope() is None


async def test_an_ask_carries_its_sender_headers_and_correlation_id() -> None:
    class Inspector(actors.Actor):
        def on_receive(self, message: Any) -> Any:
            envelope = self.context.envelope
            assert envelope is not None
            return envelope.sender, dict(envelope.headers), envelope.correlation_id

    class Asker(actors.Actor):
        def __init__(self, target: actors.ActorRef) -> None:
            self.target = target

        async def on_receive(self, message: Any) -> Any:
            inherited = await self.target.ask("inherit")
            overridden = await self.target.ask("override", headers={"k": "mine"})
            return inherited, overridden

    async with actors.open_system() as system:
        inspector = await system.spawn(Inspector)
        asker = await system.spawn(Asker, inspector)
        sender, headers, first = await inspector.ask("outside", headers={"k": "v"})
        assert (sender, headers) == (None, {"k": "v"})
        inherited, overridden = await asker.ask("go", headers={"trace": "t"})
        assert inherited[:2] == (asker, {"trace": "t"})  # sender and headers from the handler
        assert overridden[:2] == (asker, {"k": "mine"})
        ids = [first, inherited[2], overridden[2]]
        assert all(isinstance(i, int) for i in ids) and len(set(ids)) == 3


async def test_context_attributes() -> None:
    class Introspect(actors.Actor):
        def on_receive(self, message: Any) -> Any:
            ctx = self.context
            return ctx.self, ctx.name, ctx.system

    async with actors.open_system() as system:
        ref = await system.spawn(Introspect, name="me")
        assert await ref.ask("?") == (ref, "me", system)
        anonymous = await system.spawn(Introspect)
        assert anonymous.name.startswith("Introspect-")
        assert system.lookup(anonymous.name) is None  # only named actors are registered


async def test_stopped_actor_fails_fast() -> None:
    async with actors.open_system() as system:
        ref = await system.spawn(Counter, name="c")
        await ref.stop()
        assert not ref.is_alive
        with pytest.raises(actors.ActorDeadError, match="'c' is stopped"):
            await ref.ask("get")
        with pytest.raises(actors.ActorDeadError):
            await ref.send("inc")
        ref.tell("inc")  # no error: a dead letter
        assert system.statistics().dead_letters == 1
        await ref.stop()  # harmless


async def test_stop_drains_queued_asks() -> None:
    async with actors.open_system() as system:
        ref, release, _ = await spawn_blocked(system)
        replies: list[Any] = []

        async def ask() -> None:
            replies.append(await ref.ask("queued", timeout=None))

        async with anyio.create_task_group() as tg:
            tg.start_soon(ask)
            await anyio.wait_all_tasks_blocked()
            tg.start_soon(ref.stop)
            await anyio.wait_all_tasks_blocked()
            with pytest.raises(actors.ActorDeadError):  # stopping: no new requests
                await ref.ask("refused")
            release.set()
        assert replies == ["queued"] and not ref.is_alive


async def test_queued_asks_fail_when_the_actor_dies() -> None:
    async with actors.open_system() as system:
        ref, release, _ = await spawn_blocked(system, restart="temporary")
        ref.tell("crash")  # a temporary actor is not restarted
        errors: list[Exception] = []

        async def ask() -> None:
            try:
                await ref.ask("queued", timeout=None)
            except actors.ActorDeadError as exc:
                errors.append(exc)

        async with anyio.create_task_group() as tg:
            tg.start_soon(ask)
            await anyio.wait_all_tasks_blocked()
            release.set()
        assert len(errors) == 1 and "stopped before handling" in str(errors[0])
        assert not ref.is_alive


async def test_a_stopped_actor_is_freed_without_the_cyclic_gc() -> None:
    """A finished actor (its cell, context, mailbox and ref) goes as soon as nothing refers to
    it: no reference cycle leaves it to the cyclic GC (a daemon runs thousands of them)."""
    import gc

    class Marker(actors.Actor):
        def on_receive(self, message: Any) -> Any:
            return message

    def cells() -> int:
        return sum(
            1
            for o in gc.get_objects()
            if type(o).__name__ == "ActorCell" and getattr(o, "name", "").startswith("marked-")
        )

    async with actors.open_system() as system:
        gc.collect()
        gc.disable()
        try:
            for i in range(3):
                ref = await system.spawn(Marker, name=f"marked-{i}", restart="temporary")
                assert await ref.ask("ping") == "ping"
                await ref.stop()
                assert not ref.is_alive
                del ref
            await anyio.wait_all_tasks_blocked()  # (the actors' tasks are reaped)
            assert cells() == 0
        finally:
            gc.enable()
