"""Request bodies, bounded, and error responses that name what is wrong."""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse

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
    if declared is not None:
        if not declared.isdigit():
            raise HttpError(400, "Content-Length: not a number")
        if int(declared) > limit:
            raise HttpError(413, f"{what}: larger than {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise HttpError(413, f"{what}: larger than {limit} bytes")
        chunks.append(chunk)
    body = b"".join(chunks)
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
