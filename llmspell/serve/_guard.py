"""The middleware every request passes: the bearer token, error answers, and metrics.

* With a token configured, every endpoint but ``/healthz`` needs ``Authorization: Bearer
  <token>`` (compared in constant time); otherwise 401 with ``WWW-Authenticate: Bearer``.
* :class:`~llmspell.serve._body.HttpError` from a route becomes its JSON answer; any other
  exception a 500 that names no internals (the traceback goes to the log): a crashing handler
  never takes the process down.
* Every request is counted in ``llmspell_http_requests_total{route,method,status}`` and timed in
  ``llmspell_http_request_duration_seconds`` (by route pattern, never by raw path), when
  metrics are on.
"""

from __future__ import annotations

import hmac
import logging
import time
from typing import TYPE_CHECKING, Any

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ._body import HttpError

if TYPE_CHECKING:
    from ._daemon import Daemon

_log = logging.getLogger("llmspell.serve")
OPEN_PATHS = ("/healthz",)


class Guard:
    """ASGI middleware: token, errors, metrics (see the module docstring)."""

    def __init__(self, app: ASGIApp, daemon: Daemon) -> None:
        self.app = app
        self.daemon = daemon
        token = daemon.settings.token
        self.expected = f"Bearer {token}".encode() if token else None
        self.observer: Any = daemon.observer
        self.record = getattr(self.observer, "record_http", None)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500
        sent = False

        async def send_status(message: Message) -> None:
            nonlocal status, sent
            if message["type"] == "http.response.start":
                status = message["status"]
                sent = True
            await send(message)

        try:
            if self.expected is not None and scope["path"] not in OPEN_PATHS:
                given = dict(scope["headers"]).get(b"authorization", b"")
                if not hmac.compare_digest(given, self.expected):
                    await JSONResponse(
                        {"error": "missing or wrong token (Authorization: Bearer <token>)"},
                        401,
                        headers={"WWW-Authenticate": "Bearer"},
                    )(scope, receive, send_status)
                    return
            try:
                await self.app(scope, receive, send_status)
            except HttpError as exc:
                if not sent:
                    await exc.response()(scope, receive, send_status)
            except Exception:
                _log.exception("%s %s failed", scope["method"], scope["path"])
                if not sent:
                    response = JSONResponse({"error": "internal error (see the daemon's log)"}, 500)
                    await response(scope, receive, send_status)
        finally:
            record = self.record
            if record is not None:
                route = scope.get("route")
                pattern = getattr(route, "path", None) or "<unmatched>"
                record(pattern, scope["method"], status, time.perf_counter() - started)
