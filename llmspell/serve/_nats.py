"""The daemon's own link to NATS: the work stream daemons share, and the run results bucket.

Daemons joined by ``--nats URL`` share two kinds of work through one JetStream stream,
``LLMSPELL_WORK`` (work-queue retention: a message is gone once a daemon acknowledges it):

- ``spells.run.<spell>``: queued spell runs (:mod:`._queued`); anyone may publish there, with
  nats-py or the ``nats`` CLI, the body being the run's JSON parameters;
- ``llmspell.takeover.<workflow run id>``: the lease on a durable workflow run
  (:mod:`._takeover`).

Each kind has one durable pull consumer that every daemon pulls from (:mod:`._work`): among
all daemons each message goes to one, and one that dies holding it makes JetStream deliver it
again after the ack wait. Results of queued runs go to the key-value bucket ``llmspell_runs``,
which every daemon reads (``GET /runs/{id}`` answers on any of them).

The first connection is bounded (a few seconds; a clear error naming the URL); after that
nats-py reconnects for as long as it takes, and :attr:`NatsLink.connected` says whether it is
connected now (``GET /readyz`` reports it).
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from .._exceptions import ConfigError

if TYPE_CHECKING:
    from nats.aio.client import Client
    from nats.js import JetStreamContext
    from nats.js.kv import KeyValue

_log = logging.getLogger("llmspell.serve")

STREAM = "LLMSPELL_WORK"
RUNS_SUBJECT = "spells.run"
TAKEOVER_SUBJECT = "llmspell.takeover"
EVENTS_STREAM, EVENTS_PREFIX = "LLMSPELL_EVENTS", "events"
"""The bus's stream: topic ``a.b`` is subject ``events.a.b`` (``actors.nats`` keeps it)."""
RESULTS_BUCKET = "llmspell_runs"
RESULTS_TTL = 7 * 24 * 3600.0
"""Seconds a queued run's record stays in the results bucket."""
CONNECT_TIMEOUT = 5.0


class NatsLink:
    """One connection to NATS with JetStream, the work stream and the results bucket ensured.

    Use :func:`connect`; :meth:`aclose` ends it.
    """

    def __init__(self, url: str, nc: Client, js: JetStreamContext, results: KeyValue) -> None:
        self.url = url
        self.nc = nc
        self.js = js
        self.results = results

    @property
    def connected(self) -> bool:
        """Whether the connection is up now (it reconnects by itself when it is not)."""
        return bool(self.nc.is_connected)

    async def last_event(self) -> int:
        """The sequence number of the last event stored on the bus (0: none yet)."""
        info = await self.js.stream_info(EVENTS_STREAM)
        return int(info.state.last_seq)

    async def aclose(self) -> None:
        if not self.nc.is_closed:
            try:
                await self.nc.drain()
            except Exception:  # closing anyway: a connection lost cannot drain
                await self.nc.close()


async def connect(url: str, *, name: str = "llmspell serve") -> NatsLink:
    """Connect to the NATS server at ``url`` and ensure the stream and bucket.

    Raises:
        ConfigError: the server cannot be reached within a few seconds, or has no JetStream
            (the message names the URL and the cause).
    """
    try:
        import nats.errors
        from nats.aio.client import Client as Nats
        from nats.js.api import RetentionPolicy, StorageType, StreamConfig
    except ImportError:
        raise ConfigError(
            f"--nats {url}: needs nats-py, which is not installed: pip install 'llmspell[nats]'"
        ) from None

    errors: list[Exception] = []
    joined = False  # until then, the error below says it all

    async def on_error(exc: Exception) -> None:
        if joined:
            _log.warning("NATS %s: %s", url, exc)
        errors.append(exc)
        del errors[:-1]

    async def on_disconnected() -> None:
        if joined and not (nc.is_closed or nc.is_draining):
            _log.warning("NATS %s: disconnected; reconnecting", url)

    async def on_reconnected() -> None:
        _log.info("NATS %s: reconnected", url)

    nc = Nats()
    try:
        await asyncio.wait_for(
            nc.connect(
                url,
                name=name,
                error_cb=on_error,
                disconnected_cb=on_disconnected,
                reconnected_cb=on_reconnected,
                connect_timeout=2,
                reconnect_time_wait=1,
                max_reconnect_attempts=-1,  # once joined, a daemon waits for NATS to return
            ),
            CONNECT_TIMEOUT,
        )
    except (TimeoutError, OSError, nats.errors.Error) as exc:
        await nc.close()
        cause = errors[-1] if errors else exc
        raise ConfigError(
            f"--nats {url}: cannot connect to the NATS server within {CONNECT_TIMEOUT:g} s "
            f"({cause or type(cause).__name__}); start one with JetStream on "
            "(nats-server -js) or fix the URL"
        ) from None
    js = nc.jetstream()
    subjects = [f"{RUNS_SUBJECT}.>", f"{TAKEOVER_SUBJECT}.>"]
    try:
        await js.add_stream(
            StreamConfig(
                name=STREAM,
                subjects=subjects,
                retention=RetentionPolicy.WORK_QUEUE,
                storage=StorageType.FILE,
                duplicate_window=120.0,
            )
        )
        results = await js.create_key_value(
            bucket=RESULTS_BUCKET, ttl=RESULTS_TTL, history=1, description=_RESULTS_HELP
        )
    except Exception as exc:
        await nc.close()
        raise ConfigError(
            f"--nats {url}: JetStream: {exc} (is the server started with -js?)"
        ) from None
    joined = True
    _log.info("joined NATS at %s", url)
    return NatsLink(url, nc, js, results)


_RESULTS_HELP = "llmspell serve: queued spell runs by run id (status, then the result)"


def header(msg: Any, name: str) -> str | None:
    """A NATS message's header ``name``, or None."""
    headers = getattr(msg, "headers", None) or {}
    value = headers.get(name)
    return None if value is None else str(value)
