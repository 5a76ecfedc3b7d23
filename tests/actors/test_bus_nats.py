"""The bus on NATS JetStream across processes, against a real ``nats-server -js`` on loopback.

What the local bus cannot show: events crossing processes, a queue group shared by processes,
redelivery after a kill -9, a server restart, naks and dead letters, in_progress for long
handlers, message-id deduplication, and the connection's failure modes. Asyncio only (nats-py).
"""

from __future__ import annotations

import os
import pathlib
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import anyio
import pytest

from actors import Event, EventBus, open_system
from actors.nats import NatsBackend
from tests.natsserver import NatsServer, free_port

pytestmark = pytest.mark.anyio

ROOT = pathlib.Path(__file__).resolve().parents[2]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def until(check: Callable[[], bool], timeout: float = 30.0) -> None:  # noqa: ASYNC109
    """Wait until ``check()`` (hang detection: fail after a generous ``timeout``)."""
    with anyio.fail_after(timeout):
        while not check():  # noqa: ASYNC110 - handlers change plain lists
            await anyio.sleep(0.01)


class Processes:
    """Subprocesses running tests/actors/nats_worker.py; all killed at the end."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, name: str, *args: str) -> subprocess.Popen[bytes]:
        env = dict(os.environ, PYTHONPATH=str(ROOT))
        proc = subprocess.Popen(
            [sys.executable, "-m", "tests.actors.nats_worker", self.url, *args],
            cwd=ROOT, env=env, stderr=subprocess.PIPE,
        )  # fmt: skip
        self.procs[name] = proc
        return proc

    def worker(self, name: str, delay: float, ack_wait: float) -> subprocess.Popen[bytes]:
        return self.start(name, "worker", name, str(delay), str(ack_wait))

    def close(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.kill()
            proc.wait()
            if proc.stderr is not None:
                proc.stderr.close()


@pytest.fixture
def processes(nats_server: NatsServer) -> Iterator[Processes]:
    procs = Processes(nats_server.url)
    try:
        yield procs
    finally:
        procs.close()


def backend(server: NatsServer, **options: Any) -> NatsBackend:
    options.setdefault("ack_wait", 5)
    return NatsBackend(server.url, **options)


async def test_events_cross_processes_with_their_headers(
    nats_server: NatsServer, processes: Processes
) -> None:
    seen: list[Event] = []
    async with EventBus(backend=backend(nats_server)) as bus:
        bus.subscribe("cross.*", seen.append)
        await bus.flush()  # the consumer exists before the other process publishes
        proc = processes.start("publisher", "publish", "20")
        await until(lambda: len(seen) == 20)
        assert await anyio.to_thread.run_sync(proc.wait) == 0
    assert [e.payload for e in seen] == list(range(20))
    assert [e.headers["traceparent"] for e in seen] == [f"00-{i:032x}-01" for i in range(20)]
    assert all(e.headers["Nats-Msg-Id"] for e in seen)
    seqs = [e.seq for e in seen]
    assert seqs == sorted(seqs) and len(set(seqs)) == 20


async def _start_workers(
    bus: EventBus, processes: Processes, names: list[str], delay: float, ack_wait: float
) -> tuple[list[Any], list[Any]]:
    ready: list[str] = []
    started: list[Any] = []
    done: list[Any] = []
    bus.subscribe("worker.ready", lambda e: ready.append(e.payload))
    bus.subscribe("job.started", lambda e: started.append(e.payload))
    bus.subscribe("job.done", lambda e: done.append(e.payload))
    await bus.flush()
    for name in names:
        processes.worker(name, delay, ack_wait)
    await until(lambda: sorted(ready) == sorted(names), timeout=60)
    return started, done


@pytest.mark.slow
async def test_a_queue_group_of_two_processes_takes_each_job_exactly_once(
    nats_server: NatsServer, processes: Processes
) -> None:
    async with EventBus(backend=backend(nats_server)) as bus:
        started, done = await _start_workers(bus, processes, ["a", "b"], 0.02, 5)
        for job in range(40):
            await bus.publish("job.new", job)
        await until(lambda: len(done) >= 40)
        await anyio.sleep(0.3)  # room for a wrong duplicate to show
    per_job = Counter(d["job"] for d in done)
    assert sorted(per_job) == list(range(40))
    assert set(per_job.values()) == {1}  # each exactly once
    assert len(started) == 40
    workers = Counter(d["worker"] for d in done)
    assert set(workers) == {"a", "b"}, workers  # both took work


@pytest.mark.slow
async def test_a_killed_process_s_unacknowledged_job_is_redone_by_another(
    nats_server: NatsServer, processes: Processes
) -> None:
    async with EventBus(backend=backend(nats_server)) as bus:
        started, done = await _start_workers(bus, processes, ["a", "b"], 0.1, 2)
        for job in range(40):
            await bus.publish("job.new", job)
        await until(lambda: sum(s["worker"] == "a" for s in started) >= 2)
        os.kill(processes.procs["a"].pid, signal.SIGKILL)  # in the middle of a 0.1 s job
        await until(lambda: {d["job"] for d in done} == set(range(40)), timeout=90)
    # Which job a was in the middle of is read once every event has arrived: under load, a's
    # `job.started` for its next job can still be on its way when the kill lands, so the last
    # one seen *at* the kill may be a job a had already finished.
    started_by_a = {s["job"] for s in started if s["worker"] == "a"}
    killed_in = started_by_a - {d["job"] for d in done if d["worker"] == "a"}
    assert killed_in  # the kill landed during a job (a sleeps 0.1 s in each)
    by_b = {d["job"] for d in done if d["worker"] == "b"}
    assert killed_in <= by_b  # redelivered to b after the ack wait
    per_job = Counter(d["job"] for d in done)
    assert {job for job, n in per_job.items() if n > 1} <= started_by_a  # at least once


@pytest.mark.slow
async def test_a_server_restart_loses_nothing_acknowledged(nats_server: NatsServer) -> None:
    queued: list[int] = []
    plain: list[int] = []
    nats = backend(nats_server, ack_wait=2, reconnect_wait=0.1, publish_timeout=30)
    async with EventBus(backend=nats) as bus:
        bus.subscribe("stream.item", lambda e: queued.append(e.payload), queue="keep")
        bus.subscribe("stream.item", lambda e: plain.append(e.payload))
        published: list[int] = []

        async def publisher() -> None:
            for i in range(60):
                await bus.publish("stream.item", i)  # waits across the restart
                published.append(i)
                await anyio.sleep(0.005)

        async with anyio.create_task_group() as tg:
            tg.start_soon(publisher)
            await until(lambda: len(published) >= 20)
            await anyio.to_thread.run_sync(nats_server.stop)
            await until(lambda: not bus.connected)
            await anyio.to_thread.run_sync(nats_server.start)
        assert published == list(range(60))
        await until(lambda: set(queued) >= set(range(60)) and set(plain) >= set(range(60)))
    assert nats.reconnects >= 1


@pytest.mark.slow
async def test_a_failing_handler_is_retried_then_dead_lettered(nats_server: NatsServer) -> None:
    attempts: list[int] = []
    dead: list[Event] = []
    failures: list[Event] = []

    def always_fails(event: Event) -> None:
        attempts.append(event.payload)
        raise RuntimeError(f"cannot do {event.payload}")

    async with EventBus(backend=backend(nats_server, max_deliver=3)) as bus:
        bus.subscribe("task.run", always_fails, name="doomed")
        bus.subscribe("dead.>", dead.append)
        bus.subscribe("bus.handler_failed", failures.append)
        await bus.publish("task.run", 7, headers={"traceparent": "00-ab-01"})
        await until(lambda: len(dead) == 1 and len(failures) == 3)
        stats = bus.statistics()
    assert attempts == [7, 7, 7]  # max_deliver=3 deliveries, naked with backoff between
    letter = dead[0]
    assert (letter.topic, letter.payload) == ("dead.task.run", 7)
    assert letter.headers["Actors-Dead-Subscription"] == "doomed"
    assert letter.headers["Actors-Dead-Error"] == "RuntimeError: cannot do 7"
    assert letter.headers["Actors-Dead-Topic"] == "task.run"
    assert letter.headers["traceparent"] == "00-ab-01"
    assert stats.dead_lettered == 1
    assert stats.failed == 3


@pytest.mark.slow
async def test_in_progress_keeps_a_long_handler_s_event_from_redelivery(
    nats_server: NatsServer,
) -> None:
    handled: list[str] = []

    async def slow(event: Event) -> None:
        handled.append("slow")
        await anyio.sleep(2.5)  # 2.5 x the ack wait

    async with (
        EventBus(backend=backend(nats_server, ack_wait=1)) as one,
        EventBus(backend=backend(nats_server, ack_wait=1)) as two,
    ):
        one.subscribe("long.job", slow, queue="w")
        await one.flush()
        await one.publish("long.job")
        await until(lambda: handled == ["slow"])
        two.subscribe("long.job", lambda e: handled.append("other"), queue="w")
        await two.flush()
        await one.flush()
    assert handled == ["slow"]  # never redelivered to the idle member


async def test_a_subscription_cancelled_before_the_bus_starts_is_forgotten(
    nats_server: NatsServer,
) -> None:
    seen: list[int] = []
    bus = EventBus(backend=backend(nats_server))
    bus.subscribe("a", lambda e: seen.append(-1)).cancel()
    bus.subscribe("a", lambda e: seen.append(e.payload))
    with anyio.fail_after(20):  # hang detection: publish waits only for live consumers
        async with bus:
            await bus.publish("a", 1)
            await bus.flush()
    assert seen == [1]


@pytest.mark.parametrize("queue", [None, "keep"])
async def test_a_consumer_the_server_lost_is_made_again_without_losing_events(
    nats_server: NatsServer, queue: str | None
) -> None:
    seen: list[int] = []
    nats = backend(nats_server)
    async with EventBus(backend=nats) as bus:
        sub = bus.subscribe("lost.x", lambda e: seen.append(e.payload), queue=queue)
        await bus.publish("lost.x", 1)
        await bus.flush()
        consumer = sub._consumer  # type: ignore[attr-defined]
        await nats._js.delete_consumer(nats.stream, consumer.consumer_name)  # as the server may
        await bus.publish("lost.x", 2)  # published while the consumer is gone
        await bus.publish("lost.x", 3)
        with anyio.fail_after(20):
            await bus.flush()
    assert seen == [1, 2, 3]


async def test_republishing_a_message_id_is_stored_once(nats_server: NatsServer) -> None:
    seen: list[Event] = []
    async with EventBus(backend=backend(nats_server)) as bus:
        bus.subscribe("pay.*", seen.append)
        first = await bus.publish("pay.order", 1, headers={"Nats-Msg-Id": "order-1"})
        again = await bus.publish("pay.order", 1, headers={"Nats-Msg-Id": "order-1"})
        other = await bus.publish("pay.order", 2)
        await bus.flush()
    assert first == again and other > first
    assert [e.payload for e in seen] == [1, 2]


async def test_replay_and_since_read_the_stream(nats_server: NatsServer) -> None:
    async with EventBus(backend=backend(nats_server)) as bus:
        seqs = [await bus.publish(f"log.{t}", i) for i, t in enumerate("abab")]
        got = [(e.topic, e.payload, e.seq) async for e in bus.replay("log.a")]
        assert got == [("log.a", 0, seqs[0]), ("log.a", 2, seqs[2])]
        assert [e.payload async for e in bus.replay(">", since=seqs[1])] == [2, 3]
        later: list[int] = []
        bus.subscribe("log.*", lambda e: later.append(e.payload), since=seqs[2])
        await bus.publish("log.c", 4)
        await bus.flush()
        assert later == [3, 4]
        with pytest.raises(ValueError, match="since"):
            bus.replay(">", since=-1)


async def test_publish_nowait_and_runtime_events_go_through_nats(nats_server: NatsServer) -> None:
    seen: list[str] = []
    async with open_system(bus_backend=backend(nats_server)) as system:
        system.bus.subscribe("note.>", lambda e: seen.append(e.topic))
        await system.bus.flush()
        system.bus.publish_nowait("note.one", {"x": 1})
        await system.bus.flush()
        assert seen == ["note.one"]
        assert system.bus.connected
        with pytest.raises(ValueError, match=r"note\.bad.*JSON"):
            await system.bus.publish("note.bad", object())
    assert not system.bus.connected


async def test_runtime_events_with_objects_travel_as_their_repr(nats_server: NatsServer) -> None:
    class Note:
        def __repr__(self) -> str:
            return "<Note>"

    seen: list[Event] = []
    async with open_system(bus_backend=backend(nats_server)) as system:
        system.bus.subscribe("actor.dead_letter", seen.append)
        await system.bus.flush()
        system._dead_letter("nobody", Note(), None)  # what a tell to a stopped actor does
        await system.bus.flush()
        stats = system.bus.statistics()
    assert [e.payload for e in seen] == [{"actor": "nobody", "message": "<Note>"}]
    assert stats.publish_failed == 0


async def test_closing_while_the_server_is_down_does_not_hang(nats_server: NatsServer) -> None:
    seen: list[int] = []
    nats = backend(nats_server, reconnect_wait=0.1, publish_timeout=0.5)
    with anyio.fail_after(30):  # hang detection
        async with EventBus(backend=nats) as bus:
            bus.subscribe("x", lambda e: seen.append(e.payload))
            await bus.publish("x", 1)
            await bus.flush()
            await anyio.to_thread.run_sync(nats_server.stop)
            await until(lambda: not bus.connected)
    assert seen == [1]


async def test_an_unreachable_server_is_a_clear_error_naming_the_url() -> None:
    url = f"nats://127.0.0.1:{free_port()}"
    bus = EventBus(backend=NatsBackend(url, connect_timeout=0.5))
    with pytest.raises(ConnectionError, match=f"cannot reach NATS at {url}"):
        async with bus:
            pass


async def test_publishes_wait_for_a_lost_server_within_bounds(nats_server: NatsServer) -> None:
    nats = backend(nats_server, reconnect_wait=0.1, publish_timeout=0.5, publish_buffer=1)
    async with EventBus(backend=nats) as bus:
        await bus.publish("up", 1)
        await anyio.to_thread.run_sync(nats_server.stop)
        await until(lambda: not bus.connected and not nats.connected)
        errors: list[str] = []

        async def publish(i: int) -> None:
            try:
                await bus.publish("down", i)
            except ConnectionError as exc:
                errors.append(str(exc))

        async with anyio.create_task_group() as tg:
            tg.start_soon(publish, 1)
            await anyio.sleep(0.05)
            tg.start_soon(publish, 2)  # the buffer holds one: refused at once
        assert len(errors) == 2
        assert any("publish_buffer" in e for e in errors)
        assert any("publish_timeout" in e for e in errors)
        assert all(nats_server.url in e for e in errors)
        await anyio.to_thread.run_sync(nats_server.start)
        await until(lambda: bus.connected)
        assert await bus.publish("up", 2) > 0


@pytest.mark.slow
async def test_subscribing_while_the_server_is_down_waits_for_it(nats_server: NatsServer) -> None:
    seen: list[int] = []
    nats = backend(nats_server, reconnect_wait=0.1, publish_timeout=30)
    async with EventBus(backend=nats) as bus:
        await anyio.to_thread.run_sync(nats_server.stop)
        await until(lambda: not bus.connected)
        bus.subscribe("later", lambda e: seen.append(e.payload))
        await anyio.sleep(0.3)  # its consumer cannot be made yet
        await anyio.to_thread.run_sync(nats_server.start)
        await bus.publish("later", 1)  # after the consumer exists
        await bus.flush()
    assert seen == [1]


def test_trio_is_refused_with_a_clear_error(nats_server: NatsServer) -> None:
    async def main() -> None:
        async with EventBus(backend=NatsBackend(nats_server.url)):
            pass

    with pytest.raises(RuntimeError, match="asyncio only"):
        anyio.run(main, backend="trio")


async def test_bad_options_are_refused_by_name() -> None:
    with pytest.raises(ValueError, match="ack_wait"):
        NatsBackend(ack_wait=0)
    with pytest.raises(ValueError, match="max_deliver"):
        NatsBackend(max_deliver=0)
    with pytest.raises(ValueError, match="stream"):
        NatsBackend(stream="a.b")
    with pytest.raises(ValueError, match="storage"):
        NatsBackend(storage="disk")
    with pytest.raises(ValueError, match="event_log or a backend"):
        from actors import MemoryEventLog

        EventBus(event_log=MemoryEventLog(), backend=NatsBackend())
