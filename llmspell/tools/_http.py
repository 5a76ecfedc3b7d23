"""``http_fetch``: HTTP(S) requests to allowlisted hosts, never to private addresses.

The client (redirect handling, host and address checks, body limits) is in `_http_client`,
imported on the first fetch so that start-up does not load httpx.
"""

from __future__ import annotations

from typing import Any

from ._permissions import NET_HTTP
from ._tool import Tool, ToolContext


async def http_fetch(args: dict[str, Any], ctx: ToolContext) -> dict[str, Any]:
    """Fetch a URL; returns ``{status, headers, body, url}``."""
    from ._http_client import fetch

    return await fetch(args, ctx)


HTTP_TOOLS = [
    Tool(
        name="http_fetch",
        description="Fetch a URL over HTTP(S) from an allowed host. Returns {status, headers, "
        "body (text), url (after redirects)}.",
        parameters={
            "url": {"type": "string", "required": True, "description": "an http(s) URL"},
            "method": {
                "type": "string",
                "enum": ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"],
                "default": "GET",
            },
            "headers": {"type": "object", "additionalProperties": {"type": "string"}},
            "body": {"description": "request body: text, or a value sent as JSON"},
        },
        handler=http_fetch,
        permission=NET_HTTP,
    ),
]
