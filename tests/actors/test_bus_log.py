"""A bus with an event log: logged publish, group commit, replay, subscribe since, retention."""

from __future__ import annotations

import pathlib
import random
from collections.abc import Sequence
from typing import Any

import anyio
import anyio.lowlevel
import pytest

from actors import (
    Actor,
    Event,
    EventBus,
    EventLogError,
    LogRecord,
    MemoryEventLog,
    SqliteEventLog,
    SystemClosedError,
    open_system,
    start_in_thread,
)
from actors._topics import topic_matches
from actors.testing import EventRecorder

from .eventlogs import KINDS, make_log, rows

pytestmark = pytest.mark.anyio


@pytest.fixture(params=KINDS)
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


class HeldLog(MemoryEventLog):
    """A log whose appends wait until ``release`` is set: a slow disk."""

    def __init__(self) -> None:
        super().__init__()
        self.entered = anyio.Event()
        self.release = anyio.Event()

    async def append(self, records: Sequence[LogRecord]) -> list[int]:
        self.entered.set()
        await self.release.wait()
        return await super().append(records)


class FailingLog(MemoryEventLog):
    """A log whose next append fails as a full disk would."""

    def __init__(self, error: Exception) -> None:
        super().__init__()
        self.error: Exception | None = error

    async def append(self, records: Sequence[LogRecord]) -> list[int]:
        error, self.error = self.error, None
        if error is not None:
            raise error
        return await super().append(records)


async def test_a_logged_publish_returns_its_seq_once_committed(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "state.db"
    seen: list[Event] = []
    async with EventBus(event_log=SqliteEventLog(path)) as bus:
        bus.subscribe(">", seen.append)
        first = await bus.publish("order.created", {"id": 1}, headers={"trace": "t1"})
        assert first == 1
        assert rows(path) == {1: ("order.created", '{"id":1}')}  # on disk, before we go on
        assert await bus.publish("llm.chunk", "tok") is None  # not logged by default
        assert await bus.publish("order.shipped", [1, 2]) == 2
        assert sorted(rows(path)) == [1, 2]
        assert bus.statistics().logged == 2
    assert [(e.topic, e.seq) for e in seen] == [
        ("order.created", 1),
        ("llm.chunk", None),
        ("order.shipped", 2),
    ]
    assert dict(seen[0].headers) == {"trace": "t1"} and seen[0].payload == {"id": 1}


async def test_a_subscriber_never_sees_an_event_the_log_does_not_have(
    tmp_path: pathlib.Path,
) -> None:
    path = tmp_path / "state.db"
    unseen: list[int | None] = []

    def check(event: Event) -> None:  # reads the file with its own connection, at delivery
        if event.seq not in rows(path):
            unseen.append(event.seq)

    async with EventBus(event_log=SqliteEventLog(path)) as bus:
        bus.subscribe("t.>", check)
        async with anyio.create_task_group() as tg:
            for p in range(10):

                async def publish(p: int = p) -> None:
                    for i in range(10):
                        await bus.publish(f"t.{p}", i)

                tg.start_soon(publish)
    assert len(rows(path)) == 100
    assert unseen == []


async def test_concurrent_publishes_share_commits(kind: str, tmp_path: pathlib.Path) -> None:
    log = make_log(kind, tmp_path)
    async with EventBus(event_log=log) as bus:
        async with anyio.create_task_group() as tg:
            for p in range(50):

                async def publish(p: int = p) -> None:
                    for i in range(10):
                        await bus.publish(f"t.{p}", i)

                tg.start_soon(publish)
        stats = bus.statistics()
    assert stats.logged == 500 and stats.log_failed == 0
    assert stats.log_commits * 2 < stats.logged  # batches of more than 2 events on average
    assert stats.log_commits == log.commits  # type: ignore[attr-defined]


async def test_a_payload_that_is_not_json_is_refused_naming_the_topic(
    kind: str, tmp_path: pathlib.Path
) -> None:
    seen: list[Event] = []
    async with EventBus(event_log=make_log(kind, tmp_path)) as bus:
        bus.subscribe(">", seen.append)
        with pytest.raises(ValueError, match=r"'order\.created' is logged.*JSON"):
            await bus.publish("order.created", {"when": object()})
        with pytest.raises(ValueError, match=r"'order\.created' is logged"):
            await bus.publish("order.created", float("nan"))
        with pytest.raises(ValueError, match=r"'order\.created' is logged"):
            bus.publish_nowait("order.created", {1, 2})
        cycle: list[object] = [1]
        cycle.append(cycle)
        with pytest.raises(ValueError, match=r"'order\.created' is logged.*[Cc]ircular"):
            await bus.publish("order.created", {"items": cycle})
        marker = object()
        assert await bus.publish("llm.chunk", marker) is None  # unlogged: anything goes
        assert await bus.publish("order.created", {"ok": True}) == 1
    assert [e.payload for e in seen] == [marker, {"ok": True}]


@pytest.mark.parametrize("error", [EventLogError("disk full"), OSError(28, "No space left")])
async def test_a_failed_commit_fails_its_publishers_and_the_bus_goes_on(
    error: Exception,
) -> None:
    seen: list[Event] = []
    log = FailingLog(error)
    async with EventBus(event_log=log) as bus:
        bus.subscribe(">", seen.append)
        with pytest.raises(EventLogError, match=r"on 'order\.created' failed") as caught:
            await bus.publish("order.created", 1)
        assert caught.value.__cause__ is error
        assert await bus.publish("order.created", 2) == 1
        stats = bus.statistics()
    assert (stats.logged, stats.log_failed) == (1, 1)
    assert [e.payload for e in seen] == [2]  # the failed event was not delivered


async def test_a_publisher_cancelled_before_its_commit_withdraws_the_event() -> None:
    log = HeldLog()
    seen: list[Event] = []
    async with EventBus(event_log=log) as bus:
        bus.subscribe(">", seen.append)
        in_flight, waiting = anyio.CancelScope(), anyio.CancelScope()

        async def publish(scope: anyio.CancelScope, topic: str) -> None:
            with scope:
                await bus.publish(topic)

        async with anyio.create_task_group() as tg:
            tg.start_soon(publish, in_flight, "t.first")
            await log.entered.wait()  # its batch is being committed
            tg.start_soon(publish, waiting, "t.second")  # waits in the next batch
            await anyio.wait_all_tasks_blocked()
            in_flight.cancel()  # too late to withdraw: it will be logged and delivered
            waiting.cancel()  # withdrawn
            await anyio.wait_all_tasks_blocked()
            log.release.set()
        await anyio.wait_all_tasks_blocked()
        assert [e.topic for e in await log.read()] == ["t.first"]
    assert [(e.topic, e.seq) for e in seen] == [("t.first", 1)]
    assert log.commits == 1


async def test_publishers_of_one_batch_wake_together_even_when_one_was_cancelled() -> None:
    log = HeldLog()
    seen: list[Event] = []
    async with EventBus(event_log=log) as bus:
        bus.subscribe(">", seen.append)
        seqs: dict[int, int | None] = {}
        scopes = [anyio.CancelScope() for _ in range(5)]

        async def publish(n: int) -> None:
            with scopes[n]:
                seqs[n] = await bus.publish(f"t.{n}")

        async with anyio.create_task_group() as tg:
            tg.start_soon(publish, 0)
            await log.entered.wait()  # publisher 0's batch is being committed
            for n in range(1, 5):
                tg.start_soon(publish, n)  # these four share the next batch
            await anyio.wait_all_tasks_blocked()
            log.entered = anyio.Event()
            log.release.set()
            await log.entered.wait()  # the next batch is in the log: too late to withdraw
            scopes[2].cancel()
    delivered = {e.topic: e.seq for e in seen}  # the cancelled one's event too: committed
    assert [e.seq for e in seen] == [1, 2, 3, 4, 5]
    assert seqs == {n: delivered[f"t.{n}"] for n in (0, 1, 3, 4)}
    assert "t.2" in delivered
    assert log.commits == 2


async def test_publish_nowait_is_delivered_after_the_commit_and_close_waits_for_it(
    tmp_path: pathlib.Path,
) -> None:
    path = tmp_path / "state.db"
    seen: list[Event] = []
    async with EventBus(event_log=SqliteEventLog(path)) as bus:
        bus.subscribe(">", seen.append)
        for i in range(100):
            assert bus.publish_nowait("t.x", i) is None  # type: ignore[func-returns-value]
        assert seen == []  # not committed yet, so not delivered
    assert [e.seq for e in seen] == list(range(1, 101))
    assert len(rows(path)) == 100


async def test_replay_reads_logged_events_back(kind: str, tmp_path: pathlib.Path) -> None:
    async with EventBus(event_log=make_log(kind, tmp_path)) as bus:
        for i in range(1200):  # more than one page
            await bus.publish("a.even" if i % 2 == 0 else "a.odd", {"i": i})
        await bus.publish("llm.chunk", "not logged")
        events = [e async for e in bus.replay("a.>")]
        assert [e.seq for e in events] == list(range(1, 1201))
        assert [e.payload["i"] for e in events] == list(range(1200))
        odd = [e.seq async for e in bus.replay("a.odd", since=1190)]
        assert odd == [1192, 1194, 1196, 1198, 1200]
        assert [e async for e in bus.replay("llm.chunk")] == []

        replay = bus.replay(">", since=1198)
        first = await replay.__anext__()
        await bus.publish("a.late", 1)  # after the replay began: not part of it
        assert [first.seq] + [e.seq async for e in replay] == [1199, 1200]
        with pytest.raises(ValueError, match="since"):
            bus.replay(">", since=-1)
    with pytest.raises(SystemClosedError):
        bus.replay(">")
    async with EventBus() as plain:
        with pytest.raises(ValueError, match="event log"):
            plain.replay(">")
        with pytest.raises(ValueError, match="event log"):
            plain.subscribe(">", print, since=0)


async def test_subscribe_since_replays_then_continues_live(
    kind: str, tmp_path: pathlib.Path
) -> None:
    seen: list[Event] = []
    async with EventBus(event_log=make_log(kind, tmp_path)) as bus:
        for i in range(5):
            await bus.publish("order.created", i)
        await bus.publish("user.created", "u")
        bus.subscribe("order.*", seen.append, since=2)
        await bus.publish("order.created", 5)
        await bus.publish("llm.chunk", "live only")  # unlogged: delivered if it matches
        with pytest.raises(ValueError, match="since"):
            bus.subscribe(">", print, since=-1)
        with pytest.raises(ValueError, match="since"):
            bus.subscribe(">", print, since=True)
    assert [(e.seq, e.payload) for e in seen] == [(3, 2), (4, 3), (5, 4), (7, 5)]


class Collector:
    """A since-subscriber for the race test: records each event and whether it came live."""

    def __init__(self, pattern: str, since: int, sent: dict[tuple[int, int], Any]) -> None:
        self.pattern, self.since, self.sent = pattern, since, sent
        self.seqs: list[int | None] = []
        self.live = self.replayed = 0
        self.wrong: list[Event] = []

    def __call__(self, event: Event) -> None:
        self.seqs.append(event.seq)
        original = self.sent[(event.payload["p"], event.payload["i"])]
        if event.payload is original:
            self.live += 1
        elif event.payload == original:
            self.replayed += 1
        else:
            self.wrong.append(event)


class AsyncCollector(Collector):
    async def __call__(self, event: Event) -> None:  # type: ignore[override]
        await anyio.lowlevel.checkpoint()
        super().__call__(event)


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
async def test_subscribe_since_has_no_gap_and_no_duplicate_while_publishes_race(
    kind: str, tmp_path: pathlib.Path, seed: int
) -> None:
    """Subscribers join at random points of a stream of concurrent publishes, each from a
    random earlier seq, with queues from 1 slot (catch-up falls behind and re-reads) up:
    each must see exactly the logged events after its ``since`` that match, in order."""
    rng = random.Random(seed)
    sent: dict[tuple[int, int], Any] = {}
    published: list[tuple[int, str]] = []
    collectors: list[Collector] = []
    queues = [(1, "block"), (3, "block"), (1024, "block"), (1024, "drop_oldest")]
    async with EventBus(event_log=make_log(kind, tmp_path)) as bus:

        async def publisher(p: int) -> None:
            for i in range(60):
                topic = f"race.{p}.{'even' if i % 2 == 0 else 'odd'}"
                payload = sent[(p, i)] = {"p": p, "i": i}
                seq = await bus.publish(topic, payload)
                assert seq is not None
                published.append((seq, topic))
                if rng.random() < 0.05:  # join now, while the others are mid-publish
                    pattern = rng.choice(["race.>", "race.*.even", f"race.{p}.*"])
                    cls = rng.choice([Collector, AsyncCollector])
                    collector = cls(pattern, max(0, seq - rng.randint(0, 120)), sent)
                    size, overflow = rng.choice(queues)
                    bus.subscribe(
                        pattern, collector, since=collector.since,
                        queue_size=size, overflow=overflow,  # type: ignore[arg-type]
                    )  # fmt: skip
                    collectors.append(collector)
                await anyio.lowlevel.checkpoint()

        async with anyio.create_task_group() as tg:
            for p in range(8):
                tg.start_soon(publisher, p)
    # leaving the bus delivered everything: every catch-up is over, every queue empty
    assert len(collectors) >= 10
    assert sorted(seq for seq, _ in published) == list(range(1, 481))
    for c in collectors:
        expected = sorted(s for s, t in published if s > c.since and topic_matches(c.pattern, t))
        assert c.seqs == expected, (c.pattern, c.since)
        assert c.wrong == []
    assert sum(1 for c in collectors if c.live and c.replayed) >= 3  # the switch-over happened


async def test_catching_up_never_makes_a_publisher_wait(kind: str, tmp_path: pathlib.Path) -> None:
    seen: list[int] = []
    held = anyio.Event()

    async def slow(event: Event) -> None:
        await held.wait()
        seen.append(event.payload)

    async with EventBus(event_log=make_log(kind, tmp_path)) as bus:
        for i in range(50):
            await bus.publish("t.x", i)
        sub = bus.subscribe("t.>", slow, since=0, queue_size=2, overflow="block")
        with anyio.fail_after(10):  # a "block" queue of 2, stuck: the log takes the overflow
            for i in range(50, 150):
                await bus.publish("t.x", i)
        held.set()
    assert seen == list(range(150))
    assert sub.statistics().dropped == 0


async def test_a_replay_that_fails_disconnects_the_subscriber(tmp_path: pathlib.Path) -> None:
    class UnreadableLog(MemoryEventLog):
        async def read(self, pattern: str = ">", **kwargs: Any) -> list[Event]:
            raise EventLogError("cannot read")

    async with EventBus(event_log=UnreadableLog()) as bus:
        gone = EventRecorder.attach(bus, "bus.subscriber_disconnected")
        await bus.publish("t.x", 1)
        sub = bus.subscribe("t.>", print, since=0, name="reader")
        (payload,) = await gone.wait_for("bus.subscriber_disconnected")
        assert sub.cancelled
        assert payload["subscription"] == "reader" and "cannot read" in payload["reason"]
        assert await bus.publish("t.x", 2) == 3  # the bus goes on (the notice was logged too)


async def test_retention_is_applied_as_the_bus_commits(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "state.db"
    log = SqliteEventLog(path, max_events=5, prune_interval=0)  # prune after every commit
    async with EventBus(event_log=log) as bus:
        for i in range(20):
            await bus.publish("t.x", i)
    # closing waited for the last retention pass
    assert sorted(rows(path)) == [16, 17, 18, 19, 20]


class Crasher(Actor):
    def on_receive(self, message: Any) -> None:
        raise RuntimeError("boom")


async def test_runtime_events_are_logged_and_what_is_not_json_becomes_its_repr(
    kind: str, tmp_path: pathlib.Path
) -> None:
    async with open_system(event_log=make_log(kind, tmp_path)) as system:
        recorder = EventRecorder.attach(system.bus, "actor.>")
        ref = await system.spawn(Crasher, name="crasher")
        ref.tell("crash")
        await recorder.wait_for("actor.restarted")
        await ref.stop()
        ref.tell(object())  # a dead letter whose message is not JSON
        await recorder.wait_for("actor.dead_letter")
        logged = {e.topic: e.payload async for e in system.bus.replay("actor.>")}
        assert "actor.started" in recorder.topics()  # delivered live ...
    assert "actor.started" not in logged and "actor.stopped" not in logged  # ... not logged
    assert "boom" in logged["actor.restarted"]["error"]
    assert logged["actor.dead_letter"]["message"].startswith("<object object at")
    seqs = [e.seq for e in recorder.events if e.topic in logged]
    assert all(seq is not None for seq in seqs)


def test_the_threaded_facade_logs_replays_and_subscribes_since(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "state.db"
    seen: list[int | None] = []
    with start_in_thread(backend="trio", event_log=path) as system:
        assert system.bus.publish("order.created", {"id": 1}) == 1
        assert system.bus.publish("order.created", {"id": 2}) == 2
        assert [e.payload for e in system.bus.replay("order.*", since=1)] == [{"id": 2}]
        system.bus.subscribe("order.>", lambda e: seen.append(e.seq), since=1)
        assert system.bus.publish("order.shipped", {"id": 1}) == 3
    assert seen == [2, 3]
    assert sorted(rows(path)) == [1, 2, 3]


async def test_a_full_blocking_subscriber_that_publishes_does_not_deadlock_the_log(
    kind: str, tmp_path: pathlib.Path
) -> None:
    """A handler that publishes logged events while its own "block" queue is full: the writer
    must not wait for that queue, or the handler (waiting for the writer) never drains it."""
    audits: list[int] = []

    async def on_order(event: Event) -> None:
        seq = await bus.publish("audit.order", event.payload)  # a logged publish
        assert seq is not None
        audits.append(event.payload)

    async with EventBus(event_log=make_log(kind, tmp_path)) as bus:
        bus.subscribe("order.*", on_order, queue_size=1, overflow="block")
        with anyio.fail_after(10):
            async with anyio.create_task_group() as tg:
                for p in range(5):

                    async def publish(p: int = p) -> None:
                        for i in range(10):
                            await bus.publish("order.created", p * 10 + i)

                    tg.start_soon(publish)
    stats = bus.statistics()  # after the close: every handler has run
    assert sorted(audits) == list(range(50))
    assert stats.logged == 100 and stats.dropped == 0


async def test_a_full_blocking_subscriber_holds_back_the_publisher_of_a_logged_event() -> None:
    held = anyio.Event()
    seen: list[int] = []

    async def slow(event: Event) -> None:
        await held.wait()
        seen.append(event.payload)

    returned: list[int | None] = []
    async with EventBus(event_log=MemoryEventLog()) as bus:
        bus.subscribe("t.>", slow, queue_size=1, overflow="block")
        returned.append(await bus.publish("t.x", 0))  # taken by the handler, which holds
        returned.append(await bus.publish("t.x", 1))  # fills the queue of 1
        async with anyio.create_task_group() as tg:

            async def publish() -> None:
                returned.append(await bus.publish("t.x", 2))

            tg.start_soon(publish)
            await anyio.wait_all_tasks_blocked()
            assert returned == [1, 2]  # the third is committed and queued, but waits for room
            assert [e.seq for e in await bus.event_log.read()] == [1, 2, 3]  # type: ignore[union-attr]
            held.set()
    assert returned == [1, 2, 3] and seen == [0, 1, 2]


async def test_a_log_that_cannot_open_fails_the_system_start_plainly(
    tmp_path: pathlib.Path,
) -> None:
    log = SqliteEventLog(tmp_path / "missing" / "state.db", create=False)
    with pytest.raises(EventLogError, match="unable to open"):
        async with open_system(event_log=log):
            pass
