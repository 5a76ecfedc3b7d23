"""The event bus on NATS JetStream: events cross processes (``pip install 'llmspell[nats]'``).

Use it as the bus's backend::

    from actors.nats import NatsBackend

    async with actors.open_system(bus_backend=NatsBackend("nats://127.0.0.1:4222")) as system:
        system.bus.subscribe("job.*", work, queue="workers")  # one worker per job, any process
        await system.bus.publish("job.new", {"id": 1})

How the bus maps onto JetStream (nats-py, asyncio only):

* One stream (``stream``, default ``ACTORS``) stores every event, on subjects
  ``<prefix>.<topic>`` (``prefix`` default ``bus``; the topic and pattern rules are NATS's
  own, so a pattern is a filter subject as it is). ``publish`` returns the stream sequence
  number, which is the event's ``seq``: ``replay(pattern, since=seq)`` and
  ``subscribe(..., since=seq)`` read the stream.
* Each publish carries a message id (``Nats-Msg-Id``; a caller may pass its own in
  ``headers``): a publish retried after a lost connection is stored once (JetStream
  deduplicates within ``duplicate_window``). Headers travel as NATS headers (``traceparent``
  included).
* A subscription is a pull consumer with explicit acks: an unnamed one of its own (deleted when
  cancelled, or by the server ``inactive_threshold`` after its process died), or, with
  ``queue="name"``, the durable consumer ``<name>_<hash of pattern>`` shared by every process
  that subscribes with that queue name and pattern: JetStream gives each event to one of them
  and redelivers to another what a dead process left unacknowledged after ``ack_wait``.
  A new queue starts with the events published after its creation; it keeps its position
  while no member runs, so events published meanwhile wait for the next member.
* Acks, ``in_progress`` while a handler runs, naks with backoff and dead letters
  (``dead.<topic>`` after ``max_deliver`` failed deliveries) are driven by the bus (see
  ``actors/_backend.py``).
* Connection: an unreachable server at start raises :class:`ConnectionError` naming the URL.
  A connection lost later is re-established by nats-py (``reconnect_wait`` between attempts,
  forever); meanwhile ``connected`` is ``False``, and publishes wait for the reconnection (at
  most ``publish_buffer`` of them, each at most ``publish_timeout`` seconds), then raise
  :class:`ConnectionError`: an event is stored, or its publisher gets an error, never neither.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import time
import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from types import MappingProxyType
from typing import Any

import anyio
import nats
import nats.errors
import nats.js.errors
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import (
    AckPolicy,
    ConsumerConfig,
    ConsumerInfo,
    DeliverPolicy,
    StorageType,
    StreamConfig,
)

from ._subscription import Event
from ._topics import split_pattern, split_topic

__all__ = ["NatsBackend", "queue_consumer_name"]

_log = logging.getLogger("actors.nats")

MSG_ID = "Nats-Msg-Id"

#: Errors after which a publish is retried (with the same message id) once reconnected.
_RETRY = (
    nats.errors.TimeoutError,
    nats.errors.NoRespondersError,
    nats.errors.ConnectionClosedError,
    nats.errors.ConnectionReconnectingError,
    nats.errors.OutboundBufferLimitError,
    nats.errors.StaleConnectionError,
    nats.errors.UnexpectedEOF,
    asyncio.TimeoutError,
)


def _check_asyncio() -> None:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        raise RuntimeError("actors.nats runs on asyncio only (nats-py), not on trio") from None


class NatsBackend:
    """A :class:`~actors.BusBackend` on NATS JetStream (see the module docstring).

    Args:
        url: the NATS server, e.g. ``"nats://127.0.0.1:4222"`` (several: comma-separated).
        stream: the JetStream stream that stores the events (created if missing).
        prefix: subject prefix of the events: topic ``a.b`` is subject ``<prefix>.a.b``.
        ack_wait: seconds before an unacknowledged delivery is redelivered; handlers still
            running send ``in_progress`` every third of it.
        max_deliver: failed deliveries of one event to one subscription before it goes to
            the dead-letter topic.
        dead_letter_prefix: dead letters of ``topic`` are published to ``<prefix>.<topic>``.
        storage: ``"file"`` (survives a server restart) or ``"memory"``.
        max_age: seconds the stream keeps events (``None``: until ``max_msgs``).
        max_msgs: events the stream keeps at most (oldest dropped first; ``-1``: no limit).
        duplicate_window: seconds JetStream remembers message ids to drop republishes.
        inactive_threshold: seconds after which the server deletes an unnamed consumer whose
            process went away.
        connect_timeout: seconds to wait for the first connection.
        reconnect_wait: seconds between reconnection attempts.
        publish_timeout: seconds a publish may wait for the server (and a reconnection) in all.
        publish_buffer: publishes that may wait for a reconnection at once; more raise.
        name: the connection's name (shown by the server's monitoring).
    """

    def __init__(
        self,
        url: str = "nats://127.0.0.1:4222",
        *,
        stream: str = "ACTORS",
        prefix: str = "bus",
        ack_wait: float = 30.0,
        max_deliver: int = 5,
        dead_letter_prefix: str = "dead",
        storage: str = "file",
        max_age: float | None = None,
        max_msgs: int = 1_000_000,
        duplicate_window: float = 120.0,
        inactive_threshold: float = 60.0,
        connect_timeout: float = 2.0,
        reconnect_wait: float = 0.5,
        publish_timeout: float = 10.0,
        publish_buffer: int = 1000,
        name: str | None = None,
    ) -> None:
        if not isinstance(url, str) or not url:
            raise ValueError(f"url must be a NATS URL such as nats://127.0.0.1:4222, not {url!r}")
        if not stream or any(c in stream for c in " .*>\t\r\n/\\"):
            raise ValueError(f"stream must be a name without spaces, '.', '*' or '>': {stream!r}")
        split_topic(prefix)  # a literal subject
        split_topic(dead_letter_prefix)
        if storage not in ("file", "memory"):
            raise ValueError(f"storage must be 'file' or 'memory', not {storage!r}")
        for label, value in (
            ("ack_wait", ack_wait),
            ("connect_timeout", connect_timeout),
            ("reconnect_wait", reconnect_wait),
            ("publish_timeout", publish_timeout),
            ("duplicate_window", duplicate_window),
            ("inactive_threshold", inactive_threshold),
        ):
            if not isinstance(value, int | float) or value <= 0:
                raise ValueError(f"{label} must be a positive number of seconds, not {value!r}")
        if not isinstance(max_deliver, int) or max_deliver < 1:
            raise ValueError(f"max_deliver must be an int >= 1, not {max_deliver!r}")
        if not isinstance(publish_buffer, int) or publish_buffer < 1:
            raise ValueError(f"publish_buffer must be an int >= 1, not {publish_buffer!r}")
        self.url = url
        self.stream = stream
        self.prefix = prefix
        self.ack_wait = float(ack_wait)
        self.max_deliver = max_deliver
        self.dead_letter_prefix = dead_letter_prefix
        self._storage = StorageType.FILE if storage == "file" else StorageType.MEMORY
        self._max_age = max_age
        self._max_msgs = max_msgs
        self._duplicate_window = float(duplicate_window)
        self._inactive = float(inactive_threshold)
        self._connect_timeout = connect_timeout
        self._reconnect_wait = reconnect_wait
        self._publish_timeout = publish_timeout
        self._publish_buffer = publish_buffer
        self._name = name
        self._nc: Client | None = None
        self._js: JetStreamContext | None = None
        self._up: asyncio.Event | None = None  # set while connected
        self._waiting = 0  # publishes waiting for a reconnection
        self.disconnects = 0
        self.reconnects = 0

    def __repr__(self) -> str:
        return f"<NatsBackend {self.url} stream={self.stream} connected={self.connected}>"

    # -- connection ------------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        """Whether the connection to the server is up now."""
        nc = self._nc
        return nc is not None and nc.is_connected

    async def open(self) -> None:
        """Connect and make sure the stream exists.

        Raises:
            ConnectionError: the server cannot be reached (the message names the URL), or
                JetStream is not enabled on it.
            RuntimeError: not running on asyncio.
        """
        _check_asyncio()
        if self._nc is not None:
            raise RuntimeError("this NatsBackend is open already (one bus per backend)")
        self._up = asyncio.Event()

        async def on_error(exc: Exception) -> None:
            _log.debug("nats %s: %r", self.url, exc)

        async def on_disconnect() -> None:
            if self._up is not None and self._up.is_set() and self._nc is not None:
                self.disconnects += 1
                _log.warning("lost the connection to NATS at %s; reconnecting", self.url)
            if self._up is not None:
                self._up.clear()

        async def on_reconnect() -> None:
            self.reconnects += 1
            _log.warning("reconnected to NATS at %s", self.url)
            if self._up is not None:
                self._up.set()

        servers = [u.strip() for u in self.url.split(",") if u.strip()]
        try:
            # nats-py retries the first connection as often as later ones: forever with -1.
            # Start with one retry per server, then reconnect forever once connected.
            with anyio.fail_after(2 * len(servers) * (self._connect_timeout + 1) + 1):
                nc = await nats.connect(
                    servers,
                    name=self._name,
                    connect_timeout=self._connect_timeout,
                    reconnect_time_wait=self._reconnect_wait,
                    max_reconnect_attempts=1,
                    allow_reconnect=True,
                    error_cb=on_error,
                    disconnected_cb=on_disconnect,
                    reconnected_cb=on_reconnect,
                )
        except Exception as exc:
            raise ConnectionError(
                f"cannot reach NATS at {self.url}: {type(exc).__name__}: {exc}"
            ) from exc
        nc.options["max_reconnect_attempts"] = -1
        self._nc = nc
        self._js = nc.jetstream()
        self._up.set()
        try:
            await self._ensure_stream()
        except BaseException:
            await self.close()
            raise

    async def _ensure_stream(self) -> None:
        assert self._js is not None
        subjects = [f"{self.prefix}.>"]
        try:
            info = await self._js.stream_info(self.stream)
        except nats.js.errors.NotFoundError:
            info = None
        except nats.errors.NoRespondersError as exc:
            raise ConnectionError(
                f"NATS at {self.url} has no JetStream (start nats-server with -js)"
            ) from exc
        if info is not None:
            if not set(subjects) <= set(info.config.subjects or ()):
                raise ValueError(
                    f"the JetStream stream {self.stream!r} at {self.url} stores "
                    f"{info.config.subjects}, not {subjects}: pick another stream or prefix"
                )
            return
        config = StreamConfig(
            name=self.stream,
            subjects=subjects,
            storage=self._storage,
            max_age=self._max_age,
            max_msgs=self._max_msgs,
            duplicate_window=self._duplicate_window,
        )
        try:
            await self._js.add_stream(config)
        except nats.js.errors.BadRequestError:  # created meanwhile by another process
            await self._js.stream_info(self.stream)

    async def close(self) -> None:
        """Flush what is buffered and disconnect; idempotent."""
        nc, self._nc = self._nc, None
        self._js = None
        if nc is not None and not nc.is_closed:
            try:
                if nc.is_connected:
                    await nc.drain()
                else:
                    await nc.close()
            except Exception as exc:  # the connection went down meanwhile: nothing to flush
                _log.debug("closing the NATS connection failed: %r", exc)
                if not nc.is_closed:
                    with contextlib.suppress(Exception):
                        await nc.close()

    async def _wait_up(self, deadline: float) -> None:
        up = self._up
        if up is None or self._nc is None:
            raise ConnectionError(f"the NATS backend ({self.url}) is closed")
        if up.is_set():
            return
        if self._waiting >= self._publish_buffer:
            raise ConnectionError(
                f"NATS at {self.url} is unreachable and {self._waiting} publishes already "
                "wait for it (publish_buffer)"
            )
        self._waiting += 1
        try:
            with anyio.fail_after(max(0.0, deadline - time.monotonic())):
                await up.wait()
        except TimeoutError:
            raise ConnectionError(
                f"NATS at {self.url} stayed unreachable for {self._publish_timeout} s "
                "(publish_timeout); the event was not published"
            ) from None
        finally:
            self._waiting -= 1

    # -- publishing ------------------------------------------------------------------------

    def subject(self, topic: str) -> str:
        """The NATS subject of a bus topic (or pattern)."""
        return f"{self.prefix}.{topic}"

    async def publish(self, topic: str, payload: Any, headers: Mapping[str, str]) -> int:
        """Store an event in the stream; return its stream sequence number (see the class)."""
        try:
            data = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
        except (TypeError, ValueError) as exc:
            raise ValueError(f"the payload of {topic!r} cannot be encoded as JSON: {exc}") from exc
        head = _encode_headers(topic, headers)
        if not any(k.lower() == MSG_ID.lower() for k in head):
            head[MSG_ID] = uuid.uuid4().hex
        subject = self.subject(topic)
        deadline = time.monotonic() + self._publish_timeout
        while True:
            await self._wait_up(deadline)
            js = self._js
            if js is None:
                raise ConnectionError(f"the NATS backend ({self.url}) is closed")
            wait = max(0.05, min(deadline - time.monotonic(), 2.0))
            try:
                ack = await js.publish(subject, data, timeout=wait, headers=head)
            except _RETRY as exc:  # the same message id again: stored once
                if time.monotonic() >= deadline:
                    raise ConnectionError(
                        f"NATS at {self.url} did not store {topic!r} within "
                        f"{self._publish_timeout} s (publish_timeout): {type(exc).__name__}"
                    ) from exc
                if self.connected:
                    await anyio.sleep(0.05)
                continue
            return int(ack.seq)

    # -- consuming ---------------------------------------------------------------------------

    async def consumer(
        self, pattern: str, *, queue: str | None, since: int | None, name: str
    ) -> NatsConsumer:
        """A pull consumer of ``pattern`` (see the class docstring)."""
        split_pattern(pattern)
        if self._nc is None:
            raise ConnectionError(f"the NATS backend ({self.url}) is not open")
        config = ConsumerConfig(
            ack_policy=AckPolicy.EXPLICIT,
            ack_wait=self.ack_wait,
            # one more than the bus's limit: a dead letter that failed to publish is retried
            max_deliver=self.max_deliver + 1,
            filter_subject=self.subject(pattern),
            max_ack_pending=10_000,
        )
        if since is None:
            config.deliver_policy = DeliverPolicy.NEW
        else:
            config.deliver_policy = DeliverPolicy.BY_START_SEQUENCE
            config.opt_start_seq = since + 1
        if queue is not None:
            cname = config.durable_name = config.name = queue_consumer_name(queue, pattern)
        else:
            cname = config.name = uuid.uuid4().hex
            config.inactive_threshold = self._inactive
        # while the connection is down, wait for it (within publish_timeout), as publish does
        deadline = time.monotonic() + self._publish_timeout
        while True:
            await self._wait_up(deadline)
            js = self._js
            if js is None:
                raise ConnectionError(f"the NATS backend ({self.url}) is closed")
            try:
                info = await self._add_consumer(js, config, shared=queue is not None)
                psub = await js.pull_subscribe_bind(consumer=cname, stream=self.stream)
            except _RETRY as exc:
                if time.monotonic() >= deadline:
                    raise ConnectionError(
                        f"NATS at {self.url} did not create the consumer of {pattern!r} "
                        f"within {self._publish_timeout} s: {type(exc).__name__}"
                    ) from exc
                await anyio.sleep(0.05)
                continue
            floor = info.ack_floor.stream_seq if info.ack_floor else 0
            return NatsConsumer(
                self, psub, cname, config, durable=queue is not None, name=name, floor=floor
            )

    async def _add_consumer(
        self, js: JetStreamContext, config: ConsumerConfig, *, shared: bool
    ) -> ConsumerInfo:
        """Create the consumer; a shared (queue) one is reused if it exists already."""
        if not shared:
            return await js.add_consumer(self.stream, config)
        assert config.name is not None
        info: ConsumerInfo
        try:
            info = await js.consumer_info(self.stream, config.name)
        except nats.js.errors.NotFoundError:
            try:
                return await js.add_consumer(self.stream, config)
            except nats.js.errors.BadRequestError:  # created meanwhile by another member
                info = await js.consumer_info(self.stream, config.name)
        return info

    def _event(self, msg: Msg) -> Event:
        meta = msg.metadata
        topic = msg.subject[len(self.prefix) + 1 :]
        data = msg.data
        payload: Any
        try:
            payload = json.loads(data) if data else None
        except ValueError:  # published by another client: hand over the text (or bytes)
            try:
                payload = data.decode()
            except UnicodeDecodeError:
                payload = data
        headers = MappingProxyType(dict(msg.headers)) if msg.headers else _NO_HEADERS
        return Event(topic, payload, headers, meta.timestamp.timestamp(), meta.sequence.stream)

    async def replay(self, pattern: str, since: int) -> AsyncIterator[Event]:
        """The stored events matching ``pattern`` above ``since``, oldest first, up to the last
        one stored when iteration begins."""
        split_pattern(pattern)
        if not isinstance(since, int) or isinstance(since, bool) or since < 0:
            raise ValueError(f"since must be a sequence number (an int >= 0), not {since!r}")
        js = self._js
        if js is None:
            raise ConnectionError(f"the NATS backend ({self.url}) is not open")
        info = await js.stream_info(self.stream)
        last = info.state.last_seq
        if last <= since:
            return
        cname = uuid.uuid4().hex
        config = ConsumerConfig(
            name=cname,
            ack_policy=AckPolicy.NONE,
            deliver_policy=DeliverPolicy.BY_START_SEQUENCE,
            opt_start_seq=since + 1,
            filter_subject=self.subject(pattern),
            inactive_threshold=self._inactive,
        )
        await js.add_consumer(self.stream, config)
        psub = await js.pull_subscribe_bind(consumer=cname, stream=self.stream)
        try:
            while True:
                try:
                    msgs = await psub.fetch(256, timeout=1.0)
                except nats.errors.TimeoutError:
                    return
                for msg in msgs:
                    meta = msg.metadata
                    if meta.sequence.stream > last:
                        return
                    yield self._event(msg)
                    if meta.sequence.stream == last or meta.num_pending == 0:
                        return
        finally:
            with anyio.CancelScope(shield=True):
                try:
                    await psub.unsubscribe()
                    await js.delete_consumer(self.stream, cname)
                except Exception as exc:
                    _log.debug("deleting replay consumer failed: %r", exc)


_NO_HEADERS: Mapping[str, str] = MappingProxyType({})


def queue_consumer_name(queue: str, pattern: str) -> str:
    """The durable JetStream consumer shared by the subscriptions of ``queue`` on ``pattern``."""
    digest = hashlib.sha1(pattern.encode(), usedforsecurity=False).hexdigest()[:10]
    return f"{queue}_{digest}"


def _encode_headers(topic: str, headers: Mapping[str, str]) -> dict[str, str]:
    head: dict[str, str] = {}
    for key, value in headers.items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise ValueError(f"headers of {topic!r} must map str to str, not {key!r}: {value!r}")
        if not key or any(c in key for c in ": \r\n") or any(c in value for c in "\r\n"):
            raise ValueError(f"header {key!r} of {topic!r} cannot travel as a NATS header")
        head[key] = value
    return head


class NatsDelivery:
    """One JetStream message handed to a subscription (a :class:`~actors.Delivery`)."""

    __slots__ = ("_consumer", "_msg", "event")

    def __init__(self, msg: Msg, event: Event, consumer: NatsConsumer) -> None:
        self._msg = msg
        self.event = event
        self._consumer = consumer

    @property
    def attempt(self) -> int:
        return int(self._msg.metadata.num_delivered)

    async def ack(self) -> None:
        await self._msg.ack()
        self._consumer._settled(self.event.seq)

    async def nak(self, delay: float) -> None:
        await self._msg.nak(delay=delay)

    async def in_progress(self) -> None:
        await self._msg.in_progress()


class NatsConsumer:
    """A pull subscription on one JetStream consumer (a :class:`~actors.BusConsumer`).

    A consumer the server lost (deleted after ``inactive_threshold`` without pulls, e.g. a
    long disconnection, or a server restarted without its state) is made again, starting after
    the last acknowledgement floor seen: events may come twice, none is skipped.
    """

    def __init__(
        self,
        backend: NatsBackend,
        psub: JetStreamContext.PullSubscription,
        cname: str,
        config: ConsumerConfig,
        *,
        durable: bool,
        name: str,
        floor: int,
    ) -> None:
        self._backend = backend
        self._psub = psub
        self.consumer_name = cname
        self._config = config
        self._durable = durable
        self.name = name
        self._floor = floor  # every event up to this one is settled (as far as we know)
        self._unsettled: set[int] = set()  # fetched here, not yet acknowledged
        self._fetched = floor  # the highest sequence number fetched here

    async def fetch(self, limit: int, timeout: float) -> Sequence[NatsDelivery]:  # noqa: ASYNC109
        try:
            msgs = await self._psub.fetch(limit, timeout=timeout)
        except nats.errors.TimeoutError:
            return ()
        except (nats.js.errors.NotFoundError, nats.js.errors.ServiceUnavailableError):
            await self._check()  # 503 on a pull: the consumer may be gone
            await anyio.sleep(0.05)
            return ()
        backend = self._backend
        out = []
        for msg in msgs:
            if not msg.reply:  # a status message, not an event
                continue
            ev = backend._event(msg)
            seq = ev.seq or 0
            self._unsettled.add(seq)
            self._fetched = max(self._fetched, seq)
            out.append(NatsDelivery(msg, ev, self))
        return out

    def _settled(self, seq: int | None) -> None:
        """An event fetched here was acknowledged: move the floor up if it can."""
        self._unsettled.discard(seq or 0)
        below = min(self._unsettled) - 1 if self._unsettled else self._fetched
        self._floor = max(self._floor, below)

    async def _check(self) -> None:
        """Make the consumer again if the server lost it."""
        js = self._backend._js
        if js is None:
            return
        try:
            await js.consumer_info(self._backend.stream, self.consumer_name)
        except nats.js.errors.NotFoundError:
            await self._recreate()
        except Exception as exc:
            _log.debug("consumer %s: info failed: %r", self.consumer_name, exc)

    async def _recreate(self) -> None:
        js = self._backend._js
        if js is None:
            return
        _log.warning(
            "consumer %s of %r was lost; making it again after %d",
            self.consumer_name, self.name, self._floor,
        )  # fmt: skip
        config = self._config
        config.deliver_policy = DeliverPolicy.BY_START_SEQUENCE
        config.opt_start_seq = self._floor + 1
        try:
            await js.add_consumer(self._backend.stream, config)
        except nats.js.errors.BadRequestError:  # made again by another member meanwhile
            pass

    async def settled_through(self) -> int:
        try:
            info = await self._psub.consumer_info()
        except nats.js.errors.NotFoundError:
            await self._recreate()  # lost: its events come again from the floor
            return self._floor
        floor = int(info.ack_floor.stream_seq) if info.ack_floor else 0
        self._floor = max(self._floor, floor)
        return floor

    async def close(self) -> None:
        if not self._backend.connected:  # the server removes an unnamed consumer when idle
            return
        js = self._backend._js
        try:
            await self._psub.unsubscribe()
        finally:
            if not self._durable and js is not None:
                try:
                    await js.delete_consumer(self._backend.stream, self.consumer_name)
                except nats.js.errors.NotFoundError:
                    pass
