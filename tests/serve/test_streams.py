"""Event-stream clients are bounded: in number, and in how far behind one may fall."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import httpx
import pytest

import actors
import llmspell
from llmspell.serve import ServeSettings, create_app
from llmspell.serve._events import _Client

pytestmark = pytest.mark.anyio


@dataclasses.dataclass
class _Counters:
    sse_clients: int = 0
    sse_disconnected: int = 0


class _Daemon:
    def __init__(self, queue: int) -> None:
        self.settings = ServeSettings(sse_queue=queue)
        self.counters = _Counters()
        self.closing: set[object] = set()

    def on_close(self, callback: object) -> object:
        self.closing.add(callback)
        return lambda: self.closing.discard(callback)


def _event(seq: int) -> actors.Event:
    return actors.Event("t.x", {"n": seq}, {}, 0.0, seq)


async def test_a_client_too_far_behind_is_disconnected_and_counted() -> None:
    daemon = _Daemon(queue=3)
    client = _Client(daemon, "peer")  # type: ignore[arg-type]
    async with actors.open_system(event_log=actors.MemoryEventLog()) as system:
        client.subscription = system.bus.subscribe("t.>", client.deliver)
        for n in range(3):
            client.deliver(_event(n + 1))
        assert client.ended is None and len(client.queue) == 3
        client.deliver(_event(4))  # one more than it may hold
        assert client.ended == "too slow"
        assert daemon.counters.sse_disconnected == 1
        assert client.subscription.cancelled  # the bus no longer feeds it
        client.deliver(_event(5))
        assert len(client.queue) == 3  # nothing more is held


async def test_past_max_sse_clients_a_stream_gets_503(tmp_path: Path) -> None:
    (tmp_path / "spells").mkdir()
    settings = ServeSettings(spells=tmp_path / "spells", max_sse_clients=1, reload=False)
    app = create_app(settings=settings, config=llmspell.Config(state=":memory:"), metrics=False)
    daemon = app.state.daemon
    async with app.router.lifespan_context(app):
        daemon.counters.sse_clients = 1  # one stream is open
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://d") as http:
            refused = await http.get("/events")
            assert refused.status_code == 503
            assert "max_sse_clients" in refused.json()["error"]
            assert (await http.get("/metrics")).status_code == 404  # metrics=False
        daemon.counters.sse_clients = 0
