"""Scripted replies for the offline model: a queue, and where the offline model finds it.

A :class:`ReplyQueue` holds replies the offline model returns next (text, tool calls, errors)
and records every request it sees. The offline model asks the most recently installed queue
(see :func:`install`); with none installed it loads ``LLMSPELL_OFFLINE_SCRIPT`` (a JSON file)
once, so spell tests run from the CLI can script replies too. An empty queue falls back to the
offline model's deterministic replies.

Reply specs, in Python and in the JSON file::

    "some text"                                         a text reply
    {"content": "text"}                                 the same
    {"tool_calls": [{"name": "calc", "arguments": {"expr": "2+2"}}], "content": null}
    {"tool_calls": [{"name": "calc", "arguments": "{not json"}]}   malformed arguments, verbatim
    {"error": "rate_limit", "message": "slow down"}     also server_error, unavailable,
                                                        bad_request, auth, not_found, timeout,
                                                        connection, or an HTTP status number
    any of the dict forms may add "delay": seconds

The file holds a JSON list of specs, or ``{"replies": [...]}``. With ``LLMSPELL_OFFLINE_RECORD``
set to a path, each request is appended to it as one JSON line.
"""

from __future__ import annotations

import collections
import dataclasses
import json
import os
from pathlib import Path
from typing import Any, Self

SCRIPT_ENV = "LLMSPELL_OFFLINE_SCRIPT"
RECORD_ENV = "LLMSPELL_OFFLINE_RECORD"

ERROR_KINDS = {
    "rate_limit": 429,
    "server_error": 500,
    "unavailable": 503,
    "bad_request": 400,
    "auth": 401,
    "not_found": 404,
    "timeout": 408,
    "connection": 0,
}
"""Error kinds a script may queue, with the HTTP status the offline model reports."""


@dataclasses.dataclass(frozen=True)
class ScriptedReply:
    """One queued reply: text and/or tool calls, or an error.

    Attributes:
        content: the reply text.
        tool_calls: ``(name, arguments)`` pairs; arguments as a JSON string, sent verbatim.
        error: an error kind from :data:`ERROR_KINDS`, or None.
        message: the error's message.
        delay: seconds to wait before answering (or failing).
    """

    content: str | None = None
    tool_calls: tuple[tuple[str, str], ...] = ()
    error: str | None = None
    message: str = ""
    delay: float = 0.0

    def to_spec(self) -> dict[str, Any]:
        """This reply as a JSON-ready spec that :func:`parse_reply` reads back."""
        spec: dict[str, Any] = {}
        if self.error is not None:
            spec = {"error": self.error, "message": self.message}
        else:
            spec["content"] = self.content
            if self.tool_calls:
                spec["tool_calls"] = [{"name": n, "arguments": a} for n, a in self.tool_calls]
        if self.delay:
            spec["delay"] = self.delay
        return spec


def parse_reply(spec: object) -> ScriptedReply:
    """Turn a reply spec (see the module docstring) into a :class:`ScriptedReply`.

    Raises:
        ValueError: the spec is not one of the accepted forms.
    """
    if isinstance(spec, ScriptedReply):
        return spec
    if isinstance(spec, str):
        return ScriptedReply(content=spec)
    if not isinstance(spec, dict):
        raise ValueError(f"a scripted reply must be a string or an object, not {spec!r}")
    unknown = set(spec) - {"content", "tool_calls", "tool_call", "error", "message", "delay"}
    if unknown:
        raise ValueError(f"unknown keys in scripted reply: {sorted(unknown)}")
    delay = float(spec.get("delay", 0.0))
    error = spec.get("error")
    if error is not None:
        kind = _error_kind(error)
        return ScriptedReply(error=kind, message=str(spec.get("message", "")), delay=delay)
    calls = list(spec.get("tool_calls") or [])
    if "tool_call" in spec:
        calls.append(spec["tool_call"])
    content = spec.get("content")
    if content is None and not calls:
        raise ValueError(f"a scripted reply needs content, tool_calls or error: {spec!r}")
    return ScriptedReply(
        content=None if content is None else str(content),
        tool_calls=tuple(_tool_call(call) for call in calls),
        delay=delay,
    )


def _error_kind(error: object) -> str:
    if isinstance(error, str) and error.isdigit():
        error = int(error)
    if isinstance(error, int) and not isinstance(error, bool):
        for kind, status in ERROR_KINDS.items():
            if status == error:
                return kind
        return str(error)
    if isinstance(error, str) and error in ERROR_KINDS:
        return error
    raise ValueError(f"unknown error kind {error!r}; use one of {sorted(ERROR_KINDS)}")


def _tool_call(call: object) -> tuple[str, str]:
    if not isinstance(call, dict) or not isinstance(call.get("name"), str):
        raise ValueError(f"a scripted tool call needs a name: {call!r}")
    arguments = call.get("arguments", {})
    if not isinstance(arguments, str):
        arguments = json.dumps(arguments)
    return call["name"], arguments


class ReplyQueue:
    """Replies the offline model returns next, and the requests it received.

    Attributes:
        requests: every request seen while this queue was active, as dicts with the keys
            ``model``, ``messages``, ``tools``, ``response_format``, ``stream`` and any other
            parameter the call carried.
    """

    def __init__(
        self, replies: list[object] | None = None, *, record_path: str | None = None
    ) -> None:
        self._replies: collections.deque[ScriptedReply] = collections.deque(
            parse_reply(spec) for spec in replies or []
        )
        self.requests: list[dict[str, Any]] = []
        self._record_path = record_path

    @classmethod
    def from_file(cls, path: str | os.PathLike[str], *, record_path: str | None = None) -> Self:
        """Load a queue from a JSON file (a list of reply specs, or ``{"replies": [...]}``)."""
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        if isinstance(data, dict):
            data = data.get("replies", [])
        if not isinstance(data, list):
            raise ValueError(f"{path}: expected a JSON list of replies")
        return cls(data, record_path=record_path)

    def push(self, spec: object) -> None:
        """Queue one reply spec (see the module docstring)."""
        self._replies.append(parse_reply(spec))

    @property
    def pending(self) -> list[ScriptedReply]:
        """The queued replies not used yet, next first."""
        return list(self._replies)

    def next_reply(self, request: dict[str, Any]) -> ScriptedReply | None:
        """Record ``request`` and return the next queued reply (None when the queue is empty)."""
        self.requests.append(request)
        if self._record_path:
            with open(self._record_path, "a", encoding="utf-8") as out:
                out.write(json.dumps(request, default=str) + "\n")
        return self._replies.popleft() if self._replies else None


_installed: list[ReplyQueue] = []
_from_env: dict[str, ReplyQueue] = {}


def install(queue: ReplyQueue) -> None:
    """Make ``queue`` the one the offline model uses, until :func:`uninstall`."""
    _installed.append(queue)


def uninstall(queue: ReplyQueue) -> None:
    """Undo :func:`install` (queues may be nested; the innermost wins)."""
    if queue in _installed:
        _installed.remove(queue)


def active_queue() -> ReplyQueue | None:
    """The queue the offline model consults now: installed, else from the environment."""
    if _installed:
        return _installed[-1]
    path = os.environ.get(SCRIPT_ENV)
    if not path:
        return None
    if path not in _from_env:
        _from_env[path] = ReplyQueue.from_file(path, record_path=os.environ.get(RECORD_ENV))
    return _from_env[path]
