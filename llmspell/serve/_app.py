"""The daemon's ASGI app: :func:`create_app` (Starlette), its routes and its lifespan."""

from __future__ import annotations

import dataclasses
import pathlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from .._config import Config
from ._body import HttpError, query_int
from ._daemon import Daemon
from ._events import publish, stream
from ._guard import Guard
from ._queued import show_run
from ._runs import RunEndpoint
from ._settings import ServeSettings

if TYPE_CHECKING:
    from .._ops import Observer
    from ..providers import Provider
    from ..tools import ToolRegistry

_STATUSES = ("running", "completed", "failed", "stranded")


async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> Response:
    daemon: Daemon = request.app.state.daemon
    status = "ready" if daemon.ready else "draining" if daemon.draining else "starting"
    body: dict[str, Any] = {"status": status, **daemon.statistics()}
    link = daemon.nats
    if link is not None:
        connected = link.connected and daemon.bus_connected()
        body["nats"] = {"url": link.url, "connected": connected}
        if status == "ready" and not connected:
            body["status"] = "not ready"
            body["reason"] = f"NATS {link.url} is disconnected (reconnecting)"
    return JSONResponse(body, 200 if body["status"] == "ready" else 503)


async def list_spells(request: Request) -> Response:
    daemon: Daemon = request.app.state.daemon
    return JSONResponse({"spells": daemon.catalog.describe()})


async def list_workflows(request: Request) -> Response:
    daemon: Daemon = request.app.state.daemon
    status = request.query_params.get("status")
    if status is not None and status not in _STATUSES:
        raise HttpError(400, f"status: must be one of {', '.join(_STATUSES)}, got {status!r}")
    limit = query_int(request, "limit", 100, low=1, high=10_000)
    assert daemon.workflows is not None
    runs = await daemon.workflows.list_runs(status=status, limit=limit)
    return JSONResponse({"workflows": [dataclasses.asdict(r) for r in runs]})


async def show_workflow(request: Request) -> Response:
    daemon: Daemon = request.app.state.daemon
    assert daemon.workflows is not None
    run_id = request.path_params["id"]
    record = await daemon.workflows.get(run_id)
    if record is None:
        raise HttpError(404, f"no workflow run {run_id!r}")
    checkpoints = await daemon.workflows.checkpoints(run_id)
    data = dataclasses.asdict(record)
    data["checkpoints"] = [dataclasses.asdict(c) for c in checkpoints.values()]
    return JSONResponse(data)


class _Asgi:
    """An ASGI app as a route's endpoint (a plain function would be taken for a handler)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)


def create_app(
    spells: str | pathlib.Path | None = None,
    *,
    settings: ServeSettings | None = None,
    config: Config | None = None,
    observer: Observer | None = None,
    metrics: bool = True,
    provider: Provider | None = None,
    tools: ToolRegistry | None = None,
) -> Starlette:
    """The daemon as an ASGI app hosting the spells in ``spells`` (or ``settings.spells``).

    Serve it with any ASGI server (``uvicorn.run(app)``); ``llmspell serve`` adds signal
    handling, the grace period and logging. The app's lifespan opens the runtime: spells load,
    resident spells start, stranded durable workflows resume. ``app.state.daemon`` is the
    :class:`Daemon` (call ``begin_drain()`` on it when your server starts shutting down, so
    event streams end and runs get the grace period).

    Args:
        spells: the directory of spells (overrides ``settings.spells``).
        settings: how it serves (token, limits, reload ...); checked here.
        config: the runtime's configuration (default: :func:`llmspell.load_config`'s).
        observer: an observer for ``/metrics`` and traces; default: a new one with metrics
            on (and tracing when the ``OTEL_*`` variables ask for it), unless ``metrics`` is
            False.
        metrics: serve ``/metrics`` (ignored when ``observer`` is given).
        provider: the LLM provider (default: the configured model, else the offline one).
        tools: the shared tools (default: the built-ins).

    Raises:
        ConfigError: bad settings (no such directory, a public address without a token ...).
    """
    settings = settings or ServeSettings()
    if spells is not None:
        settings = dataclasses.replace(settings, spells=pathlib.Path(spells))
    settings.check()
    if config is None:
        from .._config import load_config

        config = load_config()
    if observer is None and metrics:
        import observability

        observer = observability.create_observer(metrics=True)
    daemon = Daemon(settings, config, observer=observer, provider=provider, tools=tools)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with daemon.open():
            yield

    routes = [
        Route("/spells", list_spells, methods=["GET"]),
        Route("/spells/{name}/run", RunEndpoint(daemon), methods=["POST"]),
        Route("/events", stream, methods=["GET"]),
        Route("/events/{topic}", publish, methods=["POST"]),
        Route("/workflows", list_workflows, methods=["GET"]),
        Route("/workflows/{id}", show_workflow, methods=["GET"]),
        Route("/runs/{id}", show_run, methods=["GET"]),
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
    ]
    registry: Any = getattr(observer, "registry", None)
    if registry is not None:
        import observability

        routes.append(Route("/metrics", _Asgi(observability.metrics_app(observer))))  # type: ignore[arg-type]
    app = Starlette(routes=routes, middleware=[Middleware(Guard, daemon=daemon)], lifespan=lifespan)
    app.state.daemon = daemon
    return app
