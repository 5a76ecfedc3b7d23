"""``POST /spells/{name}/run``: run a spell over HTTP, answered as JSON or streamed as SSE.

The body is the spell's parameters, a JSON object (empty: none). The answer is the run result
(``status``, ``value``, ``output``, ``error``, ``usage``, ...) with the spell's version: status
200 when the run succeeded, 422 when the spell failed (an error, a limit), 503 when the daemon
stopped it while shutting down. With ``Accept: text/event-stream`` the output streams as it is
printed: ``output`` events (``{"text"}``), ``log`` events (``{"level", "message", "fields"}``)
and one final ``result`` event; a client that goes away stops its run.

With ``?queue=1`` the run is queued for whichever daemon joined by NATS is free (202 and a
run id; see :mod:`._queued`).

Each spell runs at most ``concurrency`` times at once: past it the request gets 429 with
``Retry-After``, at once (nothing queues in the daemon). The run gets the version that served
when it began, its limits and its permissions, and the caller's ``traceparent``.
"""

from __future__ import annotations

import json
import os
from collections import deque
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import anyio
from starlette.datastructures import QueryParams
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from ._body import HttpError, decode_json, read_body

if TYPE_CHECKING:
    from .._runtime import RunResult
    from ._catalog import Entry, Version
    from ._daemon import Daemon

TRACE_HEADERS = ("traceparent", "tracestate")
_TRACE_KEYS = tuple(name.encode() for name in TRACE_HEADERS)
_RESULT_FIELDS = (
    "spell", "run_id", "engine", "status", "value", "error", "error_type", "error_line",
    "traceback", "duration", "usage", "output_bytes", "output",
)  # fmt: skip
_STATUS = {"ok": 200, "error": 422, "stopped": 503}


def result_json(result: RunResult, version: Version) -> dict[str, Any]:
    """The result as JSON, with the version that ran (shallow: ``to_json`` deep-copies)."""
    data = {name: getattr(result, name) for name in _RESULT_FIELDS}
    data["version"] = version.digest
    return data


def _claim(daemon: Daemon, name: str) -> tuple[Entry, Version]:
    """The spell's entry and serving version, one run slot taken (or an HttpError)."""
    entry = daemon.catalog.entries.get(name)
    if entry is None:
        raise HttpError(404, f"no spell named {name!r}")
    version = entry.version
    if version is None:
        raise HttpError(503, f"spell {name!r} failed to load: {entry.error}")
    if daemon.draining:
        raise HttpError(503, "the daemon is shutting down", {"Retry-After": "1"})
    if entry.active >= version.concurrency:
        daemon.counters.rejected_busy += 1
        raise HttpError(
            429,
            f"spell {name!r} is running {entry.active} times, its limit (concurrency)",
            {"Retry-After": "1"},
        )
    entry.active += 1
    entry.runs += 1
    return entry, version


def _release(entry: Entry, result: RunResult | None) -> None:
    entry.active -= 1
    if result is None or result.status == "error":
        entry.failures += 1


class RunEndpoint:
    """``POST /spells/{name}/run`` as a plain ASGI app: the daemon's hot path reads the scope
    and the body itself and answers with a prepared JSON body, without building a Starlette
    ``Request`` and ``Response`` per run (what they would add is not used here)."""

    def __init__(self, daemon: Daemon) -> None:
        self.daemon = daemon

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        daemon = self.daemon
        name = scope["path_params"]["name"]
        declared: bytes | None = None
        accept = b""
        trace: dict[str, str] = {}
        for key, value in scope["headers"]:
            if key == b"content-length":
                declared = value if declared is None else declared
            elif key == b"accept":
                accept = accept or value
            elif key in _TRACE_KEYS:
                trace.setdefault(key.decode("latin-1"), value.decode("latin-1"))
        limit = daemon.settings.max_body_bytes
        body = await read_body(receive, declared, limit, what="parameters")
        params = decode_json(body, what="parameters", empty={})
        if not isinstance(params, dict):
            raise HttpError(400, "parameters: expected a JSON object of named parameters")
        if _queued(scope):
            from ._queued import enqueue

            response: Response = await enqueue(daemon, name, params, trace)
            await response(scope, receive, send)
            return
        entry, version = _claim(daemon, name)
        if b"text/event-stream" in accept:
            await _RunStream(daemon, entry, version, params, trace)(scope, receive, send)
            return
        result: RunResult | None = None
        try:
            result = await daemon.execute(version, params=params, headers=trace)
        finally:
            _release(entry, result)
        await send_json(
            send,
            _STATUS.get(result.status, 500),
            result_json(result, version),
            [(b"x-llmspell-run-id", result.run_id.encode("latin-1"))],
        )


def _queued(scope: Scope) -> bool:
    """Whether the request asks for a queued run (``?queue=1``)."""
    query = scope["query_string"]
    return bool(query) and QueryParams(query).get("queue", "0") not in ("0", "false", "")


_encode = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode
"""``json.dumps`` as Starlette's ``JSONResponse`` calls it, with the encoder made once."""


async def send_json(
    send: Send, status: int, data: Any, headers: Sequence[tuple[bytes, bytes]] = ()
) -> None:
    """Answer with ``data`` as JSON, encoded as Starlette's ``JSONResponse`` does."""
    body = _encode(data).encode("utf-8")
    raw = [
        (b"content-length", str(len(body)).encode("latin-1")),
        (b"content-type", b"application/json"),
        *headers,
    ]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


def sse(event: str | None, data: Any, event_id: int | None = None) -> bytes:
    """One server-sent event: ``id``, ``event`` and one ``data`` line of JSON."""
    lines = []
    if event_id is not None:
        lines.append(f"id: {event_id}")
    if event is not None:
        lines.append(f"event: {event}")
    lines.append("data: " + json.dumps(data, ensure_ascii=False, default=str))
    return ("\n".join(lines) + "\n\n").encode("utf-8")


SSE_HEADERS = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-store"),
    (b"x-accel-buffering", b"no"),
]


class _RunStream(Response):
    """The run, streamed: it starts when the response does; its slot is released at the end
    whatever happens (the client may be gone before the first byte)."""

    def __init__(
        self,
        daemon: Daemon,
        entry: Entry,
        version: Version,
        params: dict[str, Any],
        headers: dict[str, str],
    ) -> None:
        super().__init__()
        self.daemon, self.entry, self.version = daemon, entry, version
        self.params, self.trace = params, headers
        self.run_id = os.urandom(6).hex()
        self.pending: deque[bytes] = deque()
        self.wake = anyio.Event()

    def _push(self, chunk: bytes) -> None:
        self.pending.append(chunk)
        self.wake.set()

    def _output(self, text: str) -> None:
        self._push(sse("output", {"text": text}))

    def _log(self, level: str, message: str, fields: dict[str, Any]) -> None:
        self.daemon.spell_log(self.version.name, self.run_id)(level, message, fields)
        self._push(sse("log", {"level": level, "message": message, "fields": fields}))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        result: RunResult | None = None
        try:
            headers = [*SSE_HEADERS, (b"x-llmspell-run-id", self.run_id.encode())]
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            async with anyio.create_task_group() as tg:
                tg.start_soon(_cancel_on_disconnect, receive, tg.cancel_scope)
                done = anyio.Event()

                async def run() -> None:
                    nonlocal result
                    try:
                        result = await self.daemon.execute(
                            self.version,
                            params=self.params,
                            output=self._output,
                            log=self._log,
                            headers=self.trace,
                            run_id=self.run_id,
                        )
                        self._push(sse("result", result_json(result, self.version)))
                    finally:
                        done.set()
                        self.wake.set()

                tg.start_soon(run)
                while not (done.is_set() and not self.pending):
                    if not self.pending:
                        await self.wake.wait()
                        self.wake = anyio.Event()
                    while self.pending:
                        body = self.pending.popleft()
                        await send({"type": "http.response.body", "body": body, "more_body": True})
                await send({"type": "http.response.body", "body": b"", "more_body": False})
                tg.cancel_scope.cancel()
        finally:
            _release(self.entry, result)


async def _cancel_on_disconnect(receive: Receive, scope: anyio.CancelScope) -> None:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            scope.cancel()
            return
