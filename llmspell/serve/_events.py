"""The bus over HTTP: ``POST /events/{topic}`` publishes, ``GET /events?pattern=P`` streams.

The stream is server-sent events, one per bus event: ``data`` is ``{"seq", "topic",
"payload", "time"}`` and ``id`` the event's sequence number in the durable event log (events
of unlogged topics, such as ``llm.chunk``, carry no id). A client that reconnects with
``Last-Event-ID: N`` (or asks ``?since=N``) first gets every logged event after ``N``, then the
live ones, with no gap and no duplicate (``bus.subscribe(..., since=N)``). Joined by NATS, a
new stream starts after the last event stored when the request arrived (so an event published
on any daemon once the stream is open reaches it).

Each client may fall ``sse_queue`` events behind; past that its stream ends (counted, and
logged) rather than holding events in memory or slowing the bus: it reconnects with its
``Last-Event-ID`` and catches up from the log. At most ``max_sse_clients`` streams at once
(503 past it). Idle streams get a keep-alive comment every ``sse_keepalive`` seconds. Streams
end when the daemon starts shutting down.

A client may not publish on the runtime's own topics (``spell.*``, ``llm.*``, ``actor.*`` ...):
those events are the runtime's account of what happened.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from typing import TYPE_CHECKING, Any

import anyio
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import Receive, Scope, Send

import actors

from ._body import HttpError, read_json
from ._runs import SSE_HEADERS, sse

if TYPE_CHECKING:
    from ._daemon import Daemon

_log = logging.getLogger("llmspell.serve")
RESERVED = ("actor", "agent", "bus", "daemon", "hook", "llm", "spell", "state", "tool", "workflow")
"""First topic tokens only the runtime publishes on."""


async def publish(request: Request) -> Response:
    daemon: Daemon = request.app.state.daemon
    topic = request.path_params["topic"]
    if topic.split(".", 1)[0] in RESERVED:
        raise HttpError(
            403, f"topic {topic!r}: '{topic.split('.', 1)[0]}.*' is the runtime's own namespace"
        )
    payload = await read_json(request, daemon.settings.max_body_bytes, what="payload", empty=None)
    try:
        seq = await daemon.publish(topic, payload)
    except ValueError as exc:  # an invalid topic, a payload the log cannot encode
        raise HttpError(400, f"topic {topic!r}: {exc}") from None
    return JSONResponse({"topic": topic, "seq": seq}, 202)


def _since(request: Request) -> int | None:
    text = request.headers.get("last-event-id") or request.query_params.get("since")
    if text is None or text == "":
        return None
    if not text.isdigit():
        raise HttpError(400, f"Last-Event-ID / since: must be a sequence number, got {text!r}")
    return int(text)


async def stream(request: Request) -> Response:
    daemon: Daemon = request.app.state.daemon
    pattern = request.query_params.get("pattern", ">")
    since = _since(request)
    if daemon.draining:
        raise HttpError(503, "the daemon is shutting down", {"Retry-After": "1"})
    if daemon.counters.sse_clients >= daemon.settings.max_sse_clients:
        raise HttpError(
            503, f"{daemon.settings.max_sse_clients} event streams are open (max_sse_clients)"
        )
    if since is None and daemon.nats is not None:
        since = await _now(daemon)
    client = _Client(daemon, request.client.host if request.client else "?")
    try:
        client.subscription = daemon.runtime.system.bus.subscribe(
            pattern,
            client.deliver,
            since=since,
            queue_size=daemon.settings.sse_queue,
            overflow="disconnect",
            name=f"sse:{client.peer}",
        )
    except ValueError as exc:
        raise HttpError(400, f"pattern {pattern!r}: {exc}") from None
    return client


async def _now(daemon: Daemon) -> int | None:
    """Joined by NATS: the bus's last sequence number, from which a new stream starts (its
    consumer is made in the background; starting from here, no event stored after the request
    arrived is missed, whichever daemon published it)."""
    assert daemon.nats is not None
    try:
        with anyio.fail_after(5):
            return await daemon.nats.last_event()
    except Exception as exc:
        raise HttpError(503, f"NATS {daemon.nats.url}: {exc}", {"Retry-After": "1"}) from None


class _Client(Response):
    """One event-stream client: its bounded queue, and the response that drains it."""

    def __init__(self, daemon: Daemon, peer: str) -> None:
        super().__init__()
        self.daemon = daemon
        self.peer = peer
        self.subscription: actors.Subscription | None = None
        self.queue: deque[actors.Event] = deque()
        self.limit = daemon.settings.sse_queue
        self.wake = anyio.Event()
        self.ended: str | None = None
        daemon.counters.sse_clients += 1
        self._forget = daemon.on_close(self.close)

    def deliver(self, event: actors.Event) -> None:
        if self.ended is not None:
            return
        if len(self.queue) >= self.limit:
            self.daemon.counters.sse_disconnected += 1
            _log.warning(
                "event stream of %s disconnected: %d events behind (sse_queue)",
                self.peer,
                len(self.queue),
            )
            self.close("too slow")
            return
        self.queue.append(event)
        self.wake.set()

    def close(self, reason: str = "the daemon is shutting down") -> None:
        if self.ended is None:
            self.ended = reason
            if self.subscription is not None:
                self.subscription.cancel()
            self.wake.set()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        keepalive = self.daemon.settings.sse_keepalive
        try:
            await send({"type": "http.response.start", "status": 200, "headers": SSE_HEADERS})
            async with anyio.create_task_group() as tg:
                tg.start_soon(_end_on_disconnect, receive, self)
                await send(
                    {"type": "http.response.body", "body": b": stream\n\n", "more_body": True}
                )
                while self.ended is None or self.queue:
                    if not self.queue:
                        with anyio.move_on_after(keepalive):
                            await self.wake.wait()
                        self.wake = anyio.Event()
                        if not self.queue and self.ended is None:
                            body = b": keep-alive\n\n"
                            await send(
                                {"type": "http.response.body", "body": body, "more_body": True}
                            )
                        continue
                    if self.ended is not None:  # too slow, or shutting down: end now
                        self.queue.clear()
                        break
                    await _send_body(send, b"".join(_frame(e) for e in _take(self.queue)))
                await send({"type": "http.response.body", "body": b"", "more_body": False})
                tg.cancel_scope.cancel()
        finally:
            self.close("ended")
            self._forget()
            self.daemon.counters.sse_clients -= 1


async def _send_body(send: Send, body: bytes) -> None:
    await send({"type": "http.response.body", "body": body, "more_body": True})


def _take(queue: deque[actors.Event]) -> list[actors.Event]:
    events = list(queue)
    queue.clear()
    return events


def _frame(event: actors.Event) -> bytes:
    data: dict[str, Any] = {
        "seq": event.seq,
        "topic": event.topic,
        "payload": event.payload,
        "time": event.timestamp or time.time(),
    }
    return sse(None, data, event.seq)


async def _end_on_disconnect(receive: Receive, client: _Client) -> None:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            client.close("client went away")
            return
