"""The HTTP client behind ``http_fetch``, kept apart so httpx loads only when a fetch runs.

Every hop (the first request and each redirect, followed here and not by httpx) is checked
for its scheme and its host against ``http_allow_hosts``; the address check happens when the
connection is made, in `GuardedBackend`. Bodies are streamed and cut at
``max_response_bytes``.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpcore
import httpx

from .._exceptions import ToolError
from ._netguard import AddressRefused, GuardedBackend, host_allowed, normalize_host
from ._permissions import Permissions
from ._tool import ToolContext

MAX_REDIRECTS = 5
"""How many redirects one fetch follows."""
CONNECT_TIMEOUT = 10.0
"""Seconds to resolve and connect."""
_NAME = "http_fetch"
_HTTPCORE_ERRORS = (
    httpcore.NetworkError, httpcore.TimeoutException, httpcore.ProtocolError,
    httpcore.UnsupportedProtocol,
)  # fmt: skip


class _ResponseStream(httpx.AsyncByteStream):
    def __init__(self, stream: Any) -> None:
        self._stream = stream

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for part in self._stream:
            yield part

    async def aclose(self) -> None:
        await self._stream.aclose()


class GuardedTransport(httpx.AsyncBaseTransport):
    """An httpx transport over an httpcore pool whose connections `GuardedBackend` makes.

    Args:
        allow_private: allow loopback, private and link-local addresses.
    """

    def __init__(self, *, allow_private: bool) -> None:
        backend = GuardedBackend(allow_private=allow_private)
        self._pool = httpcore.AsyncConnectionPool(network_backend=backend, retries=0)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Send ``request`` through the guarded pool."""
        assert isinstance(request.stream, httpx.AsyncByteStream)
        core = httpcore.Request(
            method=request.method,
            url=httpcore.URL(
                scheme=request.url.raw_scheme,
                host=request.url.raw_host,
                port=request.url.port,
                target=request.url.raw_path,
            ),
            headers=request.headers.raw,
            content=request.stream,
            extensions=request.extensions,
        )
        response = await self._pool.handle_async_request(core)
        return httpx.Response(
            status_code=response.status,
            headers=response.headers,
            stream=_ResponseStream(response.stream),
            extensions=response.extensions,
        )

    async def aclose(self) -> None:
        """Close the pool's connections."""
        await self._pool.aclose()


def check_url(url: httpx.URL, permissions: Permissions) -> None:
    """Refuse a URL whose scheme is not http(s) or whose host is not allowlisted.

    Raises:
        ToolError: saying which rule the URL breaks and the flag that would allow it.
    """
    if url.scheme not in ("http", "https"):
        raise ToolError(_NAME, f"only http and https URLs are allowed, not {url.scheme!r}")
    try:
        host = normalize_host(url.raw_host.decode("ascii"))
    except AddressRefused as exc:
        raise ToolError(_NAME, f"refused {str(url)!r}: {exc}") from None
    if url.userinfo:
        raise ToolError(_NAME, "URLs with credentials (user:password@) are not allowed")
    if not host_allowed(host, permissions.http_allow_hosts):
        if not permissions.http_allow_hosts:
            raise ToolError(_NAME, f"no hosts are allowed; run with --http-host {host}")
        raise ToolError(
            _NAME, f"host {host!r} is not in the allowed hosts; run with --http-host {host}"
        )


async def fetch(args: dict[str, Any], ctx: ToolContext) -> dict[str, Any]:
    """Fetch a URL; returns ``{status, headers, body, url}``."""
    perms = ctx.permissions
    try:
        url = httpx.URL(args["url"])
    except (httpx.InvalidURL, TypeError) as exc:
        raise ToolError(_NAME, f"invalid URL {args['url']!r}: {exc}") from None
    check_url(url, perms)
    headers = {"accept-encoding": "identity", **(args.get("headers") or {})}
    body = args.get("body")
    if body is not None and not isinstance(body, str):
        body = json.dumps(body)
        headers.setdefault("content-type", "application/json")
    transport = GuardedTransport(allow_private=perms.http_allow_private)
    timeout = httpx.Timeout(CONNECT_TIMEOUT, read=None)  # the tool's own timeout bounds reads
    async with httpx.AsyncClient(transport=transport, trust_env=False, timeout=timeout) as client:
        request = client.build_request(
            args.get("method", "GET"), url, headers=headers, content=body
        )
        for _ in range(MAX_REDIRECTS + 1):
            try:
                response = await client.send(request, stream=True)
                try:
                    if response.next_request is None:
                        content = await _read_capped(response, perms.max_response_bytes)
                        return _result(response, content)
                    request = response.next_request
                finally:
                    await response.aclose()
            except AddressRefused as exc:
                hint = "; run with --http-allow-private to allow it" if exc.private else ""
                raise ToolError(_NAME, f"refused to connect: {exc}{hint}") from None
            except (httpx.HTTPError, *_HTTPCORE_ERRORS) as exc:
                problem = str(exc) or type(exc).__name__
                raise ToolError(
                    _NAME, f"request to {str(request.url)!r} failed: {problem}"
                ) from exc
            check_url(request.url, perms)
    raise ToolError(_NAME, f"too many redirects (more than {MAX_REDIRECTS})")


async def _read_capped(response: httpx.Response, limit: int) -> bytes:
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise ToolError(_NAME, f"response body is {declared} bytes, over the limit of {limit}")
    chunks, size = [], 0
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > limit:
            raise ToolError(_NAME, f"response body is larger than the limit of {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _result(response: httpx.Response, content: bytes) -> dict[str, Any]:
    headers: dict[str, str] = {}
    for key, value in response.headers.multi_items():
        headers[key] = f"{headers[key]}, {value}" if key in headers else value
    return {
        "status": response.status_code,
        "headers": headers,
        "body": content.decode(response.encoding or "utf-8", "replace"),
        "url": str(response.url),
    }
