"""Request bodies, bounded, and error responses that name what is wrong."""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse
from starlette.types import Receive

_EMPTY = object()


class HttpError(Exception):
    """Answer the request with ``status`` and ``{"error": message}``."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}

    def response(self) -> JSONResponse:
        return JSONResponse({"error": self.message}, self.status, headers=self.headers)


async def read_json(request: Request, limit: int, *, what: str, empty: Any = _EMPTY) -> Any:
    """The request body as JSON, at most ``limit`` bytes; ``empty`` when there is none.

    Raises:
        HttpError: 413 past the limit, 400 for a body that is not JSON (naming ``what``).
    """
    declared = request.headers.get("content-length")
    body = await read_body(
        request.receive, None if declared is None else declared.encode(), limit, what=what
    )
    return decode_json(body, what=what, empty=empty)


async def read_body(receive: Receive, declared: bytes | None, limit: int, *, what: str) -> bytes:
    """The request body from ``receive``, at most ``limit`` bytes (``declared``: the value of
    its ``Content-Length`` header, if any).

    Raises:
        HttpError: 413 past the limit, 400 for a ``Content-Length`` that is not a number.
        ClientDisconnect: the client went away before the body ended.
    """
    if declared is not None:
        if not declared.isdigit():
            raise HttpError(400, "Content-Length: not a number")
        if int(declared) > limit:
            raise HttpError(413, f"{what}: larger than {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnect()
        chunk = message.get("body", b"")
        if chunk:
            size += len(chunk)
            if size > limit:
                raise HttpError(413, f"{what}: larger than {limit} bytes")
            chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def decode_json(body: bytes, *, what: str, empty: Any = _EMPTY) -> Any:
    """``body`` decoded as JSON; ``empty`` when it is blank.

    Raises:
        HttpError: 400 for a body that is not JSON (naming ``what``), or a blank one when
            ``empty`` is not given.
    """
    if not body.strip():
        if empty is _EMPTY:
            raise HttpError(400, f"{what}: expected a JSON body")
        return empty
    try:
        return json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise HttpError(400, f"{what}: not valid JSON ({exc})") from None


def query_int(request: Request, name: str, default: int, *, low: int, high: int) -> int:
    """An integer query parameter within ``[low, high]``.

    Raises:
        HttpError: 400 naming the parameter.
    """
    text = request.query_params.get(name)
    if text is None:
        return default
    try:
        value = int(text)
    except ValueError:
        raise HttpError(400, f"{name}: must be a whole number, got {text!r}") from None
    if not low <= value <= high:
        raise HttpError(400, f"{name}: must be between {low} and {high}, got {value}")
    return value
