"""Supervision: strategies, restart types, intensity, escalation, backoff."""

from __future__ import annotations

import asyncio

import anyio
import pytest
import sniffio
import trio
import trio.testing

import actors
from actors.testing import EventRecorder, create_probe

from .helpers import Worker

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize(
    ("strategy", "expected_log", "expected_counts"),
    [
        ("one_for_one", ["fail b", "stop b", "start b"], [1, 0, 1]),
        (
            "one_for_all",
            ["fail b", "stop b", "stop c", "stop a", "start a", "start b", "start c"],
            [0, 0, 0],
        ),
        ("rest_for_one", ["fail b", "stop b", "stop c", "start b", "start c"], [1, 0, 0]),
    ],
)
async def test_strategy_restarts_exactly_the_right_children(
    strategy: actors.Strategy, expected_log: list[str], expected_counts: list[int]
) -> None:
    log: list[str] = []
    async with actors.open_system() as system:
        events = EventRecorder.attach(system.bus, "actor.>")
        sup = await system.spawn_supervisor(name="sup", strategy=strategy, max_restarts=5)
        children = [await sup.spawn(Worker, log, name=name) for name in "abc"]
        assert log == ["start a", "start b", "start c"]  # started in order
        for child in children:
            child.tell("work")
            assert await child.ask("count") == 1
        log.clear()
        children[1].tell("crash")
        restarts = sum(entry.startswith("start") for entry in expected_log)
        restarted = await events.wait_for("actor.restarted", count=restarts)
        assert log == expected_log
        assert [event["actor"] for event in restarted] == [
            e[6:] for e in expected_log if e.startswith("start")
        ]
        assert [await child.ask("count") for child in children] == expected_counts
        assert sup.children() == children  # same refs, same order


@pytest.mark.parametrize(
    ("restart", "message", "restarted", "reason"),
    [
        ("permanent", "exit", True, None),
        ("permanent", "crash", True, None),
        ("transient", "exit", False, "normal"),
        ("transient", "crash", True, None),
        ("temporary", "exit", False, "normal"),
        ("temporary", "crash", False, "failed"),
    ],
)
async def test_restart_types(
    restart: actors.RestartType, message: str, restarted: bool, reason: str | None
) -> None:
    log: list[str] = []
    async with actors.open_system() as system:
        events = EventRecorder.attach(system.bus, "actor.>")
        sup = await system.spawn_supervisor(name="sup")
        ref = await sup.spawn(Worker, log, name="w", restart=restart)
        probe = await create_probe(system)
        await probe.watch(ref)
        ref.tell(message)
        if restarted:
            await events.wait_for("actor.restarted")
            assert ref.is_alive and await ref.ask("ping") == "pong"
            assert log[-1] == "start w" and log.count("start w") == 2
            assert probe.messages == []  # a restart is not a termination
        else:
            terminated = await probe.expect_terminated(ref)
            assert terminated.reason == reason
            assert isinstance(terminated.error, RuntimeError) == (reason == "failed")
            assert not ref.is_alive and system.lookup("w") is None
            assert sup.children() == []


async def test_explicitly_stopped_permanent_child_is_not_restarted() -> None:
    log: list[str] = []
    async with actors.open_system() as system:
        sup = await system.spawn_supervisor(name="sup")
        ref = await sup.spawn(Worker, log, name="w")
        await ref.stop()
        assert log == ["start w", "stop w"] and not ref.is_alive
        assert sup.children() == []


async def test_intensity_exceeded_escalates_and_the_parent_strategy_applies() -> None:
    log: list[str] = []
    async with actors.open_system() as system:
        events = EventRecorder.attach(system.bus, "actor.>")
        parent = await system.spawn_supervisor(
            name="parent", strategy="one_for_all", max_restarts=5, period=60
        )
        sibling = await parent.spawn(Worker, log, name="sibling")
        child = await parent.spawn_supervisor(name="child", max_restarts=1, period=60)
        worker = await child.spawn(Worker, log, name="worker")
        worker.tell("work")
        log.clear()
        worker.tell("crash")  # within the child's intensity: restarted by the child
        await events.wait_for("actor.restarted")
        worker.tell("work")
        worker.tell("crash")  # too many: the child gives up, the parent restarts both
        restarted = await events.wait_for("actor.restarted", count=4)
        assert [event["actor"] for event in restarted] == ["worker", "sibling", "worker", "child"]
        assert log == [
            "fail worker", "stop worker", "start worker",
            "fail worker", "stop worker", "stop sibling", "start sibling", "start worker",
        ]  # fmt: skip
        assert "SupervisorError" in events.payloads("actor.failed")[-1]["error"]
        assert await worker.ask("count") == 0  # a fresh instance behind the same ref
        assert child.statistics().restarts == 1 and sibling.statistics().restarts == 1


async def test_root_stops_a_top_level_actor_that_fails_too_often() -> None:
    log: list[str] = []
    async with actors.open_system(max_restarts=1, period=60) as system:
        events = EventRecorder.attach(system.bus, "actor.>")
        flaky = await system.spawn(Worker, log, name="flaky")
        steady = await system.spawn(Worker, log, name="steady")
        flaky.tell("crash")
        await events.wait_for("actor.restarted")
        flaky.tell("crash")
        escalated = await events.wait_for("actor.escalated")
        assert escalated == [{"actor": "flaky", "error": "RuntimeError('flaky crashed')"}]
        assert not flaky.is_alive and system.lookup("flaky") is None
        assert await steady.ask("ping") == "pong"  # the system keeps running
        assert (await system.spawn(Worker, log, name="flaky")).is_alive


async def test_root_stops_a_top_level_supervisor_that_gives_up() -> None:
    log: list[str] = []
    async with actors.open_system() as system:
        events = EventRecorder.attach(system.bus, "actor.>")
        sup = await system.spawn_supervisor(name="sup", max_restarts=0)
        a = await sup.spawn(Worker, log, name="a")
        b = await sup.spawn(Worker, log, name="b")
        b.tell("crash")
        (escalated,) = await events.wait_for("actor.escalated")
        assert escalated["actor"] == "sup" and "SupervisorError" in escalated["error"]
        assert log == ["start a", "start b", "fail b", "stop b", "stop a"]
        assert not (sup.is_alive or a.is_alive or b.is_alive)
        assert system.statistics().actors == 0


async def test_backoff_delays_restarts() -> None:
    log: list[str] = []
    async with actors.open_system() as system:
        events = EventRecorder.attach(system.bus, "actor.>")
        sup = await system.spawn_supervisor(name="sup", backoff=(0.05, 0.08), max_restarts=5)
        ref = await sup.spawn(Worker, log, name="w")
        for count, least in ((1, 0.05), (2, 0.08)):  # doubled, capped at the maximum
            start = anyio.current_time()
            ref.tell("crash")
            await events.wait_for("actor.restarted", count=count)
            assert anyio.current_time() - start >= least
        assert await ref.ask("ping") == "pong"


async def test_supervisor_answers_no_messages_and_validates_options() -> None:
    async with actors.open_system() as system:
        sup = await system.spawn_supervisor(name="sup")
        assert system.lookup("sup") is sup and sup.strategy == "one_for_one"
        with pytest.raises(actors.ActorError, match="supervisor"):
            await sup.ask("hello")
        sup.tell("hello")
        with pytest.raises(ValueError, match="strategy"):
            await system.spawn_supervisor(strategy="all_for_none")  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="max_restarts"):
            await system.spawn_supervisor(max_restarts=-1)
        await sup.stop()
        with pytest.raises(actors.ActorDeadError):
            await sup.spawn(Worker, [])


async def test_a_child_may_stop_its_own_supervisor() -> None:
    class Resigner(actors.Actor):
        def __init__(self, supervisor: actors.SupervisorRef) -> None:
            self.supervisor = supervisor

        async def on_receive(self, message: object) -> None:
            await self.supervisor.stop()  # returns at once: it cannot wait for itself

    async with actors.open_system() as system:
        probe = await create_probe(system)
        sup = await system.spawn_supervisor(name="sup")
        await probe.watch(sup)
        ref = await sup.spawn(Resigner, sup)
        ref.tell("resign")
        with anyio.fail_after(1):  # far less than the 5 s shutdown timeout
            assert (await probe.expect_terminated(sup)).reason == "stopped"
        assert not ref.is_alive


class _SkewedLoop(asyncio.SelectorEventLoop):
    """An asyncio loop whose clock a test can move forward (``anyio.current_time`` reads it)."""

    skew = 0.0

    def time(self) -> float:
        return super().time() + self.skew


def advance_clock(seconds: float) -> None:
    """Move the running loop's clock forward: a fake clock on either backend."""
    if sniffio.current_async_library() == "trio":
        clock = trio.lowlevel.current_clock()
        assert isinstance(clock, trio.testing.MockClock)
        clock.jump(seconds)
    else:
        loop = asyncio.get_running_loop()
        assert isinstance(loop, _SkewedLoop)
        loop.skew += seconds


# Real time still passes on both (so a broken test fails on its fail_after instead of hanging);
# the test moves the clock forward on top of it.
FAKE_CLOCK = pytest.mark.parametrize(
    "anyio_backend",
    [
        pytest.param(("asyncio", {"loop_factory": _SkewedLoop}), id="asyncio"),
        pytest.param(("trio", {"clock": trio.testing.MockClock(rate=1.0)}), id="trio"),
    ],
)


@FAKE_CLOCK
async def test_only_restarts_within_the_period_count_towards_intensity() -> None:
    log: list[str] = []
    async with actors.open_system() as system:
        events = EventRecorder.attach(system.bus, "actor.>")
        sup = await system.spawn_supervisor(name="sup", max_restarts=1, period=60)
        worker = await sup.spawn(Worker, log, name="w")

        async def crash() -> list[tuple[str, str]]:
            before = len(events.events)
            worker.tell("crash")
            with anyio.fail_after(5):
                await anyio.wait_all_tasks_blocked()
            return [
                (e.topic, e.payload["actor"])
                for e in events.events[before:]
                if e.topic in ("actor.restarted", "actor.escalated")
            ]

        assert await crash() == [("actor.restarted", "w")]
        advance_clock(61)  # the first restart is now outside the 60 s window
        assert await crash() == [("actor.restarted", "w")], (
            "two restarts more than `period` apart made the supervisor give up"
        )
        assert sup.is_alive and await worker.ask("ping") == "pong"
        advance_clock(30)  # the second restart is still inside the window: one too many
        assert await crash() == [("actor.escalated", "sup")]
        assert not sup.is_alive
