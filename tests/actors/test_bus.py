"""The event bus, standalone, on asyncio and trio.

Tests taking the ``kind`` fixture run twice: on the local bus and on the NATS JetStream backend
(a real ``nats-server -js``, asyncio only). The others are local only, because the semantics
differ on NATS: overflow policies and publisher backpressure (JetStream stores the events, a
subscription fetches them: nothing is queued in the process, dropped or disconnected), a
failing handler (its event is redelivered with backoff, then dead-lettered:
test_bus_nats.py), cancelling a subscription with events queued (there is no local queue to
discard), the identity of a delivered Event (each subscription decodes its own copy), and
closing after an error or under a cancel scope (nothing local to abandon).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import anyio
import anyio.lowlevel
import pytest

from actors import (
    ActorDeadError,
    Event,
    EventBus,
    MailboxFullError,
    MemoryEventLog,
    SystemClosedError,
    WouldBlock,
)

pytestmark = pytest.mark.anyio


@pytest.fixture(params=["local", "nats"])
def kind(request: pytest.FixtureRequest, anyio_backend: str) -> str:
    """Which bus: ``"local"``, or ``"nats"`` (asyncio and a running nats-server only)."""
    if request.param == "nats":
        if anyio_backend != "asyncio":
            pytest.skip("the NATS backend runs on asyncio only (nats-py)")
        server = request.getfixturevalue("nats_server")
        request.node.nats_url = server.url
    return str(request.param)


def new_bus(kind: str, request: pytest.FixtureRequest | None = None) -> EventBus:
    if kind == "local":
        return EventBus()
    from actors.nats import NatsBackend

    assert request is not None
    return EventBus(backend=NatsBackend(request.node.nats_url, ack_wait=5, storage="memory"))


async def settle(bus: EventBus, until: Callable[[], bool] | None = None) -> None:
    """Let delivery happen: all tasks blocked (local), or (NATS) every event published so far
    handled, or ``until()`` true when a handler holds an event on purpose."""
    if bus.backend is None:
        await anyio.wait_all_tasks_blocked()
        return
    with anyio.fail_after(20):
        if until is None:
            await bus.flush()
        else:
            while not until():  # noqa: ASYNC110 - handlers change plain lists
                await anyio.sleep(0.01)
            await anyio.sleep(0.05)  # room for a wrong extra delivery to show


class Gate:
    """An async handler that records each event and holds the first ones until opened."""

    def __init__(self) -> None:
        self.seen: list[Any] = []
        self.opened = anyio.Event()

    async def __call__(self, event: Event) -> None:
        self.seen.append(event.payload)
        await self.opened.wait()


class FakeRef:
    """Actor-like: ``send`` puts into a mailbox of one slot, waiting while it is full."""

    name = "worker"

    def __init__(self) -> None:
        self.mailbox: list[Any] = []
        self.room = anyio.Event()
        self.dead = False

    async def send(self, message: Any) -> None:
        if self.dead:
            raise ActorDeadError("stopped")
        while self.mailbox:
            await self.room.wait()
        self.mailbox.append(message)

    def take(self) -> Any:
        message = self.mailbox.pop()
        self.room.set()
        self.room = anyio.Event()
        return message


def payloads(events: list[Event]) -> list[Any]:
    return [e.payload for e in events]


async def test_sync_async_and_actor_subscribers_receive_events(
    kind: str, request: pytest.FixtureRequest
) -> None:
    sync_seen: list[Event] = []
    async_seen: list[Event] = []

    async def on_async(event: Event) -> None:
        await anyio.lowlevel.checkpoint()
        async_seen.append(event)

    ref = FakeRef()
    async with new_bus(kind, request) as bus:
        bus.subscribe("order.created", sync_seen.append)
        bus.subscribe("order.*", on_async)
        bus.subscribe("order.>", ref)
        await bus.publish("order.created", {"id": 1}, headers={"trace": "t1"})
        await settle(bus, lambda: bool(sync_seen and async_seen and ref.mailbox))
        assert [e.topic for e in sync_seen] == ["order.created"]
        event = sync_seen[0]
        assert event.payload == {"id": 1}
        assert dict(event.headers, **{"Nats-Msg-Id": "-"}) == {"trace": "t1", "Nats-Msg-Id": "-"}
        assert event.timestamp > 0
        assert async_seen == [event]
        if kind == "local":
            assert ref.take() is event  # the same Event object, via the mailbox
        else:
            assert ref.take() == event  # an equal copy, decoded by its own consumer


async def test_actor_subscriber_backpressure_and_death() -> None:
    ref = FakeRef()
    async with EventBus() as bus:
        disconnected: list[Event] = []
        bus.subscribe("bus.subscriber_disconnected", disconnected.append)
        sub = bus.subscribe("job.*", ref, queue_size=1, overflow="drop_newest")
        for i in range(4):  # 0 in the mailbox, 1 waits in send(), 2 queued, 3 dropped
            await bus.publish("job.run", i)
            await anyio.wait_all_tasks_blocked()
        assert sub.statistics().dropped == 1
        for expected in (0, 1):
            assert ref.take().payload == expected
            await anyio.wait_all_tasks_blocked()
        assert ref.mailbox[0].payload == 2
        ref.dead = True
        await bus.publish("job.run", 4)  # send() fails: the actor is gone
        await anyio.wait_all_tasks_blocked()
        assert sub.cancelled
        assert sub.statistics().failed == 1
        assert disconnected[0].payload["subscription"] == sub.name == "worker"


async def test_wildcards_route_events(kind: str, request: pytest.FixtureRequest) -> None:
    seen: dict[str, list[str]] = {"order.*": [], "order.>": [], "*.created": [], ">": []}
    async with new_bus(kind, request) as bus:
        for pattern, log in seen.items():

            def record(event: Event, log: list[str] = log) -> None:
                log.append(event.topic)

            bus.subscribe(pattern, record)
        for topic in ("order.created", "order.created.eu", "user.created", "order"):
            await bus.publish(topic)
    assert seen == {
        "order.*": ["order.created"],
        "order.>": ["order.created", "order.created.eu"],
        "*.created": ["order.created", "user.created"],
        ">": ["order.created", "order.created.eu", "user.created", "order"],
    }


async def test_once_delivers_at_most_once_then_cancels(
    kind: str, request: pytest.FixtureRequest
) -> None:
    gate = Gate()
    async with new_bus(kind, request) as bus:
        sub = bus.once("tick", gate)
        for i in range(3):
            await bus.publish("tick", i)
        await settle(bus, lambda: bool(gate.seen))
        assert gate.seen == [0]
        gate.opened.set()
        await settle(bus, lambda: sub.cancelled and not bus.statistics().subscriptions)
        assert sub.cancelled
        await bus.publish("tick", 9)
        await settle(bus)
        assert gate.seen == [0]
        assert bus.statistics().subscriptions == ()


async def test_cancel_stops_delivery_and_is_idempotent() -> None:
    seen: list[Event] = []
    async with EventBus() as bus:
        with bus.subscribe("a", seen.append) as sub:
            await bus.publish("a", 1)
            await anyio.wait_all_tasks_blocked()
        assert sub.cancelled
        sub.cancel()
        await bus.publish("a", 2)
        queued = bus.subscribe("a", seen.append)
        await bus.publish("a", 3)
        queued.cancel()  # before its task ran: the queued event is discarded
        await anyio.wait_all_tasks_blocked()
    assert payloads(seen) == [1]


async def test_wait_for_returns_the_next_matching_event(
    kind: str, request: pytest.FixtureRequest
) -> None:
    async with new_bus(kind, request) as bus, anyio.create_task_group() as tg:

        async def publish_later() -> None:
            await anyio.wait_all_tasks_blocked()  # wait_for has subscribed (publish waits)
            await bus.publish("order.created", 1)
            await bus.publish("order.shipped", 2)

        tg.start_soon(publish_later)
        event = await bus.wait_for("order.shipped", timeout=5)
        assert (event.topic, event.payload) == ("order.shipped", 2)


async def test_wait_for_times_out(kind: str, request: pytest.FixtureRequest) -> None:
    async with new_bus(kind, request) as bus:
        with pytest.raises(TimeoutError):
            await bus.wait_for("never", timeout=0)
        assert bus._index.lookup("never") == ()  # the waiter is gone


async def test_wait_for_fails_when_the_bus_closes() -> None:
    bus = EventBus()
    result: list[BaseException] = []

    async def waiter() -> None:
        try:
            await bus.wait_for("x")
        except SystemClosedError as exc:
            result.append(exc)

    async with anyio.create_task_group() as tg:
        async with bus:
            tg.start_soon(waiter)
            await anyio.wait_all_tasks_blocked()
    assert len(result) == 1


async def test_block_overflow_makes_publish_wait() -> None:
    gate = Gate()
    other: list[Event] = []
    async with EventBus() as bus:
        sub = bus.subscribe("q", gate, queue_size=2, overflow="block")
        bus.subscribe("q", other.append)
        await bus.publish("q", 0)  # taken by the handler, which holds it
        await anyio.wait_all_tasks_blocked()
        await bus.publish("q", 1)
        await bus.publish("q", 2)  # the queue is now full
        with pytest.raises(WouldBlock):
            bus.publish_nowait("q", "refused")
        with pytest.raises(MailboxFullError, match="full"):
            bus.publish_nowait("q", "refused")
        await anyio.wait_all_tasks_blocked()
        assert payloads(other) == [0, 1, 2]  # all or nothing: "refused" went nowhere
        done = anyio.Event()

        async def publisher() -> None:
            await bus.publish("q", 3)
            done.set()

        async with anyio.create_task_group() as tg:
            tg.start_soon(publisher)
            await anyio.wait_all_tasks_blocked()
            assert not done.is_set()  # waiting for room
            assert sub.statistics().queued == sub.queued == 2
            gate.opened.set()
        assert done.is_set()
    assert gate.seen == [0, 1, 2, 3]
    assert sub.statistics().dropped == 0


@pytest.mark.parametrize(
    ("overflow", "delivered"),
    [("drop_newest", [0, 1, 2]), ("drop_oldest", [0, 4, 5])],
)
async def test_drop_policies_count_drops(overflow: Any, delivered: list[int]) -> None:
    gate = Gate()
    async with EventBus() as bus:
        sub = bus.subscribe("q", gate, queue_size=2, overflow=overflow)
        await bus.publish("q", 0)
        await anyio.wait_all_tasks_blocked()
        for i in range(1, 6):
            bus.publish_nowait("q", i)  # never refused
        assert sub.statistics().dropped == 3
        gate.opened.set()
    assert gate.seen == delivered
    stats = bus.statistics()
    assert (stats.delivered, stats.dropped) == (3, 3)


async def test_disconnect_policy_cancels_and_announces() -> None:
    gate = Gate()
    notices: list[Event] = []
    async with EventBus() as bus:
        bus.subscribe("bus.subscriber_disconnected", notices.append)
        sub = bus.subscribe("q", gate, queue_size=2, overflow="disconnect", name="slow")
        for i in range(4):
            await bus.publish("q", i)
            await anyio.wait_all_tasks_blocked()
        assert sub.cancelled
        assert sub.statistics().dropped == 3  # the overflowing event and the two queued
        assert notices[0].payload == {
            "pattern": "q",
            "subscription": "slow",
            "reason": "queue full",
        }
        await bus.publish("q", 4)
        gate.opened.set()
    assert gate.seen == [0]
    assert bus.statistics().dropped == 3


async def test_a_slow_subscriber_does_not_delay_a_fast_one() -> None:
    slow = Gate()
    fast: list[Event] = []
    async with EventBus() as bus:
        bus.subscribe("t", slow)
        bus.subscribe("t", fast.append)
        for i in range(3):
            await bus.publish("t", i)
        await anyio.wait_all_tasks_blocked()
        assert payloads(fast) == [0, 1, 2]
        assert slow.seen == [0]
        slow.opened.set()
    assert slow.seen == [0, 1, 2]


async def test_a_raising_handler_is_isolated_and_reported() -> None:
    good: list[Event] = []
    failures: list[Event] = []

    def bad(event: Event) -> None:
        raise RuntimeError(f"bad {event.payload}")

    def bad_reporter(event: Event) -> None:
        raise RuntimeError("the failure handler fails too")

    async with EventBus() as bus:
        bus.subscribe("job.*", bad, name="bad")
        bus.subscribe("job.*", good.append)
        bus.subscribe("bus.handler_failed", failures.append)
        bus.subscribe("bus.handler_failed", bad_reporter)  # no loop
        await bus.publish("job.a", 1)
        await bus.publish("job.b", 2)
        await anyio.wait_all_tasks_blocked()
    assert payloads(good) == [1, 2]
    assert [f.payload for f in failures] == [
        {
            "pattern": "job.*",
            "topic": "job.a",
            "subscription": "bad",
            "error": "RuntimeError: bad 1",
        },
        {
            "pattern": "job.*",
            "topic": "job.b",
            "subscription": "bad",
            "error": "RuntimeError: bad 2",
        },
    ]
    assert bus.statistics().failed == 4  # bad twice, bad_reporter twice; nothing re-reported


async def test_per_publisher_order_is_preserved_under_interleaving(
    kind: str, request: pytest.FixtureRequest
) -> None:
    publishers, count = 4, 150
    fast: list[tuple[int, int]] = []
    checkpointing: list[tuple[int, int]] = []

    async def on_async(event: Event) -> None:
        await anyio.lowlevel.checkpoint()
        checkpointing.append(event.payload)

    async def publisher(p: int) -> None:
        for i in range(count):
            await bus.publish(f"seq.p{p}", (p, i))
            if i % 7 == p:
                await anyio.lowlevel.checkpoint()

    async with new_bus(kind, request) as bus:
        bus.subscribe("seq.*", lambda e: fast.append(e.payload), queue_size=3)
        bus.subscribe("seq.>", on_async, queue_size=5)
        async with anyio.create_task_group() as tg:
            for p in range(publishers):
                tg.start_soon(publisher, p)
    for seen in (fast, checkpointing):
        assert len(seen) == publishers * count
        if kind == "local":  # (NATS publishes interleave too, but round trips set the pace)
            assert len({p for p, i in seen[: count // 2]}) > 1  # really interleaved
        for p in range(publishers):
            assert [i for q, i in seen if q == p] == list(range(count))


async def test_close_delivers_everything_published(
    kind: str, request: pytest.FixtureRequest
) -> None:
    seen: list[int] = []

    async def slowish(event: Event) -> None:
        await anyio.lowlevel.checkpoint()
        seen.append(event.payload)

    async with new_bus(kind, request) as bus:
        bus.subscribe("a.*", slowish, queue_size=10_000)
        for i in range(500):
            bus.publish_nowait("a.b", i)
    assert seen == list(range(500))
    with pytest.raises(SystemClosedError, match="closed"):
        await bus.publish("a.b")
    with pytest.raises(SystemClosedError):
        bus.publish_nowait("a.b")
    with pytest.raises(SystemClosedError):
        bus.subscribe("a.b", print)
    await bus.__aexit__(None, None, None)  # idempotent


async def test_publish_before_start_is_refused_but_subscribe_is_not(
    kind: str, request: pytest.FixtureRequest
) -> None:
    bus = new_bus(kind, request)
    seen: list[Event] = []
    bus.subscribe("a", seen.append)
    with pytest.raises(SystemClosedError, match="not started"):
        await bus.publish("a", 0)
    async with bus:
        await bus.publish("a", 1)
    assert payloads(seen) == [1]
    with pytest.raises(RuntimeError):
        await bus.__aenter__()


async def test_skip_unheard_counts_a_publish_only_when_nothing_would_receive_it() -> None:
    seen: list[Any] = []
    async with EventBus() as bus:
        assert bus.skip_unheard("a.b")  # nobody: counted as published, the caller skips it
        sub = bus.subscribe("a.*", seen.append)
        assert not bus.skip_unheard("a.b")  # a subscriber: publish it (not counted here)
        await bus.publish("a.b", 1)
        await settle(bus)
        assert bus.skip_unheard("c")
        sub.cancel()
        assert bus.skip_unheard("a.b")
        with pytest.raises(ValueError):
            bus.skip_unheard("a.*")
        assert bus.statistics().published == 4
    assert payloads(seen) == [1]
    async with EventBus(event_log=MemoryEventLog()) as logged:
        assert not logged.skip_unheard("a.b")  # logged topics are always published
    assert not logged.skip_unheard("a.b")  # closed: publish raises as it should


async def test_leaving_with_an_error_does_not_wait_for_subscribers() -> None:
    gate = Gate()
    with pytest.raises(KeyError):
        async with EventBus() as bus:
            bus.subscribe("a", gate)
            await bus.publish("a", 1)
            await bus.publish("a", 2)
            await anyio.wait_all_tasks_blocked()
            raise KeyError("boom")
    assert gate.seen == [1]


async def test_statistics(kind: str, request: pytest.FixtureRequest) -> None:
    async with new_bus(kind, request) as bus:
        sub = bus.subscribe("s.*", lambda e: None, name="quiet")
        await bus.publish("s.a")
        await bus.publish("nobody")
        await settle(bus)
        stats = bus.statistics()
        assert (stats.published, stats.delivered, stats.dropped, stats.failed) == (2, 1, 0, 0)
        assert stats.subscriptions == (sub.statistics(),)
        assert sub.statistics().name == "quiet"
        sub.cancel()
        assert bus.statistics().delivered == 1  # kept after the subscription ends


async def test_invalid_arguments(kind: str, request: pytest.FixtureRequest) -> None:
    async with new_bus(kind, request) as bus:
        with pytest.raises(ValueError, match="wildcard"):
            await bus.publish("order.*")
        with pytest.raises(ValueError, match="empty token"):
            bus.subscribe("order..x", print)
        with pytest.raises(ValueError, match="overflow"):
            bus.subscribe("a", print, overflow="explode")  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="queue_size"):
            bus.subscribe("a", print, queue_size=0)
        with pytest.raises(TypeError):
            bus.subscribe("a", 42)  # type: ignore[arg-type]


async def test_an_outer_cancel_scope_bounds_a_stuck_close() -> None:
    gate = Gate()  # never opened: the drain would wait for ever
    async with anyio.create_task_group() as tg:
        with anyio.CancelScope() as scope:
            async with EventBus() as bus:
                bus.subscribe("a", gate)
                await bus.publish("a", 1)

                async def cancel_when_stuck() -> None:
                    await anyio.wait_all_tasks_blocked()
                    scope.cancel()

                tg.start_soon(cancel_when_stuck)
    assert scope.cancelled_caught
    assert gate.seen == [1]
    with pytest.raises(SystemClosedError):
        await bus.publish("a", 2)


async def test_close_waits_for_blocked_publishers() -> None:
    gate = Gate()

    async def open_gate_when_stuck() -> None:
        await anyio.wait_all_tasks_blocked()
        gate.opened.set()

    async with anyio.create_task_group() as tg:
        async with EventBus() as bus:
            bus.subscribe("q", gate, queue_size=1)
            await bus.publish("q", 0)
            await anyio.wait_all_tasks_blocked()
            await bus.publish("q", 1)  # the queue is full now
            tg.start_soon(bus.publish, "q", 2)
            await anyio.wait_all_tasks_blocked()
            tg.start_soon(open_gate_when_stuck)
    assert gate.seen == [0, 1, 2]


async def test_cancelling_releases_a_blocked_publisher() -> None:
    gate = Gate()
    async with EventBus() as bus, anyio.create_task_group() as tg:
        sub = bus.subscribe("q", gate, queue_size=1)
        await bus.publish("q", 0)
        await anyio.wait_all_tasks_blocked()
        await bus.publish("q", 1)
        tg.start_soon(bus.publish, "q", 2)
        await anyio.wait_all_tasks_blocked()
        sub.cancel()  # the blocked publish returns; queued events are discarded
        gate.opened.set()
    assert gate.seen == [0]


async def test_handlers_may_publish_and_return_awaitables(
    kind: str, request: pytest.FixtureRequest
) -> None:
    seen: list[Any] = []

    async def record(event: Event) -> None:
        seen.append(event.payload)

    async with new_bus(kind, request) as bus:
        bus.subscribe("in", lambda e: bus.publish_nowait("out", e.payload * 2))
        bus.subscribe("out", lambda e: record(e))  # a sync callable returning a coroutine
        await bus.publish("in", 21)
    assert seen == [42]
