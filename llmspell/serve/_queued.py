"""Queued runs: ``POST /spells/{name}/run?queue=1`` runs on whichever joined daemon is free.

The request is published to ``spells.run.<name>`` (JetStream, the work stream every daemon
pulls from) and answered at once: ``202 {"run_id", "spell", "status": "queued", "url"}``. As
with a Celery task id, the run id is how you follow it: ``GET /runs/{id}`` on *any* daemon
reads the run's record from the shared results bucket — ``queued``, then ``running`` (with the
daemon and attempt), then the run result exactly as ``POST /spells/{name}/run`` answers it
(``status`` ``ok`` or ``error``, ``value``, ``output``, ``usage`` ...). The runtime's own
``spell.started`` / ``spell.finished`` / ``spell.failed`` events carry the same ``runId`` and,
the bus being shared, show on every daemon's ``GET /events`` stream.

Anything may queue a run by publishing the parameters (a JSON object; empty: none) to
``spells.run.<name>`` on the stream; a ``Nats-Msg-Id`` header, if given, is the run id (and
JetStream drops a republish with the same id), else the run id is ``js<stream sequence>``.

Delivery is at least once: a daemon killed while running a queued run does not acknowledge it,
so another daemon runs it again after the ack wait (a durable workflow in it resumes from its
checkpoints). A run whose record is already final is not run again, nor one whose record says
it runs in a live process on this machine (delivered again because NATS was away longer than
the ack wait); a run started
:data:`MAX_ATTEMPTS` times without finishing is recorded as failed. A daemon whose copy of the
spell is at its concurrency limit gives the run back for another daemon (or itself, later).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import time
from typing import TYPE_CHECKING, Any

import anyio
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from ..workflows import owner_alive
from ._body import HttpError
from ._nats import RUNS_SUBJECT, header
from ._work import DONE, Verdict, again

if TYPE_CHECKING:
    from .._runtime import RunResult
    from ._daemon import Daemon
    from ._nats import NatsLink

_log = logging.getLogger("llmspell.serve")
MAX_ATTEMPTS = 5
FINAL = ("ok", "error")
_RUN_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
_MAX_RECORD = 512 * 1024


async def enqueue(
    daemon: Daemon, name: str, params: dict[str, Any], trace: dict[str, str]
) -> Response:
    """Queue a run of spell ``name``: 202 and its run id."""
    link = daemon.nats
    if link is None:
        raise HttpError(400, "queue=1: this daemon is not joined to NATS (start it with --nats)")
    entry = daemon.catalog.entries.get(name)
    if entry is None:
        raise HttpError(404, f"no spell named {name!r}")
    if daemon.draining:
        raise HttpError(503, "the daemon is shutting down", {"Retry-After": "1"})
    if not link.connected:
        raise HttpError(503, f"NATS {link.url} is disconnected; try again", {"Retry-After": "1"})
    run_id = os.urandom(8).hex()
    record = {"run_id": run_id, "spell": name, "status": "queued", "queued_at": time.time()}
    try:
        with anyio.fail_after(5):
            await put(link, run_id, record)  # first: a daemon may take the run at once
            await link.js.publish(
                f"{RUNS_SUBJECT}.{name}",
                json.dumps(params).encode(),
                headers={"Nats-Msg-Id": run_id, **trace},
            )
    except Exception as exc:
        with anyio.move_on_after(2), contextlib.suppress(Exception):
            await link.results.delete(run_id)  # never "queued" for a run that is not
        raise HttpError(503, f"could not queue the run on NATS {link.url}: {exc}") from None
    body = {**record, "url": f"/runs/{run_id}"}
    return JSONResponse(body, 202, headers={"X-Llmspell-Run-Id": run_id})


async def show_run(request: Request) -> Response:
    """``GET /runs/{id}``: a queued run's record, from whichever daemon asks."""
    daemon: Daemon = request.app.state.daemon
    run_id = request.path_params["id"]
    if daemon.nats is None:
        raise HttpError(404, f"no queued run {run_id!r}: this daemon is not joined to NATS")
    if not _RUN_ID.fullmatch(run_id):
        raise HttpError(400, f"run id {run_id!r}: letters, digits, '-' and '_' only")
    try:
        record = await get(daemon.nats, run_id)
    except Exception as exc:
        raise HttpError(503, f"NATS {daemon.nats.url}: {exc}", {"Retry-After": "1"}) from None
    if record is None:
        raise HttpError(404, f"no queued run {run_id!r}")
    return JSONResponse(record)


async def get(link: NatsLink, run_id: str) -> dict[str, Any] | None:
    from nats.js.errors import KeyNotFoundError

    try:
        entry = await link.results.get(run_id)
    except KeyNotFoundError:
        return None
    if not entry.value:
        return None
    value: dict[str, Any] = json.loads(entry.value)
    return value


async def put(link: NatsLink, run_id: str, record: dict[str, Any]) -> None:
    data = json.dumps(record, default=str).encode()
    if len(data) > _MAX_RECORD:  # the bucket holds one NATS message per run
        record = {**record, "output": None, "output_dropped": "too large for the results bucket"}
        data = json.dumps(record, default=str).encode()
    await link.results.put(run_id, data)


def run_id_of(msg: Any) -> str:
    given = header(msg, "Nats-Msg-Id")
    if given is not None and _RUN_ID.fullmatch(given):
        return given
    return f"js{msg.metadata.sequence.stream}"


async def take(daemon: Daemon, msg: Any) -> Verdict:
    """Work on one queued run (the :class:`~._work.Consumer` handler)."""
    from ._runs import result_json

    link = daemon.nats
    assert link is not None
    name = msg.subject[len(RUNS_SUBJECT) + 1 :]
    run_id = run_id_of(msg)
    record = await get(link, run_id) or {"run_id": run_id, "spell": name, "queued_at": None}
    if record.get("status") in FINAL:
        return DONE  # delivered again after it finished (its daemon died before acking)
    if daemon.draining:
        return again()
    owner = record.get("owner")
    if record.get("status") == "running" and owner and owner_alive(owner):
        return again(daemon.settings.nats_ack_wait)  # still running there (NATS was away)
    attempt = int(record.get("attempt") or 0) + 1
    problem: str | None
    try:
        params = json.loads(msg.data or b"{}")
    except ValueError as exc:
        params, problem = None, f"the message is not JSON: {exc}"
    else:
        problem = None if isinstance(params, dict) else "expected a JSON object of parameters"
    if attempt > MAX_ATTEMPTS:
        problem = f"started {MAX_ATTEMPTS} times and never finished (its daemons died)"
    entry = daemon.catalog.entries.get(name)
    version = entry.version if entry is not None else None
    if problem is None and (entry is None or version is None):
        if msg.metadata.num_delivered < MAX_ATTEMPTS:
            return again(1.0)  # another daemon may host it
        problem = f"no daemon that took it hosts a spell named {name!r}"
    if problem is not None or entry is None or version is None:
        _log.error("queued run %s of %s failed: %s", run_id, name, problem)
        await _final(link, run_id, {**record, "status": "error", "error": problem})
        return DONE
    if entry.active >= version.concurrency:
        daemon.counters.queued_given_back += 1
        return again(0.5)
    daemon.counters.queued_taken += 1
    entry.active += 1
    entry.runs += 1
    queued = {k: record.get(k) for k in ("run_id", "spell", "queued_at")}
    running = {**queued, "status": "running", "attempt": attempt, "daemon": daemon.name,
               "owner": daemon.owner, "started_at": time.time()}  # fmt: skip
    await _final(link, run_id, running)
    trace = {k: v for k in ("traceparent", "tracestate") if (v := header(msg, k)) is not None}
    result: RunResult | None = None
    try:
        result = await daemon.execute(
            version, params=params, headers=trace, run_id=run_id, origin="queued"
        )
    finally:
        entry.active -= 1
        if result is None or result.status == "error":
            entry.failures += 1
    if result.status == "stopped":  # the daemon is shutting down: another one runs it
        daemon.counters.queued_given_back += 1
        await _final(link, run_id, {**queued, "status": "queued", "attempt": attempt})
        return again()
    await _final(link, run_id, {**running, **result_json(result, version)})
    return DONE


async def _final(link: NatsLink, run_id: str, record: dict[str, Any]) -> None:
    """Record ``record``, waiting out a reconnection (the message is kept alive meanwhile)."""
    for attempt in range(120):
        try:
            with anyio.fail_after(5):
                await put(link, run_id, record)
            return
        except Exception as exc:
            if attempt % 10 == 0:
                _log.warning("queued run %s: cannot record it yet: %s", run_id, exc)
            await anyio.sleep(1.0)
    _log.error("queued run %s: gave up recording %s", run_id, record.get("status"))
