"""A local OpenAI-compatible chat server for tests and benchmarks.

:class:`OpenAIServer` listens on ``127.0.0.1`` (a free port) on the caller's asyncio loop and
answers ``POST /v1/chat/completions`` and ``GET /v1/models`` the way OpenAI does, so litellm's
real HTTP client code runs against it. Replies come from a queue (:meth:`OpenAIServer.reply`,
:meth:`~OpenAIServer.tool_calls`, :meth:`~OpenAIServer.error`), then from the default reply::

    async with OpenAIServer() as server:
        server.error(429, retry_after=0)          # the first request is rate limited
        server.reply("hello", delay=0.1)          # the second answers slowly
        ...                                       # call litellm with api_base=server.base_url
        assert len(server.requests) == 2          # the parsed JSON bodies, in order
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import json
import re
import socket
import time
from typing import Any

from aiohttp import web

_WORDS = re.compile(r"\S+\s*")


@dataclasses.dataclass
class ServerReply:
    """One scripted answer of :class:`OpenAIServer`.

    Attributes:
        content: the assistant's text (None with tool calls only).
        tool_calls: ``{"name", "arguments", "id"?}`` dicts; ``arguments`` is a dict (sent as
            JSON) or a string sent verbatim (so it may be malformed JSON).
        status: HTTP status; anything but 200 sends an OpenAI-style error body.
        message: the error message for a non-200 status.
        retry_after: value of the ``Retry-After`` header on an error, in seconds.
        delay: seconds to wait before answering (added to the server's ``latency``).
        usage: token counts to report; counted from words when None.
        include_usage: in streams, send the usage chunk when the client asks for it.
    """

    content: str | None = None
    tool_calls: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    status: int = 200
    message: str = ""
    retry_after: float | None = None
    delay: float = 0.0
    usage: dict[str, int] | None = None
    include_usage: bool = True


class OpenAIServer:
    """An OpenAI-compatible ``/v1/chat/completions`` endpoint on ``127.0.0.1``.

    Args:
        default_reply: what to answer once the queue is empty (text or a :class:`ServerReply`).
        latency: simulated latency in seconds before every answer (for benchmarks).
        chunk_words: words per content chunk when streaming.

    Attributes:
        requests: the parsed JSON bodies received, in order (errors and disconnects included).
        disconnects: how many clients hung up before their answer was complete.
    """

    def __init__(
        self,
        *,
        default_reply: str | ServerReply = "Hello from the test server.",
        latency: float = 0.0,
        chunk_words: int = 2,
    ) -> None:
        if isinstance(default_reply, str):
            default_reply = ServerReply(content=default_reply)
        self.default_reply = default_reply
        self.latency = latency
        self.chunk_words = max(1, chunk_words)
        self.requests: list[dict[str, Any]] = []
        self.disconnects = 0
        self._queue: list[ServerReply] = []
        self._ids = itertools.count(1)
        self._runner: web.AppRunner | None = None
        self._port = 0
        self._disconnected: asyncio.Event | None = None
        self._arrived: asyncio.Condition | None = None

    @property
    def base_url(self) -> str:
        """The ``api_base`` to give litellm: ``http://127.0.0.1:PORT/v1``."""
        return f"http://127.0.0.1:{self._port}/v1"

    def reply(
        self,
        content: str,
        *,
        delay: float = 0.0,
        usage: dict[str, int] | None = None,
        include_usage: bool = True,
    ) -> None:
        """Queue a text answer."""
        self.push(ServerReply(content, delay=delay, usage=usage, include_usage=include_usage))

    def tool_calls(self, *calls: dict[str, Any], content: str | None = None) -> None:
        """Queue an answer with tool calls: ``{"name": ..., "arguments": dict | str}`` each."""
        self.push(ServerReply(content, tool_calls=[dict(call) for call in calls]))

    def error(
        self,
        status: int,
        message: str = "",
        *,
        times: int = 1,
        retry_after: float | None = None,
    ) -> None:
        """Queue ``times`` error answers with HTTP ``status``."""
        message = message or f"simulated error {status}"
        for _ in range(times):
            self.push(ServerReply(status=status, message=message, retry_after=retry_after))

    def push(self, reply: ServerReply) -> None:
        """Queue any :class:`ServerReply`."""
        self._queue.append(reply)

    async def wait_requests(self, count: int = 1) -> None:
        """Wait until ``count`` requests in all have arrived."""
        assert self._arrived is not None, "server not started"
        async with self._arrived:
            await self._arrived.wait_for(lambda: len(self.requests) >= count)

    async def wait_disconnect(self) -> None:
        """Wait until a client has hung up before its answer was complete."""
        assert self._disconnected is not None, "server not started"
        await self._disconnected.wait()

    async def __aenter__(self) -> OpenAIServer:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._chat)
        app.router.add_get("/v1/models", self._models)
        self._runner = web.AppRunner(
            app, handler_cancellation=True, shutdown_timeout=0.5, access_log=None
        )
        await self._runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        self._port = sock.getsockname()[1]
        await web.SockSite(self._runner, sock).start()
        self._disconnected = asyncio.Event()
        self._arrived = asyncio.Condition()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _models(self, request: web.Request) -> web.Response:
        names = sorted({str(body.get("model", "")) for body in self.requests} | {"test-model"})
        data = [{"id": name, "object": "model", "owned_by": "llmspell"} for name in names if name]
        return web.json_response({"object": "list", "data": data})

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        self.requests.append(body)
        assert self._arrived is not None
        async with self._arrived:
            self._arrived.notify_all()
        reply = self._queue.pop(0) if self._queue else self.default_reply
        try:
            if self.latency or reply.delay:
                await asyncio.sleep(self.latency + reply.delay)
            if reply.status != 200:
                return _error_response(reply)
            if body.get("stream"):
                return await self._stream(request, body, reply)
            return web.json_response(self._completion(body, reply))
        except (asyncio.CancelledError, ConnectionResetError):
            self.disconnects += 1
            assert self._disconnected is not None
            self._disconnected.set()
            raise

    def _completion(self, body: dict[str, Any], reply: ServerReply) -> dict[str, Any]:
        calls = [_tool_call(i, call) for i, call in enumerate(reply.tool_calls)]
        message: dict[str, Any] = {"role": "assistant", "content": reply.content}
        if calls:
            message["tool_calls"] = calls
        return {
            **self._envelope(body, "chat.completion"),
            "choices": [{"index": 0, "message": message, "finish_reason": _finish(reply)}],
            "usage": _usage(body, reply),
        }

    async def _stream(
        self, request: web.Request, body: dict[str, Any], reply: ServerReply
    ) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        envelope = self._envelope(body, "chat.completion.chunk")

        async def send(delta: dict[str, Any], finish: str | None = None, **more: Any) -> None:
            choice = {"index": 0, "delta": delta, "finish_reason": finish}
            chunk = {**envelope, "choices": [choice] if delta or finish else [], **more}
            await response.write(f"data: {json.dumps(chunk)}\n\n".encode())

        await send({"role": "assistant", "content": ""})
        words = _WORDS.findall(reply.content or "")
        for start in range(0, len(words), self.chunk_words):
            await send({"content": "".join(words[start : start + self.chunk_words])})
        for index, call in enumerate(reply.tool_calls):
            full = _tool_call(index, call)
            head = {**full, "index": index, "function": {**full["function"], "arguments": ""}}
            await send({"tool_calls": [head]})
            args = full["function"]["arguments"]
            for piece in (args[: len(args) // 2], args[len(args) // 2 :]):
                if piece:
                    await send({"tool_calls": [{"index": index, "function": {"arguments": piece}}]})
        await send({}, _finish(reply))
        options = body.get("stream_options") or {}
        if options.get("include_usage") and reply.include_usage:
            await send({}, usage=_usage(body, reply))
        await response.write(b"data: [DONE]\n\n")
        await response.write_eof()
        return response

    def _envelope(self, body: dict[str, Any], kind: str) -> dict[str, Any]:
        return {
            "id": f"chatcmpl-{next(self._ids)}",
            "object": kind,
            "created": int(time.time()),
            "model": body.get("model", "test-model"),
        }


def _tool_call(index: int, call: dict[str, Any]) -> dict[str, Any]:
    arguments = call.get("arguments", {})
    if not isinstance(arguments, str):
        arguments = json.dumps(arguments)
    return {
        "id": call.get("id") or f"call_{index + 1}",
        "type": "function",
        "function": {"name": call["name"], "arguments": arguments},
    }


def _finish(reply: ServerReply) -> str:
    return "tool_calls" if reply.tool_calls else "stop"


def _count(text: str) -> int:
    return len(text.split())


def _usage(body: dict[str, Any], reply: ServerReply) -> dict[str, int]:
    if reply.usage is not None:
        return reply.usage
    prompt = sum(_count(json.dumps(m.get("content") or "")) for m in body.get("messages", []))
    completion = _count(reply.content or "") + sum(
        _count(json.dumps(call.get("arguments", {}))) + 1 for call in reply.tool_calls
    )
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


def _error_response(reply: ServerReply) -> web.Response:
    kinds = {400: "invalid_request_error", 401: "authentication_error", 429: "rate_limit_error"}
    error = {"message": reply.message, "type": kinds.get(reply.status, "server_error")}
    headers = {}
    if reply.retry_after is not None:
        headers["Retry-After"] = f"{reply.retry_after:g}"
    return web.json_response({"error": error}, status=reply.status, headers=headers)
